package node

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/store"
)

// TestAccessDecisionsServed asks a running node, as the EHR would, for a break-glass access
// with the roster of the access tests loaded: it is allowed with its obligations, waits in the
// review queue, and is kept in the archive; a token without the access scope is refused.
func TestAccessDecisionsServed(t *testing.T) {
	ctx := t.Context()
	// The privacy officer's channel (a chat webhook).
	told := make(chan string, 10)
	officer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ Kind, Text string }
		json.NewDecoder(r.Body).Decode(&n)
		told <- n.Kind + ": " + n.Text
	}))
	defer officer.Close()
	cfg := testConfig(t, "ingest.batch_wait=10ms", "access.directory=../access/testdata/hospital", "incidents.webhook="+officer.URL)
	n := startNode(t, cfg)
	defer n.Shutdown(ctx)
	ehr := issue(t, n, cfg.Ingest.DefaultTenant, "ehr", auth.ScopeAccess)
	reader := issue(t, n, cfg.Ingest.DefaultTenant, "reader", auth.ScopeRead)
	body := `{"subject": {"id": "N002"}, "action": "view", "resource": {"patient": "P005", "data_type": "chart", "department": "internal_medicine"},
		"device": {"id": "5E-PC-01", "managed": true, "compliant": true, "location": "ward-5E", "network": "ward"},
		"emergency": true, "purpose_of_use": "ETREAT", "reason": "意識障害で救急搬送、既往歴の確認のため"}`
	post := func(token auth.Secret) *http.Response {
		return request(t, n, "POST", "/api/v1/access/decide", token, body)
	}
	if resp := post(reader); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a read token asking for a decision: %s, want 403", resp.Status)
	}
	resp := post(ehr)
	var d access.Decision
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
		t.Fatalf("decide: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	if d.Decision != "allow" || !d.BreakGlass || d.Tenant != cfg.Ingest.DefaultTenant {
		t.Fatalf("decision %+v, want a break-glass allow for the token's tenant", d)
	}

	// The privacy officer is told, and the access waits for their review.
	select {
	case msg := <-told:
		if !strings.HasPrefix(msg, "break-glass: ") || !strings.Contains(msg, "P005") || !strings.Contains(msg, "N002") {
			t.Errorf("the privacy officer was told %q, want the break-glass access to P005 by N002", msg)
		}
	case <-time.After(time.Minute):
		t.Error("the privacy officer was not told of the break-glass access")
	}
	resp = request(t, n, "GET", "/api/v1/access/reviews", reader, "")
	queue, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(queue, []byte(d.ID)) {
		t.Errorf("review queue: %s %s, want the decision %s in it", resp.Status, queue, d.ID)
	}

	// HR replaces the roster without the nurse: her next request is refused.
	admin := issue(t, n, cfg.Ingest.DefaultTenant, "hr", auth.ScopeAdmin)
	put := func(body string) int {
		resp := request(t, n, "PUT", "/api/v1/access/directory", admin, body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(`{"staff": [{"id": "D001", "role": "doctor", "department": "internal_medicine"}], "assignments": [{"staff": "N002", "patient": "P005"}]}`); code != http.StatusBadRequest {
		t.Errorf("a directory naming staff not on its roster: %d, want 400", code)
	}
	if code := put(`{"staff": [{"id": "D001", "role": "doctor", "department": "internal_medicine"}]}`); code != http.StatusOK {
		t.Fatalf("replacing the directory: %d, want 200", code)
	}
	resp = post(ehr)
	var after access.Decision
	json.NewDecoder(resp.Body).Decode(&after)
	resp.Body.Close()
	if after.Decision != "deny" {
		t.Errorf("the nurse off the roster asking again: %s, want deny", after.Decision)
	}

	// The decision reaches the archive through the journal and the bus.
	q := archive.Query{Tenant: d.Tenant, Where: []archive.Cond{{Field: "event.dataset", Op: "=", Value: access.DecisionDataset}}}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var found []string
		err := n.Archive.Search(ctx, q, nil, func(r *archive.Record) error {
			var got access.Decision
			if err := json.Unmarshal(r.Event.Raw, &got); err != nil {
				return err
			}
			found = append(found, got.ID)
			return nil
		})
		if err != nil && !strings.Contains(err.Error(), "no tenant") { // not yet: the archive has no record of it
			t.Fatal(err)
		}
		if len(found) >= 1 && found[0] == d.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive holds decisions %v, want [%s]", found, d.ID)
		}
	}
}

// TestAuditCopiedToArchive: an administrator's change (a token created) reaches the archive,
// once, and the position survives a restart so nothing is copied twice.
func TestAuditCopiedToArchive(t *testing.T) {
	defer func(d time.Duration) { auditEvery = d }(auditEvery)
	auditEvery = 50 * time.Millisecond
	ctx := t.Context()
	cfg := testConfig(t, "ingest.batch_wait=10ms")
	tenant := cfg.Ingest.DefaultTenant
	count := func(n *Node) int {
		c := 0
		q := archive.Query{Tenant: tenant, Where: []archive.Cond{{Field: "event.dataset", Op: "=", Value: "omamori.audit"}}}
		err := n.Archive.Search(ctx, q, nil, func(r *archive.Record) error {
			if r.Event.Action == "token.create" && r.Event.User == "token:test" {
				c++
			}
			return nil
		})
		if err != nil && !strings.Contains(err.Error(), "no tenant") {
			t.Fatal(err)
		}
		return c
	}
	n := startNode(t, cfg)
	if _, _, err := auth.Issue(ctx, n.Store.Tenant(tenant), "token:test", auth.Request{Name: "fw", Scopes: []auth.Scope{auth.ScopeIngest}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); count(n) != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the token's creation is %d times in the archive after a minute, want once", count(n))
		}
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, cfg)
	defer n.Shutdown(ctx)
	time.Sleep(300 * time.Millisecond) // several copy rounds
	if c := count(n); c != 1 {
		t.Errorf("after a restart the token's creation is %d times in the archive, want once", c)
	}
}

