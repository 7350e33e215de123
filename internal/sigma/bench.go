package sigma

import (
	"context"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// BenchResult is what Bench measured.
type BenchResult struct {
	Events  int           // events matched, counting each round
	Matches int           // rule matches found
	Elapsed time.Duration // time spent matching
}

// PerSecond returns the events matched per second.
func (r BenchResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Events) / r.Elapsed.Seconds()
}

// Bench matches events against rs on one goroutine, round after round, until at least d
// has passed or ctx is done, and says how fast it went. It is the measurement behind
// `omamori bench detect`: the same events with every rule and with one show what the rule
// count costs.
func Bench(ctx context.Context, rs *Ruleset, events []*event.Event, d time.Duration) BenchResult {
	var r BenchResult
	if len(events) == 0 {
		return r
	}
	m := rs.NewMatcher()
	var dst []Match
	start := time.Now()
	for ctx.Err() == nil {
		for _, e := range events {
			dst = m.Match(e, dst[:0])
			r.Matches += len(dst)
		}
		r.Events += len(events)
		if r.Elapsed = time.Since(start); r.Elapsed >= d {
			break
		}
	}
	return r
}
