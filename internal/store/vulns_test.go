package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestVulnRecords(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		recs := []VulnRecord{
			{CVE: "CVE-2018-13379", Source: "kev", Modified: "2025.08.25", Body: []byte(`{"k":1}`)},
			{CVE: "CVE-2018-13379", Source: "nvd", Modified: "2025-10-21", Body: []byte(`{"n":1}`)},
			{CVE: "CVE-2018-13379", Source: "jvn:JVNDB-2019-900001", Modified: "2021-11-04", Body: []byte(`{"j":1}`)},
		}
		if n, err := s.PutVulnRecords(ctx, recs); err != nil || n != 3 {
			t.Fatalf("PutVulnRecords(3 new) = %d, %v; want 3", n, err)
		}
		recs[1].Body, recs[1].Modified = []byte(`{"n":2}`), "2025-10-28"
		if n, err := s.PutVulnRecords(ctx, recs[1:2]); err != nil || n != 0 {
			t.Fatalf("PutVulnRecords(a newer nvd record) = %d, %v; want 0 new", n, err)
		}
		got, err := reopen().VulnRecords(ctx)
		if err != nil || len(got) != 3 {
			t.Fatalf("VulnRecords() = %d, %v; want 3", len(got), err)
		}
		var line []string
		for _, r := range got {
			line = append(line, fmt.Sprintf("%s %s %s %s", r.CVE, r.Source, r.Modified, r.Body))
			if r.Imported.IsZero() {
				t.Errorf("record %s %s has no import time", r.CVE, r.Source)
			}
		}
		want := `CVE-2018-13379 jvn:JVNDB-2019-900001 2021-11-04 {"j":1}|CVE-2018-13379 kev 2025.08.25 {"k":1}|CVE-2018-13379 nvd 2025-10-28 {"n":2}`
		if strings.Join(line, "|") != want {
			t.Errorf("VulnRecords() = %s\nwant %s", strings.Join(line, "|"), want)
		}
		if _, err := s.PutVulnRecords(ctx, []VulnRecord{{CVE: "CVE-1"}}); err == nil {
			t.Error("PutVulnRecords(no source) = nil, want an error")
		}
	})
}

func TestFindings(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "handa")
		mustTenant(t, s, "osaka")
		now := t0
		s.now = func() time.Time { return now }
		sc := s.Tenant("handa")
		fg := func(cve string, risk int) Finding {
			return Finding{Asset: "203.0.113.1", CVE: cve, Risk: risk, Body: []byte(`{"cve":"` + cve + `"}`)}
		}
		gone := func(f Finding) string { return "no longer matches: fortinet fortios 6.0.5" }
		opened, closed, err := sc.RecordFindings(ctx, "vuln", []string{"203.0.113.1"},
			[]Finding{fg("CVE-2018-13379", 64), fg("CVE-2024-21762", 64), {Asset: "10.0.0.9", CVE: "CVE-2022-40684", Risk: 18, Body: []byte("{}")}}, gone)
		if err != nil || opened != 3 || closed != 0 {
			t.Fatalf("RecordFindings(3 new) = %d opened, %d closed, %v; want 3, 0", opened, closed, err)
		}
		if got, _ := s.Tenant("osaka").Findings(ctx); len(got) != 0 {
			t.Errorf("osaka sees %d of handa's findings", len(got))
		}

		// The FortiGate is upgraded: assessed again, only one CVE still matches.
		now = now.Add(time.Hour)
		opened, closed, err = sc.RecordFindings(ctx, "vuln", []string{"203.0.113.1"}, []Finding{fg("CVE-2024-21762", 64)}, gone)
		if err != nil || opened != 0 || closed != 1 {
			t.Fatalf("RecordFindings(one gone) = %d opened, %d closed, %v; want 0, 1", opened, closed, err)
		}
		got, err := reopen().Tenant("handa").Findings(ctx)
		if err != nil || len(got) != 3 {
			t.Fatalf("Findings() = %d, %v; want 3", len(got), err)
		}
		var lines []string
		for _, f := range got {
			lines = append(lines, fmt.Sprintf("%s %s %d %s %q by %s", f.Asset, f.CVE, f.Risk, f.State, f.StateReason, f.StateBy))
		}
		want := []string{
			`203.0.113.1 CVE-2018-13379 64 patched "no longer matches: fortinet fortios 6.0.5" by vuln`,
			`203.0.113.1 CVE-2024-21762 64 open "found" by vuln`,
			`10.0.0.9 CVE-2022-40684 18 open "found" by vuln`, // not assessed the second time: left alone
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("Findings() =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		if !got[1].LastSeen.Equal(dbTime(now)) || !got[1].FirstSeen.Equal(dbTime(t0)) {
			t.Errorf("finding seen %v to %v, want %v to %v", got[1].FirstSeen, got[1].LastSeen, dbTime(t0), dbTime(now))
		}

		// Accepted for a week, with a reason; then the week passes.
		if err := sc.SetFindingState(ctx, "user:sato", "203.0.113.1", "CVE-2024-21762", FindingAccepted, "", now.Add(7*24*time.Hour)); err == nil {
			t.Error("SetFindingState(accepted, no reason) = nil, want an error")
		}
		if err := sc.SetFindingState(ctx, "user:sato", "203.0.113.1", "CVE-2024-21762", FindingAccepted, "SSL-VPN off until the upgrade", now.Add(-time.Minute)); err == nil {
			t.Error("SetFindingState(accepted, expiry past) = nil, want an error")
		}
		if err := s.Tenant("osaka").SetFindingState(ctx, "user:x", "203.0.113.1", "CVE-2024-21762", FindingPatched, "", time.Time{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka SetFindingState(handa's finding) = %v, want ErrNotFound", err)
		}
		if err := sc.SetFindingState(ctx, "user:sato", "203.0.113.1", "CVE-2024-21762", FindingAccepted, "SSL-VPN off until the upgrade", now.Add(7*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := sc.Findings(ctx, FindingAccepted); len(got) != 1 || got[0].StateBy != "user:sato" || !got[0].StateUntil.Equal(dbTime(now.Add(7*24*time.Hour))) {
			t.Errorf("Findings(accepted) = %+v, want the one sato accepted for a week", got)
		}
		now = now.Add(8 * 24 * time.Hour)
		open, _ := sc.Findings(ctx, FindingOpen)
		if len(open) != 2 || open[0].CVE != "CVE-2024-21762" || !strings.HasPrefix(open[0].StateReason, "acceptance by user:sato expired") {
			t.Errorf("Findings(open) after the expiry = %+v, want the expired acceptance back first", open)
		}
		audit, _ := sc.AuditLog(ctx, 10)
		var actions []string
		for _, a := range audit {
			actions = append(actions, a.Action)
		}
		if !strings.Contains(strings.Join(actions, ","), "finding.state,finding.patched") {
			t.Errorf("audit log = %v, want finding.state after finding.patched", actions)
		}

		// Patched, then matched again (a downgrade, or new data): it reopens.
		opened, _, err = sc.RecordFindings(ctx, "vuln", []string{"203.0.113.1"}, []Finding{fg("CVE-2018-13379", 64), fg("CVE-2024-21762", 64)}, gone)
		if err != nil || opened != 1 {
			t.Errorf("RecordFindings(patched one back) = %d opened, %v; want 1", opened, err)
		}
	})
}
