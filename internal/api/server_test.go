package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/httpapi"
	"github.com/omamori-project/omamori/internal/store"
)

// fixture is a server over a fresh store with two tenants, a and b, and tokens in them.
type fixture struct {
	srv    *Server
	store  *store.Store
	h      http.Handler
	logs   *syncBuffer
	tokens map[string]auth.Secret // by name; see newFixture
	ids    map[string]string      // token IDs by name
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ingestEcho stands for a handler mounted by the integrator: it answers with the tenant and
// source it finds in the Principal.
var ingestEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		http.Error(w, "no principal", 500)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, map[string]string{"tenant": p.Tenant, "source": p.Name})
})

func newFixture(t *testing.T, checks ...Check) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{"a", "b"} {
		if _, err := st.CreateTenant(ctx, "test", store.Tenant{ID: id, Name: "Hospital " + id}); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	reg := prometheus.NewRegistry()
	srv, err := New(config.HTTP{Listen: "127.0.0.1:0"}, t.TempDir(), Deps{
		Store: st, Verifier: auth.NewVerifier(st, log), Gatherer: reg, Registerer: reg, Checks: checks, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("POST /api/v1/ingest", auth.ScopeIngest, ingestEcho, MaxBody(8<<20))
	f := &fixture{srv: srv, store: st, logs: logs, tokens: map[string]auth.Secret{}, ids: map[string]string{}}
	issue := func(tenant, name string, scopes ...auth.Scope) {
		rec, tok, err := auth.Issue(ctx, st.Tenant(tenant), "test", auth.Request{Name: name, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[name], f.ids[name] = tok, rec.ID
	}
	// One token per scope in tenant a, holding only that scope.
	for _, sc := range auth.Scopes() {
		issue("a", "only-"+string(sc), sc)
	}
	issue("a", "a-admin", auth.ScopeAdmin, auth.ScopeRead, auth.ScopeIngest)
	issue("b", "b-admin", auth.ScopeAdmin, auth.ScopeRead, auth.ScopeIngest)
	issue("a", "revoked", auth.Scopes()...)
	if err := st.Tenant("a").RevokeToken(ctx, "test", f.ids["revoked"]); err != nil {
		t.Fatal(err)
	}
	f.h = srv.Handler()
	return f
}

// do sends a request with token (empty: none) and returns the response.
func (f *fixture) do(t *testing.T, method, path string, token auth.Secret, body string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Result()
}

func decodeBody(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode response: %v", err)
	}
}

// probePath turns a route pattern into a concrete request path.
func probePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	return method, regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "probe")
}

// Every registered route, the mounted ones included, refuses anonymous requests, bad and
// revoked tokens, and tokens without its scope — with a JSON error and a hint.
func TestEveryRouteRequiresItsScope(t *testing.T) {
	f := newFixture(t)
	routes := f.srv.Routes()
	if !slices.ContainsFunc(routes, func(r httpapi.Route) bool { return r.Pattern == "POST /api/v1/ingest" }) {
		t.Fatal("Routes() lacks the mounted ingest route")
	}
	var public []string
	for _, rt := range routes {
		method, path := probePath(rt.Pattern)
		if rt.Scope == Public {
			if rt.Authn == "" {
				public = append(public, rt.Pattern)
			}
			continue // Mount's handlers refuse on their own, as their packages test
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			refusals := []struct {
				name  string
				token auth.Secret
				code  int
			}{
				{"anonymous", "", http.StatusUnauthorized},
				{"malformed", "omm_nonsense", http.StatusUnauthorized},
				{"revoked, all scopes", f.tokens["revoked"], http.StatusUnauthorized},
			}
			for _, sc := range auth.Scopes() {
				if sc != rt.Scope {
					refusals = append(refusals, struct {
						name  string
						token auth.Secret
						code  int
					}{"scope " + string(sc), f.tokens["only-"+string(sc)], http.StatusForbidden})
				}
			}
			for _, rf := range refusals {
				resp := f.do(t, method, path, rf.token, "{}")
				var e httpapi.ErrorBody
				decodeBody(t, resp, &e)
				if resp.StatusCode != rf.code || e.Error == "" || e.Hint == "" {
					t.Errorf("%s %s with %s = %d %+v, want %d with error and hint", method, path, rf.name, resp.StatusCode, e, rf.code)
				}
			}
			// The right scope gets past the guard (the handler may still refuse the probe body).
			resp := f.do(t, method, path, f.tokens["only-"+string(rt.Scope)], "{}")
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				t.Errorf("%s %s with scope %s = %d, want the handler reached", method, path, rt.Scope, resp.StatusCode)
			}
		})
	}
	slices.Sort(public)
	if want := []string{"GET /healthz", "GET /readyz"}; !slices.Equal(public, want) {
		t.Errorf("public routes = %v, want only %v", public, want)
	}
}

