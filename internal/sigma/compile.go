package sigma

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/omamori-project/omamori/internal/ahocorasick"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/severity"
)

// Options change how rules compile.
type Options struct {
	// Mapping is the log-source mapping; nil means DefaultMapping.
	Mapping *Mapping
	// Placeholders gives the values of %name% placeholders of the expand modifier. A
	// placeholder with no values matches nothing, and Report.Placeholders lists it.
	Placeholders map[string][]string
}

// Failure is a rule that did not compile, and why.
type Failure struct {
	Path  string
	ID    string
	Title string
	Err   error
}

func (f Failure) String() string {
	name := f.Path
	if name == "" {
		name = f.ID
	}
	if f.Title != "" {
		name += " (" + f.Title + ")"
	}
	return name + ": " + f.Err.Error()
}

// Report says what loading and compiling rules did.
type Report struct {
	Files    int       // rule files read
	Rules    int       // rules found in them, detection and correlation
	Compiled int       // rules compiled
	Failed   []Failure // every rule or file that did not compile
	// NoSource counts, by log source, the compiled rules that no event omamori reads can
	// reach under the mapping (cloud audit logs, macOS, ...).
	NoSource map[string]int
	// Placeholders lists, by name, the rules using a %placeholder% that has no values.
	Placeholders map[string][]string
}

// Ruleset is a compiled set of rules. It is immutable and safe for concurrent use; each
// goroutine matches through a Matcher of its own.
type Ruleset struct {
	rules        []*compiled // one per detection rule
	variants     []*variant
	channels     map[string]*winChannel // by channel name as Windows writes it
	channelsFold map[string]*winChannel // the same by the name in lower case (see bucket)
	windowsOther *bucket                // Windows events of a channel no rule names
	datasets     map[string]*bucket
	correlations []*Rule
	byRef        map[string]*compiled // by rule id and name, for correlations
}

// compiled is a detection rule that compiled.
type compiled struct {
	rule    *Rule
	index   int32
	info    RuleInfo
	resolve func(string) *fieldRef // field names under the rule's first log-source target
}

// RuleInfo is what a match says about the rule.
type RuleInfo struct {
	ID    string
	Title string
	Level severity.Level
	Tags  []string // attack.* tags: tactics and techniques
}

// Techniques returns the ATT&CK technique IDs of the rule's tags (attack.t1059.001 →
// T1059.001).
func (r RuleInfo) Techniques() []string {
	var out []string
	for _, t := range r.Tags {
		if s, ok := strings.CutPrefix(t, "attack.t"); ok && len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
			out = append(out, "T"+strings.ToUpper(s))
		}
	}
	return out
}

// variant is a rule compiled for one target of its log source.
type variant struct {
	id       int32
	rule     *compiled
	searches []search
	cond     *cnode
	extra    []*fieldCond // conditions of the log source
	virtual  bool         // reads a typed common field
	keyword  bool         // has a keyword search
}

type search struct {
	any [][]*fieldCond
}

type fieldCond struct {
	ref *fieldRef // nil: a keyword, searched in every value
	all bool
	ms  []matcher
	// any holds the substrings of a long list of contains values, searched in one pass;
	// ms then holds the other values only.
	any         *ahocorasick.Matcher
	anyLits     []string // the substrings of any, for the index
	anyNonASCII bool
}

// minAnyList is the length from which a list of contains values is searched with one
// Aho–Corasick pass rather than one strings.Contains each: PowerShell rules list dozens of
// cmdlets, to be found in script blocks of kilobytes.
const minAnyList = 4

// cnode is a condition with its searches resolved to indexes.
type cnode struct {
	op     uint8 // cRef, cAnd, cOr, cNot, cAtLeast
	search int
	count  int
	kids   []*cnode
}

const (
	cRef = iota
	cAnd
	cOr
	cNot
	cAtLeast
)

type winChannel struct {
	byID map[string]*bucket
	rest *bucket
}

// bucket holds the rules that events of one log source (a Windows channel and event ID, or a
// dataset) may match, and the index of their literals.
type bucket struct {
	variants []*variant
	fields   map[event.Key]*literalIndex
	keyword  *literalIndex // literals of keyword searches, looked for in every value
	always   []int32       // variants with no literal to key on
	virtual  bool
}