// TestEveryServedRouteRefuses walks every route a running node serves through the API guard —
// ingest, access decisions, decisions, incidents, tokens — and proves that a request without a
// token, and one with a token lacking the route's scope, are refused before any handler runs.
func TestEveryServedRouteRefuses(t *testing.T) {
	ctx := t.Context()
	cfg := testConfig(t)
	n := startNode(t, cfg)
	defer n.Shutdown(ctx)
	ingestOnly := issue(t, n, cfg.Ingest.DefaultTenant, "fw", auth.ScopeIngest)
	walked := 0
	for _, rt := range n.API.Routes() {
		if rt.Authn != "" || rt.Scope == "" {
			continue // mounted handlers and the probes: tested by their own packages and above
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
		for _, c := range []struct {
			name  string
			token auth.Secret
			want  int
		}{{"anonymous", "", http.StatusUnauthorized}, {"ingest token", ingestOnly, http.StatusForbidden}} {
			if c.token == ingestOnly && rt.Scope == auth.ScopeIngest {
				continue
			}
			resp := request(t, n, method, path, c.token, "{}")
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s %s as %s: %s, want %d", method, path, c.name, resp.Status, c.want)
			}
		}
		walked++
	}
	if walked < 30 {
		t.Errorf("walked %d routes; the node serves more than that", walked)
	}
}

// TestAccessForANewHospital: a hospital added while omamori runs is denied until its roster
// arrives, and then decided on like any other, apart from the first hospital.
func TestAccessForANewHospital(t *testing.T) {
	ctx := t.Context()
	cfg := testConfig(t)
	n := startNode(t, cfg)
	defer n.Shutdown(ctx)
	if _, err := n.Store.CreateTenant(ctx, "test", store.Tenant{ID: "tsurugi", Name: "Tsurugi Hospital"}); err != nil {
		t.Fatal(err)
	}
	ehr := issue(t, n, "tsurugi", "ehr", auth.ScopeAccess)
	hr := issue(t, n, "tsurugi", "hr", auth.ScopeAdmin)
	call := func(method, path string, token auth.Secret, body string) (int, string) {
		resp := request(t, n, method, path, token, body)
		defer resp.Body.Close()
		var d struct{ Decision string }
		json.NewDecoder(resp.Body).Decode(&d)
		return resp.StatusCode, d.Decision
	}
	ask := `{"subject": {"id": "D9"}, "action": "view", "resource": {"patient": "P9", "data_type": "chart", "department": "surgery"},
		"device": {"id": "pc", "managed": true, "compliant": true, "location": "ward", "network": "ward"}}`
	if code, d := call("POST", "/api/v1/access/decide", ehr, ask); code != 200 || d != "deny" {
		t.Errorf("before its roster: %d %q, want 200 deny", code, d)
	}
	roster := `{"staff": [{"id": "D9", "role": "doctor", "department": "surgery", "last_training": "` + time.Now().AddDate(0, -1, 0).Format(time.RFC3339) + `"}],
		"assignments": [{"staff": "D9", "patient": "P9"}]}`
	if code, _ := call("PUT", "/api/v1/access/directory", hr, roster); code != 200 {
		t.Fatalf("its roster: %d, want 200", code)
	}
	if code, d := call("POST", "/api/v1/access/decide", ehr, ask); code != 200 || d != "allow" {
		t.Errorf("its doctor on an assigned patient: %d %q, want 200 allow", code, d)
	}
	if _, err := n.Access.For(cfg.Ingest.DefaultTenant); err != nil {
		t.Errorf("the first hospital's decider: %v", err)
	}
	// A directory that does not hold together is not kept, and the one in force stays.
	if code, _ := call("PUT", "/api/v1/access/directory", hr, `{"assignments": [{"staff": "X1", "patient": "P9"}]}`); code != 400 {
		t.Errorf("a directory naming staff not on the roster: %d, want 400", code)
	}

	// After a restart the directory HR sent is still in force: the doctor still sees the
	// patient, rather than every clinician being denied until HR sends it again.
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, cfg)
	defer n.Shutdown(ctx)
	if code, d := call("POST", "/api/v1/access/decide", ehr, ask); code != 200 || d != "allow" {
		t.Errorf("after a restart: %d %q, want 200 allow", code, d)
	}
}

// testConfig is the configuration of a node for a test: a data directory of its own, the
// API on a free loopback port, no syslog listener, and then set.
func testConfig(t *testing.T, set ...string) *config.Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Set: append([]string{"data_dir=" + t.TempDir(), "http.listen=127.0.0.1:0", "ingest.syslog="}, set...)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startNode starts a node of cfg; the test shuts it down (some restart it on the same data).
func startNode(t *testing.T, cfg *config.Config) *Node {
	t.Helper()
	n, err := Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// issue returns a new token of tenant with scopes.
func issue(t *testing.T, n *Node, tenant, name string, scopes ...auth.Scope) auth.Secret {
	t.Helper()
	_, secret, err := auth.Issue(t.Context(), n.Store.Tenant(tenant), "test", auth.Request{Name: name, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// request sends body to n's API as method path, with token unless it is empty.
func request(t *testing.T, n *Node, method, path string, token auth.Secret, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+n.HTTPAddr.String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+string(token))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