// tenantCases say, for each route, how a token of tenant b is kept from tenant a's data. A
// route without a case fails TestEveryRouteIsTenantChecked.
var tenantCases = map[string]func(t *testing.T, f *fixture){
	"GET /api/v1/tokens": func(t *testing.T, f *fixture) {
		resp := f.do(t, "GET", "/api/v1/tokens", f.tokens["b-admin"], "")
		var body struct{ Tokens []tokenJSON }
		decodeBody(t, resp, &body)
		if resp.StatusCode != 200 || len(body.Tokens) != 1 || body.Tokens[0].Name != "b-admin" {
			t.Errorf("b lists tokens: %d %+v, want only b-admin", resp.StatusCode, body.Tokens)
		}
	},
	"POST /api/v1/tokens": func(t *testing.T, f *fixture) {
		resp := f.do(t, "POST", "/api/v1/tokens", f.tokens["b-admin"], `{"name": "new", "scopes": ["ingest"]}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("b creates a token: %d", resp.StatusCode)
		}
		if toks, _ := f.store.Tenant("a").Tokens(t.Context()); slices.ContainsFunc(toks, func(tk store.Token) bool { return tk.Name == "new" }) {
			t.Error("token created by b landed in a")
		}
	},
	"DELETE /api/v1/tokens/{id}": func(t *testing.T, f *fixture) {
		resp := f.do(t, "DELETE", "/api/v1/tokens/"+f.ids["a-admin"], f.tokens["b-admin"], "")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("b revokes a's token: %d, want 404", resp.StatusCode)
		}
		if tok, _ := f.store.Tenant("a").Token(t.Context(), f.ids["a-admin"]); !tok.Revoked.IsZero() {
			t.Error("b revoked a's token")
		}
	},
	"GET /api/v1/tenants": func(t *testing.T, f *fixture) {
		resp := f.do(t, "GET", "/api/v1/tenants", f.tokens["b-admin"], "")
		var body struct{ Tenants []tenantJSON }
		decodeBody(t, resp, &body)
		if len(body.Tenants) != 1 || body.Tenants[0].ID != "b" {
			t.Errorf("b's admin lists tenants: %+v, want only b", body.Tenants)
		}
	},
	"POST /api/v1/tenants": func(t *testing.T, f *fixture) {
		resp := f.do(t, "POST", "/api/v1/tenants", f.tokens["b-admin"], `{"id": "c"}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("b's admin creates a tenant: %d, want 403 (operators only)", resp.StatusCode)
		}
	},
	"POST /api/v1/ingest": func(t *testing.T, f *fixture) {
		resp := f.do(t, "POST", "/api/v1/ingest", f.tokens["b-admin"], "{}")
		var body map[string]string
		decodeBody(t, resp, &body)
		if body["tenant"] != "b" || body["source"] != "b-admin" {
			t.Errorf("ingest with b's token sees %v, want tenant b, source b-admin", body)
		}
	},
	// Metrics describe the whole installation, not a tenant's data: the scope is the guard.
	"GET /metrics": nil,
	// The API description is the same for every tenant.
	"GET /api/v1/openapi.yaml": nil,
}

func TestEveryRouteIsTenantChecked(t *testing.T) {
	f := newFixture(t)
	for _, rt := range f.srv.Routes() {
		if rt.Scope == Public {
			continue
		}
		check, ok := tenantCases[rt.Pattern]
		if !ok {
			t.Errorf("route %s has no tenant isolation case in tenantCases", rt.Pattern)
			continue
		}
		if check != nil {
			t.Run(rt.Pattern, func(t *testing.T) { check(t, newFixture(t)) })
		}
	}
}

