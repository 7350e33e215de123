package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
)

func TestIncidentCLI(t *testing.T) {
	a := newAPIServer(t)
	id := a.ingestAlert(t, "a-1", "behavior.exfiltration", "high", detect.Entities{Source: "10.30.5.5", Destination: "203.0.113.50"})
	if _, err := a.incidents.SetFacts(t.Context(), "tokyo", id, "user:aiko",
		incident.Facts{PersonalData: incident.Yes, PatientsAffected: 120, Systems: []string{"電子カルテ"}}, 0); err != nil {
		t.Fatal(err)
	}

	out, _, err := a.cli(t, "tok-kenji", "incident", "list")
	golden(t, "incident-list", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID  ") || !strings.HasPrefix(lines[1], id) ||
		!strings.Contains(lines[1], "high") || !strings.Contains(lines[1], "new") {
		t.Fatalf("incident list = %q, %v; want a header and %s, high, new", out, err, id)
	}
	if _, stderr, _ := a.cli(t, "tok-hana", "incident", "list"); !strings.Contains(stderr, "no incidents") {
		t.Errorf("osaka's incident list: %q, want none of tokyo's", stderr)
	}

	for _, tc := range []struct {
		name  string
		token string
		args  []string
		out   string // in stdout
		err   string // in the error
	}{
		{"assign", "tok-aiko", []string{"incident", "assign", id, "user:sato"}, id + ": high, new, assigned to user:sato", ""},
		{"skip a phase", "tok-aiko", []string{"incident", "state", id, "recovered"}, "", "from new it can go to triaged or closed"},
		{"triage with a note", "tok-aiko", []string{"incident", "state", id, "triaged", "-note", "USB memory on the ward PC"}, id + ": high, triaged", ""},
		{"note of several words", "tok-aiko", []string{"incident", "note", id, "ward", "3F", "on", "paper", "charts"}, id, ""},
		{"other hospital cannot see it", "tok-hana", []string{"incident", "show", id}, "", "no such incident"},
		{"other hospital cannot assign it", "tok-hana", []string{"incident", "assign", id, "user:hana"}, "", "no such incident"},
		{"unknown state", "tok-aiko", []string{"incident", "state", id, "burning"}, "", "unknown state"},
		{"unknown report", "tok-aiko", []string{"incident", "report", id, "tax"}, "", "no report"},
		{"report", "tok-kenji", []string{"incident", "report", id, "ppc-preliminary"}, "個人データの漏えい等報告", ""},
		{"state without the state", "tok-aiko", []string{"incident", "state", id}, "", "want an incident ID and the state"},
		{"unknown command", "tok-aiko", []string{"incident", "resolve", id}, "", `unknown command "resolve"`},
	} {
		out, _, err := a.cli(t, tc.token, tc.args...)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: omamori %v: %v", tc.name, tc.args, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: omamori %v = %v, want an error containing %q", tc.name, tc.args, err, tc.err)
		case !strings.Contains(out, tc.out):
			t.Errorf("%s: omamori %v printed %q, want %q", tc.name, tc.args, out, tc.out)
		}
	}

	out, _, err = a.cli(t, "tok-kenji", "incident", "show", id)
	golden(t, "incident-show", out)
	for _, want := range []string{id, "severity high, triaged, assigned to user:sato",
		"facts: personal data concerned yes, unauthorised access unconfirmed, patients affected 120", "CLOCK", "ppc-preliminary", "running",
		"ALERT", "a-1", "WHAT", "user:aiko", "ward 3F on paper charts", "USB memory on the ward PC"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("incident show = %v\n%s\nwant %q in it", err, out, want)
			break
		}
	}
	out, _, _ = a.cli(t, "tok-kenji", "incident", "show", "-json", id)
	var rec incident.Record
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Incident.Assignee != "user:sato" || rec.Incident.State != incident.Triaged ||
		rec.Timeline[len(rec.Timeline)-1].Actor != "user:aiko" {
		t.Errorf("incident show -json = %+v, %v; want assigned to user:sato, triaged, changed last by user:aiko", rec.Incident, err)
	}

	out, _, err = a.cli(t, "tok-aiko", "incident", "close", id, "-note", "contained; reports filed")
	if err != nil || !strings.Contains(out, id+": high, closed") {
		t.Errorf("incident close = %q, %v; want it closed", out, err)
	}
	file := filepath.Join(t.TempDir(), "ppc.md")
	if _, stderr, err := a.cli(t, "tok-kenji", "incident", "report", "-o", file, id, "ppc-preliminary"); err != nil {
		t.Fatalf("incident report -o: %v %s", err, stderr)
	}
	b, err := os.ReadFile(file)
	fi, _ := os.Stat(file)
	if err != nil || !strings.Contains(string(b), "120") || fi.Mode().Perm() != 0o600 {
		t.Errorf("report file = %v %v\n%s\nwant the draft naming 120 patients, readable by its owner only", fi.Mode(), err, b)
	}

	_, _, err = a.cli(t, "tok-aiko", "incident", "show", "INC-nope")
	var h hinted
	if !errors.As(err, &h) || !strings.Contains(err.Error(), "404") {
		t.Errorf("incident show INC-nope = %v, want a 404 with a hint", err)
	}
}

