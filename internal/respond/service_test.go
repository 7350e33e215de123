package respond

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/store"
)

var t0 = time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func openStore(t testing.TB, tenants ...string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range tenants {
		if _, err := st.CreateTenant(context.Background(), "test", store.Tenant{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

var testPolicies = []Policy{
	{Name: "brute-force", Rules: []string{"behavior.bruteforce"}, Action: decision.ActionBlock, TTL: 4 * time.Hour, Continue: true},
	{Name: "ransomware-isolate", Rules: []string{"behavior.ransomware"}, Action: decision.ActionIsolate, Target: EntityHost, TTL: time.Hour},
	{Name: "critical", MinLevel: "critical", Action: decision.ActionBlock, Prefix: 24, TTL: time.Hour},
}

func newService(t testing.TB, dryRun bool) (*Service, *store.Store, *clock, *[]decision.Decision) {
	st := openStore(t, "tokyo", "osaka")
	c := &clock{t: t0}
	var mu sync.Mutex
	var changed []decision.Decision
	s, err := New(st, Config{Policies: testPolicies, DryRun: dryRun, Now: c.now, Changed: func(_ context.Context, d decision.Decision) {
		mu.Lock()
		changed = append(changed, d)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetGuardrails("tokyo", hospitalGuardrails(t, false))
	return s, st, c, &changed
}

func bruteForce(id, src string) detect.Alert {
	return detect.Alert{ID: id, Tenant: "tokyo", Detector: "behavior", RuleID: "behavior.bruteforce", Title: "SSH brute force",
		Level: "high", Entities: detect.Entities{Source: src, Destination: "10.40.0.10"}}
}

var (
	aiko   = signedIn("aiko", "tokyo", auth.RoleAnalystL2) // the security responder on call
	mori   = approver("mori", "tokyo")                     // the clinical engineer on call
	viewer = signedIn("kenji", "tokyo", auth.RoleViewer)
)

// signedIn is a person signed in to the web UI without TOTP who holds roles in tenant.
func signedIn(name, tenant string, roles ...auth.Role) Person {
	return SignedIn(auth.Identity{UserID: name, Name: name, Roles: map[string][]auth.Role{tenant: roles}}, tenant)
}

// approver is a person signed in to the web UI with TOTP who holds the approver role in tenant.
func approver(name, tenant string) Person {
	return SignedIn(auth.Identity{UserID: name, Name: name, Roles: map[string][]auth.Role{tenant: {auth.RoleApprover}}, SecondFactor: true}, tenant)
}

func TestOnAlertBlocksAttacker(t *testing.T) {
	s, st, c, changed := newService(t, false)
	ctx := t.Context()
	ds, err := s.OnAlert(ctx, bruteForce("a-1", "203.0.113.7"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("OnAlert(brute force) = %v, %v; want one decision", ds, err)
	}
	d := ds[0]
	if d.Status != decision.StatusActive || d.Action != decision.ActionBlock || d.Value != "203.0.113.7" || !d.Live(c.now()) ||
		d.Origin != (decision.Origin{Kind: decision.OriginRule, Name: "behavior.bruteforce"}) || d.AlertID != "a-1" || d.CreatedBy != "rule:behavior.bruteforce" ||
		!d.Expires.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("OnAlert(brute force) = %+v, want an active 4h block of the source by the rule", d)
	}
	if len(*changed) != 1 {
		t.Errorf("Changed called %d times, want 1", len(*changed))
	}

	// The attacker keeps going: the same decision is extended, not duplicated.
	c.add(time.Hour)
	again, _ := s.OnAlert(ctx, bruteForce("a-2", "203.0.113.7"))
	if len(again) != 1 || again[0].ID != d.ID || !again[0].Expires.Equal(t0.Add(5*time.Hour)) || again[0].UpdatedBy != "rule:behavior.bruteforce" {
		t.Errorf("OnAlert(repeat) = %+v, want decision %d extended to %v", again, d.ID, t0.Add(5*time.Hour))
	}
	all, _ := s.List(ctx, "tokyo", store.DecisionFilter{})
	if len(all) != 1 {
		t.Errorf("after a repeated alert there are %d decisions, want 1", len(all))
	}
	// Another tenant sees none of it.
	if other, _ := s.List(ctx, "osaka", store.DecisionFilter{}); len(other) != 0 {
		t.Errorf("osaka sees %d of tokyo's decisions", len(other))
	}
	log, _ := st.Tenant("tokyo").AuditLog(ctx, 2)
	if len(log) != 2 || log[0].Action != "decision.extend" || log[1].Action != "decision.create" {
		t.Errorf("audit log = %+v, want create then extend", log)
	}
}

func TestOnAlertPolicies(t *testing.T) {
	s, _, _, _ := newService(t, false)
	tests := []struct {
		name  string
		alert detect.Alert
		want  []string // action value status
	}{
		{"no policy matches", detect.Alert{ID: "x1", Tenant: "tokyo", RuleID: "other", Level: "high", Entities: detect.Entities{Source: "203.0.113.8"}}, nil},
		{"critical widens to /24", detect.Alert{ID: "x2", Tenant: "tokyo", RuleID: "cve-2018-13379", Level: "critical", Entities: detect.Entities{Source: "198.18.7.77"}},
			[]string{"block 198.18.7.0/24 active"}},
		{"brute force continues to critical", detect.Alert{ID: "x3", Tenant: "tokyo", RuleID: "behavior.bruteforce", Level: "critical", Entities: detect.Entities{Source: "203.0.113.9"}},
			[]string{"block 203.0.113.9 active", "block 203.0.113.0/24 active"}},
		{"ransomware on a workstation isolates it", detect.Alert{ID: "x4", Tenant: "tokyo", RuleID: "behavior.ransomware", Level: "high", Entities: detect.Entities{Host: "10.30.5.5"}},
			[]string{"isolate 10.30.5.5 active"}},
		{"ransomware on a ventilator is held", detect.Alert{ID: "x5", Tenant: "tokyo", RuleID: "behavior.ransomware", Level: "high", Entities: detect.Entities{Host: "10.20.1.11"}},
			[]string{"isolate 10.20.1.11 held"}},
		{"brute force from a public resolver is rejected", bruteForce("x6", "8.8.8.8"), []string{"block 8.8.8.8 rejected"}},
		{"a tenant without an inventory: held", detect.Alert{ID: "x7", Tenant: "osaka", RuleID: "behavior.bruteforce", Level: "high", Entities: detect.Entities{Source: "203.0.113.7"}},
			[]string{"block 203.0.113.7 held"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := s.OnAlert(t.Context(), tt.alert)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range ds {
				got = append(got, string(d.Action)+" "+d.Value+" "+string(d.Status))
				if d.Status != decision.StatusActive && d.Guardrail == "" {
					t.Errorf("decision %+v is %s without saying which guardrail", d, d.Status)
				}
			}
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				t.Errorf("OnAlert(%s) = %q, want %q", tt.alert.ID, got, tt.want)
			}
		})
	}
	// A policy that matches an alert without the address it acts on says so.
	_, err := s.OnAlert(t.Context(), detect.Alert{ID: "x8", Tenant: "tokyo", RuleID: "behavior.ransomware", Entities: detect.Entities{Host: "WS-042"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `no host address ("WS-042")`) {
		t.Errorf("OnAlert(host without address) = %v, want ErrInvalid naming the host", err)
	}
}

// The guardrail story of the issue: an alert whose remedy would isolate a life-support device
// produces a held decision; a viewer's approval is refused; a responder's enforces it.
func TestHeldDecisionApproval(t *testing.T) {
	s, st, c, _ := newService(t, false)
	ctx := t.Context()
	ds, _ := s.OnAlert(ctx, detect.Alert{ID: "r-1", Tenant: "tokyo", RuleID: "behavior.ransomware", Level: "critical",
		Entities: detect.Entities{Host: "10.20.1.11"}})
	if len(ds) != 1 || ds[0].Status != decision.StatusHeld || ds[0].Live(c.now()) {
		t.Fatalf("OnAlert(ransomware on ventilator) = %+v, want one held decision, not live", ds)
	}
	held := ds[0]
	c.add(10 * time.Minute)
	if w := held.Waiting(c.now()); w != 10*time.Minute {
		t.Errorf("Waiting() = %v, want 10m", w)
	}
	waiting, _ := s.List(ctx, "tokyo", store.DecisionFilter{Status: []decision.Status{decision.StatusHeld}})
	if len(waiting) != 1 || waiting[0].ID != held.ID {
		t.Errorf("List(held) = %+v, want the held decision", waiting)
	}

	_, err := s.Approve(ctx, "tokyo", viewer, held.ID, "looks bad")
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), `kenji has role "viewer"`) {
		t.Errorf("Approve(by viewer) = %v, want ErrNotAllowed naming the person and role", err)
	}
	if d, _ := s.Get(ctx, "tokyo", held.ID); d.Status != decision.StatusHeld {
		t.Errorf("after a refused approval the decision is %s, want held", d.Status)
	}
	// A responder (or a script's token) may add and revoke, not approve what a guardrail held.
	if _, err := s.Approve(ctx, "tokyo", aiko, held.ID, ""); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "approver") {
		t.Errorf("Approve(by responder) = %v, want ErrNotAllowed asking for an approver", err)
	}
	if _, err := s.Approve(ctx, "osaka", approver("sato", "osaka"), held.ID, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Approve(from another tenant) = %v, want ErrNotFound", err)
	}
	if _, err := s.Approve(ctx, "osaka", mori, held.ID, ""); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "acts for tenant tokyo") {
		t.Errorf("Approve(by tokyo's approver in osaka) = %v, want ErrNotAllowed: his role is tokyo's", err)
	}

	got, err := s.Approve(ctx, "tokyo", mori, held.ID, "ventilator confirmed compromised; ICU on manual ventilation")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != decision.StatusActive || !got.Live(c.now()) || !got.Expires.Equal(c.now().Add(time.Hour)) || got.UpdatedBy != "person:mori" {
		t.Errorf("Approve(by approver) = %+v, want active for 1h from approval, by mori", got)
	}
	if _, err := s.Approve(ctx, "tokyo", mori, held.ID, ""); !errors.Is(err, ErrState) {
		t.Errorf("Approve(twice) = %v, want ErrState", err)
	}
	log, _ := st.Tenant("tokyo").AuditLog(ctx, 1)
	if log[0].Action != "decision.approve" || log[0].Actor != "person:mori" || !strings.Contains(log[0].Detail, "ICU on manual ventilation") {
		t.Errorf("audit log = %+v, want the approval by mori with his note", log[0])
	}
}

func TestRejectRevokeExtendExpire(t *testing.T) {
	s, _, c, changed := newService(t, false)
	ctx := t.Context()
	held, _ := s.OnAlert(ctx, detect.Alert{ID: "r", Tenant: "tokyo", RuleID: "behavior.ransomware", Entities: detect.Entities{Host: "10.40.0.10"}})
	if _, err := s.Reject(ctx, "tokyo", aiko, held[0].ID, "no"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("Reject(by responder) = %v, want ErrNotAllowed", err)
	}
	if d, err := s.Reject(ctx, "tokyo", mori, held[0].ID, "EHR must stay up; handled by the vendor"); err != nil || d.Status != decision.StatusRejected {
		t.Errorf("Reject = %+v, %v; want rejected", d, err)
	}
	active, _ := s.OnAlert(ctx, bruteForce("b", "203.0.113.50"))
	id := active[0].ID
	if _, err := s.Extend(ctx, "tokyo", viewer, id, time.Hour, ""); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("Extend(by viewer) = %v, want ErrNotAllowed", err)
	}
	if d, err := s.Extend(ctx, "tokyo", aiko, id, 24*time.Hour, "campaign ongoing"); err != nil || !d.Expires.Equal(c.now().Add(24*time.Hour)) {
		t.Errorf("Extend(24h) = %+v, %v", d, err)
	}
	if d, err := s.Revoke(ctx, "tokyo", aiko, id, "false positive: the lab's scanner"); err != nil || d.Status != decision.StatusRevoked || d.Live(c.now()) {
		t.Errorf("Revoke = %+v, %v; want revoked", d, err)
	}
	if _, err := s.Revoke(ctx, "tokyo", aiko, id, ""); !errors.Is(err, ErrState) {
		t.Errorf("Revoke(twice) = %v, want ErrState", err)
	}

	short, _ := s.OnAlert(ctx, bruteForce("c", "203.0.113.51"))
	n0 := len(*changed)
	c.add(5 * time.Hour)
	if n, err := s.Expire(ctx); n != 1 || err != nil {
		t.Errorf("Expire() = %d, %v; want 1", n, err)
	}
	if d, _ := s.Get(ctx, "tokyo", short[0].ID); d.Status != decision.StatusExpired || d.UpdatedBy != "system" {
		t.Errorf("after expiry the decision is %s by %s, want expired by system", d.Status, d.UpdatedBy)
	}
	if len(*changed) != n0+1 {
		t.Errorf("Changed called %d times for the expiry, want 1", len(*changed)-n0)
	}
	// After expiry, a new alert makes a new decision.
	again, _ := s.OnAlert(ctx, bruteForce("d", "203.0.113.51"))
	if again[0].ID == short[0].ID || again[0].Status != decision.StatusActive {
		t.Errorf("OnAlert after expiry = %+v, want a new active decision", again[0])
	}
}

func TestAdd(t *testing.T) {
	s, st, _, _ := newService(t, false)
	ctx := t.Context()
	tests := []struct {
		name    string
		who     Person
		r       Request
		status  decision.Status
		origin  decision.Origin
		wantErr error
	}{
		{"responder blocks a range", aiko, Request{Action: decision.ActionBlock, Scope: decision.ScopeRange, Value: "198.18.100.77/24", TTL: time.Hour, Reason: "C2 hosting"},
			decision.StatusActive, decision.Origin{Kind: decision.OriginPerson, Name: "aiko"}, nil},
		{"authority request with reference", aiko, Request{Action: decision.ActionBlock, Scope: decision.ScopeDomain, Value: "Evil.Example.", TTL: 24 * time.Hour,
			Reason: "phishing domain", Authority: "NISC", Reference: "NISC-2026-0117"},
			decision.StatusActive, decision.Origin{Kind: decision.OriginAuthority, Name: "NISC", Reference: "NISC-2026-0117"}, nil},
		{"person blocking a ventilator is held too", aiko, Request{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "10.20.1.11", TTL: time.Hour, Reason: "r"},
			decision.StatusHeld, decision.Origin{Kind: decision.OriginPerson, Name: "aiko"}, nil},
		{"approver's isolation of a ventilator is held too", mori, Request{Action: decision.ActionIsolate, Scope: decision.ScopeIP, Value: "10.20.1.12", TTL: time.Hour, Reason: "vendor confirmed"},
			decision.StatusHeld, decision.Origin{Kind: decision.OriginPerson, Name: "mori"}, nil},
		{"a literal Person is bound to no tenant", Person{Name: "root", Role: RoleAdmin}, Request{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "203.0.113.1", TTL: time.Hour, Reason: "r"},
			"", decision.Origin{}, ErrNotAllowed},
		{"viewer may not", viewer, Request{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "203.0.113.1", TTL: time.Hour, Reason: "r"}, "", decision.Origin{}, ErrNotAllowed},
		{"reason required", aiko, Request{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "203.0.113.1", TTL: time.Hour}, "", decision.Origin{}, ErrInvalid},
		{"reference required", aiko, Request{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "203.0.113.1", TTL: time.Hour, Reason: "r", Authority: "police"}, "", decision.Origin{}, ErrInvalid},
		{"bad address", aiko, Request{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "203.0.113.300", TTL: time.Hour, Reason: "r"}, "", decision.Origin{}, ErrInvalid},
		{"isolate needs an address", aiko, Request{Action: decision.ActionIsolate, Scope: decision.ScopeRange, Value: "10.30.0.0/24", TTL: time.Hour, Reason: "r"}, "", decision.Origin{}, ErrInvalid},
		{"no duration", aiko, Request{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "203.0.113.1", Reason: "r"}, "", decision.Origin{}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.Add(ctx, "tokyo", tt.who, tt.r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Add() = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || d.Status != tt.status || d.Origin != tt.origin || d.CreatedBy != tt.who.Actor() {
				t.Errorf("Add() = %+v, %v; want %s from %v by %s", d, err, tt.status, tt.origin, tt.who.Actor())
			}
		})
	}
	ds, _ := s.List(ctx, "tokyo", store.DecisionFilter{Scope: "domain"})
	if len(ds) != 1 || ds[0].Value != "evil.example" {
		t.Errorf("domain stored as %+v, want evil.example", ds)
	}
	log, _ := st.Tenant("tokyo").AuditLog(ctx, 10)
	for _, e := range log {
		if e.Action == "decision.create" && e.Actor != "person:aiko" && e.Actor != "person:mori" {
			t.Errorf("audit entry %+v not by aiko or mori", e)
		}
	}
}

func TestDryRun(t *testing.T) {
	s, _, c, _ := newService(t, true)
	ds, err := s.OnAlert(t.Context(), bruteForce("a", "203.0.113.7"))
	if err != nil || len(ds) != 1 || !ds[0].DryRun || ds[0].Status != decision.StatusActive || ds[0].Live(c.now()) {
		t.Fatalf("OnAlert(dry run) = %+v, %v; want an active decision marked dry-run and not live", ds, err)
	}
	held, _ := s.OnAlert(t.Context(), detect.Alert{ID: "r", Tenant: "tokyo", RuleID: "behavior.ransomware", Entities: detect.Entities{Host: "10.20.1.11"}})
	if !held[0].DryRun || held[0].Status != decision.StatusHeld {
		t.Errorf("OnAlert(dry run, ventilator) = %+v, want a held dry-run decision: the guardrails show too", held[0])
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		p    Policy
		want string
	}{
		{Policy{Name: "ok", Action: decision.ActionBlock, TTL: time.Hour}, ""},
		{Policy{Action: decision.ActionBlock, TTL: time.Hour}, "needs a name"},
		{Policy{Name: "p", Action: "ban", TTL: time.Hour}, `action "ban"`},
		{Policy{Name: "p", Action: decision.ActionBlock}, "ttl must be positive"},
		{Policy{Name: "p", Action: decision.ActionBlock, TTL: time.Hour, MinLevel: "severe"}, `min_level "severe"`},
		{Policy{Name: "p", Action: decision.ActionBlock, TTL: time.Hour, Target: "user"}, `target "user"`},
		{Policy{Name: "p", Action: decision.ActionIsolate, TTL: time.Hour, Prefix: 24}, "isolate acts on one host"},
		{Policy{Name: "p", Action: decision.ActionBlock, TTL: time.Hour, Prefix: 33}, "out of range"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid))) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.p, err, tt.want)
		}
	}
	if _, err := New(nil, Config{Policies: []Policy{{Name: "x"}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New(bad policy) = %v, want ErrInvalid", err)
	}
}

func TestProposeIPv6Prefix(t *testing.T) {
	p := Policy{Name: "p", Action: decision.ActionBlock, Prefix: 24, PrefixV6: 64, TTL: time.Hour}
	d, err := p.Propose(detect.Alert{Entities: detect.Entities{Source: "2001:db8:1:2:3::9"}}, t0)
	if err != nil || d.Scope != decision.ScopeRange || d.Value != "2001:db8:1:2::/64" {
		t.Errorf("Propose(IPv6 source, /64) = %s %s, %v; want range 2001:db8:1:2::/64", d.Scope, d.Value, err)
	}
}

// Alerts about one attacker arriving at once make one decision.
func TestOnAlertConcurrent(t *testing.T) {
	s, _, _, _ := newService(t, false)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.OnAlert(t.Context(), bruteForce(fmt.Sprint("c-", i), "203.0.113.7")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ds, _ := s.List(t.Context(), "tokyo", store.DecisionFilter{Value: "203.0.113.7"}); len(ds) != 1 {
		t.Errorf("8 concurrent alerts made %d decisions, want 1", len(ds))
	}
}

// BenchmarkOnAlert measures an alert to a stored decision (policy, guardrails, look-up of a
// standing decision, insert with audit) with 20,000 decisions already in the store.
func BenchmarkOnAlert(b *testing.B) {
	s, st, _, _ := newService(b, false)
	ds := make([]decision.Decision, 20000)
	for i := range ds {
		ds[i] = decision.Decision{Action: "block", Scope: "ip", Value: fmt.Sprintf("100.64.%d.%d", i>>8, i&255), TTL: time.Hour,
			Expires: t0.Add(time.Hour), Origin: decision.Origin{Kind: "rule"}, Status: "active"}
	}
	if _, err := st.Tenant("tokyo").CreateDecisions(b.Context(), "bench", ds); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := s.OnAlert(b.Context(), bruteForce("b", fmt.Sprintf("198.18.%d.%d", i>>8&255, i&255))); err != nil {
			b.Fatal(err)
		}
	}
}
