package vuln

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/asset"
)

// nvdRecords reads every NVD record under testdata/nvd (copies of ../shared/data/vuln/nvd).
func nvdRecords(t *testing.T) map[string]Record {
	t.Helper()
	files, _ := filepath.Glob("testdata/nvd/*.json")
	if len(files) != 14 {
		t.Fatalf("testdata/nvd has %d records, want the 14 of ../shared/data/vuln/nvd", len(files))
	}
	out := map[string]Record{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := Parse(bytes.NewReader(b))
		if err != nil || len(recs) != 1 {
			t.Fatalf("Parse(%s) = %d records, %v", f, len(recs), err)
		}
		out[recs[0].CVE] = recs[0]
	}
	return out
}

// TestEveryRecordsBounds takes every bounded and every exact CPE match of every NVD record
// and checks its own bounds: a version at an including bound is in, at an excluding bound
// out, and the version an exact match names is in.
func TestEveryRecordsBounds(t *testing.T) {
	var checked int
	for cve, r := range nvdRecords(t) {
		for _, c := range r.Configurations {
			for _, n := range c.Nodes {
				for _, m := range n.Matches {
					if !m.Vulnerable {
						continue
					}
					crit := mustCPE(m.Criteria)
					check := func(version string, want truth) {
						t.Helper()
						checked++
						p := Product{CPE: crit, Version: version}
						if got := evalMatch(m, p); got.t != want {
							t.Errorf("%s: %s %s at %s = %v (%s), want %v", cve, crit.Product, m.Range(), version, got.t, got.note, want)
						}
					}
					if m.StartIncluding != "" {
						check(m.StartIncluding, yes)
					}
					if m.StartExcluding != "" {
						check(m.StartExcluding, no)
					}
					if m.EndIncluding != "" {
						check(m.EndIncluding, yes)
					}
					if m.EndExcluding != "" {
						check(m.EndExcluding, no)
					}
					if crit.Version != "*" && crit.Version != "-" {
						check(crit.release(), yes)
					}
				}
			}
		}
	}
	if checked < 400 {
		t.Errorf("checked %d bounds, want every record's (over 400)", checked)
	}
}

