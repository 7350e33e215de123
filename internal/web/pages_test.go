package web

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
)

// contains fails the test for each of want that body lacks, and each of not that it has.
func contains(t *testing.T, what, body string, want []string, not ...string) {
	t.Helper()
	failed := false
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
			failed = true
		}
	}
	for _, n := range not {
		if strings.Contains(body, n) {
			t.Errorf("%s shows %q", what, n)
			failed = true
		}
	}
	if failed {
		t.Logf("%s:\n%s", what, body)
	}
}

func TestDashboardIncidentsAndDecisions(t *testing.T) {
	f := newFixture(t, false)
	c := f.signIn(t, "suzuki")
	_, body := do(t, c, "GET", f.ts.URL+"/t/tokyo/", nil)
	contains(t, "dashboard", body, []string{
		`<span class="n">2</span> 件の対応中インシデント`,
		`<span class="n">1</span> 件の承認待ちの対処`,
		`<span class="n">1</span> 件の実行中の遮断・隔離`,
		"Write to an ICU ventilator from an infected PC", // the critical incident, first
		"初動(受付)", "残り ",
		`href="/t/tokyo/incidents/` + f.incidents["tokyo"] + `"`,
		`href="/t/tokyo/decisions#held"`,
	}, "Osaka-only")
	// The critical incident (the ventilator is protected) comes before the high one.
	if i, j := strings.Index(body, "ICU ventilator"), strings.Index(body, "SSL-VPN brute force"); i < 0 || j < 0 || i > j {
		t.Errorf("dashboard lists the ventilator incident at %d, the VPN one at %d: most urgent first", i, j)
	}
}

