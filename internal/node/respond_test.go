package node

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/crowdsec"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/store"
)

const bouncerKey = "test-bouncer-key-0123456789"

// TestResponseEndToEnd replays the ransomware attack into a running node, over syslog and the
// API as the hospital's devices send it: detection raises alerts, response blocks the
// attacker and isolates the server spreading the attack, a CrowdSec bouncer pulls both, the
// life-support device is never acted on, and the alerts become incidents.
func TestResponseEndToEnd(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	assets := filepath.Join(dir, "assets.csv")
	csv := "address,name,category,department,protected\n" +
		scenario.Ventilator + ",ICU ventilator bed 1,life-support,ICU,true\n" +
		"192.168.30.10,EHR-DB01,information,Information Systems,true\n"
	if err := os.WriteFile(assets, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	// A FortiGate automation stitch, told of every decision by webhook.
	stitch := make(chan decision.View, 100)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d decision.View
		if r.Header.Get("Authorization") != "Bearer stitch-token" || json.NewDecoder(r.Body).Decode(&d) != nil {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		stitch <- d
	}))
	defer receiver.Close()
	cfg, err := config.Load(config.Sources{
		Set: []string{"data_dir=" + dir, "http.listen=127.0.0.1:0", "ingest.batch_wait=10ms",
			"ingest.syslog=[{name: fw, protocol: tcp, listen: '127.0.0.1:0'}]", "respond.assets=" + assets},
		Env: []string{"OMAMORI_RESPOND_BOUNCERS=[{name: gw, key: " + bouncerKey + "}]",
			"OMAMORI_RESPOND_WEBHOOKS=[{name: stitch, url: '" + receiver.URL + "', token: stitch-token}]"},
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(ctx)
	tenant := cfg.Ingest.DefaultTenant
	_, token, err := auth.Issue(ctx, n.Store.Tenant(tenant), "test", auth.Request{Name: "replay", Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + n.HTTPAddr.String()
	if _, err := scenario.Replay(ctx, scenario.Target{Syslog: n.Syslog["fw"].String(), API: base, Token: string(token)},
		scenario.Ransomware(time.Now().Add(-30*time.Minute))); err != nil {
		t.Fatal(err)
	}

	// The bouncer sees the attacker banned and the spreading server cut off.
	want := []string{scenario.Attacker, scenario.CateringSrv}
	var banned []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/decisions", nil)
		req.Header.Set("X-Api-Key", bouncerKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ds []crowdsec.Decision
		json.NewDecoder(resp.Body).Decode(&ds)
		resp.Body.Close()
		banned = banned[:0]
		for _, d := range ds {
			banned = append(banned, d.Value)
		}
		if !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(banned, w) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bouncer sees %v, want %v among them", banned, want)
		}
	}
	if slices.Contains(banned, scenario.Ventilator) {
		t.Errorf("the ventilator %s is banned", scenario.Ventilator)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/decisions", nil)
	req.Header.Set("X-Api-Key", "another-key-0123456789abc")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong bouncer key: %v %v, want refused", resp.Status, err)
	}

	// Nothing decided about the life-support device is live.
	ds, err := n.Respond.List(ctx, tenant, store.DecisionFilter{Value: scenario.Ventilator})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Live(time.Now()) {
			t.Errorf("decision about the ventilator is live: %+v", d)
		}
	}
	if ds, _ := n.Respond.List(ctx, tenant, store.DecisionFilter{Value: scenario.Attacker}); len(ds) == 0 || ds[0].Status != decision.StatusActive || !strings.HasPrefix(ds[0].CreatedBy, "rule:") {
		t.Errorf("decisions about the attacker: %+v, want one active, made by a rule", ds)
	}

	// The stitch was told of the attacker's block.
	for deadline := time.After(time.Minute); ; {
		select {
		case d := <-stitch:
			if d.Target != scenario.Attacker {
				continue
			}
			if d.Action != decision.ActionBlock || d.Status != decision.StatusActive || !d.Live {
				t.Errorf("webhook told %+v, want the attacker's live block", d)
			}
		case <-deadline:
			t.Fatal("the webhook receiver was not told of the attacker's block")
		}
		break
	}

	// A script with the respond scope adds a decision; approving a held one is for a person in
	// the web UI, with a second factor, so the same token is refused there.
	_, responder, err := auth.Issue(ctx, n.Store.Tenant(tenant), "test", auth.Request{Name: "soar", Scopes: []auth.Scope{auth.ScopeRead, auth.ScopeRespond}})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) int {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+string(responder))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call("POST", "/api/v1/decisions", `{"action": "block", "target": "203.0.113.99", "ttl": "1h", "reason": "JPCERT/CC advisory"}`); code != http.StatusCreated {
		t.Errorf("a responder token adding a block: %d, want 201", code)
	}
	var held []decision.Decision
	for deadline := time.Now().Add(time.Minute); len(held) == 0; time.Sleep(50 * time.Millisecond) {
		if held, err = n.Respond.List(ctx, tenant, store.DecisionFilter{Status: []decision.Status{decision.StatusHeld}}); err != nil {
			t.Fatal(err)
		}
		if len(held) == 0 && time.Now().After(deadline) {
			t.Fatal("no held decision after a minute, want the isolation of EHR-DB01")
		}
	}
	if code := call("POST", fmt.Sprintf("/api/v1/decisions/%d/approve", held[0].ID), `{"note": "ok"}`); code != http.StatusForbidden {
		t.Errorf("a token approving a held decision: %d, want 403", code)
	}

	// The alerts became incidents, readable over the API.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+string(token))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var incidents []struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
		}
		json.NewDecoder(resp.Body).Decode(&incidents)
		resp.Body.Close()
		if len(incidents) > 0 && incidents[0].Severity == "critical" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incidents over the API: %s %+v, want a critical one first", resp.Status, incidents)
		}
	}
}