func TestTokenLifecycle(t *testing.T) {
	f := newFixture(t)
	admin := f.tokens["a-admin"]

	resp := f.do(t, "POST", "/api/v1/tokens", admin, `{"name": "fortigate", "scopes": ["ingest"], "expires_in": "720h"}`)
	var created struct {
		Token  tokenJSON
		Secret string
	}
	decodeBody(t, resp, &created)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(created.Secret, auth.Prefix) || created.Token.Expires == nil {
		t.Fatalf("create token = %d %+v", resp.StatusCode, created)
	}
	// The new token works, for ingest only, in tenant a.
	resp = f.do(t, "POST", "/api/v1/ingest", auth.Secret(created.Secret), "x")
	var echo map[string]string
	decodeBody(t, resp, &echo)
	if resp.StatusCode != http.StatusAccepted || echo["tenant"] != "a" || echo["source"] != "fortigate" {
		t.Errorf("ingest with new token = %d %v", resp.StatusCode, echo)
	}
	// Listing shows it without secret or hash.
	resp = f.do(t, "GET", "/api/v1/tokens", admin, "")
	raw, _ := io.ReadAll(resp.Body)
	if bytes.Contains(raw, []byte(created.Secret)) || bytes.Contains(raw, []byte("hash")) || !bytes.Contains(raw, []byte(created.Token.ID)) {
		t.Errorf("list tokens = %s; want the new ID and no secret or hash", raw)
	}

	badRequests := []struct {
		body string
		code int
	}{
		{`{"name": "x", "scopes": ["operator"]}`, http.StatusForbidden}, // admin cannot grant operator
		{`{"name": "fortigate", "scopes": ["ingest"]}`, http.StatusConflict},
		{`{"name": "x", "scopes": []}`, http.StatusBadRequest},
		{`{"name": "x", "scopes": ["root"]}`, http.StatusBadRequest},
		{`{"name": "", "scopes": ["read"]}`, http.StatusBadRequest},
		{`{"name": "x", "scopes": ["read"], "expires_in": "30 days"}`, http.StatusBadRequest},
		{`{"name": "x", "scopes": ["read"], "admin": true}`, http.StatusBadRequest},
		{`{"name": "x", "scopes": ["read"]} {}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
		{`{"name": "` + strings.Repeat("x", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, br := range badRequests {
		resp := f.do(t, "POST", "/api/v1/tokens", admin, br.body)
		var e httpapi.ErrorBody
		decodeBody(t, resp, &e)
		if resp.StatusCode != br.code || e.Error == "" {
			t.Errorf("POST /api/v1/tokens %.60q = %d %+v, want %d", br.body, resp.StatusCode, e, br.code)
		}
	}

	// Revoke, and the token stops working at once.
	if resp := f.do(t, "DELETE", "/api/v1/tokens/"+created.Token.ID, admin, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke = %d, want 204", resp.StatusCode)
	}
	if resp := f.do(t, "POST", "/api/v1/ingest", auth.Secret(created.Secret), "x"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ingest with revoked token = %d, want 401", resp.StatusCode)
	}
	// Both changes are in the audit log under the admin token.
	log, _ := f.store.Tenant("a").AuditLog(t.Context(), 2)
	if len(log) != 2 || log[0].Action != "token.revoke" || log[1].Action != "token.create" || log[0].Actor != "token:"+f.ids["a-admin"] {
		t.Errorf("audit log = %+v, want revoke then create by a-admin", log)
	}
}

func TestTenantsForOperator(t *testing.T) {
	f := newFixture(t)
	op := f.tokens["only-operator"]
	if resp := f.do(t, "GET", "/api/v1/tenants", op, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator without admin lists tenants: %d, want 403", resp.StatusCode)
	}
	rec, tok, err := auth.Issue(t.Context(), f.store.Tenant("a"), "test", auth.Request{Name: "soc", Scopes: []auth.Scope{auth.ScopeAdmin, auth.ScopeOperator}})
	if err != nil {
		t.Fatal(err)
	}
	resp := f.do(t, "POST", "/api/v1/tenants", tok, `{"id": "osaka-city", "name": "大阪市立病院"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("operator creates tenant: %d", resp.StatusCode)
	}
	if resp := f.do(t, "POST", "/api/v1/tenants", tok, `{"id": "Osaka City"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("create tenant with bad ID = %d, want 400", resp.StatusCode)
	}
	if resp := f.do(t, "POST", "/api/v1/tenants", tok, `{"id": "osaka-city"}`); resp.StatusCode != http.StatusConflict {
		t.Errorf("create existing tenant = %d, want 409", resp.StatusCode)
	}
	resp = f.do(t, "GET", "/api/v1/tenants", tok, "")
	var body struct{ Tenants []tenantJSON }
	decodeBody(t, resp, &body)
	var ids []string
	for _, tn := range body.Tenants {
		ids = append(ids, tn.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "osaka-city"}) {
		t.Errorf("operator lists tenants %v, want a, b, osaka-city", ids)
	}
	if log, _ := f.store.Tenant("osaka-city").AuditLog(t.Context(), 1); len(log) != 1 || log[0].Actor != "token:"+rec.ID {
		t.Errorf("audit of tenant creation = %+v", log)
	}
}

func TestProbes(t *testing.T) {
	busDown := errors.New("dial tcp 10.0.0.9:4222: connection refused")
	var busErr error
	f := newFixture(t, Check{Name: "bus", Ready: func(context.Context) error { return busErr }})
	resp := f.do(t, "GET", "/healthz", "", "")
	if resp.StatusCode != 200 {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
	resp = f.do(t, "GET", "/readyz", "", "")
	if resp.StatusCode != 200 {
		t.Errorf("/readyz with everything up = %d", resp.StatusCode)
	}
	busErr = busDown
	resp = f.do(t, "GET", "/readyz", "", "")
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(raw, []byte(`"bus"`)) || bytes.Contains(raw, []byte("10.0.0.9")) {
		t.Errorf("/readyz with bus down = %d %s; want 503 naming bus without its error", resp.StatusCode, raw)
	}
	f.store.Close()
	resp = f.do(t, "GET", "/readyz", "", "")
	raw, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(raw, []byte(`"store"`)) {
		t.Errorf("/readyz with store closed = %d %s; want 503 naming store", resp.StatusCode, raw)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	f.do(t, "GET", "/healthz", "", "")
	resp := f.do(t, "GET", "/metrics", f.tokens["only-metrics"], "")
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(raw, []byte(`omamori_http_requests_total{code="200",route="GET /healthz"} 1`)) {
		t.Errorf("/metrics = %d\n%s", resp.StatusCode, raw)
	}
}

func TestSecurityHeadersAndErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		method, path string
		code         int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/api/v1/tokens", 401},
		{"GET", "/api/v1/nothing", 404},
		{"PUT", "/api/v1/tokens", 405},
		{"GET", "/elsewhere", 404},
	}
	for _, c := range cases {
		resp := f.do(t, c.method, c.path, "", "")
		if resp.StatusCode != c.code {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy", "Cache-Control"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s %s lacks header %s", c.method, c.path, h)
			}
		}
		if strings.HasPrefix(c.path, "/api/") && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s Content-Type = %q, want JSON", c.method, c.path, resp.Header.Get("Content-Type"))
		}
	}
	if resp := f.do(t, "PUT", "/api/v1/tokens", "", ""); !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("405 Allow = %q, want GET, POST", resp.Header.Get("Allow"))
	}
}

