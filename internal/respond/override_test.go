package respond

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/store"
)

// principal is one way of calling the service, as the API server, the web UI or a caller
// with a mistaken idea of a role would make it.
type principal struct {
	name string
	who  Person
	// decides: may add decisions in tokyo (a respond token, a person who may revoke), so
	// that a guardrail's objection is held.
	decides bool
	// approver: a person with the approver role in tokyo, signed in with TOTP — the only one
	// who may approve what a guardrail held, or extend it once approved.
	approver bool
}

// principals returns every kind of caller: no one, a token of each scope and of all of them,
// people of each role with and without TOTP, people of another hospital, Person literals that
// claim a role (bound to no tenant, so they may do nothing), and tokyo's approver signed in
// with TOTP.
func principals() []principal {
	token := func(name string, scopes ...auth.Scope) Person {
		return ByToken(auth.Principal{Tenant: "tokyo", TokenID: name, Name: name, Scopes: scopes})
	}
	person := func(name string, totp bool, tenant string, roles ...auth.Role) auth.Identity {
		return auth.Identity{UserID: "u-" + name, Name: name, Home: tenant, Roles: map[string][]auth.Role{tenant: roles}, SecondFactor: totp}
	}
	ps := []principal{
		{name: "anonymous", who: Person{}},
		{name: "token of every scope", who: token("all", auth.Scopes()...), decides: true},
		{name: "osaka's respond token", who: ByToken(auth.Principal{Tenant: "osaka", TokenID: "osaka-soar", Scopes: []auth.Scope{auth.ScopeRespond}})},
		{name: "literal approver (no tenant, no TOTP proven)", who: Person{Name: "forged", Role: RoleApprover}},
		{name: "literal admin (no tenant, no TOTP proven)", who: Person{Name: "root", Role: RoleAdmin}},
		{name: "literal responder (no tenant)", who: Person{Name: "aiko", Role: RoleResponder}},
		{name: "approver without TOTP", who: SignedIn(person("nakamura", false, "tokyo", auth.RoleApprover), "tokyo")},
		{name: "approver and analyst without TOTP", who: SignedIn(person("ito", false, "tokyo", auth.RoleApprover, auth.RoleAnalystL2), "tokyo"), decides: true},
		{name: "osaka's approver with TOTP, in tokyo", who: SignedIn(person("sato", true, "osaka", auth.RoleApprover), "tokyo")},
		{name: "osaka's approver with TOTP, as osaka", who: SignedIn(person("sato", true, "osaka", auth.RoleApprover), "osaka")},
		{name: "tokyo's approver with TOTP", who: SignedIn(person("mori", true, "tokyo", auth.RoleApprover), "tokyo"), decides: true, approver: true},
	}
	for _, s := range auth.Scopes() {
		ps = append(ps, principal{name: "token of scope " + string(s), who: token("t-"+string(s), s), decides: s == auth.ScopeRespond})
	}
	for _, r := range auth.Roles() {
		if r == auth.RoleApprover {
			continue // above, with and without TOTP
		}
		// Those who work incidents may lift and make decisions; the rest only look.
		decides := r == auth.RoleAnalystL2 || r == auth.RoleIncidentLead
		ps = append(ps, principal{name: "person with TOTP and role " + string(r), who: SignedIn(person("p-"+string(r), true, "tokyo", r), "tokyo"), decides: decides})
	}
	return ps
}

// theApprover returns tokyo's approver signed in with TOTP from ps.
func theApprover(t *testing.T, ps []principal) Person {
	t.Helper()
	for _, p := range ps {
		if p.approver {
			return p.who
		}
	}
	t.Fatal("no approver among the principals")
	return Person{}
}

// shape is one decision against the inventory of testdata/assets.csv: protected says a
// guardrail must hold it.
type shape struct {
	action    decision.Action
	scope     decision.Scope
	value     string
	protected bool
}

func (s shape) String() string { return fmt.Sprintf("%s %s %s", s.action, s.scope, s.value) }