// TestWebUIServed: the node serves the sign-in page in Japanese beside the API, and sends an
// anonymous visitor of a hospital's pages to it.
func TestWebUIServed(t *testing.T) {
	n := startNode(t, testConfig(t))
	defer n.Shutdown(t.Context())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + n.HTTPAddr.String() + "/t/default/incidents")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || !strings.Contains(resp.Header.Get("Location"), "/signin") {
		t.Errorf("anonymous GET /t/default/incidents: %s to %q, want a redirect to the sign-in page", resp.Status, resp.Header.Get("Location"))
	}
	resp, err = client.Get("http://" + n.HTTPAddr.String() + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `lang="ja"`) {
		t.Errorf("GET /signin: %s, want a Japanese page", resp.Status)
	}
}

// TestAssetsByAPI: a hospital sends its inventory over the API; a bad file is refused whole,
// a good one is in force at once and still after a restart.
func TestAssetsByAPI(t *testing.T) {
	ctx := t.Context()
	cfg := testConfig(t)
	tenant := cfg.Ingest.DefaultTenant
	n := startNode(t, cfg)
	admin := issue(t, n, tenant, "it", auth.ScopeAdmin)
	put := func(body string) int {
		req, _ := http.NewRequestWithContext(ctx, "PUT", "http://"+n.HTTPAddr.String()+"/api/v1/assets", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+string(admin))
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("address,name,category,department,protected\n192.168.50.10,ventilator,life-saving,ICU,true\n"); code != http.StatusBadRequest {
		t.Errorf("an unknown category: %d, want 400", code)
	}
	if n.inventories.get(tenant) != nil {
		t.Error("a refused file left an inventory in force")
	}
	if code := put("address,name,category,department,protected\n" + scenario.Ventilator + ",ICU ventilator bed 1,life-support,ICU,true\n"); code != http.StatusOK {
		t.Fatalf("a good file: %d, want 200", code)
	}
	vent := netip.MustParseAddr(scenario.Ventilator)
	if a, ok := n.inventories.get(tenant).Lookup(vent); !ok || a.Category != asset.LifeSupport {
		t.Errorf("the ventilator after the upload: %+v %v", a, ok)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, cfg)
	defer n.Shutdown(ctx)
	if inv := n.inventories.get(tenant); inv == nil || inv.Len() != 1 {
		t.Errorf("after a restart the inventory is %v, want the one uploaded", inv)
	}
}

// In the scale-out mode another node may be sent the inventory or the EHR directory: this
// node takes them up from the shared store, so that a ventilator registered there is protected
// here too, and a doctor given a patient there sees the record here.
func TestDocumentsFromAnotherNode(t *testing.T) {
	ctx := t.Context()
	defer func(d time.Duration) { documentsEvery = d }(documentsEvery)
	documentsEvery = 20 * time.Millisecond
	cfg := testConfig(t)
	tenant := cfg.Ingest.DefaultTenant
	n := startNode(t, cfg)
	defer n.Shutdown(ctx)
	dec, err := n.Access.For(tenant)
	if err != nil {
		t.Fatal(err)
	}
	// What the other node kept when it was sent them.
	sc := n.Store.Tenant(tenant)
	if err := sc.PutDocument(ctx, "token:other-node", store.DocAssets,
		[]byte("address,name,category,department,protected\n"+scenario.Ventilator+",ICU ventilator bed 1,life-support,ICU,true\n"), "1 assets"); err != nil {
		t.Fatal(err)
	}
	roster := `{"staff": [{"id": "D9", "role": "doctor", "department": "surgery", "last_training": "` +
		time.Now().AddDate(0, -1, 0).Format(time.RFC3339) + `"}], "assignments": [{"staff": "D9", "patient": "P9"}]}`
	if err := sc.PutDocument(ctx, "token:other-node", store.DocAccessDirectory, []byte(roster), "1 staff"); err != nil {
		t.Fatal(err)
	}
	vent := netip.MustParseAddr(scenario.Ventilator)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		_, protected := n.inventories.get(tenant).Lookup(vent)
		if protected && len(dec.Directory().Entities().Staff) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the inventory and the directory kept by another node were not taken up in a minute")
		}
	}
	// The guardrail in force here holds isolating the ventilator for a person.
	ds, err := n.Respond.Add(ctx, tenant, respond.SignedIn(auth.Identity{UserID: "aiko", Name: "aiko", Roles: map[string][]auth.Role{tenant: {auth.RoleAnalystL2}}}, tenant),
		respond.Request{Action: decision.ActionIsolate, Scope: decision.ScopeIP, Value: scenario.Ventilator, TTL: time.Hour, Reason: "beaconing"})
	if err != nil || ds.Status != decision.StatusHeld {
		t.Errorf("isolating the ventilator on this node = %+v, %v; want held by the guardrail", ds, err)
	}
}

