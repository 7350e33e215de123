package web

import (
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/incident"
)

// factsVersionField is the hidden field that says which version of the incident a facts form
// was filled from.
var factsVersionField = regexp.MustCompile(`name="facts_version" value="([0-9]+)"`)

// TestIncidentFactsForm: an analyst who works incidents records the facts on the incident
// page and the drafts state them; set back to unconfirmed, a fact is drafted （未確認）; a
// refused value, a stale form, a viewer and another hospital's people change nothing.
func TestIncidentFactsForm(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	id := f.incidents["tokyo"]
	page := f.ts.URL + "/t/tokyo/incidents/" + id
	tanaka := f.signIn(t, "tanaka") // analyst L2: incidents.work
	liaison := f.signIn(t, "liaison")
	stored := func() incident.Facts {
		t.Helper()
		inc, err := f.inc.Get(ctx, "tokyo", id)
		if err != nil {
			t.Fatal(err)
		}
		return inc.Facts
	}
	// version is the tokyo incident's version now, as a form field holds it.
	version := func() string {
		t.Helper()
		inc, err := f.inc.Get(ctx, "tokyo", id)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(inc.Version)
	}
	// form returns the facts form of the incident page as tanaka sees it now: the CSRF token
	// and the version of the incident it was filled from.
	form := func() url.Values {
		t.Helper()
		_, body := do(t, tanaka, "GET", page, nil)
		m := factsVersionField.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("the incident page has no facts form for tanaka:\n%s", body)
		}
		return url.Values{"csrf": {csrfOf(t, body)}, "facts_version": {m[1]}}
	}
	draft := func(obligation string) string {
		t.Helper()
		resp, body := do(t, liaison, "GET", page+"/reports/"+obligation, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET the %s draft = %d:\n%s", obligation, resp.StatusCode, body)
		}
		return body
	}

	_, body := do(t, tanaka, "GET", page, nil)
	contains(t, "the facts form before anything is known", body, []string{
		`action="/t/tokyo/incidents/` + id + `/facts"`, "事実関係（報告書の記載事項）",
		`value="unconfirmed" id="fact-personal_data-unconfirmed" checked`,
		`value="unconfirmed" id="fact-unauthorized-unconfirmed" checked`,
		`name="aware_at" type="datetime-local" step="1" value=""`, `name="patients_affected" type="number" inputmode="numeric" value=""`,
	}, `id="fact-personal_data-yes" checked`, `id="fact-personal_data-no" checked`)

	// tanaka records what the hospital established.
	aware := time.Now().Add(-2 * time.Hour).In(JST).Truncate(time.Minute)
	v := form()
	for k, val := range map[string]string{
		"aware_at": aware.Format("2006-01-02T15:04"), "personal_data": "yes", "unauthorized": "no",
		"patients_affected": "120", "data_items": "氏名\r\n\r\n 診療録 \r\n", "systems": "電子カルテ",
		"summary": "人工呼吸器への不審な書き込み", "cause": "感染した端末からの横展開", "measures": "端末の初期化\r\n保守回線の遮断",
		"police_case": "徳島県警察 サイバー犯罪対策課",
	} {
		v.Set(k, val)
	}
	resp, body := do(t, tanaka, "POST", page+"/facts", v)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/t/tokyo/incidents/"+id {
		t.Fatalf("POST the facts = %d to %q, want 303 to the incident:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	want := incident.Facts{AwareAt: aware, PersonalData: incident.Yes, Unauthorized: incident.No, PatientsAffected: 120,
		DataItems: []string{"氏名", "診療録"}, Systems: []string{"電子カルテ"}, Summary: "人工呼吸器への不審な書き込み",
		Cause: "感染した端末からの横展開", Measures: []string{"端末の初期化", "保守回線の遮断"}, PoliceCase: "徳島県警察 サイバー犯罪対策課"}
	if diff := cmp.Diff(want, stored()); diff != "" {
		t.Errorf("stored facts after the save (-want +got):\n%s", diff)
	}
	if got := f.auditOf(t, "user:"+f.ids["tanaka"], "incident.facts"); len(got) != 1 {
		t.Errorf("audit of the save = %q, want one incident.facts by tanaka", got)
	}
	_, body = do(t, tanaka, "GET", page, nil)
	contains(t, "the incident after the save", body, []string{
		`value="yes" id="fact-personal_data-yes" checked`, `value="no" id="fact-unauthorized-no" checked`,
		`name="aware_at" type="datetime-local" step="1" value="` + aware.Format("2006-01-02T15:04:05") + `"`,
		`name="patients_affected" type="number" inputmode="numeric" value="120"`, ">氏名\n診療録</textarea>",
		"personal data concerned: yes; unauthorised access: no; 120 patients", // the timeline
	}, `id="fact-personal_data-unconfirmed" checked`)
	ppc := draft("ppc-preliminary")
	contains(t, "the PPC draft after the save", ppc, []string{
		"事態を知った日時: " + aware.Format("2006年1月2日 15時04分"),
		"個人データの漏えい等のおそれ: あり", "不正アクセス等（不正の目的）のおそれ: なし",
		"氏名、診療録（要配慮個人情報（診療情報）を含む）", "120名", "感染した端末からの横展開", "- 端末の初期化\n- 保守回線の遮断",
	})
	contains(t, "the MHLW draft after the save", draft("mhlw"), []string{"対象となる患者数: 120名", "徳島県警察 サイバー犯罪対策課"})

	// Unsure after all: personal data back to unconfirmed, the rest as it was.
	v = form()
	for _, ff := range factFields(stored(), &localizer{loc: JST}) {
		v.Set(ff.Name, ff.Value)
	}
	v.Set("personal_data", "unconfirmed")
	if resp, body := do(t, tanaka, "POST", page+"/facts", v); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST personal data unconfirmed = %d:\n%s", resp.StatusCode, body)
	}
	want.PersonalData = incident.Unconfirmed
	if diff := cmp.Diff(want, stored()); diff != "" {
		t.Errorf("stored facts after unconfirming personal data (-want +got):\n%s", diff)
	}
	contains(t, "the PPC draft after unconfirming", draft("ppc-preliminary"), []string{
		"個人データの漏えい等のおそれ: （未確認）", "不正アクセス等（不正の目的）のおそれ: なし", "120名",
	}, "個人データの漏えい等のおそれ: あり", "個人データの漏えい等のおそれ: なし", "（要配慮個人情報（診療情報）を含む）")

	// Refused values: a clear message, what was typed comes back, nothing changes.
	for _, c := range []struct {
		name, field, value string
		say                string
	}{
		{"a negative count", "patients_affected", "-3", "a negative number of patients"}, // the service's rule
		{"a count that is no number", "patients_affected", "百二十", "本人の数は 0 以上の整数で入力してください"},
		{"awareness in the future", "aware_at", time.Now().Add(48 * time.Hour).In(JST).Format("2006-01-02T15:04"), "in the future"},
		{"a time that is no time", "aware_at", "昨日の夜", "事態を知った日時が読み取れません"},
		{"an answer that is none", "unauthorized", "maybe", "「あり」「なし」「未確認」のいずれかを選んでください"},
	} {
		before := stored()
		v := form()
		for _, ff := range factFields(before, &localizer{loc: JST}) {
			v.Set(ff.Name, ff.Value)
		}
		v.Set("summary", "この値は保存されないはず")
		v.Set(c.field, c.value)
		resp, body := do(t, tanaka, "POST", page+"/facts", v)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: POST = %d, want 400", c.name, resp.StatusCode)
		}
		contains(t, c.name+": the page", body, []string{`role="alert"`, c.say, "この値は保存されないはず</textarea>"})
		if diff := cmp.Diff(before, stored()); diff != "" {
			t.Errorf("%s changed the facts (-before +after):\n%s", c.name, diff)
		}
	}

	// A form filled before someone else saved: refused, so their change is not undone unseen.
	stale := form()
	if _, err := f.inc.SetFacts(ctx, "tokyo", id, "user:someone-else", incident.Facts{PersonalData: incident.Yes, PatientsAffected: 7}, 0); err != nil {
		t.Fatal(err)
	}
	stale.Set("personal_data", "no")
	resp, body = do(t, tanaka, "POST", page+"/facts", stale)
	if resp.StatusCode != http.StatusConflict || stored().PersonalData != incident.Yes {
		t.Errorf("a stale facts form = %d, personal data %v; want 409 and the newer facts kept:\n%s", resp.StatusCode, stored().PersonalData, body)
	}
	contains(t, "the page of a stale form", body, []string{"他の人が同時に更新しました", `value="no" id="fact-personal_data-no" checked`})
	resp, _ = do(t, tanaka, "POST", page+"/facts", url.Values{"csrf": stale["csrf"], "facts_version": {factsVersionField.FindStringSubmatch(body)[1]},
		"personal_data": {"no"}})
	if resp.StatusCode != http.StatusSeeOther || stored().PersonalData != incident.No {
		t.Errorf("saving again from the refreshed form = %d, personal data %v; want 303 and no", resp.StatusCode, stored().PersonalData)
	}
	saved := stored()

	// A viewer reads the facts but has no form, and a save is refused at the guard.
	suzuki := f.signIn(t, "suzuki")
	_, body = do(t, suzuki, "GET", page, nil)
	contains(t, "the facts for a viewer", body, []string{"<dt>個人データ（要配慮個人情報）の漏えい等のおそれ</dt><dd>なし</dd>",
		"<dt>概要</dt><dd>未確認</dd>"}, `/facts"`, `name="facts_version"`)
	resp, _ = do(t, suzuki, "POST", page+"/facts", url.Values{"csrf": {csrfOf(t, body)}, "facts_version": {version()}, "personal_data": {"yes"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer saving facts = %d, want 403", resp.StatusCode)
	}

	// Another hospital's analyst is refused tokyo's incident; tokyo's analyst does not reach
	// osaka's through tokyo's path.
	u, key, err := f.accounts.CreateUser(ctx, "test", auth.NewUser{Tenant: "osaka", Name: "kimura", Password: password,
		Roles: []auth.Role{auth.RoleAnalystL2}})
	if err != nil {
		t.Fatal(err)
	}
	f.keys["kimura"], f.ids["kimura"] = key, u.ID
	kimura := f.signIn(t, "kimura")
	_, own := do(t, kimura, "GET", f.ts.URL+"/t/osaka/incidents/"+f.incidents["osaka"], nil)
	resp, _ = do(t, kimura, "POST", page+"/facts", url.Values{"csrf": {csrfOf(t, own)}, "facts_version": {version()}, "personal_data": {"yes"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("osaka's analyst saving tokyo's facts = %d, want 403", resp.StatusCode)
	}
	osaka, err := f.inc.Get(ctx, "osaka", f.incidents["osaka"])
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = do(t, tanaka, "POST", f.ts.URL+"/t/tokyo/incidents/"+f.incidents["osaka"]+"/facts",
		url.Values{"csrf": form()["csrf"], "facts_version": {strconv.Itoa(osaka.Version)}, "personal_data": {"yes"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("tokyo's analyst saving osaka's incident's facts = %d, want 404", resp.StatusCode)
	}
	if after, _ := f.inc.Get(ctx, "osaka", f.incidents["osaka"]); !cmp.Equal(after.Facts, osaka.Facts) {
		t.Errorf("osaka's facts changed through another hospital: %+v", after.Facts)
	}
	if diff := cmp.Diff(saved, stored()); diff != "" {
		t.Errorf("tokyo's facts changed by refused saves (-before +after):\n%s", diff)
	}
}

// TestFactsTableCoversFacts holds the facts form's table to incident.Facts: a fact added
// there and not here would be wiped by every save from the form.
func TestFactsTableCoversFacts(t *testing.T) {
	var fields []string
	typ := reflect.TypeFor[incident.Facts]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	var table []string
	for _, fc := range factTable {
		table = append(table, fc.name)
	}
	slices.Sort(fields)
	slices.Sort(table)
	if diff := cmp.Diff(fields, table); diff != "" {
		t.Errorf("the facts form's fields differ from incident.Facts' JSON names (-struct +form):\n%s", diff)
	}
	// Every field of the struct reaches the form and back.
	full := incident.Facts{AwareAt: time.Date(2026, 12, 7, 9, 30, 15, 0, JST), PersonalData: incident.Yes, Unauthorized: incident.No,
		PatientsAffected: 3}
	v := reflect.ValueOf(&full).Elem()
	for i := range v.NumField() {
		switch fv := v.Field(i); fv.Kind() {
		case reflect.String:
			fv.SetString(typ.Field(i).Name)
		case reflect.Slice:
			fv.Set(reflect.ValueOf([]string{typ.Field(i).Name, "2"}))
		}
	}
	form := url.Values{}
	for _, ff := range factFields(full, &localizer{loc: JST}) {
		form.Set(ff.Name, ff.Value)
	}
	got, err := readFacts(form, JST)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(full, got); diff != "" {
		t.Errorf("readFacts(factFields(facts)) differs (-want +got):\n%s", diff)
	}
}