// A web page on another site cannot make a browser post to the API with its cookies or
// credentials.
func TestCrossOriginWriteRefused(t *testing.T) {
	f := newFixture(t)
	r := httptest.NewRequest("POST", "/api/v1/tokens", strings.NewReader(`{"name":"x","scopes":["read"]}`))
	r.Header.Set("Authorization", "Bearer "+f.tokens["a-admin"].Reveal())
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "cross-origin") {
		t.Errorf("cross-site POST = %d %s, want 403 cross-origin", w.Code, w.Body)
	}
}

// The access log names the request and principal and never a token.
func TestAccessLogHasNoSecrets(t *testing.T) {
	f := newFixture(t)
	f.do(t, "GET", "/api/v1/tokens?secret=patient-123", f.tokens["a-admin"], "")
	f.do(t, "GET", "/api/v1/tokens", f.tokens["revoked"], "")
	logs := f.logs.String()
	for name, tok := range f.tokens {
		if strings.Contains(logs, tok.Reveal()) || strings.Contains(logs, tok.Reveal()[21:]) {
			t.Errorf("log shows token %s", name)
		}
	}
	if strings.Contains(logs, "patient-123") {
		t.Error("log shows the query string")
	}
	for _, want := range []string{`"route":"GET /api/v1/tokens"`, `"tenant":"a"`, `"refused":"revoked"`, `"status":401`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestPanicBecomesJSON500(t *testing.T) {
	f := newFixture(t)
	srv, _ := New(config.HTTP{Listen: "127.0.0.1:0"}, t.TempDir(), Deps{Store: f.store, Verifier: auth.NewVerifier(f.store, slog.New(slog.DiscardHandler)), Log: slog.New(slog.DiscardHandler)})
	srv.Handle("GET /api/v1/boom", auth.ScopeRead, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	r := httptest.NewRequest("GET", "/api/v1/boom", nil)
	r.Header.Set("Authorization", "Bearer "+f.tokens["only-read"].Reveal())
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"hint"`) {
		t.Errorf("panicking handler = %d %s, want JSON 500", w.Code, w.Body)
	}
}

func TestHandleMisuse(t *testing.T) {
	f := newFixture(t)
	for name, fn := range map[string]func(){
		"public":        func() { f.srv.Handle("GET /api/v1/open", Public, ingestEcho) },
		"no method":     func() { f.srv.Handle("/api/v1/x", auth.ScopeRead, ingestEcho) },
		"after Handler": func() { f.srv.Handle("GET /api/v1/late", auth.ScopeRead, ingestEcho) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%s) did not panic", name)
				}
			}()
			fn()
		}()
	}
}

// Off loopback without a certificate, the server speaks only TLS, with a self-signed
// certificate kept in the data directory, and shuts down cleanly.
func TestListenOffLoopbackUsesSelfSignedTLS(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	srv, err := New(config.HTTP{Listen: "0.0.0.0:0"}, dir, Deps{Store: f.store, Verifier: auth.NewVerifier(f.store, log), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	pem, err := os.ReadFile(filepath.Join(dir, "tls", "http.crt"))
	if err != nil {
		t.Fatalf("self-signed certificate not in data dir: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	_, port, _ := strings.Cut(ln.Addr().String(), "]:")
	if port == "" {
		_, port, _ = strings.Cut(ln.Addr().String(), ":")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%s/healthz", port))
	if err != nil {
		t.Fatalf("HTTPS to self-signed server: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("HTTPS /healthz = %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%s/healthz", port)); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 off loopback")
		}
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
}

func TestListenLoopbackIsPlainHTTP(t *testing.T) {
	f := newFixture(t)
	ln, err := f.srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz over loopback = %v, %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v", err)
	}
}

// TestMount: a handler that authenticates on its own gets requests without a token, still
// behind the wrapper's security headers and cross-origin check.
func TestMount(t *testing.T) {
	f := newFixture(t)
	srv, err := New(config.HTTP{Listen: "127.0.0.1:0"}, t.TempDir(), Deps{
		Store: f.store, Verifier: auth.NewVerifier(f.store, slog.New(slog.DiscardHandler)), Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount("/", "session", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := auth.FromContext(r.Context()); ok {
			t.Error("a mounted handler got a principal from the wrapper")
		}
		io.WriteString(w, "ui "+r.URL.Path)
	}))
	h := srv.Handler()
	for _, c := range []struct {
		method, path, origin string
		code                 int
		body                 string
	}{
		{"GET", "/incidents", "", 200, "ui /incidents"},
		{"POST", "/signin", "", 200, "ui /signin"},
		{"POST", "/signin", "https://evil.example", 403, ""},
		{"GET", "/api/v1/tokens", "", 401, ""}, // the API keeps its own guard
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.code || c.body != "" && rec.Body.String() != c.body {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, rec.Code, rec.Body.String(), c.code, c.body)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no security headers", c.method, c.path)
		}
	}
	if rt := srv.Routes(); rt[len(rt)-1].Authn != "session" {
		t.Errorf("Routes() last = %+v, want the mounted UI with Authn session", rt[len(rt)-1])
	}
}
