package web

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

// cheap keeps sign-in fast in tests; the flow is the same as with auth.DefaultArgon2.
var cheap = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const password = "correct horse battery"

// fixture is a running UI over a real store and a real embedded bus, with two hospitals and
// their alerts.
type fixture struct {
	srv      *Server
	ts       *httptest.Server
	accounts *auth.Accounts
	store    *store.Store
	keys     map[string]auth.TOTPKey
	ids      map[string]string // user name → ID

	inc       *incident.Service
	dec       *respond.Service
	inv       map[string]*asset.Inventory
	incidents map[string]string // tenant → the incident about its most urgent alert
	held      int64             // tokyo's held decision: isolating the ventilator
	osakaDec  int64             // a decision of osaka's

	reviews *access.StoreQueue // break-glass accesses of both hospitals (access_test.go)
	archive *archive.Archive   // their decisions, and the EHR's own access log
	review  string             // tokyo's pending break-glass access

	token, osakaToken string // an API token of each hospital (settings_test.go)
}

// Tokyo's inventory: a ventilator (life-support), the EHR (a protected clinical service), a
// CT scanner's VLAN and a switch. Osaka has its own.
const (
	tokyoAssets = `address,name,category,department,protected
10.20.1.11,ICU ventilator bed 1,life-support,ICU,
10.20.1.12,ICU infusion pump bed 1,life-support,ICU,
10.20.2.10,ehr.tokyo.example,information,Medical records,true
10.20.3.0/24,CT scanner VLAN,diagnostic,Radiology,
10.20.0.1,core switch,infrastructure,IT,
`
	osakaAssets = `address,name,category,department,protected
10.30.1.5,Osaka-only dialysis machine,life-support,Nephrology,
`
	ventilator = "10.20.1.11"
)

