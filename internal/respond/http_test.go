package respond

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
)

// testHTTP serves the decisions API over a real SQLite store (tenants tokyo, with the
// hospital's guardrails, and osaka) as the API server would mount it. The caller is named by
// the headers X-Test-Tenant and X-Test-Person ("name:role", an approver signed in with TOTP,
// a responder as an analyst_l2 who may revoke decisions, any other role as that role of
// package auth, signed in without TOTP); without them it is not signed in.
func testHTTP(t *testing.T) (*httptest.Server, *clock) {
	t.Helper()
	s, _, c, _ := newService(t, false)
	h := &HTTP{Service: s, Principal: func(r *http.Request) (string, Person, error) {
		tenant := r.Header.Get("X-Test-Tenant")
		name, role, _ := strings.Cut(r.Header.Get("X-Test-Person"), ":")
		if tenant == "" {
			return "", Person{}, errors.New("no token")
		}
		if role == "approver" {
			return tenant, approver(name, tenant), nil
		}
		if role == "responder" {
			return tenant, signedIn(name, tenant, auth.RoleAnalystL2), nil
		}
		return tenant, signedIn(name, tenant, auth.Role(role)), nil
	}}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, c
}

// caller is who makes a request in the tests.
type caller struct{ tenant, person string }

var (
	tokyoResponder = caller{"tokyo", "aiko:responder"}
	tokyoApprover  = caller{"tokyo", "mori:approver"}
	tokyoViewer    = caller{"tokyo", "kenji:viewer"}
	osakaResponder = caller{"osaka", "hana:responder"}
	osakaApprover  = caller{"osaka", "sato:approver"}
	anonymous      = caller{}
)