// shapes returns every shape of decision that touches a life-support device or a protected
// service — the address, its IPv4-mapped form, a network around it, a network it is in, an
// IPv6 network holding every IPv4-mapped address, a domain naming it or its hostname — each
// blocked and, for an address, isolated; and two that touch nothing.
func shapes() []shape {
	var out []shape
	addrs := []string{
		"10.20.1.11",        // ICU ventilator bed 1
		"10.20.1.12",        // bed 2
		"2001:db8:20::11",   // the ventilator's IPv6 address
		"::ffff:10.20.1.11", // its IPv4-mapped form
		"10.20.2.7",         // a device in the dialysis unit's VLAN
		"10.20.3.7",         // an infusion pump, life-support but not marked protected
		"10.40.0.10",        // the EHR, a protected service
		"192.0.2.80",        // the cloud EHR
	}
	for _, a := range addrs {
		out = append(out, shape{decision.ActionIsolate, decision.ScopeIP, a, true}, shape{decision.ActionBlock, decision.ScopeIP, a, true})
	}
	for _, r := range []string{"10.20.1.11/32", "10.20.1.0/24", "10.20.0.0/16", "10.0.0.0/8", "0.0.0.0/0",
		"10.20.2.128/25", "10.20.3.4/30", "2001:db8:20::/64", "2001:db8::/32", "::/0", "::ffff:10.20.1.0/120", "10.40.0.0/24",
		"::/64", "::/80", "::ffff:0:0/95", "::ffff:0:0/96"} { // each holds ::ffff:10.20.1.11
		out = append(out, shape{decision.ActionBlock, decision.ScopeRange, r, true})
	}
	for _, d := range []string{"ehr.tokyo-general.example", "tokyo-general.example", "pump-07.icu.tokyo-medical.example",
		"icu.tokyo-medical.example", "Tokyo-Medical.Example.", "cloud-ehr.vendor.example",
		"vent-01.ward3.tokyo-medical.example", "WARD3.Tokyo-Medical.Example."} { // the ventilator's hostname column
		out = append(out, shape{decision.ActionBlock, decision.ScopeDomain, d, true})
	}
	return append(out, shape{decision.ActionBlock, decision.ScopeIP, "203.0.113.7", false}, shape{decision.ActionBlock, decision.ScopeRange, "198.18.0.0/16", false})
}

