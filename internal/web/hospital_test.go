package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/auth"
)

// TestHospitalProfilePage: tokyo's administrator fills in the hospital profile and the report
// drafts name the hospital from it; a refused field changes nothing; osaka's administrator
// neither sees nor changes tokyo's, and tokyo's other people are refused the page.
func TestHospitalProfilePage(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	page := f.ts.URL + "/t/tokyo/settings/hospital"
	sato := f.signIn(t, "sato") // tokyo's admin
	resp, body := do(t, sato, "GET", page, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as tokyo's admin = %d:\n%s", page, resp.StatusCode, body)
	}
	contains(t, "the empty profile page", body, []string{`id="hospital-profile"`, `name="security_manager" value=""`,
		`href="/t/tokyo/settings/hospital" aria-current="page"`, "医療情報システム安全管理責任者"})
	csrf := csrfOf(t, body)

	form := url.Values{"csrf": {csrf}, "name": {" 東京総合病院 "}, "address": {"東京都千代田区"}, "phone": {"03-0000-0000"},
		"administrator": {"院長 鈴木 一郎"}, "security_manager": {"情報システム室長 田中 次郎"}, "security_contact": {"内線 3100"},
		"reporter": {"情報システム室"}, "reporter_phone": {"03-0000-3100"}, "reporter_email": {"isms@tokyo.example.jp"}}
	resp, body = do(t, sato, "POST", page, form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d:\n%s", page, resp.StatusCode, body)
	}
	contains(t, "the saved profile", body, []string{"病院情報を保存しました", `name="name" value="東京総合病院"`, `value="isms@tokyo.example.jp"`})
	if got := f.auditOf(t, "user:"+f.ids["sato"], "hospital.profile"); len(got) != 1 {
		t.Errorf("audit of the save = %q, want one hospital.profile.replace by sato", got)
	}
	draft, err := f.inc.Report(ctx, "tokyo", f.incidents["tokyo"], "ppc-preliminary")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "tokyo's draft", string(draft), []string{"医療機関名: 東京総合病院", "管理者: 院長 鈴木 一郎",
		"医療情報システム安全管理責任者: 情報システム室長 田中 次郎（連絡先: 内線 3100）", "報告担当者: 情報システム室（電話: 03-0000-3100"}, "（未設定）")

	// Two lines in one field: refused, what was typed comes back, the saved profile stays.
	bad := url.Values{"csrf": {csrf}, "name": {"東京\r\n総合病院"}}
	resp, body = do(t, sato, "POST", page, bad)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "保存できませんでした") {
		t.Errorf("POST of a two-line name = %d, want 400 saying it was not saved:\n%s", resp.StatusCode, body)
	}
	if h, _ := f.inc.Profile(ctx, "tokyo"); h.Name != "東京総合病院" || h.Reporter != "情報システム室" {
		t.Errorf("profile after a refused save = %+v, want the saved one", h)
	}

	// osaka's admin: refused tokyo's page and its change; their own page is empty.
	u, key, err := f.accounts.CreateUser(ctx, "test", auth.NewUser{Tenant: "osaka", Name: "kimura", Password: password,
		Roles: []auth.Role{auth.RoleAdmin}, TOTP: true})
	if err != nil {
		t.Fatal(err)
	}
	f.keys["kimura"], f.ids["kimura"] = key, u.ID
	kimura := f.signIn(t, "kimura")
	_, own := do(t, kimura, "GET", f.ts.URL+"/t/osaka/settings/hospital", nil)
	resp, body = do(t, kimura, "GET", page, nil)
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "東京総合病院") || strings.Contains(body, "isms@tokyo") {
		t.Errorf("osaka's admin: GET %s = %d, want 403 and nothing of tokyo's profile", page, resp.StatusCode)
	}
	resp, _ = do(t, kimura, "POST", page, url.Values{"csrf": {csrfOf(t, own)}, "name": {"乗っ取り病院"}})
	if h, _ := f.inc.Profile(ctx, "tokyo"); resp.StatusCode != http.StatusForbidden || h.Name != "東京総合病院" {
		t.Errorf("osaka's admin: POST %s = %d, profile %q; want 403 and tokyo's name kept", page, resp.StatusCode, h.Name)
	}
	contains(t, "osaka's own profile page", own, []string{`name="name" value=""`}, "東京総合病院")

	// tokyo's people without settings.manage: refused, to read and to change.
	for _, name := range []string{"suzuki", "tanaka"} {
		c := f.signIn(t, name)
		_, any := do(t, c, "GET", f.ts.URL+"/t/tokyo/incidents", nil)
		if resp, body := do(t, c, "GET", page, nil); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "isms@tokyo") {
			t.Errorf("%s: GET %s = %d, want 403", name, page, resp.StatusCode)
		}
		resp, _ := do(t, c, "POST", page, url.Values{"csrf": {csrfOf(t, any)}, "name": {"別の病院"}})
		if h, _ := f.inc.Profile(ctx, "tokyo"); resp.StatusCode != http.StatusForbidden || h.Name != "東京総合病院" {
			t.Errorf("%s: POST %s = %d, profile %q; want 403 and the name kept", name, page, resp.StatusCode, h.Name)
		}
	}
}