// TestRanges matches hand-picked versions, inside and outside each record's ranges as the
// record (and ../shared/data/vuln/README.md) gives them, for products as an inventory writes
// them.
func TestRanges(t *testing.T) {
	const (
		none     = "none"
		certain  = "certain"
		possible = "possible"
	)
	tests := []struct {
		cve, cpe, version, want string
	}{
		{"CVE-2018-13379", "o:fortinet:fortios", "6.0.4", certain},
		{"CVE-2018-13379", "o:fortinet:fortios", "6.0.5", none},
		{"CVE-2018-13379", "o:fortinet:fortios", "v6.0.4,build0231 (GA)", certain},
		{"CVE-2018-13379", "o:fortinet:fortios", "6.0.0", certain},
		{"CVE-2018-13379", "o:fortinet:fortios", "5.6.7", certain},
		{"CVE-2018-13379", "o:fortinet:fortios", "5.6.8", none},
		{"CVE-2018-13379", "o:fortinet:fortios", "5.4.5", none},
		{"CVE-2018-13379", "o:fortinet:fortios", "6.2.0", none},
		{"CVE-2018-13379", "a:fortinet:fortiproxy", "2.0.0", certain},
		{"CVE-2018-13379", "a:fortinet:fortiproxy", "1.2.8", certain},
		{"CVE-2018-13379", "a:fortinet:fortiproxy", "1.2.9", none},
		{"CVE-2018-13379", "o:paloaltonetworks:pan-os", "6.0.4", none},
		{"CVE-2022-42475", "o:fortinet:fortios", "5.0.14", certain},
		{"CVE-2022-42475", "o:fortinet:fortios", "5.0.15", none},
		{"CVE-2022-42475", "o:fortinet:fortios", "6.0.15", certain}, // the OR configuration's <6.0.16, not the hardware one's <6.0.15
		{"CVE-2022-42475", "o:fortinet:fortios", "6.0.16", none},
		{"CVE-2022-42475", "o:fortinet:fortios", "7.2.2", certain},
		{"CVE-2022-42475", "o:fortinet:fortios", "7.2.3", none},
		{"CVE-2022-42475", "a:fortinet:fortiproxy", "1.2.13", certain},
		{"CVE-2022-42475", "a:fortinet:fortiproxy", "2.0.12", none},
		{"CVE-2023-27997", "o:fortinet:fortios", "7.2.4", certain},
		{"CVE-2023-27997", "o:fortinet:fortios", "7.2.5", none},
		{"CVE-2023-27997", "o:fortinet:fortios", "6.0.17", none},
		{"CVE-2024-21762", "o:fortinet:fortios", "7.4.2", certain},
		{"CVE-2024-21762", "o:fortinet:fortios", "7.4.3", none},
		{"CVE-2024-21762", "o:fortinet:fortios", "6.0.17", certain},
		{"CVE-2024-21762", "a:fortinet:fortiproxy", "1.0.0", certain},
		{"CVE-2024-21762", "a:fortinet:fortiproxy", "2.0.14", none},
		{"CVE-2022-40684", "o:fortinet:fortios", "7.0.6", certain},
		{"CVE-2022-40684", "o:fortinet:fortios", "7.0.7", none},
		{"CVE-2022-40684", "o:fortinet:fortios", "6.4.9", none},
		{"CVE-2022-40684", "a:fortinet:fortiswitchmanager", "7.0.0", certain},
		{"CVE-2022-40684", "a:fortinet:fortiswitchmanager", "7.0.1", none},
		{"CVE-2019-11510", "a:ivanti:connect_secure", "9.0R3.3", certain},
		{"CVE-2019-11510", "a:ivanti:connect_secure", "9.0R3.4", none},
		{"CVE-2019-11510", "a:ivanti:connect_secure", "8.2R12.0", certain},
		{"CVE-2019-11510", "a:ivanti:connect_secure", "9.1R1", none},
		{"CVE-2023-46805", "a:ivanti:connect_secure", "22.4R2.1", certain},
		{"CVE-2023-46805", "a:ivanti:connect_secure", "9.0R3.4", certain}, // the record's 9.0 with any update
		{"CVE-2023-46805", "a:ivanti:connect_secure", "22.7R2.5", none},
		{"CVE-2023-46805", "a:ivanti:policy_secure", "22.4R1", certain},
		{"CVE-2024-21887", "a:ivanti:connect_secure", "9.1R18", certain},
		{"CVE-2024-21887", "a:ivanti:connect_secure", "9.1.18", possible},                         // 9.1.18 and 9.1R1 do not compare: said, not guessed
		{"CVE-2019-19781", "o:citrix:application_delivery_controller_firmware", "12.1", possible}, // only on its hardware, which the inventory does not name
		{"CVE-2019-19781", "o:citrix:application_delivery_controller_firmware", "13.0-47.24", possible},
		{"CVE-2019-19781", "o:citrix:application_delivery_controller_firmware", "14.1", none},
		{"CVE-2023-4966", "a:citrix:netscaler_gateway", "13.1-49.14", certain},
		{"CVE-2023-4966", "a:citrix:netscaler_gateway", "13.1-49.15", none},
		{"CVE-2023-4966", "a:citrix:netscaler_gateway", "14.1-8.50", none},
		{"CVE-2023-4966", "a:citrix:netscaler_gateway", "13.0-92.18", certain},
		{"CVE-2023-4966", "a:citrix:netscaler_application_delivery_controller", "13.1-37.163", possible}, // which edition is not said
		{"CVE-2024-3400", "o:paloaltonetworks:pan-os", "10.2.9", certain},
		{"CVE-2024-3400", "o:paloaltonetworks:pan-os", "11.1.2-h1", certain},
		{"CVE-2024-3400", "o:paloaltonetworks:pan-os", "11.1.2-h3", none},
		{"CVE-2024-3400", "o:paloaltonetworks:pan-os", "10.1.0", none},
		{"CVE-2020-3452", "o:cisco:adaptive_security_appliance_software", "9.6.4.41", possible}, // on ASA hardware
		{"CVE-2020-3452", "o:cisco:adaptive_security_appliance_software", "9.6.4.42", none},
		{"CVE-2020-3452", "a:cisco:firepower_threat_defense", "6.6.0", certain},
		{"CVE-2020-3452", "a:cisco:firepower_threat_defense", "6.6.0.1", none},
		{"CVE-2021-20016", "o:sonicwall:sma_100_firmware", "10.2.0.4-d-28sv", possible},
		{"CVE-2021-20016", "o:sonicwall:sma_100_firmware", "10.2.0.5-d-29sv", none},
		{"CVE-2021-20016", "o:sonicwall:sma_100_firmware", "9.0.0.9", none},
		{"CVE-2021-20016", "a:sonicwall:sma_500v", "9.0.0.9", possible}, // the record gives no version
		{"CVE-2020-5902", "a:f5:big-ip_local_traffic_manager", "15.1.0.3", certain},
		{"CVE-2020-5902", "a:f5:big-ip_local_traffic_manager", "15.1.0.4", none},
		{"CVE-2020-5902", "a:f5:big-ip_local_traffic_manager", "11.6.0", none},
		{"CVE-2020-5902", "a:f5:big-ip_local_traffic_manager", "15.0.1.4", none},
		{"CVE-2020-5902", "a:f5:big-ip_access_policy_manager", "15.0.1.4", certain}, // this module's range includes its end
	}
	recs := nvdRecords(t)
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.cve] = true
		r, ok := recs[tt.cve]
		if !ok {
			t.Fatalf("no record %s", tt.cve)
		}
		v := NewCatalog([]Record{r}).vulns[tt.cve]
		p := Product{CPE: mustCPE("cpe:2.3:" + tt.cpe + ":*:*:*:*:*:*:*:*"), Version: tt.version}
		why, isCertain, ok := v.Matches(p)
		got := none
		switch {
		case ok && isCertain:
			got = certain
		case ok:
			got = possible
		}
		if got != tt.want {
			t.Errorf("%s.Matches(%s %s) = %s (%s), want %s", tt.cve, tt.cpe, tt.version, got, why, tt.want)
		}
		if ok && !strings.Contains(why, mustCPE("cpe:2.3:"+tt.cpe).Product) {
			t.Errorf("%s.Matches(%s %s): why %q does not name the product", tt.cve, tt.cpe, tt.version, why)
		}
	}
	if len(seen) != len(recs) {
		t.Errorf("hand-picked versions for %d of the %d records", len(seen), len(recs))
	}
}

