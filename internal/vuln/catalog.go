package vuln

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/omamori-project/omamori/internal/asset"
)

// Vulnerability is what every source says about one CVE, merged: the KEV catalogue's word on
// exploitation (over NVD's copy of it), NVD's title, summary and score (over JVN's), and the
// configurations of every source that has them.
type Vulnerability struct {
	CVE            string          `json:"cve"`
	Title          string          `json:"title,omitempty"`
	Summary        string          `json:"summary,omitempty"`
	CVSS           float64         `json:"cvss,omitempty"`
	Severity       string          `json:"severity,omitempty"`
	Exploited      *Exploited      `json:"exploited,omitempty"`
	Configurations []Configuration `json:"configurations,omitempty"`
	Sources        []string        `json:"sources"` // record keys: kev, nvd, jvn:JVNDB-…
}

// Catalog is the merged vulnerability data, read-only once built and safe for concurrent
// use.
type Catalog struct {
	vulns map[string]*Vulnerability
	// byProduct indexes the CVEs with a configuration naming vendor:product, so that an
	// asset is matched only against what could apply to it.
	byProduct map[string][]string
}

// sourceRank orders sources by trust for the merged text: NVD, then KEV, then JVN.
var sourceRank = map[Source]int{SourceNVD: 0, SourceKEV: 1, SourceJVN: 2}

// NewCatalog merges records (in any order; the caller keeps ownership) into a catalogue.
func NewCatalog(records []Record) *Catalog {
	recs := slices.Clone(records)
	slices.SortStableFunc(recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.CVE, b.CVE), cmp.Compare(sourceRank[a.Source], sourceRank[b.Source]), cmp.Compare(a.SourceID, b.SourceID))
	})
	c := &Catalog{vulns: map[string]*Vulnerability{}, byProduct: map[string][]string{}}
	for _, r := range recs {
		v := c.vulns[r.CVE]
		if v == nil {
			v = &Vulnerability{CVE: r.CVE}
			c.vulns[r.CVE] = v
		}
		v.Sources = append(v.Sources, r.Key())
		if v.Title == "" {
			v.Title = r.Title
		}
		if v.Summary == "" {
			v.Summary = r.Summary
		}
		if v.CVSS == 0 {
			v.CVSS, v.Severity = r.CVSS, r.Severity
		}
		if r.Exploited != nil && (v.Exploited == nil || r.Source == SourceKEV) {
			e := *r.Exploited
			v.Exploited = &e
		}
		v.Configurations = append(v.Configurations, r.Configurations...)
		for _, conf := range r.Configurations {
			for _, n := range conf.Nodes {
				for _, m := range n.Matches {
					if !m.Vulnerable {
						continue
					}
					k := productKey(mustCPE(m.Criteria))
					if l := c.byProduct[k]; len(l) == 0 || l[len(l)-1] != r.CVE {
						c.byProduct[k] = append(l, r.CVE)
					}
				}
			}
		}
	}
	for k, l := range c.byProduct {
		slices.Sort(l)
		c.byProduct[k] = slices.Compact(l)
	}
	return c
}

func productKey(c CPE) string { return c.Vendor + ":" + c.Product }

// Len returns the number of CVEs in the catalogue.
func (c *Catalog) Len() int { return len(c.vulns) }

// Configured returns the number of CVEs with configurations, the only ones an asset can
// match: a CVE known only from the KEV catalogue names no product version.
func (c *Catalog) Configured() int {
	n := 0
	for _, v := range c.vulns {
		if len(v.Configurations) > 0 {
			n++
		}
	}
	return n
}

// Get returns the CVE's merged vulnerability.
func (c *Catalog) Get(cve string) (*Vulnerability, bool) {
	v, ok := c.vulns[cve]
	return v, ok
}

// Finding is one vulnerability of one asset, with what a person needs to act on it.
type Finding struct {
	Asset      string         `json:"asset"` // the asset's address or network, as in the inventory
	AssetName  string         `json:"asset_name"`
	Category   asset.Category `json:"category"`
	Exposure   asset.Exposure `json:"exposure,omitempty"`
	Product    string         `json:"product"` // fortinet fortios 6.0.4
	CVE        string         `json:"cve"`
	Title      string         `json:"title,omitempty"`
	CVSS       float64        `json:"cvss,omitempty"`
	Certain    bool           `json:"certain"` // false: possible; Why says what the inventory does not
	Why        string         `json:"why"`     // the CPE match and range that hold
	Exploited  bool           `json:"exploited"`
	Ransomware bool           `json:"ransomware"`
	Due        string         `json:"due,omitempty"` // KEV's due date
	Risk       int            `json:"risk"`
	RiskWhy    string         `json:"risk_why"`
}