func TestIncidentPages(t *testing.T) {
	f := newFixture(t, false)
	id := f.incidents["tokyo"]
	tanaka := f.signIn(t, "tanaka") // analyst L2: works incidents
	for _, c := range []struct {
		query     string
		want, not []string
	}{
		{"", []string{"Write to an ICU ventilator", "SSL-VPN brute force", "1〜2 件目を表示(全 2 件)", "lvl-critical", "新規"}, []string{"Osaka"}},
		{"?severity=critical", []string{"Write to an ICU ventilator", "全 1 件"}, []string{"SSL-VPN brute force"}},
		{"?state=closed", []string{"該当するインシデントはありません。"}, []string{"SSL-VPN brute force"}},
		{"?state=bogus&sort=bogus", []string{"全 2 件"}, nil}, // unknown values fall back to the defaults
		{"?sort=opened", []string{"全 2 件"}, nil},
	} {
		resp, body := do(t, tanaka, "GET", f.ts.URL+"/t/tokyo/incidents"+c.query, nil)
		if resp.StatusCode != 200 {
			t.Errorf("incidents%s = %d", c.query, resp.StatusCode)
		}
		contains(t, "incidents"+c.query, body, c.want, c.not...)
	}
	// Sorted by opening, newest first: the ventilator alert came last.
	_, body := do(t, tanaka, "GET", f.ts.URL+"/t/tokyo/incidents?sort=opened", nil)
	if strings.Index(body, "ICU ventilator") > strings.Index(body, "SSL-VPN") {
		t.Error("sort=opened does not put the newest incident first")
	}

	page := f.ts.URL + "/t/tokyo/incidents/" + id
	_, body = do(t, tanaka, "GET", page, nil)
	contains(t, "incident", body, []string{
		"Write to an ICU ventilator", "medical-device", // the playbook's checklist
		"使用中の患者の安全を確認し",                       // its first step, in Japanese
		`href="/t/tokyo/assets?q=10.20.1.11"`, // the entity leads to the asset
		`href="/t/tokyo/decisions?alert=tokyo-vent"`,
		`<option value="triaged">受付済み</option>`,
		"経過",
		`value="0">`, "0 / ", // nothing ticked off yet
	}, `<option value="recovered">`)
	steps := regexp.MustCompile(`0 / (\d+) 項目 完了`).FindStringSubmatch(body)
	if steps == nil {
		t.Fatal("the incident page shows no checklist completion")
	}
	if strings.Contains(body, "報告書の下書き") {
		t.Error("an analyst L2 is offered report drafts (reports.draft is the lead's and the liaison's)")
	}
	csrf := csrfOf(t, body)
	post := func(c *http.Client, path string, form url.Values) (*http.Response, string) {
		form.Set("csrf", csrf)
		return do(t, c, "POST", page+path, form)
	}
	for _, c := range []struct {
		name, path string
		form       url.Values
		want       int
	}{
		{"take it", "/assign", url.Values{"assignee": {"me"}}, http.StatusSeeOther},
		{"triage", "/state", url.Values{"state": {"triaged"}, "note": {"ICU informed"}}, http.StatusSeeOther},
		{"skip to closed", "/state", url.Values{"state": {"recovered"}}, http.StatusBadRequest},
		{"no such state", "/state", url.Values{"state": {"burnt"}}, http.StatusBadRequest},
		{"note", "/notes", url.Values{"note": {"臨床工学技士に連絡済み"}}, http.StatusSeeOther},
		{"empty note", "/notes", url.Values{"note": {"  "}}, http.StatusBadRequest},
		{"tick", "/steps", url.Values{"playbook": {"medical-device"}, "step": {"patient-safety"}, "done": {"true"}}, http.StatusSeeOther},
		{"no such step", "/steps", url.Values{"playbook": {"medical-device"}, "step": {"reboot"}, "done": {"true"}}, http.StatusBadRequest},
		// Assigning to someone not of this hospital (osaka's user) is refused.
		{"assign to osaka", "/assign", url.Values{"assignee": {"user:" + f.ids["yamada"]}}, http.StatusBadRequest},
	} {
		resp, body := post(tanaka, c.path, c.form)
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d\n%s", c.name, resp.StatusCode, c.want, body)
		}
	}
	_, body = do(t, tanaka, "GET", page, nil)
	contains(t, "incident after work", body, []string{
		`id="incident-state">受付済み`,
		"<dd>tanaka</dd>",         // the assignee, by name
		"<strong>tanaka</strong>", // the timeline names the person, not the user ID
		"臨床工学技士に連絡済み", "ICU informed",
		`aria-pressed="true" id="step-medical-device-patient-safety"`,
		"受付済み", "完了",
		"1 / " + steps[1] + " 項目 完了", `value="1">`, // one step ticked off
	})
	if tl := body[strings.Index(body, `class="timeline"`):]; strings.Contains(tl, "user:") {
		t.Errorf("the timeline shows a user ID instead of a name:\n%s", tl)
	}
	rec, _ := f.inc.Show(t.Context(), "tokyo", id)
	if rec.Incident.State != incident.Triaged || rec.Incident.Assignee != "user:"+f.ids["tanaka"] {
		t.Errorf("stored incident: state %s, assignee %s", rec.Incident.State, rec.Incident.Assignee)
	}

	// A viewer reads but has no forms, and posting is refused at the guard.
	viewer := f.signIn(t, "suzuki")
	_, body = do(t, viewer, "GET", page, nil)
	contains(t, "incident for a viewer", body, []string{"Write to an ICU ventilator"}, `/state"`, `/notes"`)
	if resp, _ := post(viewer, "/notes", url.Values{"csrf": {csrfOf(t, body)}, "note": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer adding a note = %d, want 403", resp.StatusCode)
	}
	// Another hospital's incident through this hospital's path: not found, not shown.
	resp, body := do(t, tanaka, "GET", f.ts.URL+"/t/tokyo/incidents/"+f.incidents["osaka"], nil)
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Osaka-only") {
		t.Errorf("osaka's incident under tokyo = %d", resp.StatusCode)
	}
	if resp, _ := post(tanaka, "/../"+f.incidents["osaka"]+"/notes", url.Values{"note": {"x"}}); resp.StatusCode == http.StatusSeeOther {
		t.Error("a note reached osaka's incident through tokyo's path")
	}

	// The liaison drafts the reports to the authorities.
	liaison := f.signIn(t, "liaison")
	_, body = do(t, liaison, "GET", page, nil)
	contains(t, "incident for the liaison", body, []string{"報告書の下書き", page[len(f.ts.URL):] + "/reports/mhlw"})
	resp, body = do(t, liaison, "GET", page+"/reports/mhlw", nil)
	if resp.StatusCode != 200 || !regexp.MustCompile(`<pre class="report" id="report">[^<]*`+regexp.QuoteMeta(id)).MatchString(body) {
		t.Errorf("report draft = %d:\n%s", resp.StatusCode, body)
	}
	if resp, _ := do(t, liaison, "GET", page+"/reports/nosuch", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown report = %d, want 404", resp.StatusCode)
	}
}