// TestNodeLogic checks AND, OR and negate on a configuration made up for it: vulnerable
// product p 1.x, unless it runs with q.
func TestNodeLogic(t *testing.T) {
	p := Match{Vulnerable: true, Criteria: "cpe:2.3:a:v:p:*:*:*:*:*:*:*:*", StartIncluding: "1.0", EndExcluding: "2.0"}
	q := Match{Vulnerable: false, Criteria: "cpe:2.3:a:v:q:*:*:*:*:*:*:*:*"}
	tests := []struct {
		name string
		c    Configuration
		want truth
	}{
		{"or", Configuration{Nodes: []Node{{Operator: "OR", Matches: []Match{p}}}}, yes},
		{"and with an unknown platform", Configuration{Operator: "AND", Nodes: []Node{{Operator: "OR", Matches: []Match{p}}, {Operator: "OR", Matches: []Match{q}}}}, maybe},
		{"and, platform negated", Configuration{Operator: "AND", Nodes: []Node{{Operator: "OR", Matches: []Match{p}}, {Operator: "OR", Negate: true, Matches: []Match{q}}}}, maybe},
		{"node and", Configuration{Nodes: []Node{{Operator: "AND", Matches: []Match{p, p}}}}, yes},
		{"negated node", Configuration{Nodes: []Node{{Operator: "OR", Negate: true, Matches: []Match{p}}}}, no},
		{"negated configuration", Configuration{Negate: true, Nodes: []Node{{Operator: "OR", Matches: []Match{p}}}}, no},
	}
	prod := Product{CPE: mustCPE("cpe:2.3:a:v:p:*:*:*:*:*:*:*:*"), Version: "1.5"}
	for _, tt := range tests {
		if got, _, _ := evalConfig(tt.c, prod); got != tt.want {
			t.Errorf("%s: evalConfig = %v, want %v", tt.name, got, tt.want)
		}
	}
	prod.Version = "2.0"
	if got, _, _ := evalConfig(tests[0].c, prod); got != no {
		t.Errorf("evalConfig(p 2.0 against [1.0, 2.0)) = %v, want no", got)
	}
}

