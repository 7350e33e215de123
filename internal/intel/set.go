package intel

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"

	"github.com/omamori-project/omamori/internal/event"
)

// Set is an immutable index of indicators for the hot path: Match asks it about one event
// at a time. Build a new Set with NewSet when feeds change and swap it in whole (an
// atomic.Pointer[intel.Set] in the detector); a Set is never modified after NewSet, so any
// number of goroutines may call Match at once without locks.
//
// Addresses and networks are in a bart routing table whose every prefix holds the
// indicators of itself and of all networks around it, so an address costs one longest-prefix
// lookup whatever it matches. Domains, URLs and hashes are in maps; a domain is looked up
// with each of its parents.
type Set struct {
	inds    []Indicator
	nets    *bart.Table[[]int32]
	domains map[string][]int32
	// tails holds the last two labels of every domain indicator ("evil.example" for
	// a.evil.example): a name whose own last two labels are not in it cannot match, which
	// spares most names the lookup of each parent. wholeWalk is set when an indicator has one
	// label ("example"), which tails cannot vouch for.
	tails     map[string]struct{}
	wholeWalk bool
	urls      map[string][]int32
	hashes    map[string][]int32
	allow     *Allowlist
	report    Report

	suppressed atomic.Uint64
}

// SetOptions tunes NewSet.
type SetOptions struct {
	// Allow holds the warning lists: indicators they cover are left out, and hits of broader
	// indicators on values they cover are suppressed. Nil allows everything.
	Allow *Allowlist
	// Now, when set, leaves out indicators whose ValidUntil is not after it: the live stream
	// passes time.Now() so expired intelligence costs no memory. An offline scan of old logs
	// leaves it zero and keeps them, since Match checks validity at each event's own time.
	Now time.Time
}

// Report says what NewSet made of its input, for the operator and the load log.
type Report struct {
	Indexed     int          // indicators in the Set
	ByKind      map[Kind]int // indexed indicators of each kind
	Duplicates  int          // same ID, source, kind and value as one already indexed
	Expired     int          // left out: ValidUntil not after SetOptions.Now
	Allowlisted []Allowlisted
}

// Allowlisted is an indicator NewSet left out because a warning list covers it.
type Allowlisted struct {
	Indicator Indicator
	List      string
}

// Hit is one indicator an event matched.
type Hit struct {
	// Indicator is the Set's own: it stays valid as long as the Set is referenced, and must
	// not be modified.
	Indicator *Indicator
	// Field is the event field whose value matched: "source.ip", "destination.ip", or the
	// key of an extra field ("dns.question.name", "url.original", "winlog.event_data.Hashes").
	Field string
	// Value is what the field held: the address for source.ip and destination.ip, else the
	// field's value (for Sysmon's Hashes, the one hash that matched).
	Value string
}