func TestDecisionsPage(t *testing.T) {
	f := newFixture(t, false)
	tanaka := f.signIn(t, "tanaka") // approver (with TOTP) and analyst L2
	list := f.ts.URL + "/t/tokyo/decisions"
	_, body := do(t, tanaka, "GET", list, nil)
	held := strconv.FormatInt(f.held, 10)
	contains(t, "decisions", body, []string{
		"承認待ち(1 件)", "life-support", "ICU ventilator bed 1", "<code>10.20.1.11</code>",
		`id="approve-` + held + `"`, `id="reject-` + held + `"`,
		`href="/t/tokyo/incidents/` + f.incidents["tokyo"] + `">インシデント ` + f.incidents["tokyo"] + ` を見る`, // the held one's incident
		"<code>203.0.113.7</code>",
	}, "198.51.100.9")
	if !regexp.MustCompile(`残り [34]時間`).MatchString(body) { // the VPN attacker, blocked for 4 hours
		t.Error("the active block shows no time left")
	}
	if i, j := strings.Index(body, `id="held"`), strings.Index(body, `id="decision-table"`); i > j {
		t.Error("held decisions are not above the list")
	}
	for _, c := range []struct {
		query     string
		want, not []string
	}{
		{"?status=active", []string{"全 1 件", "203.0.113.7"}, []string{`id="decision-` + held + `"`}},
		{"?action=isolate", []string{`id="decision-` + held + `"`}, []string{"<code>203.0.113.7</code>"}},
		{"?q=203.0.113", []string{"全 1 件"}, nil},
		{"?alert=tokyo-vent", []string{"アラート tokyo-vent による対処のみ表示しています。", "全 1 件"}, []string{"<code>203.0.113.7</code>"}},
		{"?sort=expires", []string{"全 2 件"}, nil},
	} {
		_, body := do(t, tanaka, "GET", list+c.query, nil)
		contains(t, "decisions"+c.query, body, c.want, c.not...)
	}

	// A viewer sees the held decision but no form to approve it, and cannot post one.
	viewer := f.signIn(t, "suzuki")
	_, vbody := do(t, viewer, "GET", list, nil)
	contains(t, "decisions for a viewer", vbody, []string{"ICU ventilator bed 1", "承認者の役割が必要です"}, `id="approve-`, `id="revoke-`)
	if resp, _ := do(t, viewer, "POST", list+"/"+held+"/approve", url.Values{"csrf": {csrfOf(t, vbody)}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer approving = %d, want 403", resp.StatusCode)
	}

	csrf := csrfOf(t, body)
	post := func(id, op string, want int) {
		t.Helper()
		resp, body := do(t, tanaka, "POST", list+"/"+id+"/"+op, url.Values{"csrf": {csrf}, "note": {"ICU on manual ventilation"}, "back": {"status=held"}})
		if resp.StatusCode != want {
			t.Errorf("%s %s = %d, want %d\n%s", op, id, resp.StatusCode, want, body)
		}
		if want == http.StatusSeeOther && resp.Header.Get("Location") != "/t/tokyo/decisions?status=held" {
			t.Errorf("%s went to %q, want back to the list as filtered", op, resp.Header.Get("Location"))
		}
	}
	post(held, "approve", http.StatusSeeOther)
	d, _ := f.dec.Get(t.Context(), "tokyo", f.held)
	if d.Status != decision.StatusActive || d.UpdatedBy != "person:tanaka" || d.Note != "ICU on manual ventilation" {
		t.Errorf("approved decision: %+v", d)
	}
	post(held, "approve", http.StatusConflict)                             // already decided
	post(held, "reject", http.StatusConflict)                              // and no longer held
	post(strconv.FormatInt(f.osakaDec, 10), "revoke", http.StatusNotFound) // osaka's, through tokyo's path
	post("x", "approve", http.StatusNotFound)                              // not a decision ID
	if d, _ := f.dec.Get(t.Context(), "osaka", f.osakaDec); d.Status != decision.StatusActive {
		t.Errorf("osaka's decision changed through tokyo: %s", d.Status)
	}
	_, body = do(t, tanaka, "GET", list+"?status=active", nil)
	contains(t, "decisions after approval", body, []string{"承認待ち(0 件)", `id="decision-` + held + `"`, "tanaka が変更", `id="revoke-` + held + `"`})
	post(held, "revoke", http.StatusSeeOther)
	if d, _ := f.dec.Get(t.Context(), "tokyo", f.held); d.Status != decision.StatusRevoked {
		t.Errorf("revoked decision is %s", d.Status)
	}
	// The store's audit log names the person for each change.
	log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 10)
	var seen []string
	for _, e := range log {
		if strings.HasPrefix(e.Action, "decision.") && e.Actor == "person:tanaka" {
			seen = append(seen, e.Action)
		}
	}
	if len(seen) != 2 {
		t.Errorf("audit entries by tanaka on decisions: %v, want the approval and the revocation", seen)
	}
}