func TestSpan(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{29*24*time.Hour + time.Hour + 8*time.Minute, "29d 1h"},
		{2*time.Hour + 15*time.Minute + 30*time.Second, "2h 15m"},
		{12 * time.Minute, "12m"},
		{-(time.Hour + 5*time.Minute), "overdue 1h 5m"},
	} {
		if got := span(tc.d); got != tc.want {
			t.Errorf("span(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// jaTimes are the dates and times of a draft, masked for its golden file.
var jaTimes = regexp.MustCompile(`\d{4}年\d{1,2}月\d{1,2}日( \d{2}時\d{2}分)?`)

// TestIncidentReportUnconfirmed drafts the PPC's preliminary report for an incident nobody has
// recorded a fact about, after the hospital's administrator saved its profile and a responder
// blocked and isolated on its alert: the draft names the hospital, says （未確認） for every
// fact and never なし, and lists the measures.
func TestIncidentReportUnconfirmed(t *testing.T) {
	a := newAPIServer(t)
	ctx := t.Context()
	id := a.ingestAlert(t, "a-9", "behavior.ransomware_burst", "critical", detect.Entities{Source: "10.30.5.9", Host: "FS01"})
	if _, err := a.incidents.SaveProfile(ctx, "tokyo", "user:admin", incident.Hospital{Name: "東京総合病院", Address: "東京都千代田区",
		Phone: "03-0000-0000", Administrator: "院長 鈴木 一郎", SecurityManager: "情報システム室長 田中 次郎",
		SecurityContact: "内線 3100", Reporter: "情報システム室", ReporterPhone: "03-0000-3100", ReporterEmail: "isms@tokyo.example.jp"}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"action": "isolate", "target": "10.30.5.9", "ttl": "4h", "reason": "FS01 を暗号化している端末", "alert_id": "a-9"}`,
		`{"action": "block", "target": "203.0.113.50", "ttl": "24h", "reason": "C2 の宛先", "alert_id": "a-9"}`,
	} {
		req, _ := http.NewRequestWithContext(ctx, "POST", a.srv.URL+"/api/v1/decisions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok-aiko")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /api/v1/decisions %s = %v, %v; want 201", body, resp, err)
		}
		resp.Body.Close()
	}
	// tokyo's profile is tokyo's: osaka's draft of its own incident does not name it.
	osaka, err := a.incidents.Ingest(ctx, detect.Alert{ID: "o-1", Tenant: "osaka", Detector: "sigma", RuleID: "behavior.ransomware_burst",
		Title: "ransomware", Level: "critical", Entities: detect.Entities{Host: "FS02"}, First: time.Now(), Last: time.Now(), Count: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}

	out, _, err := a.cli(t, "tok-kenji", "incident", "report", id, "ppc-preliminary")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "incident-report-unconfirmed", jaTimes.ReplaceAllString(out, "YYYY年M月D日 hh時mm分"))
	for _, want := range []string{"医療機関名: 東京総合病院", "管理者: 院長 鈴木 一郎", "医療情報システム安全管理責任者: 情報システム室長 田中 次郎",
		"報告担当者: 情報システム室（電話: 03-0000-3100", "個人データの漏えい等のおそれ: （未確認）", "不正アクセス等（不正の目的）のおそれ: （未確認）",
		"端末のネットワーク隔離: IPアドレス 10.30.5.9（実施中", "通信の遮断: IPアドレス 203.0.113.50（実施中", "指示者: aiko、理由: C2 の宛先",
		"事案の種別（omamori の判定）: ランサムウェア初動対応", "[緊急] behavior.ransomware_burst"} {
		if !strings.Contains(out, want) {
			t.Errorf("incident report %s ppc-preliminary lacks %q:\n%s", id, want, out)
		}
	}
	for _, not := range []string{": なし", ": あり", "（未設定）", "医療機関名: tokyo"} {
		if strings.Contains(out, not) {
			t.Errorf("incident report %s ppc-preliminary says %q:\n%s", id, not, out)
		}
	}
	out, _, err = a.cli(t, "tok-hana", "incident", "report", osaka.Incident, "ppc-preliminary")
	if err != nil || strings.Contains(out, "東京総合病院") || !strings.Contains(out, "医療機関名: （未設定）") ||
		!strings.Contains(out, "/t/osaka/settings/hospital") || !strings.Contains(out, "- （omamori に記録がありません）") {
		t.Errorf("osaka's draft = %v\n%s\nwant its profile unset, where to set it, and no measures", err, out)
	}
}
