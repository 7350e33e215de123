package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVulnImportAndFindings is the check: the real KEV catalogue and NVD records
// imported, then a FortiGate on FortiOS 6.0.4 has CVE-2018-13379, known exploited and used by
// ransomware; upgraded to 6.0.5, that finding is patched and no longer listed.
func TestVulnImportAndFindings(t *testing.T) {
	kev := sharedData(t, "vuln/kev/known_exploited_vulnerabilities.json")
	nvd, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(kev)), "nvd", "*.json"))
	if len(nvd) != 14 {
		t.Fatalf("found %d NVD records, want 14", len(nvd))
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	out, stderr, err := runCLI(t, append([]string{"vuln", "import", "-data-dir", data, kev}, nvd...)...)
	if err != nil || out != "1418 records kept (1418 new, 0 replaced) from 15 files\n" {
		t.Fatalf("vuln import = %q, %v\n%s", out, err, stderr)
	}
	inventory := func(version string) string {
		p := filepath.Join(dir, "inv-"+version+".csv")
		os.WriteFile(p, []byte("address,name,category,department,cpe,version,exposure\n"+
			"203.0.113.1,FortiGate SSL-VPN,infrastructure,IT,cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*,"+version+",internet\n"+
			"10.40.0.10,ehr.example,information,IT,,,\n"), 0o644)
		return p
	}
	type finding struct {
		Asset, CVE, State, Why, Due string
		Exploited, Ransomware       bool
		Risk                        int
	}
	findings := func(args ...string) []finding {
		t.Helper()
		out, stderr, err := runCLI(t, append([]string{"vuln", "findings", "-data-dir", data, "-json"}, args...)...)
		if err != nil {
			t.Fatalf("vuln findings %v: %v\n%s", args, err, stderr)
		}
		var fs []finding
		if err := json.Unmarshal([]byte(out), &fs); err != nil {
			t.Fatalf("vuln findings -json: %v\n%s", err, out)
		}
		return fs
	}
	has := func(fs []finding, cve string) (finding, bool) {
		for _, f := range fs {
			if f.CVE == cve {
				return f, true
			}
		}
		return finding{}, false
	}

	_, stderr, err = runCLI(t, "vuln", "findings", "-data-dir", data, "-inventory", inventory("6.0.4"))
	if err != nil || !strings.Contains(stderr, "2 assets matched against 1404 CVEs (14 with product configurations): 4 findings, 4 new, 0 patched") {
		t.Errorf("vuln findings summary = %q, %v", stderr, err)
	}
	got := findings("-inventory", inventory("6.0.4"))
	f, ok := has(got, "CVE-2018-13379")
	if !ok || !f.Exploited || !f.Ransomware || f.Due != "2022-05-03" || f.Risk != 64 || f.State != "open" ||
		!strings.Contains(f.Why, ">=6.0.0 <6.0.5") || f.Asset != "203.0.113.1" {
		t.Errorf("findings for FortiOS 6.0.4: CVE-2018-13379 = %+v, %v; want it open, exploited, ransomware, due 2022-05-03, risk 64, in [6.0.0, 6.0.5)", f, ok)
	}
	if len(got) != 4 {
		t.Errorf("findings for FortiOS 6.0.4 = %d, want 4 (CVE-2018-13379, -2022-42475, -2023-27997, -2024-21762)", len(got))
	}

	got = findings("-inventory", inventory("6.0.5"))
	if f, ok := has(got, "CVE-2018-13379"); ok {
		t.Errorf("findings for FortiOS 6.0.5 list %+v, want no CVE-2018-13379", f)
	}
	f, ok = has(findings("-state", "patched"), "CVE-2018-13379")
	if !ok || !strings.Contains(f.Why, "6.0.0") {
		t.Errorf("patched findings = %+v, %v; want CVE-2018-13379 patched", f, ok)
	}

	// Accepting a finding takes a reason and an expiry.
	if _, _, err := runCLI(t, "vuln", "state", "-data-dir", data, "203.0.113.1", "CVE-2024-21762", "accepted"); err == nil {
		t.Error("vuln state accepted without a reason succeeded")
	}
	if out, _, err := runCLI(t, "vuln", "state", "-data-dir", data, "-reason", "SSL-VPN off until the upgrade", "-until", "720h",
		"203.0.113.1", "CVE-2024-21762", "accepted"); err != nil || !strings.Contains(out, "accepted") {
		t.Errorf("vuln state accepted = %q, %v", out, err)
	}
	if _, ok := has(findings("-state", "accepted"), "CVE-2024-21762"); !ok {
		t.Error("the accepted finding is not listed as accepted")
	}
	if _, _, err := runCLI(t, "vuln", "import", "-data-dir", data, filepath.Join(dir, "inv-6.0.4.csv")); err == nil {
		t.Error("vuln import of a CSV succeeded, want an unknown-format error")
	}
}