func TestAssetsPage(t *testing.T) {
	f := newFixture(t, false)
	c := f.signIn(t, "suzuki")
	assets := f.ts.URL + "/t/tokyo/assets"
	for _, cs := range []struct {
		query     string
		want, not []string
	}{
		{"", []string{"5 件の資産のうち、生命維持装置は 2 件", `<tr class="cat-life-support">`, "ICU ventilator bed 1", "10.20.3.0/24", "全 5 件"}, []string{"Osaka-only"}},
		{"?category=life-support", []string{"全 2 件", "ICU infusion pump"}, []string{"ehr.tokyo.example"}},
		{"?protected=1", []string{"全 1 件", "ehr.tokyo.example", "<strong>保護</strong>"}, []string{"ICU ventilator"}},
		{"?q=radiology", []string{"CT scanner VLAN", "全 1 件"}, nil},
		{"?q=10.20.1.11", []string{"ICU ventilator bed 1", "全 1 件"}, nil},
	} {
		_, body := do(t, c, "GET", assets+cs.query, nil)
		contains(t, "assets"+cs.query, body, cs.want, cs.not...)
	}
	_, body := do(t, c, "GET", assets+"?sort=category", nil)
	if strings.Index(body, "ICU ventilator") > strings.Index(body, "core switch") {
		t.Error("sort=category does not put life-support first")
	}
	_, body = do(t, c, "GET", assets+"?sort=name", nil)
	if strings.Index(body, "CT scanner") > strings.Index(body, "ICU ventilator") {
		t.Error("sort=name is not by name")
	}
}