// TestGuardrailHoldsForEveryone tries every principal × every decision shape against a
// hospital with life-support devices: whoever adds a decision on a protected device, it is
// held, and only tokyo's approver signed in with TOTP may approve or reject it. Once the
// approver has approved one for an hour, no one else may prolong it — not by Extend with a
// year, whatever their role or token — and the approver may. No enforcer (the Changed hook:
// nftables, bouncers, webhooks) is ever told of an active decision on a protected device that
// the approver did not approve.
func TestGuardrailHoldsForEveryone(t *testing.T) {
	s, _, c, changed := newService(t, false)
	ctx := t.Context()
	ps, ss := principals(), shapes()
	mori := theApprover(t, ps)
	var held []decision.Decision
	for _, p := range ps {
		for _, sh := range ss {
			r := Request{Action: sh.action, Scope: sh.scope, Value: sh.value, TTL: time.Hour, Reason: "test"}
			d, err := s.Add(ctx, "tokyo", p.who, r)
			what := fmt.Sprintf("%s: Add(%s)", p.name, sh)
			switch {
			case !p.decides:
				if !errors.Is(err, ErrNotAllowed) {
					t.Errorf("%s = %v, %v; want ErrNotAllowed: this caller may not decide", what, d.Status, err)
				}
			case err != nil:
				t.Errorf("%s: %v", what, err)
			case sh.protected:
				if d.Status != decision.StatusHeld || d.Guardrail == "" {
					t.Errorf("%s = %s %q; want held by a guardrail", what, d.Status, d.Guardrail)
				}
				held = append(held, d)
			default:
				if d.Status != decision.StatusActive {
					t.Errorf("%s = %s %q; want active: nothing is protected there", what, d.Status, d.Guardrail)
				}
			}
		}
	}
	if len(held) == 0 {
		t.Fatal("no decision was held: the test tried nothing")
	}

	for _, d := range held {
		for _, p := range ps {
			if p.approver {
				continue
			}
			if got, err := s.Approve(ctx, "tokyo", p.who, d.ID, "ok"); !errors.Is(err, ErrNotAllowed) {
				t.Errorf("%s: Approve(%d: %s %s) = %s, %v; want ErrNotAllowed", p.name, d.ID, d.Action, d.Value, got.Status, err)
			}
			if got, err := s.Reject(ctx, "tokyo", p.who, d.ID, "no"); !errors.Is(err, ErrNotAllowed) {
				t.Errorf("%s: Reject(%d: %s %s) = %s, %v; want ErrNotAllowed", p.name, d.ID, d.Action, d.Value, got.Status, err)
			}
		}
	}

	// The approver approves one decision of each shape for its hour; no one else prolongs it.
	var approved []decision.Decision
	for _, d := range held[:len(ss)-2] {
		a, err := s.Approve(ctx, "tokyo", mori, d.ID, "ward on manual ventilation")
		if err != nil || a.Status != decision.StatusActive {
			t.Fatalf("Approve(%d) by the approver = %+v, %v; want active", d.ID, a, err)
		}
		approved = append(approved, a)
	}
	c.add(30 * time.Minute)
	for _, d := range approved {
		for _, p := range ps {
			if p.approver {
				continue
			}
			if got, err := s.Extend(ctx, "tokyo", p.who, d.ID, 8760*time.Hour, "a year"); !errors.Is(err, ErrNotAllowed) {
				t.Errorf("%s: Extend(%d: %s %s, 8760h) = expires %v, %v; want ErrNotAllowed", p.name, d.ID, d.Action, d.Value, got.Expires, err)
			}
		}
		if got, err := s.Get(ctx, "tokyo", d.ID); err != nil || !got.Expires.Equal(d.Expires) {
			t.Errorf("Get(%d) after the attempts = expires %v, %v; want the approved %v", d.ID, got.Expires, err, d.Expires)
		}
	}
	if got, err := s.Extend(ctx, "tokyo", mori, approved[0].ID, 2*time.Hour, "vendor's patch takes longer"); err != nil ||
		!got.Expires.Equal(c.now().Add(2*time.Hour)) {
		t.Errorf("Extend(%d, 2h) by the approver = %+v, %v; want expires %v", approved[0].ID, got, err, c.now().Add(2*time.Hour))
	}

	// What the enforcers were told: an active decision on a protected target only as the
	// approver approved or extended it.
	protected := map[string]bool{}
	for _, sh := range ss {
		if sh.protected {
			v, err := canonical(sh.scope, sh.value)
			if err != nil {
				t.Fatal(err)
			}
			protected[v] = true
		}
	}
	for _, d := range *changed {
		if d.Status == decision.StatusActive && protected[d.Value] && d.UpdatedBy != mori.Actor() {
			t.Errorf("an enforcer was told of active decision %d (%s %s) by %s", d.ID, d.Action, d.Value, d.UpdatedBy)
		}
	}
}