// NewSet indexes inds (which it does not keep or modify) and reports what it left out.
func NewSet(inds []Indicator, opts SetOptions) (*Set, Report) {
	var count [numKinds]int
	for i := range inds {
		if inds[i].Kind < numKinds {
			count[inds[i].Kind]++
		}
	}
	s := &Set{
		domains: make(map[string][]int32, count[KindDomain]),
		tails:   make(map[string]struct{}),
		urls:    make(map[string][]int32, count[KindURL]),
		hashes:  make(map[string][]int32, count[KindMD5]+count[KindSHA1]+count[KindSHA256]),
		allow:   opts.Allow,
		inds:    make([]Indicator, 0, len(inds)),
	}
	r := Report{ByKind: make(map[Kind]int)}
	own := make(map[netip.Prefix][]int32, count[KindIP]+count[KindCIDR])
	// add appends indicator n to the list of its value, unless the list has one with the
	// same ID and source already (the lists are short: one value, few feeds).
	add := func(list []int32, in *Indicator, n int32) ([]int32, bool) {
		for _, i := range list {
			if o := &s.inds[i]; o.ID == in.ID && o.Source == in.Source {
				return list, false
			}
		}
		return append(list, n), true
	}
	for i := range inds {
		in := &inds[i]
		if !opts.Now.IsZero() && !in.ValidUntil.IsZero() && !opts.Now.Before(in.ValidUntil) {
			r.Expired++
			continue
		}
		if list, ok := opts.Allow.Check(in); ok {
			r.Allowlisted = append(r.Allowlisted, Allowlisted{*in, list})
			continue
		}
		n := int32(len(s.inds))
		var fresh bool
		switch in.Kind {
		case KindIP, KindCIDR:
			p, err := parsePrefix(in.Value)
			if err != nil {
				continue // not from Normalize; the loaders never make one
			}
			own[p], fresh = add(own[p], in, n)
		case KindDomain:
			s.domains[in.Value], fresh = add(s.domains[in.Value], in, n)
			if fresh {
				if t := tail(in.Value); !strings.Contains(t, ".") {
					s.wholeWalk = true
				} else {
					s.tails[t] = struct{}{}
				}
			}
		case KindURL:
			s.urls[in.Value], fresh = add(s.urls[in.Value], in, n)
		case KindMD5, KindSHA1, KindSHA256:
			s.hashes[in.Value], fresh = add(s.hashes[in.Value], in, n)
		default:
			continue
		}
		if !fresh {
			r.Duplicates++
			continue
		}
		s.inds = append(s.inds, *in)
		r.ByKind[in.Kind]++
	}
	r.Indexed = len(s.inds)
	// Give every prefix the indicators of the networks around it, so that the one
	// longest-prefix lookup in Match finds every network an address is in. Only networks
	// (not single addresses) can hold others, and feeds have few of them.
	s.nets = new(bart.Table[[]int32])
	for p, idx := range own {
		s.nets.Insert(p, idx)
	}
	more := make(map[netip.Prefix][]int32)
	for p, idx := range own {
		if p.Bits() == p.Addr().BitLen() {
			continue
		}
		for q := range s.nets.Subnets(p) {
			if q != p {
				more[q] = append(more[q], idx...)
			}
		}
	}
	for q, extra := range more {
		idx := append(slices.Clone(own[q]), extra...)
		slices.Sort(idx)
		s.nets.Insert(q, slices.Compact(idx))
	}
	s.report = r
	return s, r
}

// Len returns the number of indicators in s.
func (s *Set) Len() int { return len(s.inds) }

// Report returns what NewSet reported when it built s.
func (s *Set) Report() Report { return s.report }

// Suppressed returns how many hits Match has held back because a warning list covers the
// event's value: an address inside an indicator's network, or a subdomain of an indicator's
// domain, that is known to be benign (8.8.8.8 in an indicator 8.0.0.0/8).
func (s *Set) Suppressed() uint64 { return s.suppressed.Load() }

// Indicators returns the indicators of s, sorted by kind and value, for listing.
func (s *Set) Indicators() []Indicator {
	out := slices.Clone(s.inds)
	slices.SortFunc(out, func(a, b Indicator) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), strings.Compare(a.Value, b.Value), strings.Compare(a.ID, b.ID))
	})
	return out
}

// fieldRole is what Match does with an extra field of an event.
type fieldRole uint8

const (
	roleDomain fieldRole = iota + 1 // a domain name
	roleHost                        // a domain that is also the host of the event's URL path
	roleURL                         // a URL, or the path and query of a request to the host
	roleHash                        // a hash, or Sysmon's "MD5=…,SHA256=…"
	roleList                        // comma-separated addresses and names (DNS answers)
)