// TestNotConfigured: without the services the pages open and say so, rather than fail.
func TestNotConfigured(t *testing.T) {
	f := newFixture(t, false)
	srv, err := New(Options{Store: f.store, Accounts: f.accounts})
	if err != nil {
		t.Fatal(err)
	}
	f.ts.Config.Handler = srv
	c := f.signIn(t, "suzuki")
	for path, want := range map[string]string{
		"/t/tokyo/incidents": "インシデント管理が設定されていません。",
		"/t/tokyo/decisions": "自動対処が設定されていません。",
		"/t/tokyo/assets":    "資産台帳が読み込まれていません。",
	} {
		resp, body := do(t, c, "GET", f.ts.URL+path, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, want it to say %q", path, resp.StatusCode, want)
		}
	}
	resp, body := do(t, c, "GET", f.ts.URL+"/t/tokyo/", nil)
	if resp.StatusCode != 200 || strings.Contains(body, "tile-held") {
		t.Errorf("dashboard without services = %d, shows decision tiles: %v", resp.StatusCode, strings.Contains(body, "tile-held"))
	}
}

// TestIncidentPageEnglish: one click to English shows the incident, its clocks and its
// playbook in English.
func TestIncidentPageEnglish(t *testing.T) {
	f := newFixture(t, false)
	c := f.signIn(t, "tanaka")
	page := "/t/tokyo/incidents/" + f.incidents["tokyo"]
	if resp, _ := do(t, c, "POST", f.ts.URL+"/lang", url.Values{"lang": {"en"}, "next": {page}}); resp.Header.Get("Location") != page {
		t.Fatalf("language switch went to %q", resp.Header.Get("Location"))
	}
	_, body := do(t, c, "GET", f.ts.URL+page, nil)
	// The timeline is left out: it records what the services wrote, in the hospital's language.
	body = body[:strings.Index(body, `class="timeline"`)]
	contains(t, "incident in English", body, []string{
		`<html lang="en">`, "Medical device tampering", "Check the patients on the device", "Acknowledge", " left", "New", "Playbook checklist",
	}, "医療機器の改ざん", "使用中の患者", "残り")
	_, body = do(t, c, "GET", f.ts.URL+"/t/tokyo/decisions", nil)
	contains(t, "decisions in English", body, []string{"Waiting for approval (1)", "Approve", "Isolate"}, "承認待ち")
	_, body = do(t, c, "GET", f.ts.URL+"/t/tokyo/assets", nil)
	contains(t, "assets in English", body, []string{"5 assets, 2 of them life-support devices", "Life-support"}, "生命維持")
}

// TestClocks: how a clock reads at a moment, in both languages: time left, soon due, overdue,
// and stopped ones.
func TestClocks(t *testing.T) {
	start := time.Date(2026, 4, 1, 9, 0, 0, 0, JST)
	c := incident.Clock{Name: incident.ClockAcknowledge, Started: start, WarnAt: start.Add(10 * time.Minute), Deadline: start.Add(15 * time.Minute)}
	stopped := c
	stopped.Stopped = start.Add(20 * time.Minute)
	s := &Server{cat: mustCatalogues(t), opt: Options{Location: JST}}
	for _, tc := range []struct {
		name   string
		clock  incident.Clock
		at     time.Duration
		status string
		ja, en string
	}{
		{"running", c, time.Minute, "running", "残り 14分", "14m left"},
		{"warning", c, 12 * time.Minute, "warning", "残り 3分", "3m left"},
		{"breached", c, 2*time.Hour + 16*time.Minute, "breached", "期限超過 2時間1分", "overdue by 2h 1m"},
		{"days overdue", c, 50 * time.Hour, "breached", "期限超過 2日1時間", "overdue by 2d 1h"},
		{"missed", stopped, time.Hour, "missed", "期限後に完了", "missed"},
	} {
		v := clockViews([]incident.Clock{tc.clock}, start.Add(tc.at))[0]
		if v.Status != tc.status {
			t.Errorf("%s: status %s, want %s", tc.name, v.Status, tc.status)
		}
		for lang, want := range map[string]string{"ja": tc.ja, "en": tc.en} {
			l := &localizer{Lang: lang, m: s.cat[lang], loc: JST}
			var got string
			switch {
			case !v.Running:
				got = l.T("clockstatus." + v.Status)
			case v.Overdue:
				got = l.T("clock.overdue", l.Dur(v.Left))
			default:
				got = l.T("clock.left", l.Dur(v.Left))
			}
			if got != want {
				t.Errorf("%s in %s: %q, want %q", tc.name, lang, got, want)
			}
		}
	}
	if got := running(clockViews([]incident.Clock{stopped, c}, start)); len(got) != 1 || got[0].Running != true {
		t.Errorf("running() = %+v, want only the running clock", got)
	}
}

