package vuln

import (
	"encoding/json"
	"fmt"
	"strings"
)

// nvdCVE is the cve object of the NVD CVE API 2.0 (cve_api_json_2.0.schema), the fields
// omamori reads.
type nvdCVE struct {
	ID                    string `json:"id"`
	Published             string `json:"published"`
	LastModified          string `json:"lastModified"`
	VulnStatus            string `json:"vulnStatus"`
	CISAExploitAdd        string `json:"cisaExploitAdd"`
	CISAActionDue         string `json:"cisaActionDue"`
	CISARequiredAction    string `json:"cisaRequiredAction"`
	CISAVulnerabilityName string `json:"cisaVulnerabilityName"`
	Descriptions          []struct {
		Lang  string `json:"lang"`
		Value string `json:"value"`
	} `json:"descriptions"`
	Metrics map[string][]struct {
		CVSSData struct {
			BaseScore    float64 `json:"baseScore"`
			BaseSeverity string  `json:"baseSeverity"`
		} `json:"cvssData"`
		BaseSeverity string `json:"baseSeverity"`
	} `json:"metrics"`
	Configurations []struct {
		Operator string `json:"operator"`
		Negate   bool   `json:"negate"`
		Nodes    []struct {
			Operator string `json:"operator"`
			Negate   bool   `json:"negate"`
			CPEMatch []struct {
				Vulnerable            bool   `json:"vulnerable"`
				Criteria              string `json:"criteria"`
				VersionStartIncluding string `json:"versionStartIncluding"`
				VersionStartExcluding string `json:"versionStartExcluding"`
				VersionEndIncluding   string `json:"versionEndIncluding"`
				VersionEndExcluding   string `json:"versionEndExcluding"`
			} `json:"cpeMatch"`
		} `json:"nodes"`
	} `json:"configurations"`
}

func parseNVDResponse(items []json.RawMessage) ([]Record, error) {
	out := make([]Record, 0, len(items))
	for i, raw := range items {
		var item struct {
			CVE json.RawMessage `json:"cve"`
		}
		if err := json.Unmarshal(raw, &item); err != nil || item.CVE == nil {
			return nil, fmt.Errorf("parse NVD response: vulnerabilities[%d]: no cve object", i)
		}
		rec, err := parseNVDCVE(item.CVE)
		if err != nil {
			return nil, fmt.Errorf("parse NVD response: vulnerabilities[%d]: %w", i, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func parseNVDCVE(data []byte) (Record, error) {
	var c nvdCVE
	if err := json.Unmarshal(data, &c); err != nil {
		return Record{}, fmt.Errorf("parse NVD record: %w", err)
	}
	if !validCVE(c.ID) {
		return Record{}, fmt.Errorf("parse NVD record: id %q is not a CVE ID", c.ID)
	}
	r := Record{CVE: c.ID, Source: SourceNVD, Published: c.Published, Modified: c.LastModified, Title: c.CISAVulnerabilityName}
	for _, d := range c.Descriptions {
		if d.Lang == "en" {
			r.Summary = d.Value
			break
		}
	}
	// The highest base score of the newest CVSS version present.
	for _, key := range []string{"cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2"} {
		for _, m := range c.Metrics[key] {
			if m.CVSSData.BaseScore > r.CVSS {
				r.CVSS, r.Severity = m.CVSSData.BaseScore, m.CVSSData.BaseSeverity
				if r.Severity == "" {
					r.Severity = m.BaseSeverity // where CVSS v2 has it
				}
				r.Severity = strings.ToLower(r.Severity)
			}
		}
		if r.CVSS > 0 {
			break
		}
	}
	if c.CISAExploitAdd != "" {
		r.Exploited = &Exploited{Added: c.CISAExploitAdd, Due: c.CISAActionDue, RequiredAction: c.CISARequiredAction, Name: c.CISAVulnerabilityName}
	}
	for ci, cfg := range c.Configurations {
		conf := Configuration{Operator: strings.ToUpper(cfg.Operator), Negate: cfg.Negate}
		if err := checkOperator(conf.Operator, true); err != nil {
			return Record{}, fmt.Errorf("parse NVD record %s: configuration %d: %w", c.ID, ci+1, err)
		}
		for ni, n := range cfg.Nodes {
			node := Node{Operator: strings.ToUpper(n.Operator), Negate: n.Negate}
			if err := checkOperator(node.Operator, false); err != nil {
				return Record{}, fmt.Errorf("parse NVD record %s: configuration %d node %d: %w", c.ID, ci+1, ni+1, err)
			}
			for mi, m := range n.CPEMatch {
				if _, err := ParseCPE(m.Criteria); err != nil {
					return Record{}, fmt.Errorf("parse NVD record %s: configuration %d node %d match %d: %w", c.ID, ci+1, ni+1, mi+1, err)
				}
				node.Matches = append(node.Matches, Match{
					Vulnerable: m.Vulnerable, Criteria: m.Criteria,
					StartIncluding: m.VersionStartIncluding, StartExcluding: m.VersionStartExcluding,
					EndIncluding: m.VersionEndIncluding, EndExcluding: m.VersionEndExcluding,
				})
			}
			conf.Nodes = append(conf.Nodes, node)
		}
		r.Configurations = append(r.Configurations, conf)
	}
	return r, nil
}

// checkOperator accepts AND and OR, and an empty operator where the schema allows one
// (a configuration's, which defaults to OR).
func checkOperator(op string, emptyOK bool) error {
	if op == "AND" || op == "OR" || (op == "" && emptyOK) {
		return nil
	}
	return fmt.Errorf("operator %q, want AND or OR", op)
}