// TestGuardrailPoliciesHold: the automatic path — a policy acting on an alert, with every
// widening a policy may make — never makes an active decision on a protected device.
func TestGuardrailPoliciesHold(t *testing.T) {
	st := openStore(t, "tokyo")
	c := &clock{t: t0}
	var policies []Policy
	for _, p := range []Policy{
		{Name: "block-source", Action: decision.ActionBlock},
		{Name: "block-source-24", Action: decision.ActionBlock, Prefix: 24, PrefixV6: 64},
		{Name: "block-source-16", Action: decision.ActionBlock, Prefix: 16, PrefixV6: 48},
		{Name: "block-source-8", Action: decision.ActionBlock, Prefix: 8, PrefixV6: 8},
		{Name: "block-destination", Action: decision.ActionBlock, Target: EntityDestination},
		{Name: "isolate-host", Action: decision.ActionIsolate, Target: EntityHost},
		{Name: "isolate-source", Action: decision.ActionIsolate},
	} {
		p.TTL, p.Continue = time.Hour, true
		policies = append(policies, p)
	}
	s, err := New(st, Config{Policies: policies, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	s.SetGuardrails("tokyo", hospitalGuardrails(t, false))
	n := 0
	for _, sh := range shapes() {
		if sh.scope != decision.ScopeIP || !sh.protected {
			continue
		}
		n++
		a := detect.Alert{ID: "a-" + sh.value, Tenant: "tokyo", RuleID: "behavior.ransomware", Level: "critical",
			Entities: detect.Entities{Source: sh.value, Destination: sh.value, Host: sh.value}}
		ds, err := s.OnAlert(t.Context(), a)
		if err != nil {
			t.Errorf("OnAlert(%s): %v", sh.value, err)
		}
		if len(ds) != len(policies) {
			t.Errorf("OnAlert(%s) made %d decisions, want one per policy (%d)", sh.value, len(ds), len(policies))
		}
		for _, d := range ds {
			if d.Status == decision.StatusActive {
				t.Errorf("OnAlert(%s): policy made active %s %s %s", sh.value, d.Action, d.Scope, d.Value)
			}
		}
	}
	if n == 0 {
		t.Fatal("no protected address tried")
	}

	// The approver approves what the alerts held, for its hour. The same alerts again, three
	// times — a brute force repeats itself — return the approved decisions as they are: an
	// alert never prolongs what a person approved.
	mori := theApprover(t, principals())
	held, err := s.List(t.Context(), "tokyo", store.DecisionFilter{Status: []decision.Status{decision.StatusHeld}})
	if err != nil || len(held) == 0 {
		t.Fatalf("held decisions = %d, %v; want some", len(held), err)
	}
	approved := map[int64]decision.Decision{}
	for _, d := range held {
		a, err := s.Approve(t.Context(), "tokyo", mori, d.ID, "ok")
		if err != nil {
			t.Fatalf("Approve(%d): %v", d.ID, err)
		}
		approved[a.ID] = a
	}
	for range 3 {
		c.add(20 * time.Minute)
		for _, sh := range shapes() {
			if sh.scope != decision.ScopeIP || !sh.protected {
				continue
			}
			a := detect.Alert{ID: "again-" + sh.value, Tenant: "tokyo", RuleID: "behavior.ransomware", Level: "critical",
				Entities: detect.Entities{Source: sh.value, Destination: sh.value, Host: sh.value}}
			ds, _ := s.OnAlert(t.Context(), a)
			for _, d := range ds {
				if was, ok := approved[d.ID]; ok && !d.Expires.Equal(was.Expires) {
					t.Errorf("OnAlert(%s) moved approved decision %d (%s %s) to expire %v, approved until %v",
						sh.value, d.ID, d.Action, d.Value, d.Expires, was.Expires)
				}
			}
		}
	}
	for id, was := range approved {
		if got, err := s.Get(t.Context(), "tokyo", id); err != nil || !got.Expires.Equal(was.Expires) {
			t.Errorf("Get(%d) = expires %v, %v; want %v, as approved", id, got.Expires, err, was.Expires)
		}
	}
	// Revoked, the approval is spent: the same alert again is held for a person once more.
	for id := range approved {
		if _, err := s.Revoke(t.Context(), "tokyo", mori, id, "ward back on the ventilator"); err != nil {
			t.Fatal(err)
		}
	}
	a := detect.Alert{ID: "after-revoke", Tenant: "tokyo", RuleID: "behavior.ransomware", Level: "critical",
		Entities: detect.Entities{Source: "10.20.1.11", Destination: "10.20.1.11", Host: "10.20.1.11"}}
	ds, _ := s.OnAlert(t.Context(), a)
	for _, d := range ds {
		if _, was := approved[d.ID]; was || d.Status == decision.StatusActive {
			t.Errorf("OnAlert(10.20.1.11) after the revocations = decision %d %s (%s %s); want a new one, held (or rejected by an allowlist)", d.ID, d.Status, d.Action, d.Value)
		}
	}
}