// TestCatalogMatch is the case: KEV and NVD merged, a FortiGate on FortiOS 6.0.4
// has CVE-2018-13379 known exploited and used by ransomware; on 6.0.5 it has not.
func TestCatalogMatch(t *testing.T) {
	var recs []Record
	for _, f := range []string{"testdata/kev.json", "testdata/nvd/CVE-2018-13379.json", "testdata/nvd/CVE-2024-21762.json", "testdata/jvn_fortios.xml"} {
		b, _ := os.ReadFile(f)
		rs, _, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rs...)
	}
	cat := NewCatalog(recs)
	inv := func(version string, exposure asset.Exposure) *asset.Inventory {
		i, err := asset.New([]asset.Asset{
			{Prefix: netip.MustParsePrefix("203.0.113.1/32"), Name: "FortiGate SSL-VPN", Category: asset.Infrastructure,
				CPE: "cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*", Version: version, Exposure: exposure},
			{Prefix: netip.MustParsePrefix("10.0.0.9/32"), Name: "no version", Category: asset.Infrastructure,
				CPE: "cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*"},
			{Prefix: netip.MustParsePrefix("10.0.0.10/32"), Name: "no product", Category: asset.Information},
		})
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	got, unmatched := cat.Match(inv("6.0.4", asset.Internet))
	var lines []string
	for _, f := range got {
		lines = append(lines, fmt.Sprintf("%s %s certain=%v exploited=%v ransomware=%v due=%s risk=%d (%s) why=%s",
			f.Asset, f.CVE, f.Certain, f.Exploited, f.Ransomware, f.Due, f.Risk, f.RiskWhy, f.Why))
	}
	want := []string{
		"203.0.113.1 CVE-2018-13379 certain=true exploited=true ransomware=true due=2022-05-03 risk=64 (exploited by ransomware (KEV) × internet-facing × infrastructure) why=fortios >=6.0.0 <6.0.5 (cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*)",
		"203.0.113.1 CVE-2024-21762 certain=true exploited=true ransomware=true due=2024-02-16 risk=64 (exploited by ransomware (KEV) × internet-facing × infrastructure) why=fortios >=6.0.0 <6.0.18 (cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Match(FortiOS 6.0.4, internet) =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(unmatched) != 1 || unmatched[0].AssetName != "no version" {
		t.Errorf("Match: unmatched = %v, want the FortiGate without a version", unmatched)
	}
	got, _ = cat.Match(inv("6.0.5", asset.Internet))
	for _, f := range got {
		if f.CVE == "CVE-2018-13379" {
			t.Errorf("Match(FortiOS 6.0.5) = %+v, want no CVE-2018-13379", f)
		}
	}
	got, _ = cat.Match(inv("6.0.4", asset.Internal))
	if len(got) == 0 || got[0].Risk != 32 {
		t.Errorf("Match(FortiOS 6.0.4, internal) risk = %v, want 32 (half the internet-facing one)", got)
	}
	v, _ := cat.Get("CVE-2018-13379")
	if strings.Join(v.Sources, ",") != "nvd,kev,jvn:JVNDB-2019-900001" || v.Exploited == nil || !v.Exploited.Ransomware {
		t.Errorf("merged CVE-2018-13379: sources %v, exploited %+v; want nvd, kev and jvn, ransomware from KEV", v.Sources, v.Exploited)
	}
}
