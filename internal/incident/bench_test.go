package incident

import (
	"fmt"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/detect"
)

// BenchmarkIngest measures putting one alert on an incident (SQLite store on the temporary
// directory's disk): the scenario's alerts replayed round after round, an hour apart (past
// the 30-minute window) and from a new attacker address each round, so each round opens its
// incidents and the rest of its alerts join them, as in the real attack; the store grows
// with every round, as it would.
func BenchmarkIngest(b *testing.B) {
	alerts := scenarioAlerts(b)
	t0 := scenarioStart
	e := newEnv(b, t0, Config{Hosts: inventory, Window: 30 * time.Minute})
	next := func(i int) detect.Alert {
		a := alerts[i%len(alerts)]
		round := i / len(alerts)
		a.ID = fmt.Sprintf("%s-%d", a.ID, round)
		shift := time.Duration(round) * time.Hour
		a.First, a.Last = a.First.Add(shift), a.Last.Add(shift)
		if a.Entities.Source != "" {
			a.Entities.Source = fmt.Sprintf("198.51.%d.%d", round/250%250, round%250+1)
		}
		return a
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.svc.Ingest(b.Context(), next(i), uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestRepeat measures recognising a redelivered alert.
func BenchmarkIngestRepeat(b *testing.B) {
	alerts := scenarioAlerts(b)
	e := newEnv(b, scenarioStart, Config{Hosts: inventory})
	e.ingestAll(b, alerts)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if out, err := e.svc.Ingest(b.Context(), alerts[i%len(alerts)], 1); err != nil || !out.Repeat {
			b.Fatalf("Ingest(again) = %+v, %v", out, err)
		}
	}
}