// TestTokenCannotOverrideGuardrail is issue 13's attack on a running node: a script's token
// with scope respond — and one with every scope — asks to isolate the ICU ventilator, to block
// a /24 and a /16 around it, and to isolate an infusion pump, each with override. Each is
// refused with 403 saying why; the same without override is held; a CrowdSec bouncer pulling
// before and after receives none of it, and nothing on the devices is live.
func TestTokenCannotOverrideGuardrail(t *testing.T) {
	ctx := t.Context()
	demo, err := fs.ReadFile(scenario.Hospital(), "assets.csv")
	if err != nil {
		t.Fatal(err)
	}
	const pump = "192.168.50.30"
	assets := filepath.Join(t.TempDir(), "assets.csv")
	if err := os.WriteFile(assets, append(demo, pump+",Infusion pump ICU-3,life-support,ICU,false\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	// No allowlist (by default the hospital's own networks are on it, which holds a block of
	// them too): the life-support guardrail alone must hold.
	cfg := testConfig(t, "respond.assets="+assets, "respond.allow=", "respond.bouncers=[{name: gw, key: "+bouncerKey+"}]")
	tenant := cfg.Ingest.DefaultTenant
	n := startNode(t, cfg)
	defer n.Shutdown(ctx)
	pull := func(path string) string {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.HTTPAddr.String()+path, nil)
		req.Header.Set("X-Api-Key", bouncerKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("bouncer GET %s = %s %s", path, resp.Status, b)
		}
		return string(b)
	}
	pull("/v1/decisions/stream?startup=true") // the bouncer is known from here: later pulls are deltas

	shapes := []struct{ action, target string }{
		{"isolate", scenario.Ventilator},
		{"block", "192.168.50.0/24"},
		{"block", "192.168.0.0/16"},
		{"isolate", pump},
	}
	tokens := map[string]auth.Secret{
		"respond":     issue(t, n, tenant, "soar", auth.ScopeRead, auth.ScopeRespond),
		"every scope": issue(t, n, tenant, "root", auth.Scopes()...),
	}
	for name, tok := range tokens {
		for _, sh := range shapes {
			body := fmt.Sprintf(`{"action": %q, "target": %q, "ttl": "4h", "reason": "beaconing", "override": true}`, sh.action, sh.target)
			resp := request(t, n, "POST", "/api/v1/decisions", tok, body)
			var e struct{ Error, Hint string }
			json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(e.Error, "overriding a guardrail is a person's act") ||
				!strings.Contains(e.Error, "API token") || !strings.Contains(e.Hint, "without override") {
				t.Errorf("token (%s): %s %s with override = %s %+v; want 403 saying a token may not override", name, sh.action, sh.target, resp.Status, e)
			}
		}
	}
	for _, sh := range shapes {
		body := fmt.Sprintf(`{"action": %q, "target": %q, "ttl": "4h", "reason": "beaconing"}`, sh.action, sh.target)
		resp := request(t, n, "POST", "/api/v1/decisions", tokens["respond"], body)
		var d decision.View
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || d.Status != decision.StatusHeld || !strings.HasPrefix(d.Guardrail, respond.GuardLifeSupport) {
			t.Errorf("token: %s %s without override = %s %+v; want 201, held by the life-support guardrail", sh.action, sh.target, resp.Status, d)
		}
	}

	ds, err := n.Respond.List(ctx, tenant, store.DecisionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(shapes) {
		t.Errorf("%d decisions stored, want %d: the held ones, none from a refused override", len(ds), len(shapes))
	}
	for _, d := range ds {
		if d.Status != decision.StatusHeld || d.Live(time.Now()) {
			t.Errorf("decision %d on %s is %s, want held", d.ID, d.Value, d.Status)
		}
	}
	for _, path := range []string{"/v1/decisions/stream", "/v1/decisions/stream?startup=true", "/v1/decisions",
		"/v1/decisions?ip=" + scenario.Ventilator, "/v1/decisions?ip=" + pump} {
		got := pull(path)
		for _, sh := range shapes {
			if strings.Contains(got, `"value":"`+sh.target+`"`) {
				t.Errorf("bouncer GET %s = %s; it carries %s, which a guardrail holds", path, got, sh.target)
			}
		}
	}
}
