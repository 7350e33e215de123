package vuln

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/omamori-project/omamori/internal/asset"
)

// truth is three-valued: a condition holds, does not, or the inventory cannot tell.
type truth int8

const (
	no truth = iota
	maybe
	yes
)

func and(a, b truth) truth { return min(a, b) }
func or(a, b truth) truth  { return max(a, b) }
func not(a truth) truth    { return yes - a }

// Product is what an asset runs, as matching sees it: its CPE, and the version to compare
// (the inventory's version column, or else the CPE's own).
type Product struct {
	CPE     CPE
	Version string
}

// ProductOf returns the asset's product. ok is false when the inventory names no product;
// an error means the cpe column does not parse.
func ProductOf(a asset.Asset) (p Product, ok bool, err error) {
	if a.CPE == "" {
		return Product{}, false, nil
	}
	c, err := ParseCPE(a.CPE)
	if err != nil {
		return Product{}, false, fmt.Errorf("product of %s (%s): %w", a.Name, a.Prefix, err)
	}
	p = Product{CPE: c, Version: a.Version}
	if p.Version == "" {
		p.Version = c.release()
	}
	return p, true, nil
}

// String is the product for people: fortinet fortios 6.0.4.
func (p Product) String() string {
	v := p.Version
	if v == "" {
		v = "(version unknown)"
	}
	return unescape(p.CPE.Vendor) + " " + unescape(p.CPE.Product) + " " + v
}

// reason is why one CPE match holds or may hold for a product.
type reason struct {
	match Match
	t     truth
	note  string // what is unknown, for a maybe
}

func (r reason) String() string {
	s := fmt.Sprintf("%s %s (%s)", unescape(mustCPE(r.match.Criteria).Product), r.match.Range(), r.match.Criteria)
	if r.note != "" {
		s += ": " + r.note
	}
	return s
}

func mustCPE(s string) CPE {
	c, _ := ParseCPE(s) // checked when the record was parsed
	return c
}

// evalConfig evaluates one configuration for p. hits are the vulnerable matches on p's own
// product that hold or may hold; conds are the other conditions that may hold (a platform).
func evalConfig(c Configuration, p Product) (t truth, hits []reason, conds []reason) {
	t = yes
	if c.Operator == "OR" || c.Operator == "" {
		t = no
	}
	for _, n := range c.Nodes {
		nt, nh, nc := evalNode(n, p)
		if n.Negate {
			nt, nh = not(nt), nil
		}
		if c.Operator == "AND" {
			t = and(t, nt)
		} else {
			t = or(t, nt)
		}
		if nt != no {
			hits, conds = append(hits, nh...), append(conds, nc...)
		}
	}
	if c.Negate {
		t, hits = not(t), nil
	}
	return t, hits, conds
}

func evalNode(n Node, p Product) (t truth, hits []reason, conds []reason) {
	t = yes
	if n.Operator != "AND" {
		t = no
	}
	for _, m := range n.Matches {
		r := evalMatch(m, p)
		if n.Operator == "AND" {
			t = and(t, r.t)
		} else {
			t = or(t, r.t)
		}
		switch {
		case r.t == no:
		case m.Vulnerable && sameProduct(mustCPE(m.Criteria), p.CPE):
			hits = append(hits, r)
		default:
			conds = append(conds, r)
		}
	}
	return t, hits, conds
}

func sameProduct(a, b CPE) bool { return a.Vendor == b.Vendor && a.Product == b.Product }

// evalMatch is one CPE match against p. A platform match (vulnerable false) on another
// product — the hardware it runs on — is maybe: the inventory names one product per asset.
func evalMatch(m Match, p Product) reason {
	c := mustCPE(m.Criteria)
	r := reason{match: m}
	if !sameProduct(c, p.CPE) || !attr(c.Part, p.CPE.Part) {
		if !m.Vulnerable {
			r.t, r.note = maybe, "only on a platform the inventory does not name"
		}
		return r
	}
	r.t = yes
	for _, a := range [][3]string{{"edition", c.Edition, p.CPE.Edition}, {"language", c.Language, p.CPE.Language},
		{"sw_edition", c.SWEdition, p.CPE.SWEdition}, {"target_sw", c.TargetSW, p.CPE.TargetSW},
		{"target_hw", c.TargetHW, p.CPE.TargetHW}, {"other", c.Other, p.CPE.Other}} {
		switch {
		case a[1] == "*" || a[1] == a[2]:
		case a[2] == "*":
			r.t, r.note = maybe, fmt.Sprintf("for %s %s, which the inventory does not say", a[0], unescape(a[1]))
		default:
			r.t = no
			return r
		}
	}
	vt, note := versionIn(m, c, p.Version)
	r.t = and(r.t, vt)
	if note != "" {
		r.note = note
	}
	return r
}