// fields are the extra fields Match reads, as decode names them: ECS names where decoders use
// them (Zeek and Suricata dns, http, tls), Sysmon's event data, FortiGate and Zeek's own.
var fields = map[event.Key]fieldRole{
	event.K("dns.question.name"):                     roleDomain,
	event.K("tls.client.server_name"):                roleDomain,
	event.K("destination.domain"):                    roleDomain,
	event.K("source.domain"):                         roleDomain,
	event.K("winlog.event_data.QueryName"):           roleDomain, // Sysmon 22
	event.K("winlog.event_data.DestinationHostname"): roleDomain, // Sysmon 3
	event.K("fortigate.qname"):                       roleDomain,
	event.K("url.domain"):                            roleHost, // Zeek and Suricata http
	event.K("fortigate.hostname"):                    roleHost,
	event.K("url.original"):                          roleURL,
	event.K("url.full"):                              roleURL,
	event.K("fortigate.url"):                         roleURL,
	event.K("winlog.event_data.Hashes"):              roleHash, // Sysmon 1, 6, 7, 15, 23, ...
	event.K("winlog.event_data.Hash"):                roleHash,
	event.K("zeek.files.md5"):                        roleHash,
	event.K("zeek.files.sha1"):                       roleHash,
	event.K("zeek.files.sha256"):                     roleHash,
	event.K("suricata.eve.fileinfo.md5"):             roleHash,
	event.K("suricata.eve.fileinfo.sha1"):            roleHash,
	event.K("suricata.eve.fileinfo.sha256"):          roleHash,
	event.K("file.hash.md5"):                         roleHash,
	event.K("file.hash.sha1"):                        roleHash,
	event.K("file.hash.sha256"):                      roleHash,
	event.K("zeek.dns.answers"):                      roleList,
	event.K("zeek.files.tx_hosts"):                   roleList,
	event.K("zeek.files.rx_hosts"):                   roleList,
}

// Match appends to dst a Hit for every indicator e matches and returns the extended slice;
// with nothing matched it returns dst as it was. It reads e and does not keep it.
//
// It looks up the event's source and destination addresses (in every network that holds
// them), the domain names it carries (DNS queries and answers, HTTP hosts, TLS server names,
// Sysmon's QueryName and DestinationHostname), its URLs (a request path joined to its host),
// and file hashes (Zeek and Suricata file logs, Sysmon's Hashes). An indicator matches only
// at times it is valid, taken from e.Time (or e.Received when the source gave none).
//
// Warning lists never produce hits: indicators they cover were left out by NewSet, and a hit
// of a network or parent domain on a covered value (8.8.8.8 inside an indicator 8.0.0.0/8)
// is held back and counted in Suppressed. An event that matches nothing costs no allocation;
// a hit on an address allocates its text for Hit.Value, and dst grows as append grows it.
func (s *Set) Match(e *event.Event, dst []Hit) []Hit {
	t := e.Time
	if t.IsZero() {
		t = e.Received
	}
	m := matcher{s: s, t: t, dst: dst}
	if e.SrcIP.IsValid() {
		m.addr(e.SrcIP, "source.ip", "")
	}
	if e.DstIP.IsValid() && e.DstIP != e.SrcIP {
		m.addr(e.DstIP, "destination.ip", "")
	}
	var host string
	var paths [2]event.Field // URL paths waiting for the host; more than two is not seen
	np := 0
	for i := range e.Fields {
		f := &e.Fields[i]
		role := fields[f.Key]
		if role == 0 || f.Value == "" {
			continue
		}
		switch role {
		case roleHost:
			host = f.Value
			fallthrough
		case roleDomain:
			m.domain(f.Value, f.Key)
		case roleURL:
			if strings.HasPrefix(f.Value, "/") && np < len(paths) {
				paths[np] = *f
				np++
			} else {
				m.url(f.Value, "", f.Key)
			}
		case roleHash:
			m.hashes(f.Value, f.Key)
		case roleList:
			m.list(f.Value, f.Key)
		}
	}
	for _, f := range paths[:np] {
		if host != "" {
			m.url(f.Value, host, f.Key)
		}
	}
	return m.dst
}

// matcher carries one Match call.
type matcher struct {
	s   *Set
	t   time.Time
	dst []Hit
	buf [512]byte
}

func (m *matcher) hit(idx []int32, field, value string) {
	for _, i := range idx {
		in := &m.s.inds[i]
		if !m.t.IsZero() && !in.ValidAt(m.t) {
			continue
		}
		m.dst = append(m.dst, Hit{Indicator: in, Field: field, Value: value})
	}
}

func (m *matcher) addr(ip netip.Addr, field, value string) {
	ip = ip.Unmap().WithZone("")
	idx, ok := m.s.nets.Lookup(ip)
	if !ok {
		return
	}
	if value == "" {
		value = ip.String()
	}
	for _, i := range idx {
		in := &m.s.inds[i]
		if !m.t.IsZero() && !in.ValidAt(m.t) {
			continue
		}
		if in.Kind == KindCIDR {
			if _, ok := m.s.allow.addr(ip); ok {
				m.s.suppressed.Add(1)
				continue
			}
		}
		m.dst = append(m.dst, Hit{Indicator: in, Field: field, Value: value})
	}
}

