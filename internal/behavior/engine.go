package behavior

import (
	"fmt"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// Engine runs every behavioural detector over one stream. Observe is not safe for concurrent
// use: a detect node runs one Engine per goroutine that reads the bus, each with its own
// Shard, or one Engine behind its reader.
type Engine struct {
	cfg     Config
	shard   Shard
	swept   time.Time // event time of the last Sweep that ran
	auth    *authTracker
	beacons *beacons
	flows   *flowTracker
	exfil   *exfilTracker
	ransom  *ransomTracker
}

// New returns an Engine with the thresholds of cfg, keeping state only for the keys shard owns.
func New(cfg Config, shard Shard) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, p := range shard.Owned {
		if shard.N > 1 && (p < 0 || p >= shard.N) {
			return nil, fmt.Errorf("behavior shard: partition %d outside [0, %d)", p, shard.N)
		}
	}
	en := &Engine{cfg: cfg, shard: shard}
	en.auth = newAuthTracker(&en.cfg.Auth, shard, cfg.MaxKeys)
	en.beacons = newBeacons(&en.cfg.Beacon, shard, cfg.MaxKeys)
	en.flows = newFlowTracker(&en.cfg, shard, cfg.MaxKeys)
	en.exfil = newExfilTracker(&en.cfg, shard, cfg.MaxKeys)
	en.ransom = newRansomTracker(&en.cfg.Ransomware, shard, cfg.MaxKeys)
	return en, nil
}

// Observe passes one event through every detector and appends what they find to dst. It does
// not keep e or anything e points to (strings it keeps are copied). Events should arrive
// roughly in time order; windows are measured in event time, not wall time.
func (en *Engine) Observe(dst []Finding, e *event.Event) []Finding {
	switch e.Category {
	case "authentication":
		dst = en.auth.observe(dst, e)
	case "network", "web":
		en.beacons.observe(e)
		dst = en.flows.observe(dst, e)
		dst = en.exfil.observe(dst, e)
	case "file", "process":
		dst = en.ransom.observe(dst, e)
	}
	return dst
}

// SweepEvery is how often, in event time, Sweep scores beacons and expires state: RITA's
// method needs the whole series, so beaconing is a sweep over the window, not a per-event step.
const SweepEvery = 5 * time.Minute

// Sweep, called after Observe with each event's time, scores the beacons over the window and
// expires old state once every SweepEvery of event time, appending the beacon findings to
// dst; the rest of the time it does nothing. The first call only starts the clock.
func (en *Engine) Sweep(dst []Finding, now time.Time) []Finding {
	if now.Sub(en.swept) < SweepEvery {
		return dst
	}
	if !en.swept.IsZero() {
		dst = en.Beacons(dst)
		en.Expire(now)
	}
	en.swept = now
	return dst
}

// Beacons scores every pair and appends a finding for each pair at or above the beacon
// threshold that has not been reported within the beacon window. It is a batch step over the
// window (RITA's method needs the whole series): Sweep runs it every few minutes.
func (en *Engine) Beacons(dst []Finding) []Finding { return en.beacons.findings(dst) }

// BeaconScores returns the score of every pair with enough connections, highest first.
func (en *Engine) BeaconScores() []PairScore { return en.beacons.scores() }

// Expire drops state that no window can use any more, as of now (event time). Sweep runs it;
// Observe also evicts lazily per key.
func (en *Engine) Expire(now time.Time) {
	en.auth.expire(now)
	en.flows.expire(now)
	en.exfil.expire(now)
	en.ransom.expire(now)
	en.beacons.expire()
}

// Keys returns how many keys each detector holds state for, for metrics.
func (en *Engine) Keys() map[string]int {
	return map[string]int{
		"auth":         len(en.auth.keys),
		"beacon":       len(en.beacons.pairs),
		"flow":         len(en.flows.keys),
		"exfiltration": len(en.exfil.keys),
		"ransomware":   len(en.ransom.keys),
	}
}
