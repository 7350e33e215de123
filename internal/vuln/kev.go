package vuln

import (
	"encoding/json"
	"fmt"
	"strings"
)

// kevCatalog is the CISA KEV catalogue as published (schema:
// known_exploited_vulnerabilities_schema.json in github.com/cisagov/kev-data).
type kevCatalog struct {
	CatalogVersion  string `json:"catalogVersion"`
	Vulnerabilities []struct {
		CVEID                      string `json:"cveID"`
		VendorProject              string `json:"vendorProject"`
		Product                    string `json:"product"`
		VulnerabilityName          string `json:"vulnerabilityName"`
		DateAdded                  string `json:"dateAdded"`
		ShortDescription           string `json:"shortDescription"`
		RequiredAction             string `json:"requiredAction"`
		DueDate                    string `json:"dueDate"`
		KnownRansomwareCampaignUse string `json:"knownRansomwareCampaignUse"`
	} `json:"vulnerabilities"`
}

func parseKEV(data []byte) ([]Record, error) {
	var c kevCatalog
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("parse KEV catalogue: %w", err)
	}
	out := make([]Record, 0, len(c.Vulnerabilities))
	for i, v := range c.Vulnerabilities {
		if !validCVE(v.CVEID) {
			return nil, fmt.Errorf("parse KEV catalogue %s: entry %d: cveID %q is not a CVE ID", c.CatalogVersion, i+1, v.CVEID)
		}
		out = append(out, Record{
			CVE:       v.CVEID,
			Source:    SourceKEV,
			Title:     v.VulnerabilityName,
			Summary:   v.ShortDescription,
			Published: v.DateAdded,
			Modified:  c.CatalogVersion,
			Exploited: &Exploited{
				Added:          v.DateAdded,
				Due:            v.DueDate,
				Ransomware:     strings.EqualFold(v.KnownRansomwareCampaignUse, "Known"),
				RequiredAction: v.RequiredAction,
				Name:           v.VulnerabilityName,
				Vendor:         v.VendorProject,
				Product:        v.Product,
			},
		})
	}
	return out, nil
}

// validCVE reports whether id has the shape CVE-YYYY-NNNN (four or more digits).
func validCVE(id string) bool {
	rest, ok := strings.CutPrefix(id, "CVE-")
	year, num, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 || len(year) != 4 || len(num) < 4 || len(num) > 19 {
		return false
	}
	for _, c := range year + num {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
