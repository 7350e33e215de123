// Package vuln knows which of a hospital's appliances are exploitable: it reads public
// vulnerability data — the CISA Known Exploited Vulnerabilities catalogue (JSON), NVD CVE API
// 2.0 records (JSON, with their CPE configurations and version ranges) and JVN iPedia
// records from MyJVN's getVulnDetailInfo (VULDEF XML) — into Records, merges them per CVE in
// a Catalog, and matches the Catalog against the asset inventory (package asset's cpe,
// version and exposure columns) to make Findings, ranked by risk.
//
// It sits beside the data path, not on it: the data is imported from files (omamori vuln
// import) and kept in the store (package store's vulnerability records), and the findings
// a hospital works through are kept there too, with their state.
//
// Matching follows NVD's applicability statements: a configuration is nodes joined by AND or
// OR, each node CPE matches joined by AND or OR and possibly negated, and a match names a
// product with one version or a range (versionStartIncluding/Excluding,
// versionEndIncluding/Excluding). Logic is three-valued: where the inventory cannot answer a
// condition (the hardware a configuration needs, an edition, two versions written in ways
// that do not compare), the finding is "possible" and says what is unknown, never guessed.
package vuln

import "strings"

// Source names where a record came from.
type Source string

const (
	SourceKEV Source = "kev" // CISA Known Exploited Vulnerabilities catalogue
	SourceNVD Source = "nvd" // NVD CVE API 2.0
	SourceJVN Source = "jvn" // JVN iPedia, through MyJVN
)

// Record is what one source says about one CVE. A source's newer record about a CVE
// replaces its older one; records of different sources are merged by NewCatalog.
type Record struct {
	CVE      string `json:"cve"`
	Source   Source `json:"source"`
	SourceID string `json:"source_id,omitempty"` // the source's own ID when it has one: JVNDB-2018-009328
	Title    string `json:"title,omitempty"`
	Summary  string `json:"summary,omitempty"`
	// Published and Modified are the source's dates, as it writes them (RFC 3339 or a day).
	Published string  `json:"published,omitempty"`
	Modified  string  `json:"modified,omitempty"`
	CVSS      float64 `json:"cvss,omitempty"` // the highest base score the source gives
	Severity  string  `json:"severity,omitempty"`
	// Exploited is set when the source says the CVE is exploited in the wild: the KEV
	// catalogue's entry, or NVD's copy of its dates.
	Exploited      *Exploited      `json:"exploited,omitempty"`
	Configurations []Configuration `json:"configurations,omitempty"`
}

// Key is the record's identity in a store: one record per CVE and source (and JVN ID).
func (r Record) Key() string {
	if r.SourceID != "" {
		return string(r.Source) + ":" + r.SourceID
	}
	return string(r.Source)
}

// Exploited is the KEV catalogue's word on a CVE.
type Exploited struct {
	Added string `json:"added"`         // the day CISA listed it, 2021-11-03
	Due   string `json:"due,omitempty"` // the day US federal agencies had to fix it by
	// Ransomware is true when CISA knows of ransomware campaigns using it
	// (knownRansomwareCampaignUse "Known"; the catalogue's other value is "Unknown").
	Ransomware     bool   `json:"ransomware"`
	RequiredAction string `json:"required_action,omitempty"`
	Name           string `json:"name,omitempty"`
	Vendor         string `json:"vendor,omitempty"`
	Product        string `json:"product,omitempty"`
}

// Configuration is one applicability statement: the product is vulnerable when its nodes,
// joined by Operator (AND or OR; OR if empty), hold (negated if Negate).
type Configuration struct {
	Operator string `json:"operator,omitempty"`
	Negate   bool   `json:"negate,omitempty"`
	Nodes    []Node `json:"nodes"`
}

// Node is CPE matches joined by Operator (AND or OR), negated if Negate.
type Node struct {
	Operator string  `json:"operator"`
	Negate   bool    `json:"negate,omitempty"`
	Matches  []Match `json:"matches"`
}

// Match is one CPE match: the products Criteria names (its version "*" when a range is
// given), within the range the bounds give. Vulnerable false marks a platform the
// vulnerable product must run on, such as the FortiGate-6000 hardware.
type Match struct {
	Vulnerable     bool   `json:"vulnerable"`
	Criteria       string `json:"criteria"`
	StartIncluding string `json:"start_including,omitempty"`
	StartExcluding string `json:"start_excluding,omitempty"`
	EndIncluding   string `json:"end_including,omitempty"`
	EndExcluding   string `json:"end_excluding,omitempty"`
	// Text is the source's own words for versions it did not write as a CPE range, such as
	// JVN's "v6 R4 およびそれ以前のバージョン" when omamori could not read it.
	Text string `json:"text,omitempty"`
}

// Range describes the match's versions for people: ">=6.0.0 <6.0.5", "=2.0.0", "all".
func (m Match) Range() string {
	if m.StartIncluding != "" && m.StartIncluding == m.EndIncluding {
		return "=" + m.StartIncluding
	}
	var parts []string
	for _, b := range []struct{ op, v string }{{">=", m.StartIncluding}, {">", m.StartExcluding}, {"<=", m.EndIncluding}, {"<", m.EndExcluding}} {
		if b.v != "" {
			parts = append(parts, b.op+b.v)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " ")
	}
	if m.Text != "" {
		return "「" + m.Text + "」"
	}
	c, err := ParseCPE(m.Criteria)
	switch {
	case err != nil:
		return "?"
	case c.Version == "*":
		return "all versions"
	case c.Version == "-":
		return "no version given (-)"
	}
	return "=" + c.release()
}