// Unmatched is an asset whose findings cannot be known, and why.
type Unmatched struct {
	Asset, AssetName, Why string
}

// Match returns the findings for every asset of inv with a product, highest risk first, and
// the assets with a product but no usable version: their findings cannot be known, and
// saying nothing for them would read as "nothing found".
func (c *Catalog) Match(inv *asset.Inventory) ([]Finding, []Unmatched) {
	var out []Finding
	var unmatched []Unmatched
	for _, a := range inv.All() {
		p, ok, err := ProductOf(a)
		addr := prefixString(a)
		switch {
		case err != nil:
			unmatched = append(unmatched, Unmatched{addr, a.Name, err.Error()})
			continue
		case !ok:
			continue
		}
		if _, err := ParseVersion(p.Version); err != nil {
			unmatched = append(unmatched, Unmatched{addr, a.Name, "no version for " + p.String() + ": give the inventory's version column, or let a log report it"})
			continue
		}
		for _, cve := range c.byProduct[productKey(p.CPE)] {
			v := c.vulns[cve]
			why, certain, ok := v.Matches(p)
			if !ok {
				continue
			}
			f := Finding{Asset: addr, AssetName: a.Name, Category: a.Category, Exposure: a.Exposure, Product: p.String(),
				CVE: cve, Title: v.Title, CVSS: v.CVSS, Certain: certain, Why: why}
			if v.Exploited != nil {
				f.Exploited, f.Ransomware, f.Due = true, v.Exploited.Ransomware, v.Exploited.Due
			}
			f.Risk, f.RiskWhy = risk(f)
			out = append(out, f)
		}
	}
	SortFindings(out)
	return out, unmatched
}

func prefixString(a asset.Asset) string {
	if a.Prefix.IsSingleIP() {
		return a.Prefix.Addr().String()
	}
	return a.Prefix.String()
}

// SortFindings orders findings by risk, highest first; then certain before possible, the
// earlier KEV due date, the higher score, the CVE and the asset.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		due := func(f Finding) string {
			if f.Due == "" {
				return "9999"
			}
			return f.Due
		}
		return cmp.Or(cmp.Compare(b.Risk, a.Risk), boolCmp(b.Certain, a.Certain), cmp.Compare(due(a), due(b)),
			cmp.Compare(b.CVSS, a.CVSS), cmp.Compare(a.CVE, b.CVE), cmp.Compare(a.Asset, b.Asset))
	})
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// risk is exploited × exposure × asset class, each weighted 1 to 4, so 64 is the worst: a
// ransomware-used CVE on an internet-facing gateway. The weights, and why:
//
//	exploited   4 KEV, used by ransomware   3 KEV   2 CVSS >= 9   1 otherwise
//	exposure    4 internet   3 vendor line, or not stated (assume a contractor can reach it
//	            until the inventory says otherwise)   2 internal   1 isolated
//	class       4 infrastructure (the gateways and VPN appliances both Japanese cases
//	            began at)   3 life-support   2 information, diagnostic
//
// A possible finding counts half, rounded up.
func risk(f Finding) (int, string) {
	e, ew := 1, "not known exploited"
	switch {
	case f.Ransomware:
		e, ew = 4, "exploited by ransomware (KEV)"
	case f.Exploited:
		e, ew = 3, "known exploited (KEV)"
	case f.CVSS >= 9:
		e, ew = 2, fmt.Sprintf("CVSS %.1f", f.CVSS)
	}
	x, xw := 3, "exposure not stated"
	switch f.Exposure {
	case asset.Internet:
		x, xw = 4, "internet-facing"
	case asset.Vendor:
		x, xw = 3, "reachable by a vendor line"
	case asset.Internal:
		x, xw = 2, "internal"
	case asset.Isolated:
		x, xw = 1, "isolated"
	}
	k := 2
	switch f.Category {
	case asset.Infrastructure:
		k = 4
	case asset.LifeSupport:
		k = 3
	}
	r := e * x * k
	why := fmt.Sprintf("%s × %s × %s", ew, xw, f.Category)
	if !f.Certain {
		r = (r + 1) / 2
		why += ", possible (halved)"
	}
	return r, why
}
