package sigma

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// regressionEvents returns the events of every SigmaHQ regression case, from the EVTX files:
// real Windows events (Sysmon, Security, PowerShell, System), each one some rule's target.
func regressionEvents(tb testing.TB) []*event.Event {
	dir := sigmaData(tb)
	var events []*event.Event
	for _, c := range regressionCases(tb, dir) {
		events = append(events, readEvents(tb, c.evtx)...)
	}
	return events
}

func oneRule(tb testing.TB, id string) *Ruleset {
	dir := sigmaData(tb)
	all, _, err := Load(os.DirFS(dir), Options{}, "rules")
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range all.rules {
		if c.rule.ID == id {
			rs, rep := Compile([]*Rule{c.rule}, Options{})
			if rep.Compiled != 1 {
				tb.Fatalf("Compile(%s): %v", id, rep.Failed)
			}
			return rs
		}
	}
	tb.Fatalf("rule %s not found", id)
	return nil
}

// BenchmarkMatch measures events/s over the regression corpus with every rule of SigmaHQ's
// rules, rules-emerging-threats, rules-threat-hunting and rules-compliance loaded, and with
// one process-creation rule; and with every rule over the same events with their channel in
// lower case ("security"), as some forwarders write it, which costs the folding of the name.
func BenchmarkMatch(b *testing.B) {
	events := regressionEvents(b)
	lower := make([]*event.Event, len(events))
	for i, e := range events {
		lower[i] = e.Clone()
		for j := range lower[i].Fields {
			if f := &lower[i].Fields[j]; f.Key == keyChannel {
				f.Value = strings.ToLower(f.Value)
			}
		}
	}
	all, _ := allRules()
	for _, bc := range []struct {
		name   string
		rs     *Ruleset
		events []*event.Event
	}{
		{"all-rules", all, events},
		// Suspicious Encoded PowerShell Command Line: a process_creation rule.
		{"one-rule", oneRule(b, "ca2092a1-c273-4878-9b4b-0d60115bf5ea"), events},
		{"all-rules-lower-case-channels", all, lower},
	} {
		events := bc.events
		b.Run(bc.name, func(b *testing.B) {
			m := bc.rs.NewMatcher()
			var dst []Match
			b.ReportAllocs()
			n := 0
			cpu0 := cpuTime()
			for b.Loop() {
				for _, e := range events {
					dst = m.Match(e, dst[:0])
				}
				n += len(events)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			if cpu := cpuTime() - cpu0; cpu > 0 {
				// The garbage collector's other threads count too, so this errs low.
				b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func TestBench(t *testing.T) {
	events := regressionEvents(t)
	all, _ := allRules()
	r := Bench(context.Background(), all, events, time.Millisecond)
	if r.Events < len(events) || r.Matches == 0 || r.PerSecond() <= 0 {
		t.Errorf("Bench(all rules, %d regression events) = %+v, want every event matched once at least and some matches", len(events), r)
	}
}