func do(t *testing.T, srv *httptest.Server, who caller, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if who.tenant != "" {
		req.Header.Set("X-Test-Tenant", who.tenant)
		req.Header.Set("X-Test-Person", who.person)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e struct{ Error, Hint string }
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || e.Hint == "" {
			t.Errorf("%s %s = %d %s, want a JSON error with a hint", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, string(b)
}

func decodeView(t *testing.T, body string) decision.View {
	t.Helper()
	var v decision.View
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decision %s: %v", body, err)
	}
	return v
}

// TestHTTPGuardrailApproval is the guardrail story over HTTP: a responder asks to isolate
// the ventilator, a guardrail holds it, the wait is visible, a viewer's and a responder's
// approval and another hospital's are refused, and an approver's approval enforces it.
func TestHTTPGuardrailApproval(t *testing.T) {
	srv, c := testHTTP(t)
	status, body := do(t, srv, tokyoResponder, "POST", "/api/v1/decisions",
		`{"action":"isolate","target":"10.20.1.11","ttl":"1h","reason":"beaconing to 203.0.113.7"}`)
	held := decodeView(t, body)
	if status != 201 || held.Status != decision.StatusHeld || held.Live || !strings.HasPrefix(held.Guardrail, GuardLifeSupport) ||
		held.Scope != decision.ScopeIP || held.Origin != (decision.OriginView{Kind: decision.OriginPerson, Name: "aiko"}) {
		t.Fatalf("POST isolate ventilator = %d %+v, want 201, held by the life-support guardrail", status, held)
	}
	path := fmt.Sprintf("/api/v1/decisions/%d", held.ID)

	c.add(10 * time.Minute)
	if _, body := do(t, srv, tokyoViewer, "GET", path, ""); decodeView(t, body).Waiting != "10m0s" {
		t.Errorf("GET %s = %s, want waiting 10m0s", path, body)
	}

	for _, tc := range []struct {
		name         string
		who          caller
		method, path string
		body         string
		status       int
		contains     string
	}{
		{"viewer cannot approve", tokyoViewer, "POST", path + "/approve", `{"note":"ok"}`, 403, "role approver"},
		{"responder cannot approve", tokyoResponder, "POST", path + "/approve", `{"note":"ok"}`, 403, "role approver"},
		{"responder cannot reject", tokyoResponder, "POST", path + "/reject", `{"note":"no"}`, 403, "role approver"},
		{"viewer cannot revoke", tokyoViewer, "DELETE", path + "?note=x", "", 403, "not allowed"},
		{"other hospital cannot see it", osakaResponder, "GET", path, "", 404, "no such decision"},
		{"other hospital cannot approve it", osakaApprover, "POST", path + "/approve", `{}`, 404, "no such decision"},
		{"other hospital cannot reject it", osakaApprover, "POST", path + "/reject", `{"note":"no"}`, 404, "no such decision"},
		{"other hospital cannot revoke it", osakaApprover, "DELETE", path, `{"note":"no"}`, 404, "no such decision"},
		{"other hospital lists nothing", osakaApprover, "GET", "/api/v1/decisions", "", 200, `{"decisions":[]}`},
		{"not signed in", anonymous, "GET", path, "", 401, "not signed in"},
		{"cannot extend what is held", tokyoResponder, "POST", path + "/extend", `{"ttl":"2h"}`, 409, "only an active decision"},
		{"still held", tokyoViewer, "GET", path, "", 200, `"status":"held"`},
		{"approver approves", tokyoApprover, "POST", path + "/approve", `{"note":"ward moved the patient to a spare ventilator"}`, 200, `"status":"active"`},
		{"approved once only", tokyoApprover, "POST", path + "/approve", ``, 409, "only a held decision can be approved"},
	} {
		status, body := do(t, srv, tc.who, tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s: %s %s as %v = %d %s, want %d containing %q", tc.name, tc.method, tc.path, tc.who, status, body, tc.status, tc.contains)
		}
	}
	_, body = do(t, srv, tokyoViewer, "GET", path, "")
	got := decodeView(t, body)
	if got.Status != decision.StatusActive || !got.Live || got.Waiting != "" || got.UpdatedBy != "person:mori" ||
		got.Note != "ward moved the patient to a spare ventilator" || !got.Expires.Equal(t0.Add(10*time.Minute+time.Hour)) {
		t.Errorf("after approval GET %s = %+v, want active and live for 1h from the approval, by mori with his note", path, got)
	}
}

// TestHTTPDecisions covers adding, listing with filters and pages, extending, rejecting and
// revoking, and what a client is told when a request is wrong.
func TestHTTPDecisions(t *testing.T) {
	srv, c := testHTTP(t)
	add := func(body string) decision.View {
		t.Helper()
		status, out := do(t, srv, tokyoResponder, "POST", "/api/v1/decisions", body)
		if status != 201 {
			t.Fatalf("POST %s = %d %s, want 201", body, status, out)
		}
		return decodeView(t, out)
	}
	attacker := add(`{"target":"203.0.113.7","ttl":"4h","reason":"SSH brute force"}`)
	police := add(`{"action":"block","scope":"range","target":"198.18.7.0/24","ttl":"168h","reason":"C2 of a ransomware group","authority":"警視庁","reference":"R-2026-118"}`)
	domain := add(`{"target":"Evil.Example.","ttl":"24h","reason":"phishing"}`)
	ehr := add(`{"action":"isolate","target":"10.40.0.10","ttl":"1h","reason":"ransomware note on the EHR server"}`)
	if attacker.Action != decision.ActionBlock || attacker.Scope != decision.ScopeIP || attacker.Status != decision.StatusActive || !attacker.Live ||
		attacker.TTL != "4h0m0s" || attacker.CreatedBy != "person:aiko" {
		t.Errorf("block attacker = %+v, want an active, live 4h block of an address by aiko", attacker)
	}
	if police.Origin != (decision.OriginView{Kind: decision.OriginAuthority, Name: "警視庁", Reference: "R-2026-118"}) {
		t.Errorf("authority's block origin = %+v, want 警視庁 R-2026-118", police.Origin)
	}
	if domain.Scope != decision.ScopeDomain || domain.Target != "evil.example" {
		t.Errorf("domain block = %s %q, want domain evil.example", domain.Scope, domain.Target)
	}
	if ehr.Status != decision.StatusHeld || !strings.HasPrefix(ehr.Guardrail, GuardProtected) {
		t.Errorf("isolate EHR server = %s %q, want held by the protected-service guardrail", ehr.Status, ehr.Guardrail)
	}

	list := func(query string) (ids []int64, next int64) {
		t.Helper()
		status, body := do(t, srv, tokyoViewer, "GET", "/api/v1/decisions"+query, "")
		var p DecisionPage
		if err := json.Unmarshal([]byte(body), &p); status != 200 || err != nil {
			t.Fatalf("GET %s = %d %s", query, status, body)
		}
		for _, d := range p.Decisions {
			ids = append(ids, d.ID)
		}
		return ids, p.Next
	}
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{attacker.ID, police.ID, domain.ID, ehr.ID}},
		{"?status=held", []int64{ehr.ID}},
		{"?status=active,held", []int64{attacker.ID, police.ID, domain.ID, ehr.ID}},
		{"?status=revoked", nil},
		{"?target=203.0.113.7", []int64{attacker.ID}},
		{"?target=::ffff:203.0.113.7", []int64{attacker.ID}},
		{"?target=198.18.7.1/24", []int64{police.ID}},
		{"?target=EVIL.example", []int64{domain.ID}},
		{"?origin=authority", []int64{police.ID}},
		{"?origin=person", []int64{attacker.ID, domain.ID, ehr.ID}},
		{"?origin=person:aiko&status=active", []int64{attacker.ID, domain.ID}},
		{"?origin=person:someone", nil},
		{"?after=" + fmt.Sprint(police.ID), []int64{domain.ID, ehr.ID}},
	} {
		if got, _ := list(tc.query); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("GET /api/v1/decisions%s = %v, want %v", tc.query, got, tc.want)
		}
	}
	// Pages: two of two, then the rest; filtered by origin across the store's pages too.
	var all []int64
	for after, pages := int64(0), 0; ; pages++ {
		ids, next := list(fmt.Sprintf("?limit=2&after=%d", after))
		all = append(all, ids...)
		if next == 0 || pages > 5 {
			break
		}
		after = next
	}
	if fmt.Sprint(all) != fmt.Sprint([]int64{attacker.ID, police.ID, domain.ID, ehr.ID}) {
		t.Errorf("paging by 2 = %v, want every decision once in order", all)
	}
	if ids, next := list("?origin=person&limit=2"); fmt.Sprint(ids) != fmt.Sprint([]int64{attacker.ID, domain.ID}) || next != domain.ID {
		t.Errorf("origin=person&limit=2 = %v next %d, want [%d %d] next %d", ids, next, attacker.ID, domain.ID, domain.ID)
	}

	c.add(time.Hour)
	id := func(d decision.View) string { return fmt.Sprintf("/api/v1/decisions/%d", d.ID) }
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		status       int
		contains     string
	}{
		{"extend", "POST", id(attacker) + "/extend", `{"ttl":"24h","note":"still scanning"}`, 200, `"note":"still scanning"`},
		{"extend without a duration", "POST", id(attacker) + "/extend", `{}`, 400, "a duration is needed"},
		{"reject without a note", "POST", id(ehr) + "/reject", `{}`, 400, "a note is needed"},
		{"reject", "POST", id(ehr) + "/reject", `{"note":"isolating the EHR server stops the wards; containing by account instead"}`, 200, `"status":"rejected"`},
		{"revoke what is rejected", "DELETE", id(ehr) + "?note=x", "", 409, "already rejected"},
		{"revoke without a note", "DELETE", id(domain), "", 400, "a note is needed"},
		{"revoke with a note in the query", "DELETE", id(domain) + "?note=false+positive", "", 200, `"status":"revoked"`},
		{"revoke with a note in the body", "DELETE", id(police), `{"note":"authority withdrew the request"}`, 200, `"note":"authority withdrew the request"`},
		{"no such decision", "GET", "/api/v1/decisions/99999", "", 404, "no such decision"},
		{"ID not a number", "GET", "/api/v1/decisions/abc", "", 400, "not a number"},
		{"unknown field", "POST", "/api/v1/decisions", `{"target":"203.0.113.9","ttl":"1h","reason":"x","colour":"red"}`, 400, "unknown field"},
		{"two JSON values", "POST", "/api/v1/decisions", `{"target":"203.0.113.9","ttl":"1h","reason":"x"} {}`, 400, "more than one JSON value"},
		{"no reason", "POST", "/api/v1/decisions", `{"target":"203.0.113.9","ttl":"1h"}`, 400, "needs a reason"},
		{"no target", "POST", "/api/v1/decisions", `{"ttl":"1h","reason":"x"}`, 400, "needs a target"},
		{"bad ttl", "POST", "/api/v1/decisions", `{"target":"203.0.113.9","ttl":"4 hours","reason":"x"}`, 400, "not a positive duration"},
		{"negative ttl", "POST", "/api/v1/decisions", `{"target":"203.0.113.9","ttl":"-1h","reason":"x"}`, 400, "not a positive duration"},
		{"isolate a range", "POST", "/api/v1/decisions", `{"action":"isolate","target":"10.30.0.0/16","ttl":"1h","reason":"x"}`, 400, "isolate needs the host's address"},
		{"unknown action", "POST", "/api/v1/decisions", `{"action":"nuke","target":"203.0.113.9","ttl":"1h","reason":"x"}`, 400, "want block or isolate"},
		{"authority without reference", "POST", "/api/v1/decisions", `{"target":"203.0.113.9","ttl":"1h","reason":"x","authority":"JPCERT"}`, 400, "reference number"},
		{"bad address", "POST", "/api/v1/decisions", `{"scope":"ip","target":"203.0.113.999","ttl":"1h","reason":"x"}`, 400, "not an IP address"},
		{"viewer cannot add", "POST", "/api/v1/decisions", `{"target":"203.0.113.9","ttl":"1h","reason":"x"}`, 403, "kenji"},
		{"bad status filter", "GET", "/api/v1/decisions?status=burning", "", 400, "not a decision status"},
		{"bad origin filter", "GET", "/api/v1/decisions?origin=god", "", 400, "not an origin"},
		{"bad limit", "GET", "/api/v1/decisions?limit=0", "", 400, "not a page size"},
	} {
		who := tokyoResponder
		switch {
		case strings.HasPrefix(tc.name, "viewer"):
			who = tokyoViewer
		case strings.HasPrefix(tc.name, "reject"):
			who = tokyoApprover
		}
		status, body := do(t, srv, who, tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s: %s %s %s = %d %s, want %d containing %q", tc.name, tc.method, tc.path, tc.body, status, body, tc.status, tc.contains)
		}
	}
	_, body := do(t, srv, tokyoViewer, "GET", id(attacker), "")
	if got := decodeView(t, body); !got.Expires.Equal(t0.Add(25*time.Hour)) || got.UpdatedBy != "person:aiko" {
		t.Errorf("after extend = %+v, want expiring 24h after the extension (%v)", got, t0.Add(25*time.Hour))
	}
	if ids, _ := list("?status=active"); fmt.Sprint(ids) != fmt.Sprint([]int64{attacker.ID}) {
		t.Errorf("active after the changes = %v, want only %d", ids, attacker.ID)
	}
}

