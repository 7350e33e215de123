package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/store"
)

var (
	secretField = regexp.MustCompile(`id="token-secret" class="secret" readonly value="([^"]+)"`)
	anyToken    = regexp.MustCompile(`omm_[a-z2-7]{16}_[a-z2-7]{52}`)
	qrImg       = regexp.MustCompile(`id="new-totp-qr" class="qr" src="([^"]+)"`)
)

// fieldOf returns the value of the read-only input with the given id, or "".
func fieldOf(body, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `" class="secret" readonly value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// auditOf returns tokyo's audit entries of action by actor, newest first, as "object detail".
func (f *fixture) auditOf(t *testing.T, actor, prefix string) []string {
	t.Helper()
	log, err := f.store.Tenant("tokyo").AuditLog(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range log {
		if e.Actor == actor && strings.HasPrefix(e.Action, prefix) {
			out = append(out, e.Action+" "+e.Object)
		}
	}
	return out
}

func TestTokensPage(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	admin := f.signIn(t, "sato")
	page := f.ts.URL + "/t/tokyo/tokens"
	resp, body := do(t, admin, "GET", page, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "tokyo-firewall") || strings.Contains(body, "osaka-firewall") ||
		!strings.Contains(body, `href="/t/tokyo/tokens" aria-current="page"`) {
		t.Fatalf("tokens page = %d, want tokyo's token only and the menu entry:\n%s", resp.StatusCode, body)
	}
	csrf := csrfOf(t, body)

	// Refused forms: nothing is issued, and what was typed comes back.
	for _, c := range []struct {
		name string
		form url.Values
		want int
		msg  string
	}{
		{"no name", url.Values{"scope": {"ingest"}}, http.StatusBadRequest, "名前を入力してください"},
		{"no scope", url.Values{"name": {"pacs-gw"}}, http.StatusBadRequest, "一つ以上選んでください"},
		{"unknown scope", url.Values{"name": {"pacs-gw"}, "scope": {"root"}}, http.StatusBadRequest, "一つ以上選んでください"},
		{"operator", url.Values{"name": {"pacs-gw"}, "scope": {"ingest", "operator"}}, http.StatusForbidden, "「operator」は施設全体"},
		{"metrics", url.Values{"name": {"pacs-gw"}, "scope": {"metrics"}}, http.StatusForbidden, "「metrics」は施設全体"},
		{"days not a number", url.Values{"name": {"pacs-gw"}, "scope": {"ingest"}, "days": {"soon"}}, http.StatusBadRequest, "1〜3650 日"},
		{"days too many", url.Values{"name": {"pacs-gw"}, "scope": {"ingest"}, "days": {"3651"}}, http.StatusBadRequest, "1〜3650 日"},
		{"name taken", url.Values{"name": {"tokyo-firewall"}, "scope": {"ingest"}}, http.StatusConflict, "既にあります"},
	} {
		c.form.Set("csrf", csrf)
		resp, body := do(t, admin, "POST", page, c.form)
		if resp.StatusCode != c.want || !strings.Contains(body, c.msg) || anyToken.MatchString(body) {
			t.Errorf("%s: %d, want %d with %q and no token", c.name, resp.StatusCode, c.want, c.msg)
		}
		if n := c.form.Get("name"); n != "" && !strings.Contains(body, `value="`+n+`"`) {
			t.Errorf("%s: the name typed is not given back", c.name)
		}
	}
	if toks, _ := f.store.Tenant("tokyo").Tokens(ctx); len(toks) != 1 {
		t.Fatalf("refused forms issued tokens: %+v", toks)
	}
	if _, err := f.store.Tenant("tokyo").Token(ctx, f.token); err != nil {
		t.Fatal(err)
	}

	// Issue: the token is in this answer, once, with the warning.
	resp, body = do(t, admin, "POST", page, url.Values{"csrf": {csrf}, "name": {"fortigate-tokyo"}, "scope": {"ingest", "read"}, "days": {"30"}})
	m := secretField.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil || !anyToken.MatchString(m[1]) || !strings.Contains(body, "今回だけです") ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("issue = %d (Cache-Control %q), want 201 with the token and the warning:\n%s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	secret := auth.Secret(m[1])
	// The token works, as the API would see it: tokyo's, with the scopes chosen.
	v := auth.NewVerifier(f.store, nil)
	p, err := v.Verify(ctx, secret)
	if err != nil || p.Tenant != "tokyo" || p.Name != "fortigate-tokyo" || !p.Has(auth.ScopeIngest) || !p.Has(auth.ScopeRead) || p.Has(auth.ScopeAdmin) {
		t.Fatalf("issued token verifies as %+v, %v", p, err)
	}
	if err := v.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := f.store.Tenant("tokyo").Token(ctx, p.TokenID)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(tok.Expires); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("expires in %v, want 30 days", d)
	}

	// Reloaded, the list has it, with its last use, and the token is nowhere.
	resp, body = do(t, admin, "GET", page, nil)
	row := rowOf(body, "token-"+tok.ID)
	if resp.StatusCode != 200 || row == "" || strings.Contains(body, secret.Reveal()) || anyToken.MatchString(body) || strings.Contains(body, "今回だけです") {
		t.Fatalf("list after issue = %d, want the token's row and no secret:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{"fortigate-tokyo", "<code>ingest</code>", "<code>read</code>", (&localizer{loc: JST}).Time(tok.Expires), "有効", "/tokens/" + tok.ID + "/revoke"} {
		if !strings.Contains(row, want) {
			t.Errorf("row of the new token lacks %q:\n%s", want, row)
		}
	}
	if strings.Contains(row, "未使用") {
		t.Errorf("row of a used token says never used:\n%s", row)
	}

	// Revoke: a confirmation first; the POST without it changes nothing.
	revoke := page + "/" + tok.ID + "/revoke"
	resp, body = do(t, admin, "GET", revoke, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "元に戻すことはできません") || !strings.Contains(body, `name="confirm" value="yes"`) {
		t.Fatalf("confirmation = %d:\n%s", resp.StatusCode, body)
	}
	if resp, _ := do(t, admin, "POST", revoke, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("revoke without confirmation = %d, want 400", resp.StatusCode)
	}
	if _, err := v.Verify(ctx, secret); err != nil {
		t.Fatalf("token refused before it was revoked: %v", err)
	}
	resp, _ = do(t, admin, "POST", revoke, url.Values{"csrf": {csrf}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/t/tokyo/tokens" {
		t.Fatalf("revoke = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := v.Verify(ctx, secret); err == nil {
		t.Error("revoked token still verifies")
	}
	_, body = do(t, admin, "GET", page, nil)
	if row := rowOf(body, "token-"+tok.ID); !strings.Contains(row, "失効済み") || strings.Contains(row, "/revoke") {
		t.Errorf("row of the revoked token:\n%s", row)
	}

	// Osaka's token through tokyo's page: not found, and still live.
	for _, m := range []string{"GET", "POST"} {
		resp, body := do(t, admin, m, page+"/"+f.osakaToken+"/revoke", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "osaka-firewall") {
			t.Errorf("%s osaka's token via tokyo = %d, want 404", m, resp.StatusCode)
		}
	}
	if ot, _ := f.store.Tenant("osaka").Token(ctx, f.osakaToken); !ot.Revoked.IsZero() {
		t.Error("osaka's token was revoked through tokyo's page")
	}

	// The audit log names the admin: issued, then revoked.
	if got, want := strings.Join(f.auditOf(t, "user:"+f.ids["sato"], "token."), ","), "token.revoke "+tok.ID+",token.create "+tok.ID; got != want {
		t.Errorf("audit = %s, want %s", got, want)
	}

	// Not an admin: refused at the guard, and the menu does not offer the page.
	tanaka := f.signIn(t, "tanaka")
	_, body = do(t, tanaka, "GET", f.ts.URL+"/t/tokyo/", nil)
	if strings.Contains(body, "/t/tokyo/tokens") {
		t.Error("an analyst's menu links to the tokens page")
	}
	if resp, _ := do(t, tanaka, "GET", page, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst GET tokens = %d, want 403", resp.StatusCode)
	}
	resp, _ = do(t, tanaka, "POST", page, url.Values{"csrf": {csrfOf(t, body)}, "name": {"mine"}, "scope": {"admin"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst issuing a token = %d, want 403", resp.StatusCode)
	}
	if toks, _ := f.store.Tenant("tokyo").Tokens(ctx); len(toks) != 2 {
		t.Errorf("tokyo has %d tokens, want 2", len(toks))
	}

	// In English too.
	do(t, admin, "POST", f.ts.URL+"/lang", url.Values{"lang": {"en"}, "next": {"/"}})
	resp, body = do(t, admin, "POST", page, url.Values{"csrf": {csrf}, "name": {"ehr"}, "scope": {"access"}})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, "This is the only time this token is shown") || !strings.Contains(body, "never") {
		t.Errorf("English issue = %d:\n%s", resp.StatusCode, body)
	}
}

// rowOf returns the table row with the given id, or "".
func rowOf(body, id string) string {
	_, rest, ok := strings.Cut(body, `<tr id="`+id+`">`)
	if !ok {
		return ""
	}
	row, _, _ := strings.Cut(rest, "</tr>")
	return row
}

func TestCreateUser(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	admin := f.signIn(t, "sato")
	page := f.ts.URL + "/t/tokyo/users"
	_, body := do(t, admin, "GET", page, nil)
	csrf := csrfOf(t, body)

	// Refused forms.
	for _, c := range []struct {
		name string
		form url.Values
		want int
		msg  string
	}{
		{"name taken in another hospital", url.Values{"name": {"yamada"}, "role": {"viewer"}}, http.StatusConflict, "既に使われています"},
		{"bad name", url.Values{"name": {"山本"}, "role": {"viewer"}}, http.StatusBadRequest, "サインイン名は半角"},
		{"empty name", url.Values{"role": {"viewer"}}, http.StatusBadRequest, "サインイン名は半角"},
		{"unknown role", url.Values{"name": {"yamamoto"}, "role": {"root"}}, http.StatusBadRequest, "不正な要求"},
	} {
		c.form.Set("csrf", csrf)
		resp, body := do(t, admin, "POST", page, c.form)
		if resp.StatusCode != c.want || !strings.Contains(body, c.msg) || strings.Contains(body, `id="new-password"`) {
			t.Errorf("%s: %d, want %d with %q and no password", c.name, resp.StatusCode, c.want, c.msg)
		}
	}

	for _, c := range []struct {
		name, display string
		roles         []string
		totp          bool // ticked
		wantTOTP      bool
	}{
		// The approver role enrols TOTP though the box was not ticked.
		{"yamamoto.h", "山本 花子", []string{"approver", "analyst_l1"}, false, true},
		{"kato", "加藤 一郎", []string{"viewer"}, false, false},
		{"ito", "伊藤 光", []string{"viewer"}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"csrf": {csrf}, "name": {c.name}, "display_name": {c.display}, "role": c.roles}
			if c.totp {
				form.Set("totp", "on")
			}
			resp, body := do(t, admin, "POST", page, form)
			pw, key, uri := fieldOf(body, "new-password"), fieldOf(body, "new-totp-key"), fieldOf(body, "new-totp-uri")
			if resp.StatusCode != http.StatusCreated || len(pw) < auth.MinPasswordLen || !strings.Contains(body, "今回だけです") ||
				(key != "") != c.wantTOTP || (uri != "") != c.wantTOTP || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("create = %d, password %q, key %q, uri %q; want 201, a password, TOTP %v:\n%s", resp.StatusCode, pw, key, uri, c.wantTOTP, body)
			}
			if c.wantTOTP && (!strings.HasPrefix(uri, "otpauth://totp/omamori:"+c.name+"?") || !strings.Contains(uri, "secret="+key)) {
				t.Errorf("otpauth URI %q does not carry the key %q", uri, key)
			}
			if c.wantTOTP {
				// The QR code is a PNG of the URI itself, which is what a phone scans.
				m := qrImg.FindStringSubmatch(body)
				if m == nil {
					t.Fatalf("no QR code on the page")
				}
				src := html.UnescapeString(m[1])
				want, _ := qrDataURL(html.UnescapeString(uri))
				if src != string(want) {
					t.Errorf("QR code is not the otpauth URI's")
				}
				b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
				if err != nil {
					t.Fatal(err)
				}
				if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() < 100 {
					t.Errorf("QR code is not a readable PNG: %v", err)
				}
			} else if qrImg.MatchString(body) {
				t.Error("a QR code without a second factor")
			}

			// Reloaded: listed with its roles, and neither password nor key anywhere.
			_, body = do(t, admin, "GET", page, nil)
			if !strings.Contains(body, c.display) || strings.Contains(body, pw) || (key != "" && strings.Contains(body, key)) || strings.Contains(body, `id="new-password"`) {
				t.Errorf("users page after create shows a secret or lacks %s", c.name)
			}
			u, err := f.store.LookupUser(ctx, c.name)
			if err != nil || u.Tenant != "tokyo" || u.DisplayName != c.display || (len(u.TOTPSecret) > 0) != c.wantTOTP {
				t.Fatalf("stored user %+v, %v", u, err)
			}
			gs, _ := f.store.UserGrants(ctx, u.ID)
			var got []string
			for _, g := range gs {
				got = append(got, g.Tenant+"/"+g.Role)
			}
			var want []string
			for _, r := range c.roles {
				want = append(want, "tokyo/"+r)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("grants = %v, want %v", got, want)
			}

			// The person signs in with what was shown, and the code their app computes.
			cl := f.client(t)
			resp, _ = do(t, cl, "POST", f.ts.URL+"/signin", url.Values{"name": {c.name}, "password": {pw}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign in with the shown password = %d", resp.StatusCode)
			}
			if c.wantTOTP {
				if resp.Header.Get("Location") != "/signin/totp" {
					t.Fatalf("sign in went to %q, want the TOTP step", resp.Header.Get("Location"))
				}
				k, err := auth.ParseTOTPKey(key)
				if err != nil {
					t.Fatal(err)
				}
				_, body := do(t, cl, "GET", f.ts.URL+"/signin/totp", nil)
				resp, _ = do(t, cl, "POST", f.ts.URL+"/signin/totp", url.Values{"csrf": {csrfOf(t, body)}, "code": {auth.TOTP(k, time.Now())}})
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
					t.Fatalf("TOTP with the shown key = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			}
			// The administrator saw that password: until the person chooses their own, every
			// page sends them to the password form, and no form but it is taken.
			resp, _ = do(t, cl, "GET", f.ts.URL+"/t/tokyo/", nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/password" {
				t.Fatalf("new user's dashboard = %d to %q; want the password form", resp.StatusCode, resp.Header.Get("Location"))
			}
			_, body = do(t, cl, "GET", f.ts.URL+"/account/password", nil)
			contains(t, "password form", body, []string{`id="password-required"`})
			csrf := csrfOf(t, body)
			if resp, body := do(t, cl, "POST", f.ts.URL+"/t/tokyo/tokens", url.Values{"csrf": {csrf}, "name": {"x"}}); resp.StatusCode != http.StatusForbidden ||
				!strings.Contains(body, "仮のもの") {
				t.Errorf("a POST elsewhere with a temporary password = %d", resp.StatusCode)
			}
			own := "my own passphrase for " + c.name
			resp, body = do(t, cl, "POST", f.ts.URL+"/account/password", url.Values{"csrf": {csrf}, "current": {pw}, "new": {own}, "confirm": {own + "x"}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "一致しません") {
				t.Errorf("mismatched confirmation = %d", resp.StatusCode)
			}
			resp, body = do(t, cl, "POST", f.ts.URL+"/account/password", url.Values{"csrf": {csrf}, "current": {"not it at all"}, "new": {own}, "confirm": {own}})
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "現在のパスワードが正しくありません") {
				t.Errorf("wrong current password = %d", resp.StatusCode)
			}
			resp, body = do(t, cl, "POST", f.ts.URL+"/account/password", url.Values{"csrf": {csrf}, "current": {pw}, "new": {"short"}, "confirm": {"short"}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "12 文字以上") {
				t.Errorf("a short new password = %d", resp.StatusCode)
			}
			resp, _ = do(t, cl, "POST", f.ts.URL+"/account/password", url.Values{"csrf": {csrf}, "current": {pw}, "new": {own}, "confirm": {own}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
				t.Fatalf("password change = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp, body = do(t, cl, "GET", f.ts.URL+"/t/tokyo/", nil)
			if resp.StatusCode != 200 || !strings.Contains(body, c.display) {
				t.Errorf("new user's dashboard after choosing a password = %d", resp.StatusCode)
			}
			if got := f.auditOf(t, "user:"+f.ids["sato"], "user.create"); len(got) == 0 || got[0] != "user.create "+u.ID {
				t.Errorf("audit of user.create = %v, want %s first", got, u.ID)
			}
		})
	}

	// Not an admin: refused at the guard, and no account made.
	tanaka := f.signIn(t, "tanaka")
	_, body = do(t, tanaka, "GET", f.ts.URL+"/t/tokyo/", nil)
	resp, _ := do(t, tanaka, "POST", page, url.Values{"csrf": {csrfOf(t, body)}, "name": {"mallory"}, "role": {"admin"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst creating a user = %d, want 403", resp.StatusCode)
	}
	if _, err := f.store.LookupUser(ctx, "mallory"); err == nil {
		t.Error("an analyst's form created an account")
	} else if !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
}
