package behavior

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/severity"
)

// flowTracker watches connections per source address for port scans (many ports, or one port
// on many hosts) and lateral movement (admin protocols to many internal hosts).
type flowTracker struct {
	cfg     *Config
	shard   Shard
	maxKeys int
	keys    map[netip.Addr]*flowState
}

type hostPort struct {
	host netip.Addr
	port uint16
}

type flowState struct {
	ports   distinct[uint16]     // destination ports probed
	sweep   distinct[hostPort]   // (host, port) pairs, for sweeps of one port
	lateral distinct[netip.Addr] // internal hosts reached on admin ports
	fired   fired
	last    int64
}

const (
	firedVertical = iota
	firedSweep
	firedLateral
)

func newFlowTracker(cfg *Config, shard Shard, maxKeys int) *flowTracker {
	return &flowTracker{cfg: cfg, shard: shard, maxKeys: maxKeys, keys: map[netip.Addr]*flowState{}}
}

func (f *flowTracker) observe(dst []Finding, e *event.Event) []Finding {
	if !e.SrcIP.IsValid() || !e.DstIP.IsValid() || e.DstPort == 0 || e.Category != "network" {
		return dst
	}
	src, to := e.SrcIP.Unmap(), e.DstIP.Unmap()
	if !f.shard.OwnsAddr(src) {
		return dst
	}
	now := e.Time.UnixNano()
	st := f.keys[src]
	if st == nil {
		if len(f.keys) >= f.maxKeys {
			f.expire(e.Time)
			if len(f.keys) >= f.maxKeys {
				return dst
			}
		}
		st = &flowState{}
		f.keys[src] = st
	}
	st.last = now
	ps := &f.cfg.PortScan
	if !inAny(ps.Exempt, src) {
		if n := st.ports.add(e.DstPort, now, ps.Window, ps.Ports+1); n >= ps.Ports && st.fired.once(firedVertical, now, ps.Window) {
			dst = append(dst, Finding{
				Detector: DetectorPortScan, Key: src.String(), Severity: severity.Medium, Technique: "T1046",
				Title:  "port scan from " + src.String() + ": " + strconv.Itoa(n) + " ports in " + ps.Window.String(),
				Source: src, Destination: to, Count: n, First: time.Unix(0, now-int64(ps.Window)).UTC(), Last: e.Time,
			})
		}
		if n := st.sweep.add(hostPort{to, e.DstPort}, now, ps.Window, ps.Hosts*2); n >= ps.Hosts {
			if hosts := sweepHosts(&st.sweep, e.DstPort); hosts >= ps.Hosts && st.fired.once(firedSweep, now, ps.Window) {
				dst = append(dst, Finding{
					Detector: DetectorPortScan, Key: src.String(), Severity: severity.Medium, Technique: "T1046",
					Title:  "network sweep from " + src.String() + ": port " + strconv.Itoa(int(e.DstPort)) + " on " + strconv.Itoa(hosts) + " hosts in " + ps.Window.String(),
					Source: src, Count: hosts, First: time.Unix(0, now-int64(ps.Window)).UTC(), Last: e.Time,
				})
			}
		}
	}
	lm := &f.cfg.Lateral
	if slices.Contains(lm.Ports, e.DstPort) && inAny(f.cfg.Internal, src) && inAny(f.cfg.Internal, to) && !inAny(lm.Exempt, src) {
		if n := st.lateral.add(to, now, lm.Window, lm.Hosts*4); n >= lm.Hosts && st.fired.once(firedLateral, now, lm.Window) {
			dst = append(dst, Finding{
				Detector: DetectorLateral, Key: src.String(), Severity: severity.High, Technique: "T1021",
				Title:  "lateral movement from " + src.String() + ": SMB/RDP/WinRM/SSH to " + strconv.Itoa(n) + " internal hosts in " + lm.Window.String(),
				Source: src, Destination: to, Count: n, First: time.Unix(0, oldest(st.lateral.seen)).UTC(), Last: e.Time,
			})
		}
	}
	return dst
}

func sweepHosts(d *distinct[hostPort], port uint16) int {
	n := 0
	for hp := range d.seen {
		if hp.port == port {
			n++
		}
	}
	return n
}

func oldest[K comparable](m map[K]int64) int64 {
	o := int64(math.MaxInt64)
	for _, t := range m {
		o = min(o, t)
	}
	return o
}

