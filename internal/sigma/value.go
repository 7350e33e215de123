package sigma

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// tok is one piece of a Sigma string value: literal text, "*" (any run) or "?" (one character).
type tok struct {
	lit  string
	star bool
	one  bool
}

// pattern is a Sigma string value after its wildcards and escapes are read.
type pattern []tok

// parsePattern reads a Sigma string: * and ? are wildcards, and a backslash escapes *, ? and
// itself; any other backslash is a plain one (SigmaHQ writes paths as C:\Windows\).
func parsePattern(s string) pattern {
	var p pattern
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p = append(p, tok{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			lit.WriteByte(s[i+1])
			i++
		case c == '*':
			flush()
			if len(p) == 0 || !p[len(p)-1].star {
				p = append(p, tok{star: true})
			}
		case c == '?':
			flush()
			p = append(p, tok{one: true})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return p
}

func literal(s string) pattern {
	if s == "" {
		return nil
	}
	return pattern{{lit: s}}
}

// plain returns the text of a pattern without wildcards.
func (p pattern) plain() (string, bool) {
	var b strings.Builder
	for _, t := range p {
		if t.star || t.one {
			return "", false
		}
		b.WriteString(t.lit)
	}
	return b.String(), true
}

func (p pattern) wrap(before, after bool) pattern {
	var q pattern
	if before && (len(p) == 0 || !p[0].star) {
		q = append(q, tok{star: true})
	}
	q = append(q, p...)
	if after && (len(q) == 0 || !q[len(q)-1].star) {
		q = append(q, tok{star: true})
	}
	return q
}

// mapLiterals returns the patterns made by replacing each literal piece of p with each of
// the alternatives fn gives for it.
func (p pattern) mapLiterals(fn func(string) []string) []pattern {
	out := []pattern{nil}
	for _, t := range p {
		alts := []string{""}
		if t.lit != "" {
			alts = fn(t.lit)
		}
		var next []pattern
		for _, o := range out {
			for _, a := range alts {
				q := append(pattern(nil), o...)
				if t.lit == "" {
					q = append(q, t)
				} else if a != "" {
					q = append(q, tok{lit: a})
				}
				next = append(next, q)
			}
		}
		out = next
	}
	return out
}

// matchKind says how a matcher compares.
type matchKind uint8

const (
	mEq matchKind = iota
	mPrefix
	mSuffix
	mContains
	mGlob
	mRegexp
	mCIDR
	mNum
	mExists
	mNull
	mFieldRef
	mNever // an expanded placeholder with no value
)

// matcher is one compiled value of a field match.
type matcher struct {
	kind  matchKind
	s     string  // the literal, lowercased unless cased
	glob  pattern // mGlob, lowercased unless cased
	cased bool
	re    *regexp.Regexp
	cidr  netip.Prefix
	op    string // mNum: gt, gte, lt, lte
	num   float64
	yes   bool      // mExists: the field must exist (true) or not
	ref   *fieldRef // mFieldRef
	refOp matchKind // mFieldRef: mEq, mPrefix, mSuffix, mContains
}

// windash gives the variants of s with each dash or slash that starts a command-line flag
// replaced by every character Windows programs accept there (pySigma's \B[-/]\b).
func windash(s string) []string {
	var pos []int
	word := func(r rune) bool {
		return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}
	prevWord := false
	for i, r := range s {
		if (r == '-' || r == '/') && !prevWord {
			next, _ := utf8.DecodeRuneInString(s[i+1:])
			if i+1 < len(s) && word(next) {
				pos = append(pos, i)
			}
		}
		prevWord = word(r)
	}
	dashes := []string{"-", "/", "–", "—", "―"}
	if len(pos) > 4 {
		// Every combination would be 5^n values; beyond 625, each variant uses one dash
		// character throughout, which is how command lines are written in practice.
		out := make([]string, 0, len(dashes))
		for _, d := range dashes {
			b := []byte(nil)
			last := 0
			for _, p := range pos {
				b = append(append(b, s[last:p]...), d...)
				last = p + 1
			}
			out = append(out, string(append(b, s[last:]...)))
		}
		return out
	}
	out := []string{""}
	last := 0
	for _, p := range pos {
		var next []string
		for _, o := range out {
			for _, d := range dashes {
				next = append(next, o+s[last:p]+d)
			}
		}
		out = next
		last = p + 1
	}
	for i := range out {
		out[i] += s[last:]
	}
	return out
}

func utf16le(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return string(b)
}

func utf16be(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return string(b)
}

// base64Offsets gives the three base64 forms of s as it appears at any offset inside a longer
// encoded text, with the characters that depend on its neighbours cut off (pySigma's
// base64offset).
func base64Offsets(s string) []string {
	start := []int{0, 2, 3}
	end := []int{0, -3, -2}
	var out []string
	for i := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + s))
		e := len(enc) + end[(len(s)+i)%3]
		if e < start[i] {
			e = start[i]
		}
		out = append(out, enc[start[i]:e])
	}
	return out
}

