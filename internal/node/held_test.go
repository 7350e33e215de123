package node

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/crowdsec"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/netlab"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/store"
)

// receiver is a webhook receiver on loopback that keeps, in order, the decisions it is sent.
type receiver struct {
	*httptest.Server
	got chan decision.View
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan decision.View, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var d decision.View
		if err := json.NewDecoder(req.Body).Decode(&d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.got <- d
	}))
	t.Cleanup(r.Close)
	return r
}

// next returns the next decision the receiver was sent.
func (r *receiver) next(t *testing.T) decision.View {
	t.Helper()
	select {
	case d := <-r.got:
		return d
	case <-time.After(time.Minute): // a hang guard, not a performance threshold
		t.Fatal("the receiver was sent nothing in a minute")
		return decision.View{}
	}
}

// TestWebhooksTellEnforcersOnlyWhatIsInForce: an EDR that isolates whatever it is sent (a
// receiver with the default events) is never sent the ventilator's isolation a guardrail
// holds — made by a policy on an alert, or by a token without override — nor its revocation
// while held, but is sent the attacker's block, the isolation once an approver signed in
// with TOTP approves it, and its revocation after; a ticketing receiver with events all is
// sent every change, the held ones marked held and not live. A CrowdSec bouncer's pulls agree.
func TestWebhooksTellEnforcersOnlyWhatIsInForce(t *testing.T) {
	ctx := t.Context()
	demo, err := fs.ReadFile(scenario.Hospital(), "assets.csv")
	if err != nil {
		t.Fatal(err)
	}
	assets := filepath.Join(t.TempDir(), "assets.csv")
	if err := os.WriteFile(assets, demo, 0o600); err != nil {
		t.Fatal(err)
	}
	edr, tickets := newReceiver(t), newReceiver(t)
	// No allowlist: the life-support guardrail alone must hold. The default policies isolate
	// the source of lateral movement and block the source of any high alert.
	cfg := testConfig(t, "respond.assets="+assets, "respond.allow=", "respond.bouncers=[{name: gw, key: "+bouncerKey+"}]",
		fmt.Sprintf("respond.webhooks=[{name: edr, url: '%s'}, {name: tickets, url: '%s', events: all}]", edr.URL, tickets.URL))
	tenant := cfg.Ingest.DefaultTenant
	n := startNode(t, cfg)
	defer n.Shutdown(ctx)
	pull := func(path string) crowdsec.StreamResponse {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.HTTPAddr.String()+path, nil)
		req.Header.Set("X-Api-Key", bouncerKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r crowdsec.StreamResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("bouncer GET %s = %s, %v", path, resp.Status, err)
		}
		return r
	}
	pull("/v1/decisions/stream?startup=true")
	alert := func(id, detector, rule, source string) {
		t.Helper()
		now := time.Now()
		b, _ := json.Marshal(detect.Alert{ID: id, Tenant: tenant, Detector: detector, RuleID: rule, Title: rule, Level: "high",
			Entities: detect.Entities{Source: source}, First: now, Last: now, Count: 1})
		if err := n.Bus.PublishAlert(ctx, tenant, b); err != nil {
			t.Fatal(err)
		}
	}
	type told struct {
		id     int64
		status decision.Status
		live   bool
	}
	tell := func(d decision.View) told { return told{d.ID, d.Status, d.Live} }

	// The ventilator moves laterally: the policy's isolation of it is held.
	alert("a-vent", "behavior", "behavior.lateral_movement", scenario.Ventilator)
	byPolicy := tickets.next(t)
	if byPolicy.Target != scenario.Ventilator || byPolicy.Action != decision.ActionIsolate || byPolicy.Status != decision.StatusHeld ||
		byPolicy.Live || byPolicy.Origin.Kind != decision.OriginRule {
		t.Fatalf("the ticketing receiver was first sent %+v, want the policy's held isolation of the ventilator, not live", byPolicy)
	}
	// A script's token asks the same, without override: held too.
	soar := issue(t, n, tenant, "soar", auth.ScopeRead, auth.ScopeRespond)
	resp := request(t, n, "POST", "/api/v1/decisions", soar,
		fmt.Sprintf(`{"action": "isolate", "target": %q, "ttl": "4h", "reason": "beaconing"}`, scenario.Ventilator))
	var byToken decision.View
	json.NewDecoder(resp.Body).Decode(&byToken)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || byToken.Status != decision.StatusHeld {
		t.Fatalf("a token isolating the ventilator = %s %+v, want 201 held", resp.Status, byToken)
	}
	// The attacker's block is in force.
	alert("a-attacker", "sigma", "5f1e0b3c-vpn-brute-force", scenario.Attacker)

	// The receivers are sent in order, by one sender: the EDR's first message comes after
	// both held ones were sent to whom they go.
	block := edr.next(t)
	if block.Target != scenario.Attacker || block.Action != decision.ActionBlock || block.Status != decision.StatusActive || !block.Live {
		t.Errorf("the EDR was first sent %+v, want the attacker's live block and nothing held before it", block)
	}
	want := []told{{byToken.ID, decision.StatusHeld, false}, {block.ID, decision.StatusActive, true}}
	if got := []told{tell(tickets.next(t)), tell(tickets.next(t))}; !slices.Equal(got, want) {
		t.Errorf("the ticketing receiver was then sent %+v, want %+v", got, want)
	}

	// An approver signed in with TOTP approves the token's isolation: in force, the EDR is sent it.
	mori := respond.SignedIn(auth.Identity{UserID: "mori", Name: "mori", Roles: map[string][]auth.Role{tenant: {auth.RoleApprover}}, SecondFactor: true}, tenant)
	if _, err := n.Respond.Approve(ctx, tenant, mori, byToken.ID, "ICU on manual ventilation"); err != nil {
		t.Fatal(err)
	}
	if got, want := tell(edr.next(t)), (told{byToken.ID, decision.StatusActive, true}); got != want {
		t.Errorf("after the approval the EDR was sent %+v, want %+v", got, want)
	}
	// The policy's isolation is revoked while held, then the approved one: the EDR is sent only
	// the end of the one it had been sent.
	for _, id := range []int64{byPolicy.ID, byToken.ID} {
		resp := request(t, n, "DELETE", fmt.Sprintf("/api/v1/decisions/%d", id), soar, `{"note": "false positive"}`)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke %d = %s", id, resp.Status)
		}
	}
	if got, want := tell(edr.next(t)), (told{byToken.ID, decision.StatusRevoked, false}); got != want {
		t.Errorf("after the revocations the EDR was sent %+v, want %+v: nothing of the isolation never approved", got, want)
	}
	want = []told{{byToken.ID, decision.StatusActive, true}, {byPolicy.ID, decision.StatusRevoked, false}, {byToken.ID, decision.StatusRevoked, false}}
	if got := []told{tell(tickets.next(t)), tell(tickets.next(t)), tell(tickets.next(t))}; !slices.Equal(got, want) {
		t.Errorf("the ticketing receiver was sent %+v, want %+v", got, want)
	}

	// The bouncer agrees: the block new, the approved isolation deleted, the other never seen.
	var ids []string
	r := pull("/v1/decisions/stream")
	for _, d := range r.New {
		ids = append(ids, fmt.Sprintf("new %d", d.ID))
	}
	for _, d := range r.Deleted {
		ids = append(ids, fmt.Sprintf("deleted %d", d.ID))
	}
	if want := []string{fmt.Sprintf("new %d", block.ID), fmt.Sprintf("deleted %d", byToken.ID)}; !slices.Equal(ids, want) {
		t.Errorf("the bouncer's pull = %v, want %v (decision %d never in force)", ids, want, byPolicy.ID)
	}
	if ds, err := n.Respond.List(ctx, tenant, store.DecisionFilter{Value: scenario.Ventilator}); err != nil || len(ds) != 2 {
		t.Errorf("decisions on the ventilator: %+v, %v; want the two", ds, err)
	}
}