type literalIndex struct {
	eq         map[string][]int32 // lowercased value → variants
	ac         *ahocorasick.Matcher
	acVariants [][]int32
	nonASCII   bool // some literal is not ASCII: scan the lowercased value
	patterns   []string
	seen       map[string]int
}

// Load reads every .yml file under roots in fsys (for example os.DirFS of the SigmaHQ
// checkout and "rules", "rules-emerging-threats"), parses and compiles them. It returns an
// error only when a root cannot be read; rules that do not parse or compile are in the
// report.
func Load(fsys fs.FS, opts Options, roots ...string) (*Ruleset, *Report, error) {
	var rules []*Rule
	var failed []Failure
	files := 0
	for _, root := range roots {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || (path.Ext(p) != ".yml" && path.Ext(p) != ".yaml") {
				return nil
			}
			files++
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			rs, err := Parse(data)
			if err != nil {
				failed = append(failed, Failure{Path: p, Err: err})
			}
			for _, r := range rs {
				r.Path = p
				rules = append(rules, r)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("load sigma rules: %w", err)
		}
	}
	rs, rep := Compile(rules, opts)
	rep.Files = files
	rep.Rules += len(failed)
	rep.Failed = append(failed, rep.Failed...)
	return rs, rep, nil
}

// Compile compiles rules into one Ruleset. Rules that do not compile are left out and listed
// in the report with the reason.
func Compile(rules []*Rule, opts Options) (*Ruleset, *Report) {
	m := opts.Mapping
	if m == nil {
		m = DefaultMapping()
	}
	rep := &Report{Rules: len(rules), NoSource: map[string]int{}, Placeholders: map[string][]string{}}
	rs := &Ruleset{channels: map[string]*winChannel{}, channelsFold: map[string]*winChannel{}, datasets: map[string]*bucket{}, byRef: map[string]*compiled{}}

	type placed struct {
		v *variant
		t *target
	}
	var all []placed
	for _, r := range rules {
		if r.Correlation != nil {
			continue
		}
		c := &compiled{rule: r, index: int32(len(rs.rules)), info: RuleInfo{ID: r.ID, Title: r.Title, Level: r.Level}}
		for _, t := range r.Tags {
			if strings.HasPrefix(t, "attack.") {
				c.info.Tags = append(c.info.Tags, t)
			}
		}
		targets := m.targets(r.Logsource)
		probe := targets
		if len(probe) == 0 {
			// Compile against the plain names all the same, so a rule no event reaches is
			// still checked and can be reached by another mapping.
			probe = []target{{}}
		}
		c.resolve = probe[0].resolver()
		var vs []*variant
		var err error
		unset := map[string]bool{}
		for i := range probe {
			var v *variant
			v, err = compileVariant(c, &probe[i], opts.Placeholders, func(n string) { unset[n] = true })
			if err != nil {
				break
			}
			vs = append(vs, v)
		}
		if err != nil {
			rep.Failed = append(rep.Failed, Failure{Path: r.Path, ID: r.ID, Title: r.Title, Err: err})
			continue
		}
		for n := range unset {
			rep.Placeholders[n] = append(rep.Placeholders[n], r.ID)
		}
		rep.Compiled++
		rs.rules = append(rs.rules, c)
		if r.ID != "" {
			rs.byRef[r.ID] = c
		}
		if r.Name != "" {
			rs.byRef[r.Name] = c
		}
		if len(targets) == 0 {
			rep.NoSource[r.Logsource.String()]++
			continue
		}
		for i, v := range vs {
			v.id = int32(len(rs.variants))
			rs.variants = append(rs.variants, v)
			all = append(all, placed{v, &targets[i]})
		}
	}
	corrNames := map[string]bool{}
	for _, r := range rules {
		if r.Correlation != nil {
			corrNames[r.ID] = true
			if r.Name != "" {
				corrNames[r.Name] = true
			}
		}
	}
	for _, r := range rules {
		if r.Correlation == nil {
			continue
		}
		if err := rs.checkCorrelation(r, corrNames); err != nil {
			rep.Failed = append(rep.Failed, Failure{Path: r.Path, ID: r.ID, Title: r.Title, Err: err})
			continue
		}
		rep.Compiled++
		rs.correlations = append(rs.correlations, r)
	}

	// Place each variant in the buckets of its target. A Windows bucket (channel, event ID)
	// also holds the channel's rules for every ID and the rules for every channel.
	type winKey struct{ channel, id string }
	winByID := map[winKey][]*variant{}
	winAllIDs := map[string][]*variant{}
	var winAll []*variant
	dsets := map[string][]*variant{}
	for _, p := range all {
		t := p.t
		switch {
		case t.windows && t.channels == nil:
			winAll = append(winAll, p.v)
		case t.windows:
			for _, ch := range t.channels {
				if len(t.eventIDs) == 0 {
					winAllIDs[ch] = append(winAllIDs[ch], p.v)
				}
				for _, id := range t.eventIDs {
					winByID[winKey{ch, id}] = append(winByID[winKey{ch, id}], p.v)
				}
			}
		default:
			for _, d := range t.datasets {
				dsets[d] = append(dsets[d], p.v)
			}
		}
	}
	channel := func(ch string) *winChannel {
		w := rs.channels[ch]
		if w == nil {
			w = &winChannel{byID: map[string]*bucket{}}
			w.rest = newBucket(slices.Concat(winAllIDs[ch], winAll))
			rs.channels[ch] = w
		}
		return w
	}
	for k, vs := range winByID {
		channel(k.channel).byID[k.id] = newBucket(slices.Concat(vs, winAllIDs[k.channel], winAll))
	}
	for ch := range winAllIDs {
		channel(ch)
	}
	for ch, w := range rs.channels {
		rs.channelsFold[strings.ToLower(ch)] = w
	}
	rs.windowsOther = newBucket(winAll)
	for d, vs := range dsets {
		rs.datasets[d] = newBucket(vs)
	}
	sort.Slice(rep.Failed, func(i, j int) bool { return rep.Failed[i].Path < rep.Failed[j].Path })
	return rs, rep
}

