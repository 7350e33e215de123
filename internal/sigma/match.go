package sigma

import (
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/omamori-project/omamori/internal/event"
)

// Match is one rule matching one event.
type Match struct {
	Rule  RuleInfo
	Event *event.Event // the event given to Match; Clone it to keep it past the next event
}

// Matcher matches events against a Ruleset. It keeps scratch space between calls, so it is
// not safe for concurrent use: make one per goroutine.
type Matcher struct {
	rs    *Ruleset
	stamp []uint32 // stamp[variant] == gen: already a candidate for this event
	hit   []uint32 // hit[rule] == gen: already matched this event
	gen   uint32
	cands []int32
	hits  []int32

	// the event being matched
	e      *event.Event
	view   []event.Field // e.Fields and, when the bucket reads them, the typed fields
	low    []string      // lowercased values of view, filled on demand
	lowOK  []bool
	arena  []byte
	numBuf []byte
}

// NewMatcher returns a Matcher for rs.
func (rs *Ruleset) NewMatcher() *Matcher {
	return &Matcher{rs: rs, stamp: make([]uint32, len(rs.variants)), hit: make([]uint32, len(rs.rules))}
}

var (
	keyEventID = event.K("winlog.event_id")
	keyChannel = event.K("winlog.channel")
)

// bucket finds the rules that events like e may match.
func (rs *Ruleset) bucket(e *event.Event) *bucket {
	var channel, id string
	var isWin bool
	for i := range e.Fields {
		switch e.Fields[i].Key {
		case keyChannel:
			channel, isWin = e.Fields[i].Value, true
		case keyEventID:
			id, isWin = e.Fields[i].Value, true
		}
		if channel != "" && id != "" {
			break
		}
	}
	if !isWin {
		return rs.datasets[e.Dataset]
	}
	w := rs.channels[channel]
	if w == nil {
		// Windows channel names are case-insensitive, and some forwarders write them in
		// lower case ("security"): only a name not found as written costs the folding.
		var buf [128]byte
		w = rs.channelsFold[string(appendLower(buf[:0], channel))] // no allocation: a map index

	}
	if w == nil {
		return rs.windowsOther
	}
	if b := w.byID[id]; b != nil {
		return b
	}
	return w.rest
}

// appendLower appends s in lower case to dst.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(dst, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// Match appends to dst the matches of e, at most one per rule, and returns it.
func (m *Matcher) Match(e *event.Event, dst []Match) []Match {
	b := m.rs.bucket(e)
	if b == nil || len(b.variants) == 0 {
		return dst
	}
	m.gen++
	if m.gen == 0 { // wrapped: old stamps could collide
		clear(m.stamp)
		clear(m.hit)
		m.gen = 1
	}
	m.e = e
	m.cands = m.cands[:0]
	m.arena = m.arena[:0]
	m.view = append(m.view[:0], e.Fields...)
	if b.virtual {
		m.addVirtual(e)
	}
	n := len(m.view)
	if cap(m.low) < n {
		m.low = make([]string, n)
		m.lowOK = make([]bool, n)
	}
	m.low, m.lowOK = m.low[:n], m.lowOK[:n]
	clear(m.lowOK)

	for i := range m.view {
		li := b.fields[m.view[i].Key]
		if li == nil {
			continue
		}
		m.scan(li, i)
	}
	if b.keyword != nil {
		for i := range m.view {
			m.scan(b.keyword, i)
		}
	}
	for _, id := range b.always {
		m.mark(id)
	}
	for _, id := range m.cands {
		v := m.rs.variants[id]
		if m.hit[v.rule.index] == m.gen {
			continue
		}
		if v.eval(m) {
			m.hit[v.rule.index] = m.gen
			dst = append(dst, Match{Rule: v.rule.info, Event: e})
		}
	}
	m.e = nil
	return dst
}

func (m *Matcher) scan(li *literalIndex, i int) {
	if li.eq != nil {
		for _, id := range li.eq[m.lower(i)] {
			m.mark(id)
		}
	}
	if li.ac != nil {
		v := m.view[i].Value
		if li.nonASCII {
			v = m.lower(i)
		}
		m.hits = li.ac.Append(m.hits[:0], v)
		for _, p := range m.hits {
			for _, id := range li.acVariants[p] {
				m.mark(id)
			}
		}
	}
}

func (m *Matcher) mark(id int32) {
	if m.stamp[id] != m.gen {
		m.stamp[id] = m.gen
		m.cands = append(m.cands, id)
	}
}