// TestHeldDecisionLeavesIsolationInForce, in network namespaces: the hospital server is
// isolated by an approver who overrode its guardrail; a script's token then asks the same
// isolation, which is held, and revokes that held one. Neither change touches the kernel: the
// server stays cut off, as a block of the attacker's made after them shows applied first.
func TestHeldDecisionLeavesIsolationInForce(t *testing.T) {
	l := netlab.New(t, "198.18")
	l.Hospital.Serve(t, e2eServer)
	server, _, _ := strings.Cut(e2eServer, ":")
	ctx := t.Context()
	assets := filepath.Join(t.TempDir(), "assets.csv")
	csv := "address,name,category,department,protected\n" +
		e2eVentilator + ",ICU ventilator bed 1,life-support,ICU,true\n" +
		server + ",EHR-APP01,information,Information Systems,true\n"
	if err := os.WriteFile(assets, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "respond.assets="+assets, "respond.allow=[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]",
		"respond.policies=", "respond.nftables=true", "respond.nftables_netns="+l.Gateway.Path)
	tenant := cfg.Ingest.DefaultTenant
	n := startNode(t, cfg)
	defer n.Shutdown(ctx)
	// dropped waits until from's connections to the server are dropped by the gateway.
	dropped := func(from netlab.NS, what string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; {
			err := from.Dial(e2eServer, 300*time.Millisecond)
			if isDrop(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s still reaches the server 30s later (%v)", what, from.Name, err)
			}
		}
	}

	mori := respond.SignedIn(auth.Identity{UserID: "mori", Name: "mori", Roles: map[string][]auth.Role{tenant: {auth.RoleApprover}}, SecondFactor: true}, tenant)
	iso, err := n.Respond.Add(ctx, tenant, mori, respond.Request{Action: decision.ActionIsolate, Scope: decision.ScopeIP, Value: server,
		TTL: time.Hour, Reason: "ransomware encrypting EHR-APP01"})
	if err == nil {
		iso, err = n.Respond.Approve(ctx, tenant, mori, iso.ID, "ward on paper")
	}
	if err != nil || iso.Status != decision.StatusActive {
		t.Fatalf("the approver's isolation of the server = %+v, %v; want active", iso, err)
	}
	dropped(l.Ventilator, "after the isolation")

	soar := issue(t, n, tenant, "soar", auth.ScopeRead, auth.ScopeRespond)
	resp := request(t, n, "POST", "/api/v1/decisions", soar, `{"action": "isolate", "target": "`+server+`", "ttl": "4h", "reason": "ransomware"}`)
	var held decision.View
	json.NewDecoder(resp.Body).Decode(&held)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || held.Status != decision.StatusHeld {
		t.Fatalf("the token's isolation of the server = %s %+v, want 201 held", resp.Status, held)
	}
	resp = request(t, n, "DELETE", fmt.Sprintf("/api/v1/decisions/%d", held.ID), soar, `{"note": "asked twice"}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoking the held isolation = %s", resp.Status)
	}
	// The enforcer applies changes in order: once the attacker's block is in the kernel, both
	// changes before it were dealt with.
	resp = request(t, n, "POST", "/api/v1/decisions", soar, `{"action": "block", "target": "`+e2eAttacker+`", "ttl": "1h", "reason": "brute force"}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("the token's block of the attacker = %s", resp.Status)
	}
	dropped(l.Attacker, "after the attacker's block")
	if err := l.Ventilator.Dial(e2eServer, time.Second); !isDrop(err) {
		t.Errorf("after a held isolation of the server was made and revoked, the ventilator's connection to it: %v; want it dropped, the approver's isolation still in force", err)
	}
}
