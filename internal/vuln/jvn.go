package vuln

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// vuldef is a MyJVN getVulnDetailInfo response (feed=hnd): a VULDEF 3.2 document
// (https://jvndb.jvn.jp/schema/vuldef_3.2.xsd) with a MyJVN Status node. Elements are
// matched by local name: MyJVN's documentation writes the namespace https://jvn.jp/vuldef/
// and its examples http://jvn.jp/vuldef/.
type vuldef struct {
	XMLName xml.Name `xml:"VULDEF-Document"`
	Vulinfo []struct {
		ID   string `xml:"VulinfoID"`
		Data struct {
			Title    string `xml:"Title"`
			Overview string `xml:"VulinfoDescription>Overview"`
			Affected []struct {
				Name        string   `xml:"Name"`
				ProductName string   `xml:"ProductName"`
				CPE         []string `xml:"Cpe"`
				Versions    []string `xml:"VersionNumber"`
			} `xml:"Affected>AffectedItem"`
			CVSS []struct {
				Version  string `xml:"version,attr"`
				Severity string `xml:"Severity"`
				Base     string `xml:"Base"`
			} `xml:"Impact>Cvss"`
			Related []struct {
				Type string `xml:"type,attr"`
				Name string `xml:"Name"`
				ID   string `xml:"VulinfoID"`
			} `xml:"Related>RelatedItem"`
			FirstPublished string `xml:"DateFirstPublished"`
			LastUpdated    string `xml:"DateLastUpdated"`
		} `xml:"VulinfoData"`
	} `xml:"Vulinfo"`
	Status struct {
		RetCd  string `xml:"retCd,attr"`
		ErrCd  string `xml:"errCd,attr"`
		ErrMsg string `xml:"errMsg,attr"`
	} `xml:"Status"`
}

// parseJVN reads a VULDEF document into one Record per CVE each Vulinfo names (a JVN entry
// may cover several CVEs, and each gets its affected products). An entry naming no CVE is
// skipped: everything else omamori knows is keyed by CVE.
func parseJVN(data []byte) ([]Record, error) {
	var doc vuldef
	d := xml.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse JVN VULDEF: %w", err)
	}
	if doc.Status.RetCd == "1" {
		return nil, fmt.Errorf("parse JVN VULDEF: MyJVN answered error %s: %s", doc.Status.ErrCd, doc.Status.ErrMsg)
	}
	var out []Record
	for _, v := range doc.Vulinfo {
		id := strings.TrimSpace(v.ID)
		var cves []string
		for _, rel := range v.Data.Related {
			if c := strings.TrimSpace(rel.ID); rel.Type == "advisory" && validCVE(c) && !slices.Contains(cves, c) {
				cves = append(cves, c)
			}
		}
		var score float64
		var severity string
		for _, c := range v.Data.CVSS {
			if s, err := strconv.ParseFloat(strings.TrimSpace(c.Base), 64); err == nil && s >= score {
				score, severity = s, strings.ToLower(strings.TrimSpace(c.Severity))
			}
		}
		node := Node{Operator: "OR"}
		for _, a := range v.Data.Affected {
			for _, raw := range a.CPE {
				c, err := parseCPE22(strings.TrimSpace(raw))
				if err != nil {
					return nil, fmt.Errorf("parse JVN VULDEF %s: %s %s: %w", id, a.Name, a.ProductName, err)
				}
				versions := a.Versions
				if len(versions) == 0 {
					versions = []string{""}
				}
				for _, text := range versions {
					node.Matches = append(node.Matches, jvnMatch(c, strings.TrimSpace(text)))
				}
			}
		}
		for _, cve := range cves {
			r := Record{CVE: cve, Source: SourceJVN, SourceID: id, Title: strings.TrimSpace(v.Data.Title),
				Summary: strings.TrimSpace(v.Data.Overview), Published: strings.TrimSpace(v.Data.FirstPublished),
				Modified: strings.TrimSpace(v.Data.LastUpdated), CVSS: score, Severity: severity}
			if len(node.Matches) > 0 {
				r.Configurations = []Configuration{{Nodes: []Node{node}}}
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// JVN writes affected versions in words. These are the forms read; anything else is kept as
// the match's Text, and a product match on it is "possible".
var (
	jvnAll     = regexp.MustCompile(`^(全てのバージョン|すべてのバージョン|all versions?)$`)
	jvnUpTo    = regexp.MustCompile(`^(.+?)\s*(およびそれ以前(のバージョン)?|以前(のバージョン)?|and earlier|and prior|or earlier)$`)
	jvnBefore  = regexp.MustCompile(`^(?:(.+?)\s*(?:より前(?:のバージョン)?|未満)|(?:prior to|before|earlier than)\s+(.+))$`)
	jvnFrom    = regexp.MustCompile(`^(.+?)\s*(およびそれ以降(のバージョン)?|以降(のバージョン)?|and later)$`)
	jvnBetween = regexp.MustCompile(`^(.+?)(?:\s*(?:から|〜|～)\s*|\s+(?:-|to|through)\s+)(.+?)\s*(?:まで)?(?:のバージョン)?$`)
)

// jvnMatch turns one VersionNumber of an affected product into a CPE match.
func jvnMatch(c CPE, text string) Match {
	m := Match{Vulnerable: true}
	c.Version, c.Update = "*", "*"
	m.Criteria = c.String()
	lower := strings.ToLower(text)
	ver := func(s string) (string, bool) {
		s = stripProductWords(s)
		_, err := ParseVersion(s)
		return s, err == nil
	}
	switch {
	case text == "" || jvnAll.MatchString(lower):
		return m
	case jvnUpTo.MatchString(lower):
		if v, ok := ver(jvnUpTo.FindStringSubmatch(text)[1]); ok {
			m.EndIncluding = v
			return m
		}
	case jvnBefore.MatchString(lower):
		sm := jvnBefore.FindStringSubmatch(text)
		if v, ok := ver(sm[1] + sm[2]); ok {
			m.EndExcluding = v
			return m
		}
	case jvnFrom.MatchString(lower):
		if v, ok := ver(jvnFrom.FindStringSubmatch(text)[1]); ok {
			m.StartIncluding = v
			return m
		}
	case jvnBetween.MatchString(lower):
		sm := jvnBetween.FindStringSubmatch(text)
		lo, ok1 := ver(sm[1])
		hi, ok2 := ver(sm[2])
		if ok1 && ok2 {
			m.StartIncluding, m.EndIncluding = lo, hi
			return m
		}
	}
	if v, ok := ver(text); ok {
		m.StartIncluding, m.EndIncluding = v, v
		return m
	}
	m.Text = text
	return m
}

// stripProductWords drops leading words without a digit: JVN writes "FortiOS 6.0.0".
func stripProductWords(s string) string {
	f := strings.Fields(s)
	for len(f) > 1 && !strings.ContainsAny(f[0], "0123456789") {
		f = f[1:]
	}
	return strings.Join(f, " ")
}