func (m *matcher) domain(v string, key event.Key) {
	if len(m.s.domains) == 0 {
		return
	}
	d := v
	if i := strings.LastIndexByte(d, ':'); i >= 0 && isDigits(d[i+1:]) {
		d = d[:i] // an HTTP Host header's port
	}
	d = strings.TrimSuffix(d, ".")
	if len(d) > 253 {
		return
	}
	b := appendLower(m.buf[:0], d)
	if !m.s.wholeWalk {
		j := 0
		if i := bytes.LastIndexByte(b, '.'); i > 0 {
			if k := bytes.LastIndexByte(b[:i], '.'); k >= 0 {
				j = k + 1
			}
		}
		if _, ok := m.s.tails[string(b[j:])]; !ok {
			return
		}
	}
	for off := 0; ; {
		if idx, ok := m.s.domains[string(b[off:])]; ok {
			parent := off > 0
			m.hitDomain(idx, key.String(), v, parent, b)
		}
		i := bytes.IndexByte(b[off:], '.')
		if i < 0 {
			return
		}
		off += i + 1
	}
}

// tail returns the last two labels of a domain name, or the name if it has fewer.
func tail(d string) string {
	i := strings.LastIndexByte(d, '.')
	if i <= 0 {
		return d
	}
	if j := strings.LastIndexByte(d[:i], '.'); j >= 0 {
		return d[j+1:]
	}
	return d
}

func (m *matcher) hitDomain(idx []int32, field, value string, parent bool, name []byte) {
	for _, i := range idx {
		in := &m.s.inds[i]
		if !m.t.IsZero() && !in.ValidAt(m.t) {
			continue
		}
		// A parent-domain indicator (evil.example) on a name a warning list covers: held
		// back. The name itself is not on one, or NewSet would have left the indicator out.
		if parent {
			if _, ok := m.s.allow.domain(string(name)); ok {
				m.s.suppressed.Add(1)
				continue
			}
		}
		m.dst = append(m.dst, Hit{Indicator: in, Field: field, Value: value})
	}
}

func (m *matcher) url(v, host string, key event.Key) {
	if len(m.s.urls) == 0 {
		return
	}
	b, ok := appendURLKey(m.buf[:0], v, host)
	if !ok {
		return
	}
	if idx, ok := m.s.urls[string(b)]; ok {
		m.hit(idx, key.String(), v)
		return
	}
	// An indicator without a query matches the resource whatever query the request adds.
	if i := bytes.IndexByte(b, '?'); i >= 0 {
		if idx, ok := m.s.urls[string(b[:i])]; ok {
			m.hit(idx, key.String(), v)
		}
	}
}

// hashes looks up a hash, or each hash of a Sysmon list "SHA1=…,MD5=…,IMPHASH=…" (the
// import hash is not a file hash and is never compared).
func (m *matcher) hashes(v string, key event.Key) {
	if len(m.s.hashes) == 0 {
		return
	}
	for v != "" {
		var h string
		h, v, _ = strings.Cut(v, ",")
		name, val, ok := strings.Cut(h, "=")
		if !ok {
			val = name
		} else if strings.EqualFold(name, "IMPHASH") {
			continue
		}
		val = strings.TrimSpace(val)
		if hashKind(len(val)) == 0 || !isHex(val) {
			continue
		}
		b := appendLower(m.buf[:0], val)
		if idx, ok := m.s.hashes[string(b)]; ok {
			m.hit(idx, key.String(), val)
		}
	}
}

// list looks up each item of a comma-separated list as an address, or else a domain.
func (m *matcher) list(v string, key event.Key) {
	for v != "" {
		var item string
		item, v, _ = strings.Cut(v, ",")
		item = strings.TrimSpace(item)
		if ip, err := netip.ParseAddr(item); err == nil {
			m.addr(ip, key.String(), item)
		} else if validDomain(strings.TrimSuffix(item, ".")) {
			m.domain(item, key)
		}
	}
}