// attr matches a part: "*" on either side matches.
func attr(want, have string) bool { return want == "*" || have == "*" || want == have }

// versionIn says whether version is among the match's versions, and why not known when maybe.
func versionIn(m Match, c CPE, version string) (truth, string) {
	if m.Text != "" {
		return maybe, fmt.Sprintf("the source says %q, which omamori cannot read as versions", m.Text)
	}
	v, err := ParseVersion(version)
	if err != nil {
		return maybe, "the version is unknown"
	}
	bounded := m.StartIncluding != "" || m.StartExcluding != "" || m.EndIncluding != "" || m.EndExcluding != ""
	switch {
	case c.Version == "-" && !bounded:
		return maybe, "the record gives no version (-), so which versions it means is not known"
	case c.Version != "*" && !bounded:
		return exactly(v, c)
	}
	t, note := yes, ""
	for _, b := range []struct {
		bound string
		ok    func(int) bool
	}{
		{m.StartIncluding, func(x int) bool { return x >= 0 }},
		{m.StartExcluding, func(x int) bool { return x > 0 }},
		{m.EndIncluding, func(x int) bool { return x <= 0 }},
		{m.EndExcluding, func(x int) bool { return x < 0 }},
	} {
		if b.bound == "" {
			continue
		}
		bt, bn := cmpTruth(v, b.bound, b.ok)
		if bt == no {
			return no, ""
		}
		if bt == maybe {
			t, note = maybe, bn
		}
	}
	return t, note
}

// exactly says whether v is the version the criteria name. With the update "*" (any), a
// version that goes on past the criteria's is its update when what follows is letters
// (9.0R3.4 is version 9.0, update r3.4); when it is numbers (13.0-47.24 against 13.0, a build
// of the branch the record names) it may or may not be meant.
func exactly(v Version, c CPE) (truth, string) {
	t, note := cmpTruth(v, c.release(), func(x int) bool { return x == 0 })
	if t != no || c.Update != "*" {
		return t, note
	}
	w, err := ParseVersion(c.release())
	if err != nil || len(v.parts) <= len(w.parts) {
		return t, note
	}
	for i, p := range w.parts {
		if v.parts[i] != p {
			return no, ""
		}
	}
	if isLetter(v.parts[len(w.parts)][0]) {
		return yes, ""
	}
	return maybe, fmt.Sprintf("the record names %s; %s is a build of it, which the record may not mean", w, v)
}

func cmpTruth(v Version, bound string, ok func(int) bool) (truth, string) {
	w, err := ParseVersion(bound)
	if err != nil {
		return maybe, fmt.Sprintf("the record's version %q does not parse", bound)
	}
	x, err := v.Compare(w)
	if errors.Is(err, ErrNotComparable) {
		return maybe, fmt.Sprintf("%s and %s do not compare", v, w)
	}
	if ok(x) {
		return yes, ""
	}
	return no, ""
}

// Matches evaluates a vulnerability's configurations for a product: certain is true when
// one holds outright, why says which match and range (and, if not certain, what is
// unknown). ok is false when none holds or may hold.
func (v *Vulnerability) Matches(p Product) (why string, certain, ok bool) {
	best := no
	for _, c := range v.Configurations {
		t, hits, conds := evalConfig(c, p)
		if t == no || len(hits) == 0 || t < best {
			continue
		}
		// The first certain hit explains it best; a maybe says what is unknown.
		slices.SortStableFunc(hits, func(a, b reason) int { return int(b.t) - int(a.t) })
		var parts []string
		parts = append(parts, hits[0].String())
		if t == maybe && hits[0].t == yes && len(conds) > 0 {
			parts = append(parts, conds[0].note+" ("+strings.Join(condNames(conds), ", ")+")")
		}
		if t > best || why == "" {
			best, why = t, strings.Join(parts, "; ")
		}
	}
	return why, best == yes, best != no
}

// condNames lists the products of platform conditions, at most five.
func condNames(conds []reason) []string {
	var out []string
	for _, c := range conds {
		n := unescape(mustCPE(c.match.Criteria).Product)
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return out
}
