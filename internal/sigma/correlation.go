package sigma

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parseTimespan reads a Sigma timespan: a number and one of s, m, h, d (and w, M, y).
func parseTimespan(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("timespan %q: want a number and a unit such as 5m", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("timespan %q: want a positive number and a unit such as 5m", s)
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour,
		'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'M': 30 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, fmt.Errorf("timespan %q: unknown unit %q", s, s[len(s)-1:])
	}
	return time.Duration(n) * unit, nil
}

// CorrelationMatch is a correlation rule whose condition held for one group.
type CorrelationMatch struct {
	Rule   RuleInfo
	Group  map[string]string // group-by field → value
	Count  int               // events (event_count), distinct values (value_count), rules (temporal)
	First  time.Time         // the first and last event that counted
	Last   time.Time
	Events int // how many events took part
}

// Correlator runs the correlation rules of a Ruleset over the matches of its detection rules,
// keeping per group-by key only what the timespan needs. It is not safe for concurrent use;
// partition matches by group key to run several.
type Correlator struct {
	corrs []*corr
	by    map[string][]*corr // rule id or name → the correlations that read it
}

type corr struct {
	rule     *Rule
	info     RuleInfo
	span     time.Duration
	refs     []string // rule ids or names, in order
	groupBy  []string
	aliases  map[string]map[string]string
	op       string // gt, gte, lt, lte, eq
	want     int
	field    string // value_count: the field whose distinct values count
	names    []string
	state    map[string]*groupState
	feedback []string // names under which its own matches feed other correlations
}

type groupState struct {
	times  []time.Time          // event_count: the times in the window
	values map[string]time.Time // value_count: value → last seen
	seen   map[int]time.Time    // temporal: rule index → last seen
	step   int                  // temporal_ordered: how many rules matched in order
	start  time.Time            // temporal_ordered: when the sequence began
	group  map[string]string
}

// NewCorrelator returns a Correlator for the correlation rules of rs.
func (rs *Ruleset) NewCorrelator() *Correlator {
	c := &Correlator{by: map[string][]*corr{}}
	for _, r := range rs.correlations {
		span, _ := parseTimespan(r.Correlation.Timespan) // checked at compile time
		k := &corr{rule: r, info: RuleInfo{ID: r.ID, Title: r.Title, Level: r.Level}, span: span,
			refs: r.Correlation.Rules, groupBy: r.Correlation.GroupBy, aliases: r.Correlation.Aliases,
			state: map[string]*groupState{}, field: r.Correlation.Condition["field"]}
		for _, t := range r.Tags {
			if strings.HasPrefix(t, "attack.") {
				k.info.Tags = append(k.info.Tags, t)
			}
		}
		for _, op := range []string{"gte", "gt", "lte", "lt", "eq"} {
			if v, ok := r.Correlation.Condition[op]; ok {
				k.op = op
				k.want, _ = strconv.Atoi(v)
				break
			}
		}
		for _, ref := range k.refs {
			c.by[ref] = append(c.by[ref], k)
		}
		c.corrs = append(c.corrs, k)
		k.feedback = []string{r.ID}
		if r.Name != "" {
			k.feedback = append(k.feedback, r.Name)
		}
	}
	return c
}

// Observe takes the matches of one event, in event-time order, and returns the correlation
// matches they complete. A correlation that matches feeds the correlations that refer to it.
func (c *Correlator) Observe(ms []Match, rs *Ruleset) []CorrelationMatch {
	var out []CorrelationMatch
	for _, m := range ms {
		cr := rs.byRef[m.Rule.ID]
		if cr == nil {
			continue
		}
		names := []string{cr.rule.ID}
		if cr.rule.Name != "" {
			names = append(names, cr.rule.Name)
		}
		get := func(field string) (string, bool) {
			var mm Matcher
			mm.view = append(mm.view, m.Event.Fields...)
			mm.addVirtual(m.Event)
			if i := mm.find(cr.resolve(field)); i >= 0 {
				return mm.view[i].Value, true
			}
			return "", false
		}
		out = c.feed(out, names, m.Event.Time, get)
	}
	return out
}

