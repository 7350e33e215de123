package tally

import (
	"log/slog"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
)

// BenchmarkCountEvents measures counting one bus batch of 1000 events from 4 sources over
// 2 hours: the cost tally adds to each event, beside the archive's and detection's.
func BenchmarkCountEvents(b *testing.B) {
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	es := make([]event.Event, 1000)
	for i := range es {
		es[i] = event.Event{Tenant: "a", Source: []string{"syslog-udp", "syslog-tcp", "api", "file"}[i%4],
			Dataset: []string{"fortigate.traffic", "sshd"}[i%2], Format: "syslog", Host: "fg-gw01",
			Received: start.Add(time.Duration(i) * 7 * time.Second), Message: "date=2026-11-23 type=traffic action=accept"}
	}
	m := bus.Msg{Tenant: "a", Data: event.AppendBatch(nil, es)}
	count := countEvents(slog.New(slog.DiscardHandler))
	b.SetBytes(int64(len(m.Data)))
	b.ReportAllocs()
	for b.Loop() {
		c := counts{}
		count(&c, m)
		if len(c.list()) != 8 {
			b.Fatal("want 8 counts")
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}