func mustCatalogues(t *testing.T) catalogues {
	t.Helper()
	cat, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// Each alert links to what a person looks at next: the decisions it led to, and for those
// who may search the logs, what its source address did in the archive over the alert's days.
func TestAlertLinks(t *testing.T) {
	f := newFixture(t, false)
	_, body := do(t, f.signIn(t, "tanaka"), "GET", f.ts.URL+"/t/tokyo/alerts?level=critical", nil)
	day := time.Now().Add(-time.Hour).In(JST).Format(time.DateOnly)
	first := time.Now().Add(-time.Hour - time.Minute).In(JST).Format(time.DateOnly)
	contains(t, "analyst's alerts", body, []string{
		`href="/t/tokyo/archive?from=` + first + `&amp;ip=203.0.113.7&amp;to=` + day + `"`,
		`href="/t/tokyo/decisions?alert=tokyo-3600000000000"`,
	})
	// A viewer may see decisions, not search the logs.
	_, body = do(t, f.signIn(t, "suzuki"), "GET", f.ts.URL+"/t/tokyo/alerts?level=critical", nil)
	contains(t, "viewer's alerts", body, []string{`href="/t/tokyo/decisions?alert=tokyo-3600000000000"`}, "archive-link")
}

func TestAlertsSearchAndSort(t *testing.T) {
	f := newFixture(t, false)
	c := f.signIn(t, "suzuki")
	for _, tc := range []struct {
		query     string
		want, not []string
	}{
		{"?q=port+scan+0", []string{"全 10 件", "Port scan 00", "Port scan 09"}, []string{"Port scan 10", "CVE-2018-13379"}},
		{"?q=203.0.113.7&level=critical", []string{"全 1 件", "CVE-2018-13379"}, []string{"Port scan"}},
		{"?q=nothing-like-it", []string{"該当するアラートはありません"}, nil},
		{"?sort=bogus", []string{"全 62 件"}, nil},
	} {
		_, body := do(t, c, "GET", f.ts.URL+"/t/tokyo/alerts"+tc.query, nil)
		contains(t, "alerts"+tc.query, body, tc.want, tc.not...)
	}
	// Paging keeps the search and the order.
	_, body := do(t, c, "GET", f.ts.URL+"/t/tokyo/alerts?q=port&sort=count", nil)
	contains(t, "paged search", body, []string{`href="?page=2&amp;q=port&amp;sort=count"`})
}

func TestSortAlerts(t *testing.T) {
	newestFirst := []detect.Alert{{ID: "low-new", Level: "low", Count: 3}, {ID: "crit", Level: "critical", Count: 1},
		{ID: "high", Level: "high", Count: 9}, {ID: "low-old", Level: "low", Count: 3}}
	for by, want := range map[string]string{
		"last":  "low-new crit high low-old",
		"level": "crit high low-new low-old",
		"count": "high low-new low-old crit",
	} {
		as := slices.Clone(newestFirst)
		sortAlerts(as, by)
		var got []string
		for _, a := range as {
			got = append(got, a.ID)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("sortAlerts(%s) = %v, want %s", by, got, want)
		}
	}
}