func (f *flowTracker) expire(now time.Time) {
	w := max(f.cfg.PortScan.Window, f.cfg.Lateral.Window)
	cut := now.Add(-w).UnixNano()
	for k, st := range f.keys {
		if st.last < cut {
			delete(f.keys, k)
		}
	}
}

// exfilTracker keeps per internal host an exponentially weighted mean and variance of its
// outbound bytes per interval, and reports an interval far above them.
type exfilTracker struct {
	cfg     *Config
	shard   Shard
	maxKeys int
	keys    map[netip.Addr]*exfilState
}

type exfilState struct {
	bucket   int64   // the interval being summed, in intervals since the epoch
	sum      uint64  // bytes out in the current interval
	conns    int     // connections in the current interval
	first    int64   // first event of the current interval
	mean     float64 // baseline over completed intervals
	variance float64
	n        int  // completed intervals in the baseline
	fired    bool // for the current interval
	last     netip.Addr
}

func newExfilTracker(cfg *Config, shard Shard, maxKeys int) *exfilTracker {
	return &exfilTracker{cfg: cfg, shard: shard, maxKeys: maxKeys, keys: map[netip.Addr]*exfilState{}}
}

func (x *exfilTracker) observe(dst []Finding, e *event.Event) []Finding {
	if !e.SrcIP.IsValid() || !e.DstIP.IsValid() || e.BytesOut == 0 {
		return dst
	}
	src, to := e.SrcIP.Unmap(), e.DstIP.Unmap()
	if !inAny(x.cfg.Internal, src) || inAny(x.cfg.Internal, to) || !x.shard.OwnsAddr(src) {
		return dst
	}
	c := &x.cfg.Exfiltration
	b := e.Time.UnixNano() / int64(c.Interval)
	st := x.keys[src]
	if st == nil {
		if len(x.keys) >= x.maxKeys {
			return dst
		}
		st = &exfilState{bucket: b, first: e.Time.UnixNano()}
		x.keys[src] = st
	}
	if b > st.bucket {
		// Fold the finished interval and the silent ones after it into the baseline.
		alpha := 2 / (float64(c.History) + 1)
		fold := func(v float64) {
			if st.n == 0 {
				st.mean = v
			} else {
				d := v - st.mean
				st.mean += alpha * d
				st.variance = (1 - alpha) * (st.variance + alpha*d*d)
			}
			st.n++
		}
		fold(float64(st.sum))
		for i := int64(1); i < b-st.bucket && i <= int64(c.History); i++ {
			fold(0)
		}
		st.bucket, st.sum, st.conns, st.fired, st.first = b, 0, 0, false, e.Time.UnixNano()
	} else if b < st.bucket {
		return dst // late event for a closed interval: the baseline has moved on
	}
	st.sum += e.BytesOut
	st.conns++
	st.last = to
	if st.fired || st.n < c.MinHistory || st.sum < c.MinBytes {
		return dst
	}
	sd := math.Sqrt(st.variance)
	z := (float64(st.sum) - st.mean) / max(sd, 1)
	if z < c.Sigmas {
		return dst
	}
	st.fired = true
	return append(dst, Finding{
		Detector: DetectorExfiltration, Key: src.String(), Severity: severity.High, Technique: "T1048",
		Title: "exfiltration from " + src.String() + ": " + strconv.FormatUint(st.sum>>20, 10) + " MiB out in " +
			c.Interval.String() + ", " + strconv.FormatFloat(z, 'f', 1, 64) + " standard deviations above its baseline of " +
			strconv.FormatFloat(st.mean/(1<<20), 'f', 1, 64) + " MiB",
		Source: src, Destination: to, Count: st.conns, Score: z, First: time.Unix(0, st.first).UTC(), Last: e.Time,
	})
}

// expire forgets hosts that sent nothing out for a whole history: their baseline has decayed
// to nothing that could tell an outlier, and on a network where addresses come and go (DHCP,
// VPN pools) they would otherwise fill the table and keep new hosts from being watched.
func (x *exfilTracker) expire(now time.Time) {
	c := &x.cfg.Exfiltration
	cut := now.UnixNano()/int64(c.Interval) - int64(c.History)
	for k, st := range x.keys {
		if st.bucket < cut {
			delete(x.keys, k)
		}
	}
}
