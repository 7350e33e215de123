package nft

import (
	"context"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
)

// TestDecisionsShareATarget, in a network namespace: two decisions in force on one address
// (a person's block beside a policy's, two hospitals' on one gateway) share its kernel
// element. Revoking one leaves the address blocked for as long as the other lasts; only the
// end of the last takes it out. A held decision revoked before it was ever in force touches
// nothing, and a block and an isolation of one address are apart.
func TestDecisionsShareATarget(t *testing.T) {
	e, _ := newTestEnforcer(t, Config{})
	ctx := context.Background()
	now := time.Now()
	newDecision := func(tenant string, id int64, action decision.Action, value string, ttl time.Duration) decision.Decision {
		return decision.Decision{ID: id, Tenant: tenant, Action: action, Scope: decision.ScopeIP, Value: value, TTL: ttl,
			Expires: now.Add(ttl), Status: decision.StatusActive, Created: now, Activated: now}
	}
	revoked := func(d decision.Decision) decision.Decision { d.Status = decision.StatusRevoked; return d }
	const attacker, server = "203.0.113.7", "198.51.100.20"
	policy := newDecision("handa", 1, decision.ActionBlock, attacker, time.Hour)
	person := newDecision("handa", 2, decision.ActionBlock, attacker, 2*time.Hour)
	other := newDecision("kyushu", 1, decision.ActionBlock, attacker, 3*time.Hour) // another tenant's decision 1
	isolation := newDecision("handa", 3, decision.ActionIsolate, attacker, 4*time.Hour)
	held := newDecision("handa", 4, decision.ActionIsolate, server, time.Hour)
	held.Status, held.Activated = decision.StatusHeld, time.Time{}
	iso := newDecision("handa", 5, decision.ActionIsolate, server, time.Hour)

	type want struct{ block, isolate map[string]time.Duration }
	// check compares the kernel's sets with w. Apply's timeouts count from now exactly;
	// Reconcile's from its own call, so after Load a timeout may be short of w's by the
	// moments since now (less than the hour that tells the decisions apart).
	check := func(step string, w want) {
		t.Helper()
		for k, m := range map[kind]map[string]time.Duration{kindBlock: w.block, kindIsolate: w.isolate} {
			got := map[string]time.Duration{}
			for p, ttl := range kernelPrefixes(t, e, k) {
				got[p.Addr().String()] = ttl
			}
			same := len(got) == len(m)
			for addr, ttl := range m {
				g, ok := got[addr]
				same = same && ok && g <= ttl && g > ttl-time.Hour/2
			}
			if !same {
				t.Errorf("after %s: kernel %s set = %v, want %v", step, k, got, m)
			}
		}
	}

	a := NewDecisions(e)
	steps := []struct {
		step string
		d    decision.Decision
		want want
	}{
		{"the policy's block", policy, want{block: map[string]time.Duration{attacker: time.Hour}}},
		{"a person's longer block", person, want{block: map[string]time.Duration{attacker: 2 * time.Hour}}},
		{"the person's block revoked", revoked(person), want{block: map[string]time.Duration{attacker: time.Hour}}},
		{"the person's block again", person, want{block: map[string]time.Duration{attacker: 2 * time.Hour}}},
		{"the policy's block revoked", revoked(policy), want{block: map[string]time.Duration{attacker: 2 * time.Hour}}},
		{"an isolation of the same address", isolation, want{block: map[string]time.Duration{attacker: 2 * time.Hour}, isolate: map[string]time.Duration{attacker: 4 * time.Hour}}},
		{"the last block revoked", revoked(person), want{isolate: map[string]time.Duration{attacker: 4 * time.Hour}}},
		{"an isolation of the server", iso, want{isolate: map[string]time.Duration{attacker: 4 * time.Hour, server: time.Hour}}},
		{"a held isolation of the server", held, want{isolate: map[string]time.Duration{attacker: 4 * time.Hour, server: time.Hour}}},
		{"the held isolation revoked", revoked(held), want{isolate: map[string]time.Duration{attacker: 4 * time.Hour, server: time.Hour}}},
		{"the isolation of the server revoked", revoked(iso), want{isolate: map[string]time.Duration{attacker: 4 * time.Hour}}},
	}
	for _, s := range steps {
		if err := a.Apply(ctx, s.d, now); err != nil {
			t.Fatalf("Apply(%s) = %v", s.step, err)
		}
		check(s.step, s.want)
	}

	// After a restart the decisions come from the store, two tenants' on one address.
	a = NewDecisions(e)
	if err := a.Load(ctx, []decision.Decision{policy, other, revoked(person)}, now); err != nil {
		t.Fatalf("Load: %v", err)
	}
	check("Load", want{block: map[string]time.Duration{attacker: 3 * time.Hour}})
	if err := a.Apply(ctx, revoked(other), now); err != nil {
		t.Fatal(err)
	}
	check("kyushu's block revoked", want{block: map[string]time.Duration{attacker: time.Hour}})
	if err := a.Apply(ctx, revoked(policy), now); err != nil {
		t.Fatal(err)
	}
	check("handa's block revoked", want{})
}