// services builds the incident and response services over the fixture's store and feeds them
// alerts as the data path would: an attacker on tokyo's VPN, an infected PC writing to the
// ICU ventilator, and osaka's own alert.
func (f *fixture) services(t testing.TB, now time.Time) {
	t.Helper()
	ctx := t.Context()
	var err error
	f.inv = map[string]*asset.Inventory{}
	for tenant, csv := range map[string]string{"tokyo": tokyoAssets, "osaka": osakaAssets} {
		as, err := asset.ParseCSV(strings.NewReader(csv))
		if err != nil {
			t.Fatal(err)
		}
		if f.inv[tenant], err = asset.New(as); err != nil {
			t.Fatal(err)
		}
	}
	f.inc, err = incident.NewService(f.store, incident.Config{Protected: []string{ventilator}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.dec, err = respond.New(f.store, respond.Config{Policies: []respond.Policy{
		{Name: "vpn-attacker", Rules: []string{"r-high", "r-critical"}, Action: decision.ActionBlock, TTL: 4 * time.Hour},
		// A host an infected PC is writing to may be compromised too: isolate it. For the
		// ventilator the life-support guardrail holds this for a person.
		{Name: "lateral-victim", Rules: []string{"behavior.device_write"}, Action: decision.ActionIsolate, Target: respond.EntityDestination, TTL: time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for tenant, inv := range f.inv {
		f.dec.SetGuardrails(tenant, &respond.Guardrails{Assets: inv})
	}
	alerts := []detect.Alert{
		{ID: "tokyo-vpn", Tenant: "tokyo", Detector: "sigma", RuleID: "r-high", Title: "SSL-VPN brute force", Level: "high",
			First: now.Add(-3 * time.Hour), Last: now.Add(-2 * time.Hour), Count: 40, Entities: detect.Entities{Source: "203.0.113.7", User: "admin"}},
		{ID: "tokyo-vent", Tenant: "tokyo", Detector: "behavior", RuleID: "behavior.device_write", Title: "Write to an ICU ventilator from an infected PC",
			Level: "high", Techniques: []string{"T0836"}, First: now.Add(-10 * time.Minute), Last: now.Add(-5 * time.Minute), Count: 3,
			Entities: detect.Entities{Source: "10.20.5.9", Destination: ventilator}},
		{ID: "osaka-1", Tenant: "osaka", Detector: "sigma", RuleID: "r-critical", Title: "Osaka-only secret alert", Level: "critical",
			First: now.Add(-time.Hour), Last: now.Add(-time.Hour), Count: 1, Entities: detect.Entities{Source: "198.51.100.9"}},
	}
	for i, a := range alerts {
		out, err := f.inc.Ingest(ctx, a, uint64(i+1))
		if err != nil {
			t.Fatalf("incident from %s: %v", a.ID, err)
		}
		f.incidents[a.Tenant] = out.Incident // the last alert of each tenant is its most urgent
		ds, err := f.dec.OnAlert(ctx, a)
		if err != nil {
			t.Fatalf("decisions on %s: %v", a.ID, err)
		}
		for _, d := range ds {
			switch {
			case d.Status == decision.StatusHeld:
				f.held = d.ID
			case d.Tenant == "osaka":
				f.osakaDec = d.ID
			}
		}
	}
	if f.held == 0 || f.osakaDec == 0 {
		t.Fatalf("fixture: no held decision (%d) or osaka decision (%d)", f.held, f.osakaDec)
	}
}

func newFixture(t testing.TB, secure bool) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for _, id := range []string{"tokyo", "osaka"} {
		if _, err := st.CreateTenant(ctx, "test", store.Tenant{ID: id, Name: map[string]string{"tokyo": "東京総合病院", "osaka": "大阪市民病院"}[id]}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	publish := func(tenant, title, level string, ago time.Duration) {
		a := detect.Alert{ID: fmt.Sprintf("%s-%d", tenant, ago), Tenant: tenant, Detector: "sigma", RuleID: "r-" + level, Title: title,
			Level: severity.Level(level), First: now.Add(-ago - time.Minute), Last: now.Add(-ago), Count: 12,
			Entities: detect.Entities{Source: "203.0.113.7", User: "admin"}}
		data, _ := json.Marshal(a)
		if err := b.PublishAlert(ctx, tenant, data); err != nil {
			t.Fatal(err)
		}
	}
	publish("tokyo", "SSL-VPN brute force", "high", 2*time.Hour)
	publish("tokyo", "Fortinet CVE-2018-13379 path traversal", "critical", time.Hour)
	for i := range 60 { // enough for two pages of low alerts
		publish("tokyo", fmt.Sprintf("Port scan %02d", i), "low", time.Duration(3+i)*time.Hour)
	}
	publish("osaka", "Osaka-only secret alert", "critical", time.Hour)

	acc := auth.NewAccounts(auth.AccountsConfig{Store: st, Argon2: cheap, SealKey: make([]byte, 32)})
	f := &fixture{accounts: acc, store: st, keys: map[string]auth.TOTPKey{}, ids: map[string]string{}, incidents: map[string]string{}}
	f.services(t, now)
	f.accessServices(t)
	f.ingestCounts(t, b, now)
	for _, u := range []struct {
		tenant, name string
		roles        []auth.Role
		totp         bool
	}{
		{"tokyo", "tanaka", []auth.Role{auth.RoleAnalystL2, auth.RoleApprover}, true},
		{"tokyo", "suzuki", []auth.Role{auth.RoleViewer}, false},
		{"tokyo", "liaison", []auth.Role{auth.RoleAuthorityLiaison}, false},
		{"tokyo", "sato", []auth.Role{auth.RoleAdmin}, true},
		{"osaka", "yamada", []auth.Role{auth.RoleViewer}, false},
	} {
		su, key, err := acc.CreateUser(ctx, "test", auth.NewUser{Tenant: u.tenant, Name: u.name, Password: password, Roles: u.roles, TOTP: u.totp})
		if err != nil {
			t.Fatal(err)
		}
		f.keys[u.name], f.ids[u.name] = key, su.ID
	}
	for tenant, id := range map[string]*string{"tokyo": &f.token, "osaka": &f.osakaToken} {
		tok, _, err := auth.Issue(ctx, st.Tenant(tenant), "test", auth.Request{Name: tenant + "-firewall", Scopes: []auth.Scope{auth.ScopeIngest}})
		if err != nil {
			t.Fatal(err)
		}
		*id = tok.ID
	}
	f.srv, err = New(Options{Store: st, Accounts: acc, Alerts: b, Secure: secure,
		Incidents: f.inc, Decisions: f.dec, Assets: func(tenant string) *asset.Inventory { return f.inv[tenant] }, ReplaceAssets: f.replaceAssets,
		Reviews: f.reviews, Archive: f.archive, Listeners: func() []Listener { return listeners }, DeadLetters: b})
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv)
	t.Cleanup(f.ts.Close)
	return f
}

// fuzzQuery fuzzes the raw query of the page at path (as it may arrive, not one a client has
// cleaned up), signed in as user: every answer is the page or a refusal of the query, never an
// error of the page's own, and never shows osaka's records.
func (fx *fixture) fuzzQuery(f *testing.F, user, path string) {
	u, _ := url.Parse(fx.ts.URL)
	cookies := fx.signIn(f, user).Jar.Cookies(u)
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", path, nil)
		req.URL.RawQuery = q
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		fx.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s?%s = %d", path, q, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "Osaka-only") {
			t.Fatalf("%s?%s shows osaka's record", path, q)
		}
	})
}

// newHospital adds a hospital with nothing in it yet, and a person holding role there, signed in.
func (f *fixture) newHospital(t testing.TB, id, user string, role auth.Role) *http.Client {
	t.Helper()
	if _, err := f.store.CreateTenant(t.Context(), "test", store.Tenant{ID: id, Name: id}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.accounts.CreateUser(t.Context(), "test", auth.NewUser{Tenant: id, Name: user, Password: password,
		Roles: []auth.Role{role}}); err != nil {
		t.Fatal(err)
	}
	return f.signIn(t, user)
}

// client is a browser-like client: a cookie jar and no automatic redirects.
func (f *fixture) client(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t testing.TB, c *http.Client, method, url string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// signIn signs name in with a fresh client, through the TOTP step if the user has one.
func (f *fixture) signIn(t testing.TB, name string) *http.Client {
	t.Helper()
	c := f.client(t)
	resp, _ := do(t, c, "POST", f.ts.URL+"/signin", url.Values{"name": {name}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s: status %d", name, resp.StatusCode)
	}
	if resp.Header.Get("Location") == "/signin/totp" {
		_, body := do(t, c, "GET", f.ts.URL+"/signin/totp", nil)
		resp, _ = do(t, c, "POST", f.ts.URL+"/signin/totp", url.Values{"csrf": {csrfOf(t, body)}, "code": {auth.TOTP(f.keys[name], time.Now())}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("TOTP for %s: status %d to %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	return c
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// concrete turns a route pattern into a path to request.
func (f *fixture) concrete(pattern, tenant string) string {
	p := strings.ReplaceAll(pattern, "{tenant}", tenant)
	p = strings.ReplaceAll(p, "{user}", f.ids["suzuki"])
	p = strings.ReplaceAll(p, "{file...}", "style.css")
	p = strings.ReplaceAll(p, "{incident}", f.incidents["tokyo"])
	p = strings.ReplaceAll(p, "{decision}", strconv.FormatInt(f.held, 10))
	p = strings.ReplaceAll(p, "{obligation}", "mhlw")
	p = strings.ReplaceAll(p, "{review}", f.review)
	p = strings.ReplaceAll(p, "{token}", f.token)
	return strings.ReplaceAll(p, "{$}", "")
}

// TestRouteWalk walks every registered route and proves that an anonymous request and a
// user of another hospital are refused, and that the hospital's own user is let in.
func TestRouteWalk(t *testing.T) {
	f := newFixture(t, false)
	publicRoutes := map[string]bool{"GET /static/{file...}": true, "GET /signin": true, "POST /signin": true, "POST /lang": true}
	osaka := f.signIn(t, "yamada")
	// tokyo's own people: a viewer, and for what a viewer may not do, an admin, an analyst
	// and approver, and an authority liaison.
	liaison := f.signIn(t, "liaison")
	own := []struct {
		role []auth.Role
		c    *http.Client
	}{
		{[]auth.Role{auth.RoleViewer}, f.signIn(t, "suzuki")},
		{[]auth.Role{auth.RoleAdmin}, f.signIn(t, "sato")},
		{[]auth.Role{auth.RoleAnalystL2, auth.RoleApprover}, f.signIn(t, "tanaka")},
		{[]auth.Role{auth.RoleAuthorityLiaison}, liaison},
	}
	routes := f.srv.Routes()
	if len(routes) < 24 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Pattern
		t.Run(key, func(t *testing.T) {
			path := f.ts.URL + f.concrete(rt.Pattern, "tokyo")
			var form url.Values
			if rt.Method == "POST" {
				form = url.Values{}
			}
			if rt.Access == public {
				if !publicRoutes[key] {
					t.Errorf("route %s is public but not on the list of public routes", key)
				}
				return
			}
			if publicRoutes[key] {
				t.Errorf("route %s should be public", key)
			}
			// Anonymous: sent to sign in, or refused.
			resp, body := do(t, f.client(t), rt.Method, path, form)
			if resp.StatusCode == http.StatusOK || strings.Contains(body, "brute force") {
				t.Errorf("anonymous %s %s = %d, want refused", rt.Method, path, resp.StatusCode)
			}
			if rt.Method == "GET" && (resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin") {
				t.Errorf("anonymous GET %s = %d to %q, want 303 to /signin", path, resp.StatusCode, resp.Header.Get("Location"))
			}
			if rt.Access != tenant {
				return
			}
			// Another hospital's user: refused, and nothing of tokyo's shown.
			resp, body = do(t, osaka, rt.Method, path, form)
			if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "brute force") || strings.Contains(body, "東京総合病院") {
				t.Errorf("osaka's user: %s %s = %d, want 403 and nothing of tokyo's", rt.Method, path, resp.StatusCode)
			}
			// The hospital's own user with a role that allows it: let in.
			var tokyo *http.Client
			for _, u := range own {
				if tokyo == nil && slices.ContainsFunc(u.role, func(r auth.Role) bool { return r.Allows(rt.Action) }) {
					tokyo = u.c
				}
			}
			if tokyo == nil {
				t.Fatalf("no user of tokyo may %s", rt.Action)
			}
			if rt.Method == "GET" {
				resp, body = do(t, tokyo, rt.Method, path, nil)
				if resp.StatusCode != http.StatusOK || strings.Contains(body, "Osaka-only") || strings.Contains(body, "yamada") {
					t.Errorf("tokyo's user: GET %s = %d, want 200 without osaka's data", path, resp.StatusCode)
				}
				// A role without the action: refused.
				if !auth.RoleAuthorityLiaison.Allows(rt.Action) {
					if resp, _ := do(t, liaison, "GET", path, nil); resp.StatusCode != http.StatusForbidden {
						t.Errorf("liaison: GET %s = %d, want 403 (role lacks %s)", path, resp.StatusCode, rt.Action)
					}
				}
			}
			// An unknown tenant: the same refusal as another's.
			if resp, _ := do(t, tokyo, rt.Method, f.ts.URL+f.concrete(rt.Pattern, "nagoya"), form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("unknown tenant: %s = %d, want 403", rt.Pattern, resp.StatusCode)
			}
		})
	}
}

func TestSignInFlow(t *testing.T) {
	f := newFixture(t, false)
	c := f.client(t)

	resp, body := do(t, c, "GET", f.ts.URL+"/signin", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `<html lang="ja">`) || !strings.Contains(body, "サインイン") {
		t.Fatalf("GET /signin = %d, want a Japanese sign-in page", resp.StatusCode)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("response lacks %s", h)
		}
	}
	resp, body = do(t, c, "POST", f.ts.URL+"/signin", url.Values{"name": {"tanaka"}, "password": {"wrong password!"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "ユーザー名またはパスワードが正しくありません") {
		t.Errorf("wrong password = %d, want 401 with the message", resp.StatusCode)
	}
	resp, _ = do(t, c, "POST", f.ts.URL+"/signin", url.Values{"name": {"tanaka"}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin/totp" {
		t.Fatalf("right password = %d to %q, want the TOTP step", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Half-way: pages stay closed.
	if resp, _ := do(t, c, "GET", f.ts.URL+"/t/tokyo/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("dashboard before TOTP = %d, want redirect to sign in", resp.StatusCode)
	}
	_, body = do(t, c, "GET", f.ts.URL+"/signin/totp", nil)
	csrf := csrfOf(t, body)
	if resp, _ := do(t, c, "POST", f.ts.URL+"/signin/totp", url.Values{"code": {auth.TOTP(f.keys["tanaka"], time.Now())}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("TOTP without CSRF token = %d, want 403", resp.StatusCode)
	}
	resp, body = do(t, c, "POST", f.ts.URL+"/signin/totp", url.Values{"csrf": {csrf}, "code": {"12345x"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "コードが正しくない") {
		t.Errorf("wrong code = %d", resp.StatusCode)
	}
	resp, _ = do(t, c, "POST", f.ts.URL+"/signin/totp", url.Values{"csrf": {csrf}, "code": {auth.TOTP(f.keys["tanaka"], time.Now())}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right code = %d", resp.StatusCode)
	}
	resp, _ = do(t, c, "GET", f.ts.URL+"/", nil)
	if resp.Header.Get("Location") != "/t/tokyo/" {
		t.Errorf("home of a one-hospital user = %d to %q, want its dashboard", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = do(t, c, "GET", f.ts.URL+"/t/tokyo/", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "CVE-2018-13379") || !strings.Contains(body, "アラート合計 62 件") {
		t.Errorf("dashboard = %d, want the alerts and their count:\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "JST") {
		t.Error("dashboard shows no JST times")
	}

	// Alerts: filter and pages.
	_, body = do(t, c, "GET", f.ts.URL+"/t/tokyo/alerts?level=low", nil)
	if !strings.Contains(body, "1〜50 件目を表示(全 60 件)") || strings.Contains(body, "CVE-2018-13379") || !strings.Contains(body, `href="?level=low&amp;page=2"`) {
		t.Errorf("alerts?level=low shows the wrong page:\n%s", body)
	}
	_, body = do(t, c, "GET", f.ts.URL+"/t/tokyo/alerts?level=low&page=2", nil)
	if !strings.Contains(body, "51〜60 件目") || strings.Contains(body, "Port scan 00") || !strings.Contains(body, "Port scan 59") {
		t.Errorf("page 2 (oldest ten) wrong:\n%s", body)
	}

	// English, one click away, and back.
	_, body = do(t, c, "GET", f.ts.URL+"/t/tokyo/alerts", nil)
	resp, _ = do(t, c, "POST", f.ts.URL+"/lang", url.Values{"lang": {"en"}, "next": {"/t/tokyo/alerts"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/t/tokyo/alerts" {
		t.Errorf("POST /lang = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = do(t, c, "GET", f.ts.URL+"/t/tokyo/alerts", nil)
	if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "Showing 1–50 of 62") {
		t.Errorf("English alerts page wrong:\n%s", body)
	}

	// Sign-out needs the CSRF token, and a cross-site form is refused before anything else.
	if resp, _ := do(t, c, "POST", f.ts.URL+"/signout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without token = %d, want 403", resp.StatusCode)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", f.ts.URL+"/signout", strings.NewReader("csrf="+csrfOf(t, body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-out = %v, %v; want 403", resp.StatusCode, err)
	}
	resp, _ = do(t, c, "POST", f.ts.URL+"/signout", url.Values{"csrf": {csrfOf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out = %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", f.ts.URL+"/t/tokyo/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("dashboard after sign-out = %d, want redirect", resp.StatusCode)
	}
	log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 2)
	if len(log) < 2 || log[0].Action != "session.delete" || log[1].Action != "session.create" {
		t.Errorf("audit log = %+v, want sign-in and sign-out", log)
	}
}

func TestUsersPage(t *testing.T) {
	f := newFixture(t, false)
	admin := f.signIn(t, "sato")
	_, body := do(t, admin, "GET", f.ts.URL+"/t/tokyo/users", nil)
	csrf := csrfOf(t, body)
	if !strings.Contains(body, "suzuki") || strings.Contains(body, "yamada") {
		t.Errorf("users page of tokyo:\n%s", body)
	}
	roles := func(name string) string {
		gs, _ := f.store.UserGrants(t.Context(), f.ids[name])
		var out []string
		for _, g := range gs {
			out = append(out, g.Tenant+"/"+g.Role)
		}
		return strings.Join(out, " ")
	}
	post := func(c *http.Client, user, op, role, token string) int {
		resp, _ := do(t, c, "POST", f.ts.URL+"/t/tokyo/users/"+f.ids[user]+"/roles", url.Values{"csrf": {token}, "op": {op}, "role": {role}})
		return resp.StatusCode
	}
	for _, c := range []struct {
		name, user, op, role, csrf string
		want                       int
		roles                      string
	}{
		{"grant", "suzuki", "grant", "analyst_l1", csrf, http.StatusSeeOther, "tokyo/analyst_l1 tokyo/viewer"},
		{"grant again", "suzuki", "grant", "analyst_l1", csrf, http.StatusSeeOther, "tokyo/analyst_l1 tokyo/viewer"},
		{"revoke", "suzuki", "revoke", "viewer", csrf, http.StatusSeeOther, "tokyo/analyst_l1"},
		{"approver needs TOTP", "suzuki", "grant", "approver", csrf, http.StatusConflict, "tokyo/analyst_l1"},
		{"unknown role", "suzuki", "grant", "root", csrf, http.StatusBadRequest, "tokyo/analyst_l1"},
		{"no CSRF token", "suzuki", "grant", "auditor", "", http.StatusForbidden, "tokyo/analyst_l1"},
		{"own admin", "sato", "revoke", "admin", csrf, http.StatusConflict, "tokyo/admin"},
		// A regional SOC: tokyo's admin gives osaka's analyst a role in tokyo.
		{"other home", "yamada", "grant", "analyst_l2", csrf, http.StatusSeeOther, "osaka/viewer tokyo/analyst_l2"},
	} {
		if got := post(admin, c.user, c.op, c.role, c.csrf); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
		if got := roles(c.user); got != c.roles {
			t.Errorf("%s: roles of %s = %s, want %s", c.name, c.user, got, c.roles)
		}
	}
	// Not an admin: refused at the guard.
	tanaka := f.signIn(t, "tanaka")
	_, body = do(t, tanaka, "GET", f.ts.URL+"/t/tokyo/", nil)
	if got := post(tanaka, "suzuki", "grant", "auditor", csrfOf(t, body)); got != http.StatusForbidden {
		t.Errorf("analyst granting a role: %d, want 403", got)
	}
	log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 10)
	var seen []string
	for _, e := range log {
		if strings.HasPrefix(e.Action, "role.") && e.Actor == "user:"+f.ids["sato"] {
			seen = append(seen, e.Action+" "+e.Detail)
		}
	}
	if want := "role.grant role=analyst_l2,role.revoke role=viewer,role.grant role=analyst_l1"; strings.Join(seen, ",") != want {
		t.Errorf("audit of sato's changes = %v, want %s", seen, want)
	}
	// The audit page names the admin who did it.
	resp, body := do(t, admin, "GET", f.ts.URL+"/t/tokyo/audit", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "<td>sato</td>") || !strings.Contains(body, "role=analyst_l2") {
		t.Errorf("audit page = %d:\n%s", resp.StatusCode, body)
	}

	// Osaka's analyst now sees tokyo too, and chooses between the two.
	yamada := f.signIn(t, "yamada")
	resp, body = do(t, yamada, "GET", f.ts.URL+"/", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "東京総合病院") || !strings.Contains(body, "大阪市民病院") {
		t.Errorf("home of a two-hospital user = %d:\n%s", resp.StatusCode, body)
	}
}

func TestCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		f := newFixture(t, secure)
		resp, _ := do(t, f.client(t), "POST", f.ts.URL+"/signin", url.Values{"name": {"suzuki"}, "password": {password}})
		cs := resp.Cookies()
		if len(cs) != 1 {
			t.Fatalf("Secure=%v: cookies %v", secure, cs)
		}
		c := cs[0]
		wantName := map[bool]string{false: "omamori_session", true: "__Host-omamori_session"}[secure]
		if c.Name != wantName || c.Secure != secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) < 40 {
			t.Errorf("Secure=%v: cookie %+v", secure, c)
		}
	}
}

// TestPlainHTTP: a password sent over plain HTTP from another machine is refused before it is
// checked; from loopback, or once the UI is declared Secure (TLS in front), it is not.
func TestPlainHTTP(t *testing.T) {
	f := newFixture(t, false)
	form := url.Values{"name": {"suzuki"}, "password": {password}}.Encode()
	for _, c := range []struct {
		remote string
		want   int
	}{{"192.0.2.10:5000", http.StatusForbidden}, {"[2001:db8::1]:5000", http.StatusForbidden}, {"127.0.0.1:5000", http.StatusSeeOther}, {"[::1]:5000", http.StatusSeeOther}} {
		req := httptest.NewRequest("POST", "/signin", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = c.remote
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("sign-in from %s over plain HTTP = %d, want %d", c.remote, rec.Code, c.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/t/tokyo/alerts?level=high", "/t/tokyo/alerts?level=high"},
		{"", "/"}, {"https://evil.example/", "/"}, {"//evil.example/", "/"}, {"/\\evil.example", "/"}, {"javascript:alert(1)", "/"}, {"alerts", "/"},
	} {
		if got := localPath(c.in); got != c.want {
			t.Errorf("localPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestCatalogues proves every key the templates and code use is in every language.
func TestCatalogues(t *testing.T) {
	cat, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	use := regexp.MustCompile(`(?:\.T|with)\(?\s*"([a-z0-9_]+\.[a-z0-9_.]+)"`)
	fs.WalkDir(files, "templates", func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			b, _ := fs.ReadFile(files, p)
			for _, m := range use.FindAllStringSubmatch(string(b), -1) {
				used[m[1]] = true
			}
		}
		return nil
	})
	gos, _ := filepath.Glob("*.go")
	for _, g := range gos {
		b, _ := os.ReadFile(g)
		for _, m := range use.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for _, l := range levels {
		used["level."+string(l)] = true
	}
	for _, r := range auth.Roles() {
		used["role."+string(r)] = true
	}
	// Keys built in templates from values: states, statuses, actions, categories, clocks.
	for _, st := range append([]string{"open", "all"}, func() (out []string) {
		for _, s := range incident.States {
			out = append(out, string(s))
		}
		return out
	}()...) {
		used["state."+st] = true
	}
	for _, st := range decisionStatuses {
		used["status."+st] = true
	}
	for _, a := range []decision.Action{decision.ActionBlock, decision.ActionIsolate} {
		used["action."+string(a)] = true
	}
	for _, c := range asset.Categories() {
		used["category."+string(c)] = true
	}
	for _, c := range []string{"running", "warning", "breached", "met", "missed"} {
		used["clockstatus."+c] = true
	}
	for _, c := range []string{incident.ClockAcknowledge, incident.ClockContain, incident.ClockReport} {
		used["clock."+c] = true
	}
	for _, e := range []string{"addr", "user", "host"} {
		used["entity."+e] = true
	}
	for _, f := range incident.ProfileFields(&incident.Hospital{}) {
		used["hospital."+f.Name] = true
	}
	for _, fc := range factTable {
		used["facts."+fc.name] = true
	}
	for _, a := range answers {
		used["facts.answer."+a.String()] = true
	}
	for _, o := range []access.Outcome{access.OutcomeJustified, access.OutcomeNotJustified} {
		used["outcome."+string(o)] = true
	}
	for _, sc := range auth.Scopes() {
		used["scope."+string(sc)] = true
	}
	for _, src := range accessSources {
		used["accesslog.source_"+src] = true
	}
	for _, k := range []string{"incidents.sort_urgent", "incidents.sort_opened", "incidents.sort_updated", "decisions.sort_newest",
		"decisions.sort_oldest", "decisions.sort_expires", "assets.address", "assets.name", "assets.category", "assets.department",
		"facts.aware_at_hint", "facts.patients_affected_hint"} {
		used[k] = true
	}
	if len(used) < 40 {
		t.Fatalf("found only %d keys in use; is the pattern right?", len(used))
	}
	for _, lang := range languages {
		for k := range used {
			if _, ok := cat[lang][k]; !ok {
				t.Errorf("%s.json lacks %q", lang, k)
			}
		}
	}
}

func TestReadCatalogue(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // in the error; "" for none
	}{
		{`{"a.b": "x", "a.c": "y"}`, ""},
		{`{"a.b": "x", "a.b": "y"}`, "a.b is there twice"},
		{`["a"]`, "not a JSON object"},
		{`{"a.b": 1}`, "a.b"},
		{`{"a.b": "x"`, "EOF"},
	} {
		_, err := readCatalogue([]byte(c.in))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("readCatalogue(%s) = %v, want an error with %q", c.in, err, c.want)
		}
	}
}
