package archive

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// Query selects records of one tenant. Zero fields select everything.
type Query struct {
	Tenant   string
	From, To time.Time  // the record's time (its event time, or when it was received) in [From, To)
	IP       netip.Addr // source or destination address
	Host     string     // host.name, case-insensitive
	User     string     // user.name, case-insensitive
	Where    []Cond     // further conditions, all of which must hold
	Limit    int        // most records returned; 0 for no limit
}

// Cond is one condition on a field named as in ECS output (event.action, source.port,
// destination.ip, or an extra field's own name): Op "=" for equality, "~" for a substring.
type Cond struct {
	Field, Op, Value string
}

// ParseCond reads a condition written as field=value or field~value.
func ParseCond(s string) (Cond, error) {
	i := strings.IndexAny(s, "=~")
	if i <= 0 {
		return Cond{}, fmt.Errorf("condition %q: want field=value or field~value", s)
	}
	return Cond{Field: s[:i], Op: s[i : i+1], Value: s[i+1:]}, nil
}

func (c Cond) String() string { return c.Field + c.Op + c.Value }

// recordTime is the time a record is searched by.
func recordTime(e *event.Event) time.Time {
	if !e.Time.IsZero() {
		return e.Time
	}
	return e.Received
}

// Match reports whether e satisfies q (the tenant aside).
func (q *Query) Match(e *event.Event) bool {
	if !q.From.IsZero() || !q.To.IsZero() {
		ts := recordTime(e)
		if !q.From.IsZero() && ts.Before(q.From) || !q.To.IsZero() && !ts.Before(q.To) {
			return false
		}
	}
	if q.IP.IsValid() {
		ip := q.IP.Unmap()
		if e.SrcIP.Unmap() != ip && e.DstIP.Unmap() != ip {
			return false
		}
	}
	if q.Host != "" && !strings.EqualFold(e.Host, q.Host) {
		return false
	}
	if q.User != "" && !strings.EqualFold(e.User, q.User) {
		return false
	}
	for _, c := range q.Where {
		v, ok := e.Value(c.Field)
		if !ok || c.Op == "=" && v != c.Value || c.Op == "~" && !strings.Contains(v, c.Value) {
			return false
		}
	}
	return true
}

// Search calls fn with every synced record of q.Tenant that matches q, in order, up to
// q.Limit. It reads only the blocks whose time bounds overlap q's range and whose bloom filters
// may hold q's address, host and user. progress, if set, is called with the bytes of each
// block, read or skipped, so a caller can show how far a long scan has come.
func (a *Archive) Search(ctx context.Context, q Query, progress func(int64), fn func(*Record) error) error {
	return a.search(ctx, q, 0, 1<<63, progress, fn)
}

// TenantBytes returns the bytes of tenant's segments, for progress bars.
func (a *Archive) TenantBytes(tenant string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n int64
	if t := a.tenants[tenant]; t != nil {
		for _, s := range t.segs {
			for _, f := range s.frames {
				n += f.Len
			}
		}
	}
	return n
}

func (a *Archive) search(ctx context.Context, q Query, begin, end uint64, progress func(int64), fn func(*Record) error) error {
	from, to := int64(-1<<63), int64(1<<63-1)
	if !q.From.IsZero() {
		from = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		to = q.To.UnixNano()
	}
	type probe struct {
		kind byte
		v    string
	}
	var probes []probe
	if q.IP.IsValid() {
		probes = append(probes, probe{bloomAddr, q.IP.Unmap().String()})
	}
	if q.Host != "" {
		probes = append(probes, probe{bloomHost, strings.ToLower(q.Host)})
	}
	if q.User != "" {
		probes = append(probes, probe{bloomUser, strings.ToLower(q.User)})
	}
	hashes := map[*segKeys][][2]uint64{}
	filter := func(s *segInfo, k *segKeys, fr *frame) bool {
		if fr.Head.MinT != 0 || fr.Head.MaxT != 0 { // blocks without times are always read
			if fr.Head.MaxT < from || fr.Head.MinT >= to {
				return false
			}
		}
		if len(probes) == 0 {
			return true
		}
		hs, ok := hashes[k]
		if !ok {
			bh := newBloomHasher(k.bloom)
			for _, p := range probes {
				h1, h2 := bh.hash(p.kind, p.v)
				hs = append(hs, [2]uint64{h1, h2})
			}
			hashes[k] = hs
		}
		for _, h := range hs {
			if !bloomMay(fr.Head.Bloom, h[0], h[1]) {
				return false
			}
		}
		return true
	}
	n := 0
	err := a.scan(ctx, q.Tenant, begin, end, filter, progress, func(r *Record) error {
		if !q.Match(&r.Event) {
			return nil
		}
		if err := fn(r); err != nil {
			return err
		}
		n++
		if q.Limit > 0 && n >= q.Limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// errStop ends a scan early without an error.
var errStop = errors.New("archive: stop")