// Rules returns how many detection and correlation rules the set holds.
func (rs *Ruleset) Rules() int { return len(rs.rules) + len(rs.correlations) }

func compileVariant(c *compiled, t *target, placeholders map[string][]string, unset func(string)) (*variant, error) {
	det := c.rule.Detection
	resolve := t.resolver()
	v := &variant{rule: c}
	names := make([]string, 0, len(det.Searches))
	for n := range det.Searches {
		names = append(names, n)
	}
	sort.Strings(names)
	index := map[string]int{}
	for _, n := range names {
		s := det.Searches[n]
		var cs search
		for _, group := range s.Any {
			var conds []*fieldCond
			for _, fm := range group {
				fc, err := compileField(fm, resolve, placeholders, unset)
				if err != nil {
					return nil, fmt.Errorf("search %s: %w", n, err)
				}
				conds = append(conds, fc)
			}
			cs.any = append(cs.any, conds)
		}
		index[n] = len(v.searches)
		v.searches = append(v.searches, cs)
	}
	var conds []*cnode
	for _, text := range det.Condition {
		n, err := parseCondition(text)
		if err != nil {
			return nil, fmt.Errorf("condition %q: %w", text, err)
		}
		n, err = expandOf(n, names)
		if err != nil {
			return nil, fmt.Errorf("condition %q: %w", text, err)
		}
		conds = append(conds, toCnode(n, index))
	}
	if len(conds) == 1 {
		v.cond = conds[0]
	} else {
		v.cond = &cnode{op: cOr, kids: conds}
	}
	keys := make([]string, 0, len(t.conditions))
	for k := range t.conditions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fc, err := compileField(&FieldMatch{Field: k, Values: []Value{{S: t.conditions[k]}}}, resolve, nil, unset)
		if err != nil {
			return nil, fmt.Errorf("log source condition %s: %w", k, err)
		}
		v.extra = append(v.extra, fc)
	}
	v.walkConds(func(fc *fieldCond) {
		if fc.ref == nil {
			v.keyword = true
			return
		}
		for _, k := range fc.ref.keys {
			v.virtual = v.virtual || isVirtual(k)
		}
		for _, m := range fc.ms {
			if m.ref != nil {
				for _, k := range m.ref.keys {
					v.virtual = v.virtual || isVirtual(k)
				}
			}
		}
	})
	return v, nil
}

func (v *variant) walkConds(fn func(*fieldCond)) {
	for _, s := range v.searches {
		for _, g := range s.any {
			for _, fc := range g {
				fn(fc)
			}
		}
	}
	for _, fc := range v.extra {
		fn(fc)
	}
}