// BenchmarkHTTPList measures a page of GET /api/v1/decisions over 10,000 decisions in SQLite
// (one in a hundred an authority's request), as the web UI and the CLI ask for them: the
// first page, a page by status, and a page by a rare origin, which reads the store in chunks.
func BenchmarkHTTPList(b *testing.B) {
	s, _, _, _ := newService(b, false)
	ctx := b.Context()
	for i := range 10_000 {
		r := Request{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), TTL: time.Hour, Reason: "bench"}
		if i%100 == 0 {
			r.Authority, r.Reference = "JPCERT", fmt.Sprint("R-", i)
		}
		if _, err := s.Add(ctx, "tokyo", aiko, r); err != nil {
			b.Fatal(err)
		}
	}
	h := &HTTP{Service: s, Principal: func(*http.Request) (string, Person, error) { return "tokyo", viewer, nil }}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	for _, q := range []string{"", "?status=active", "?origin=authority"} {
		b.Run("query="+q, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/decisions"+q, nil))
				if w.Code != 200 || w.Body.Len() < 1000 {
					b.Fatalf("GET %s = %d %s", q, w.Code, w.Body)
				}
			}
		})
	}
}

// FuzzHTTPAdd sends arbitrary bodies to POST /api/v1/decisions as a responder: a body is
// refused with 400, or with 403 when it asks to override a guardrail, or makes a decision
// (201) whose target, as stored, is what a ?target= filter written the same way finds;
// nothing answers 500.
func FuzzHTTPAdd(f *testing.F) {
	for _, seed := range []string{
		`{"target":"203.0.113.7","ttl":"4h","reason":"SSH brute force"}`,
		`{"action":"block","scope":"range","target":"198.18.7.1/24","ttl":"168h","reason":"C2","authority":"警視庁","reference":"R-1"}`,
		`{"target":"Evil.Example.","ttl":"24h","reason":"phishing"}`,
		`{"target":"::ffff:10.20.1.11","action":"isolate","ttl":"1h","reason":"x"}`,
		`{"target":"fe80::1%eth0","ttl":"1h","reason":"x"}`,
		`{"target":"10.0.0.0/8","ttl":"1h","reason":"x","override":true}`,
		`{"target":"","ttl":"1h","reason":"x"}`,
		`{"ttl":"-1h"}`, `[]`, `null`, ``,
	} {
		f.Add(seed)
	}
	s, _, _, _ := newService(f, false)
	h := &HTTP{Service: s, Principal: func(*http.Request) (string, Person, error) { return "tokyo", aiko, nil }}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/decisions", strings.NewReader(body)))
		switch w.Code {
		case 400:
			return
		case 403:
			if !strings.Contains(w.Body.String(), "overriding a guardrail is a person's act") {
				t.Fatalf("POST %q = 403 %s, want refused only for an override", body, w.Body)
			}
			return
		case 201:
		default:
			t.Fatalf("POST %q = %d %s, want 201 or 400", body, w.Code, w.Body)
		}
		var d decision.View
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if d.Scope != decision.ScopeDomain && canonicalTarget(d.Target) != d.Target {
			t.Errorf("POST %q stored target %q, which a filter would write as %q", body, d.Target, canonicalTarget(d.Target))
		}
		lw := httptest.NewRecorder()
		mux.ServeHTTP(lw, httptest.NewRequest("GET", "/api/v1/decisions?limit=1000&target="+url.QueryEscape(d.Target), nil))
		if !strings.Contains(lw.Body.String(), fmt.Sprintf(`"id":%d,`, d.ID)) {
			t.Errorf("POST %q made decision %d on %q; GET ?target= does not find it: %s", body, d.ID, d.Target, lw.Body)
		}
	})
}