// compileValues turns the values of one field match into matchers, applying its modifiers in
// the order written. placeholders gives the values of %name% for expand; a name with no values
// matches nothing, and is reported through unset.
func compileValues(fm *FieldMatch, placeholders map[string][]string, resolve func(string) *fieldRef, unset func(string)) (ms []matcher, all bool, err error) {
	type val struct {
		p    pattern
		null bool
	}
	vals := make([]val, 0, len(fm.Values))
	for _, v := range fm.Values {
		if v.Null {
			vals = append(vals, val{null: true})
		} else {
			vals = append(vals, val{p: parsePattern(v.S)})
		}
	}
	var (
		kind              = mEq
		cased, isRe       bool
		reFlags           string
		isCIDR, isExists  bool
		numOp, fieldRefTo string
		keyword           = fm.Field == ""
	)
	// For the value-changing modifiers, the raw text matters, not the wildcard reading.
	raw := func(i int) string { return fm.Values[i].S }
	transform := func(fn func(pattern) ([]pattern, error)) error {
		var next []val
		for _, v := range vals {
			if v.null {
				next = append(next, v)
				continue
			}
			ps, err := fn(v.p)
			if err != nil {
				return err
			}
			for _, p := range ps {
				next = append(next, val{p: p})
			}
		}
		vals = next
		return nil
	}
	plainOnly := func(name string, enc func(string) []string) error {
		return transform(func(p pattern) ([]pattern, error) {
			s, ok := p.plain()
			if !ok {
				return nil, fmt.Errorf("modifier %s on a value with wildcards", name)
			}
			var out []pattern
			for _, e := range enc(s) {
				out = append(out, literal(e))
			}
			return out, nil
		})
	}
	for _, mod := range fm.Modifiers {
		switch mod {
		case "contains":
			kind = mContains
		case "startswith":
			kind = mPrefix
		case "endswith":
			kind = mSuffix
		case "all":
			all = true
		case "cased":
			cased = true
		case "windash":
			err = transform(func(p pattern) ([]pattern, error) { return p.mapLiterals(windash), nil })
		case "base64":
			err = plainOnly(mod, func(s string) []string { return []string{base64.StdEncoding.EncodeToString([]byte(s))} })
		case "base64offset":
			err = plainOnly(mod, base64Offsets)
		case "utf16le", "wide":
			err = plainOnly(mod, func(s string) []string { return []string{utf16le(s)} })
		case "utf16be":
			err = plainOnly(mod, func(s string) []string { return []string{utf16be(s)} })
		case "utf16":
			err = plainOnly(mod, func(s string) []string { return []string{"\xff\xfe" + utf16le(s)} })
		case "expand":
			err = transform(func(p pattern) ([]pattern, error) {
				out := []pattern{p}
				for {
					var next []pattern
					changed := false
					for _, q := range out {
						exp, ok := expandOne(q, placeholders, unset)
						changed = changed || ok
						next = append(next, exp...)
					}
					out = next
					if !changed {
						return out, nil
					}
				}
			})
		case "re":
			isRe = true
		case "i", "m", "s":
			if !isRe {
				return nil, false, fmt.Errorf("modifier %s without re", mod)
			}
			reFlags += mod
		case "cidr":
			isCIDR = true
		case "exists":
			isExists = true
		case "gt", "gte", "lt", "lte":
			numOp = mod
		case "fieldref":
			fieldRefTo = "yes"
		default:
			return nil, false, fmt.Errorf("unknown modifier %q", mod)
		}
		if err != nil {
			return nil, false, err
		}
	}
	if len(fm.Values) == 0 {
		return nil, false, errors.New("no values")
	}
	switch {
	case isRe:
		for i := range fm.Values {
			flags := ""
			if reFlags != "" {
				flags = "(?" + reFlags + ")"
			}
			re, err := regexp.Compile(flags + raw(i))
			if err != nil {
				return nil, false, fmt.Errorf("regular expression %q: %w", raw(i), err)
			}
			ms = append(ms, matcher{kind: mRegexp, re: re, cased: true})
		}
		return ms, all, nil
	case isCIDR:
		for i := range fm.Values {
			p, err := netip.ParsePrefix(strings.TrimSpace(raw(i)))
			if err != nil {
				return nil, false, fmt.Errorf("cidr %q: %w", raw(i), err)
			}
			ms = append(ms, matcher{kind: mCIDR, cidr: p.Masked()})
		}
		return ms, all, nil
	case isExists:
		for i := range fm.Values {
			b, err := strconv.ParseBool(raw(i))
			if err != nil {
				return nil, false, fmt.Errorf("exists %q: not true or false", raw(i))
			}
			ms = append(ms, matcher{kind: mExists, yes: b})
		}
		return ms, all, nil
	case numOp != "":
		for i := range fm.Values {
			n, err := strconv.ParseFloat(strings.TrimSpace(raw(i)), 64)
			if err != nil {
				return nil, false, fmt.Errorf("%s %q: not a number", numOp, raw(i))
			}
			ms = append(ms, matcher{kind: mNum, op: numOp, num: n})
		}
		return ms, all, nil
	case fieldRefTo != "":
		if keyword {
			return nil, false, errors.New("fieldref without a field")
		}
		for i := range fm.Values {
			ms = append(ms, matcher{kind: mFieldRef, ref: resolve(raw(i)), refOp: kind, cased: cased})
		}
		return ms, all, nil
	}
	if keyword && kind == mEq {
		kind = mContains // keywords search the text of the whole event
	}
	for _, v := range vals {
		if v.null {
			ms = append(ms, matcher{kind: mNull})
			continue
		}
		p := v.p
		switch kind {
		case mContains:
			p = p.wrap(true, true)
		case mPrefix:
			p = p.wrap(false, true)
		case mSuffix:
			p = p.wrap(true, false)
		}
		ms = append(ms, patternMatcher(p, cased))
	}
	if len(ms) == 0 { // every value was a placeholder with no value
		ms = append(ms, matcher{kind: mNever})
	}
	return ms, all, nil
}