// lower returns view[i]'s value lowercased, made once per event.
func (m *Matcher) lower(i int) string {
	if m.lowOK[i] {
		return m.low[i]
	}
	v := m.view[i].Value
	ascii, upper := true, false
	for j := 0; j < len(v); j++ {
		c := v[j]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if c >= 'A' && c <= 'Z' {
			upper = true
		}
	}
	var l string
	switch {
	case !ascii:
		l = strings.ToLower(v)
	case !upper:
		l = v
	default:
		// Lowercase into the arena. Growing it leaves earlier strings in the old array,
		// which nothing writes to again.
		if cap(m.arena)-len(m.arena) < len(v) {
			m.arena = make([]byte, 0, max(2*cap(m.arena), len(v), 4096))
		}
		start := len(m.arena)
		for j := 0; j < len(v); j++ {
			c := v[j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			m.arena = append(m.arena, c)
		}
		b := m.arena[start:]
		l = unsafe.String(unsafe.SliceData(b), len(b))
	}
	m.low[i], m.lowOK[i] = l, true
	return l
}

// virtuals are the typed fields named by virtualNames.
var virtuals = func() []event.Common {
	cs := make([]event.Common, len(virtualNames))
	for i, n := range virtualNames {
		c, ok := event.LookupCommon(n)
		if !ok {
			panic("sigma: " + n + " is not a typed field of event.Event")
		}
		cs[i] = c
	}
	return cs
}()

// addVirtual appends the typed common fields of e to the view under their virtual keys:
// strings as they are, the others written into numBuf, which (like the arena) is only
// appended to within one event.
func (m *Matcher) addVirtual(e *event.Event) {
	m.numBuf = m.numBuf[:0]
	for _, c := range virtuals {
		var v string
		if c.Text != nil {
			v = c.Text(e)
		} else {
			start := len(m.numBuf)
			var ok bool
			if m.numBuf, ok = c.Append(m.numBuf, e); !ok {
				continue
			}
			b := m.numBuf[start:]
			v = unsafe.String(unsafe.SliceData(b), len(b))
		}
		if v != "" {
			m.view = append(m.view, event.Field{Key: c.Key, Value: v})
		}
	}
}

// find returns the index in the view of the first field ref names, or -1.
func (m *Matcher) find(ref *fieldRef) int {
	for _, k := range ref.keys {
		for i := range m.view {
			if m.view[i].Key == k {
				return i
			}
		}
	}
	return -1
}

func (v *variant) eval(m *Matcher) bool {
	for _, fc := range v.extra {
		if !fc.eval(m) {
			return false
		}
	}
	return v.evalNode(m, v.cond)
}

func (v *variant) evalNode(m *Matcher, n *cnode) bool {
	switch n.op {
	case cRef:
		for _, g := range v.searches[n.search].any {
			ok := true
			for _, fc := range g {
				if !fc.eval(m) {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	case cAnd:
		for _, k := range n.kids {
			if !v.evalNode(m, k) {
				return false
			}
		}
		return true
	case cOr:
		for _, k := range n.kids {
			if v.evalNode(m, k) {
				return true
			}
		}
		return false
	case cNot:
		return !v.evalNode(m, n.kids[0])
	case cAtLeast:
		c := 0
		for _, k := range n.kids {
			if v.evalNode(m, k) {
				c++
				if c >= n.count {
					return true
				}
			}
		}
	}
	return false
}

func (fc *fieldCond) eval(m *Matcher) bool {
	if fc.ref == nil { // keyword: any value of the event
		for i := range m.view {
			if fc.evalAt(m, i) {
				return true
			}
		}
		return false
	}
	return fc.evalAt(m, m.find(fc.ref))
}

func (fc *fieldCond) evalAt(m *Matcher, i int) bool {
	if fc.any != nil && i >= 0 {
		v := m.view[i].Value
		if fc.anyNonASCII {
			v = m.lower(i)
		}
		if fc.any.Contains(v) {
			return true
		}
	}
	if fc.all {
		for j := range fc.ms {
			if !fc.ms[j].eval(m, i) {
				return false
			}
		}
		return true
	}
	for j := range fc.ms {
		if fc.ms[j].eval(m, i) {
			return true
		}
	}
	return false
}

// eval applies the matcher to view[i], i < 0 when the event lacks the field.
func (mt *matcher) eval(m *Matcher, i int) bool {
	switch mt.kind {
	case mNull:
		return i < 0 || m.view[i].Value == ""
	case mExists:
		return (i >= 0) == mt.yes
	case mNever:
		return false
	}
	if i < 0 {
		return false
	}
	switch mt.kind {
	case mFieldRef:
		j := m.find(mt.ref)
		if j < 0 {
			return false
		}
		a, b := m.view[i].Value, m.view[j].Value
		if !mt.cased {
			a, b = m.lower(i), m.lower(j)
		}
		switch mt.refOp {
		case mPrefix:
			return strings.HasPrefix(a, b)
		case mSuffix:
			return strings.HasSuffix(a, b)
		case mContains:
			return strings.Contains(a, b)
		}
		return a == b
	case mRegexp, mCIDR, mNum:
		return mt.matchString(m.view[i].Value)
	}
	if mt.cased {
		return mt.matchString(m.view[i].Value)
	}
	return mt.matchString(m.lower(i))
}