func compileField(fm *FieldMatch, resolve func(string) *fieldRef, placeholders map[string][]string, unset func(string)) (*fieldCond, error) {
	ms, all, err := compileValues(fm, placeholders, resolve, unset)
	if err != nil {
		if fm.Field != "" {
			return nil, fmt.Errorf("field %s: %w", fm.Field, err)
		}
		return nil, err
	}
	fc := &fieldCond{all: all, ms: ms}
	if !all {
		var lits []string
		var rest []matcher
		for _, m := range ms {
			if m.kind == mContains && !m.cased && m.s != "" {
				lits = append(lits, m.s)
				for i := 0; i < len(m.s); i++ {
					fc.anyNonASCII = fc.anyNonASCII || m.s[i] >= utf8.RuneSelf
				}
			} else {
				rest = append(rest, m)
			}
		}
		if len(lits) >= minAnyList {
			fc.any = ahocorasick.New(lits, ahocorasick.Options{Fold: true})
			fc.anyLits = lits
			fc.ms = rest
		} else {
			fc.anyNonASCII = false
		}
	}
	if fm.Field != "" {
		fc.ref = resolve(fm.Field)
	}
	return fc, nil
}

func toCnode(n *node, index map[string]int) *cnode {
	switch n.op {
	case "ref":
		return &cnode{op: cRef, search: index[n.name]}
	}
	c := &cnode{count: n.count}
	switch n.op {
	case "and":
		c.op = cAnd
	case "or":
		c.op = cOr
	case "not":
		c.op = cNot
	case "atleast":
		c.op = cAtLeast
	}
	for _, k := range n.kids {
		c.kids = append(c.kids, toCnode(k, index))
	}
	return c
}

// An atom is a literal one of whose occurrences an event must have for a rule to match:
// a field's whole value (eq), or a substring of it.
type atom struct {
	ref *fieldRef // nil: any value (keyword)
	eq  bool
	lit string // lowercased
}

// triggers returns atoms at least one of which holds in every event the variant matches, or
// ok false when there is no such set (the variant must be tried on every event).
func (v *variant) triggers() ([]atom, bool) {
	best, ok := v.nodeAtoms(v.cond)
	for _, fc := range v.extra {
		if a, aok := fc.atoms(); aok && (!ok || score(a) > score(best)) {
			best, ok = a, true
		}
	}
	return best, ok
}

func (v *variant) nodeAtoms(n *cnode) ([]atom, bool) {
	switch n.op {
	case cRef:
		var out []atom
		for _, g := range v.searches[n.search].any {
			a, ok := groupAtoms(g)
			if !ok {
				return nil, false
			}
			out = append(out, a...)
		}
		return out, true
	case cAnd:
		var best []atom
		found := false
		for _, k := range n.kids {
			if a, ok := v.nodeAtoms(k); ok && (!found || score(a) > score(best)) {
				best, found = a, true
			}
		}
		return best, found
	case cOr, cAtLeast:
		var out []atom
		for _, k := range n.kids {
			a, ok := v.nodeAtoms(k)
			if !ok {
				return nil, false
			}
			out = append(out, a...)
		}
		return out, true
	}
	return nil, false // not: nothing is necessary
}

func groupAtoms(g []*fieldCond) ([]atom, bool) {
	var best []atom
	found := false
	for _, fc := range g {
		if a, ok := fc.atoms(); ok && (!found || score(a) > score(best)) {
			best, found = a, true
		}
	}
	return best, found
}

func (fc *fieldCond) atoms() ([]atom, bool) {
	var out []atom
	var best []atom
	found := false
	for i := range fc.ms {
		a, ok := fc.ms[i].atoms(fc.ref)
		if fc.all {
			if ok && (!found || score(a) > score(best)) {
				best, found = a, true
			}
			continue
		}
		if !ok {
			return nil, false
		}
		out = append(out, a...)
	}
	if fc.all {
		return best, found
	}
	for _, l := range fc.anyLits {
		out = append(out, atom{ref: fc.ref, lit: l})
	}
	return out, true
}