// expandOne replaces the first %name% in a literal of p with each of its values. It reports
// whether it found one.
func expandOne(p pattern, placeholders map[string][]string, unset func(string)) ([]pattern, bool) {
	for i, t := range p {
		a := strings.IndexByte(t.lit, '%')
		if a < 0 {
			continue
		}
		b := strings.IndexByte(t.lit[a+1:], '%')
		if b < 0 {
			continue
		}
		name := t.lit[a+1 : a+1+b]
		vals, ok := placeholders[name]
		if !ok {
			unset(name)
		}
		var out []pattern
		for _, v := range vals {
			q := append(pattern(nil), p[:i]...)
			q = append(q, literal(t.lit[:a])...)
			q = append(q, parsePattern(v)...)
			q = append(q, literal(t.lit[a+2+b:])...)
			q = append(q, p[i+1:]...)
			out = append(out, q)
		}
		return out, true
	}
	return []pattern{p}, false
}

// patternMatcher picks the cheapest comparison for p: equality, prefix, suffix or substring
// when its only wildcards are at its ends.
func patternMatcher(p pattern, cased bool) matcher {
	if !cased {
		q := make(pattern, len(p))
		for i, t := range p {
			t.lit = strings.ToLower(t.lit)
			q[i] = t
		}
		p = q
	}
	m := matcher{cased: cased}
	inner := p
	lead := len(inner) > 0 && inner[0].star
	if lead {
		inner = inner[1:]
	}
	trail := len(inner) > 0 && inner[len(inner)-1].star
	if trail {
		inner = inner[:len(inner)-1]
	}
	if s, ok := inner.plain(); ok {
		m.s = s
		switch {
		case lead && trail:
			m.kind = mContains
		case lead:
			m.kind = mSuffix
		case trail:
			m.kind = mPrefix
		default:
			m.kind = mEq
		}
		return m
	}
	m.kind, m.glob = mGlob, p
	return m
}

// matchString applies m to a field value v, already lowercased unless m is cased (the
// caller passes the original value then).
func (m *matcher) matchString(v string) bool {
	switch m.kind {
	case mEq:
		return v == m.s
	case mPrefix:
		return strings.HasPrefix(v, m.s)
	case mSuffix:
		return strings.HasSuffix(v, m.s)
	case mContains:
		return strings.Contains(v, m.s)
	case mGlob:
		return globMatch(m.glob, v)
	case mRegexp:
		return m.re.MatchString(v)
	case mCIDR:
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		return err == nil && m.cidr.Contains(a.Unmap())
	case mNum:
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return false
		}
		switch m.op {
		case "gt":
			return n > m.num
		case "gte":
			return n >= m.num
		case "lt":
			return n < m.num
		default:
			return n <= m.num
		}
	}
	return false
}

// globMatch matches v against a pattern with * and ?. A star's backtracking only ever moves
// to the last star, which keeps it linear in practice.
func globMatch(p pattern, v string) bool {
	pi, vi := 0, 0
	starP, starV := -1, 0
	off := 0 // offset within p[pi].lit
	for vi < len(v) {
		if pi < len(p) {
			t := p[pi]
			switch {
			case t.star:
				starP, starV, off = pi, vi, 0
				pi++
				continue
			case t.one:
				_, n := utf8.DecodeRuneInString(v[vi:])
				vi += n
				pi++
				continue
			default:
				if v[vi] == t.lit[off] {
					vi++
					off++
					if off == len(t.lit) {
						pi++
						off = 0
					}
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starV++
		pi, vi, off = starP+1, starV, 0
	}
	if off != 0 {
		return false
	}
	for pi < len(p) && p[pi].star {
		pi++
	}
	return pi == len(p)
}
