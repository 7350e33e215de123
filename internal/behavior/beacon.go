package behavior

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/severity"
)

var (
	keySessionID   = event.K("zeek.session_id")
	keyOrigIPBytes = event.K("zeek.conn.orig_ip_bytes")
	keyURLDomain   = event.K("url.domain")
)

// PairScore is the beacon score of one pair, as Engine.BeaconScores reports it.
type PairScore struct {
	Source      netip.Addr
	Destination netip.Addr // zero when the pair is to a host name through a proxy
	Host        string     // the host name asked of the proxy, or ""
	BeaconScore
	First, Last time.Time
}

// Key names the pair as Finding.Key does: "src->dst" or "src->host".
func (p PairScore) Key() string {
	if p.Host != "" {
		return p.Source.String() + "->" + p.Host
	}
	return p.Source.String() + "->" + p.Destination.String()
}

type pairKey struct {
	src, dst netip.Addr
	host     string
}

type sizeAt struct {
	t int64
	b uint64
}

type pairState struct {
	ts       []int64  // connection times, unix seconds, in arrival order
	sizes    []sizeAt // bytes sent by the source, with the time they were seen
	reported int64    // when a finding was last raised for the pair; 0 never
}

// beacons keeps, per pair, the times and sizes of its connections over the window. Pairs
// belong to the partition of their source address, so one node sees all of a host's pairs.
type beacons struct {
	cfg     *BeaconConfig
	shard   Shard
	maxKeys int
	pairs   map[pairKey]*pairState
	// proxied maps a Zeek uid seen in a proxy request to the pair it was scored under, so
	// that the connection log's record of the same session adds its size there and is not
	// scored a second time as a pair to the proxy.
	proxied map[string]proxiedConn
	maxTS   int64
}

type proxiedConn struct {
	pair pairKey
	t    int64
}

func newBeacons(cfg *BeaconConfig, shard Shard, maxKeys int) *beacons {
	return &beacons{cfg: cfg, shard: shard, maxKeys: maxKeys, pairs: map[pairKey]*pairState{}, proxied: map[string]proxiedConn{}}
}

func (b *beacons) observe(e *event.Event) {
	if !e.SrcIP.IsValid() || e.Category != "network" && e.Category != "web" {
		return
	}
	if !b.shard.OwnsAddr(e.SrcIP) {
		return
	}
	t := e.Time.Unix()
	b.maxTS = max(b.maxTS, t)
	uid, _ := e.Get(keySessionID)
	if e.Category == "web" {
		host, _ := e.Get(keyURLDomain)
		if host == "" || uid == "" || !slices.Contains(b.cfg.ProxyPorts, e.DstPort) {
			return
		}
		k := pairKey{src: e.SrcIP, host: host}
		if st := b.state(k); st != nil {
			st.ts = appendCapped(st.ts, t, b.cfg.MaxConnections)
			b.proxied[uid] = proxiedConn{k, t}
		}
		return
	}
	if e.Action != "connection" && e.Action != "traffic" || !e.DstIP.IsValid() {
		return
	}
	// Multicast, link-local and loopback traffic (router advertisements, mDNS) is periodic by
	// design and never reaches a C2 server.
	if !e.SrcIP.IsGlobalUnicast() || !e.DstIP.IsGlobalUnicast() {
		return
	}
	size := e.BytesOut
	if v, ok := e.Get(keyOrigIPBytes); ok {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			size = n // RITA scores IP bytes: headers make empty polls comparable
		}
	}
	if uid != "" {
		if p, ok := b.proxied[uid]; ok {
			delete(b.proxied, uid)
			if st := b.pairs[p.pair]; st != nil {
				st.sizes = appendCapped(st.sizes, sizeAt{t, size}, b.cfg.MaxConnections)
			}
			return
		}
	}
	k := pairKey{src: e.SrcIP, dst: e.DstIP}
	if st := b.state(k); st != nil {
		st.ts = appendCapped(st.ts, t, b.cfg.MaxConnections)
		st.sizes = appendCapped(st.sizes, sizeAt{t, size}, b.cfg.MaxConnections)
	}
}

func (b *beacons) state(k pairKey) *pairState {
	st := b.pairs[k]
	if st == nil {
		if len(b.pairs) >= b.maxKeys {
			return nil // full: a new pair waits for expire to make room
		}
		st = &pairState{}
		b.pairs[k] = st
	}
	return st
}

// appendCapped appends v, dropping the oldest value when s holds limit values already.
func appendCapped[T any](s []T, v T, limit int) []T {
	if len(s) >= limit {
		s = append(s[:0], s[1:]...)
	}
	return append(s, v)
}

// expire drops what is older than the window, counted back from the newest connection seen
// and rounded down to the hour as RITA does, and returns the span of what is left.
func (b *beacons) expire() (lo, hi int64) {
	cutoff := b.maxTS - int64(b.cfg.Window/time.Second)
	cutoff -= cutoff % 3600
	lo = b.maxTS
	for k, st := range b.pairs {
		st.ts = slices.DeleteFunc(st.ts, func(t int64) bool { return t < cutoff })
		st.sizes = slices.DeleteFunc(st.sizes, func(s sizeAt) bool { return s.t < cutoff })
		if len(st.ts) == 0 {
			delete(b.pairs, k)
			continue
		}
		lo = min(lo, slices.Min(st.ts))
	}
	for uid, p := range b.proxied {
		if p.t < cutoff {
			delete(b.proxied, uid)
		}
	}
	return lo, b.maxTS
}

// scores scores every pair with enough distinct connection times.
func (b *beacons) scores() []PairScore {
	lo, hi := b.expire()
	var out []PairScore
	var ts []int64
	var sizes []float64
	for k, st := range b.pairs {
		ts = append(ts[:0], st.ts...)
		slices.Sort(ts)
		if len(slices.Compact(slices.Clone(ts))) < b.cfg.MinConnections {
			continue
		}
		sizes = sizes[:0]
		for _, s := range st.sizes {
			sizes = append(sizes, float64(s.b))
		}
		s, ok := scoreBeacon(b.cfg, ts, sizes, lo, hi)
		if !ok {
			continue
		}
		out = append(out, PairScore{
			Source: k.src, Destination: k.dst, Host: k.host, BeaconScore: s,
			First: time.Unix(ts[0], 0).UTC(), Last: time.Unix(ts[len(ts)-1], 0).UTC(),
		})
	}
	slices.SortFunc(out, func(a, b PairScore) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return out
}

// findings raises a finding for each pair at or above the threshold, once per window.
func (b *beacons) findings(dst []Finding) []Finding {
	for _, s := range b.scores() {
		if s.Score < b.cfg.Threshold {
			continue
		}
		st := b.pairs[pairKey{s.Source, s.Destination, s.Host}]
		if st.reported != 0 && b.maxTS-st.reported < int64(b.cfg.Window/time.Second) {
			continue
		}
		st.reported = b.maxTS
		sev := severity.Medium
		if s.Score >= 0.9 {
			sev = severity.High
		}
		dst = append(dst, Finding{
			Detector: DetectorBeacon, Key: s.Key(),
			Title:    "C2 beaconing: " + s.Key() + " scores " + strconv.FormatFloat(s.Score, 'f', 3, 64),
			Severity: sev, Technique: "T1071", Source: s.Source, Destination: s.Destination, Domain: s.Host,
			Count: s.Connections, Score: s.Score, First: s.First, Last: s.Last,
		})
	}
	return dst
}