func (m *matcher) atoms(ref *fieldRef) ([]atom, bool) {
	switch m.kind {
	case mEq:
		if ref == nil {
			return nil, false
		}
		return []atom{{ref: ref, eq: true, lit: strings.ToLower(m.s)}}, true
	case mPrefix, mSuffix, mContains:
		if m.s == "" {
			return nil, false
		}
		return []atom{{ref: ref, lit: strings.ToLower(m.s)}}, true
	case mGlob:
		longest := ""
		for _, t := range m.glob {
			if len(t.lit) > len(longest) {
				longest = t.lit
			}
		}
		if longest == "" {
			return nil, false
		}
		return []atom{{ref: ref, lit: strings.ToLower(longest)}}, true
	case mRegexp:
		lits, ok := regexLiterals(m.re.String())
		if !ok {
			return nil, false
		}
		out := make([]atom, len(lits))
		for i, l := range lits {
			out[i] = atom{ref: ref, lit: l}
		}
		return out, true
	}
	return nil, false
}

// score rates how rarely a set of atoms fires: the weakest atom decides, and longer literals
// are rarer. Values every event of a bucket has (event ID, channel) are worth nothing.
func score(as []atom) int {
	min := 1 << 30
	for _, a := range as {
		s := len(a.lit)
		if a.eq {
			s += 2 // a whole value, but short values (High, 3) are common ones
		}
		if a.ref != nil {
			switch a.ref.name {
			case "EventID", "Channel", "Provider_Name":
				s = 0
			}
		}
		if s < min {
			min = s
		}
	}
	return min*64 - len(as)
}

func newBucket(vs []*variant) *bucket {
	b := &bucket{fields: map[event.Key]*literalIndex{}}
	seen := map[int32]bool{}
	shared := map[string]*literalIndex{}
	for _, v := range vs {
		if seen[v.id] {
			continue
		}
		seen[v.id] = true
		b.variants = append(b.variants, v)
		b.virtual = b.virtual || v.virtual
		atoms, ok := v.triggers()
		if !ok {
			b.always = append(b.always, v.id)
			continue
		}
		for _, a := range atoms {
			if a.ref == nil {
				if b.keyword == nil {
					b.keyword = &literalIndex{}
				}
				b.keyword.add(a, v.id)
				continue
			}
			// The keys of one field share an index: an event has only one of them.
			li := shared[a.ref.name]
			if li == nil {
				li = &literalIndex{}
				shared[a.ref.name] = li
			}
			li.add(a, v.id)
			for _, k := range a.ref.keys {
				if b.fields[k] == nil {
					b.fields[k] = li
				} else if b.fields[k] != li {
					b.fields[k].add(a, v.id) // the key serves two Sigma names
				}
				b.virtual = b.virtual || isVirtual(k)
			}
		}
	}
	built := map[*literalIndex]bool{}
	for _, li := range b.fields {
		if !built[li] {
			li.build()
			built[li] = true
		}
	}
	if b.keyword != nil {
		b.keyword.build()
	}
	return b
}

func (li *literalIndex) add(a atom, id int32) {
	if a.eq {
		if li.eq == nil {
			li.eq = map[string][]int32{}
		}
		if !slices.Contains(li.eq[a.lit], id) {
			li.eq[a.lit] = append(li.eq[a.lit], id)
		}
		return
	}
	if li.seen == nil {
		li.seen = map[string]int{}
	}
	i, ok := li.seen[a.lit]
	if !ok {
		i = len(li.patterns)
		li.seen[a.lit] = i
		li.patterns = append(li.patterns, a.lit)
		li.acVariants = append(li.acVariants, nil)
	}
	if !slices.Contains(li.acVariants[i], id) {
		li.acVariants[i] = append(li.acVariants[i], id)
	}
	for j := 0; j < len(a.lit); j++ {
		if a.lit[j] >= utf8.RuneSelf {
			li.nonASCII = true
		}
	}
}

func (li *literalIndex) build() {
	if len(li.patterns) > 0 {
		li.ac = ahocorasick.New(li.patterns, ahocorasick.Options{Fold: true})
	}
	li.seen = nil
}

func (rs *Ruleset) checkCorrelation(r *Rule, correlations map[string]bool) error {
	for _, ref := range r.Correlation.Rules {
		if _, ok := rs.byRef[ref]; !ok && !correlations[ref] {
			return fmt.Errorf("correlation refers to rule %q, which is not loaded", ref)
		}
	}
	if _, err := parseTimespan(r.Correlation.Timespan); err != nil {
		return err
	}
	switch r.Correlation.Type {
	case "event_count", "value_count":
		if len(r.Correlation.Condition) == 0 {
			return errors.New("correlation has no condition")
		}
		if r.Correlation.Type == "value_count" && r.Correlation.Condition["field"] == "" {
			return errors.New("value_count correlation has no condition field")
		}
	}
	return nil
}