func (c *Correlator) feed(out []CorrelationMatch, names []string, t time.Time, get func(string) (string, bool)) []CorrelationMatch {
	done := map[*corr]bool{}
	for _, name := range names {
		for _, k := range c.by[name] {
			if done[k] {
				continue
			}
			done[k] = true
			idx := slices.Index(k.refs, name)
			cm, ok := k.observe(name, idx, t, get)
			if !ok {
				continue
			}
			out = append(out, cm)
			group := cm.Group
			out = c.feed(out, k.feedback, cm.Last, func(f string) (string, bool) {
				v, ok := group[f]
				return v, ok
			})
		}
	}
	return out
}

func (k *corr) fieldFor(ruleName, field string) string {
	if a, ok := k.aliases[field]; ok {
		if f, ok := a[ruleName]; ok {
			return f
		}
	}
	return field
}

func (k *corr) observe(name string, idx int, t time.Time, get func(string) (string, bool)) (CorrelationMatch, bool) {
	var key strings.Builder
	group := make(map[string]string, len(k.groupBy))
	for _, g := range k.groupBy {
		v, ok := get(k.fieldFor(name, g))
		if !ok {
			return CorrelationMatch{}, false // an event without the group field is in no group
		}
		group[g] = v
		key.WriteString(v)
		key.WriteByte(0)
	}
	st := k.state[key.String()]
	if st == nil {
		st = &groupState{group: group}
		k.state[key.String()] = st
	}
	cm := CorrelationMatch{Rule: k.info, Group: group, Last: t}
	switch k.rule.Correlation.Type {
	case "event_count":
		st.times = append(st.times, t)
		cut := 0
		for cut < len(st.times) && t.Sub(st.times[cut]) > k.span {
			cut++
		}
		st.times = st.times[cut:]
		cm.Count, cm.Events, cm.First = len(st.times), len(st.times), st.times[0]
		if !k.holds(cm.Count) {
			return cm, false
		}
		st.times = st.times[:0] // one match per burst; the next counts afresh
	case "value_count":
		v, ok := get(k.fieldFor(name, k.field))
		if !ok {
			return cm, false
		}
		if st.values == nil {
			st.values = map[string]time.Time{}
		}
		st.values[v] = t
		cm.First = t
		for val, seen := range st.values {
			if t.Sub(seen) > k.span {
				delete(st.values, val)
			} else if seen.Before(cm.First) {
				cm.First = seen
			}
		}
		cm.Count, cm.Events = len(st.values), len(st.values)
		if !k.holds(cm.Count) {
			return cm, false
		}
		clear(st.values)
	case "temporal":
		if st.seen == nil {
			st.seen = map[int]time.Time{}
		}
		st.seen[idx] = t
		cm.First = t
		for i, seen := range st.seen {
			if t.Sub(seen) > k.span {
				delete(st.seen, i)
			} else if seen.Before(cm.First) {
				cm.First = seen
			}
		}
		cm.Count, cm.Events = len(st.seen), len(st.seen)
		if cm.Count < len(k.refs) {
			return cm, false
		}
		clear(st.seen)
	case "temporal_ordered":
		if st.step > 0 && t.Sub(st.start) > k.span {
			st.step = 0
		}
		switch {
		case idx == st.step:
			if st.step == 0 {
				st.start = t
			}
			st.step++
		case idx == 0:
			st.step, st.start = 1, t
		default:
			return cm, false
		}
		cm.First, cm.Count, cm.Events = st.start, st.step, st.step
		if st.step < len(k.refs) {
			return cm, false
		}
		st.step = 0
	}
	return cm, true
}

func (k *corr) holds(n int) bool {
	switch k.op {
	case "gt":
		return n > k.want
	case "gte":
		return n >= k.want
	case "lt":
		return n < k.want
	case "lte":
		return n <= k.want
	case "eq":
		return n == k.want
	}
	return false
}
