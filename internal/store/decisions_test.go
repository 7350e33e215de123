package store

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/decision"
)

func newDecision(value string) decision.Decision {
	return decision.Decision{Action: "block", Scope: "ip", Value: value, TTL: 4 * time.Hour, Expires: t0.Add(4 * time.Hour),
		Reason: "SSH brute force", Origin: decision.Origin{Kind: "rule", Name: "ssh-bruteforce"}, AlertID: "a-1", Status: "active", Created: t0}
}

func TestDecisionCreateGet(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		in := newDecision("203.0.113.7")
		in.Origin.Reference = "NPA-2026-0042"
		in.DryRun = true
		got, err := sc.CreateDecision(ctx, "rule:ssh-bruteforce", in)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == 0 || got.Tenant != "tokyo" || got.CreatedBy != "rule:ssh-bruteforce" {
			t.Errorf("CreateDecision = %+v, want an ID, tenant tokyo, created by the rule", got)
		}
		back, err := reopen().Tenant("tokyo").Decision(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, back); diff != "" {
			t.Errorf("Decision(%d) differs from what CreateDecision returned (-created +read):\n%s", got.ID, diff)
		}
		if back.TTL != 4*time.Hour || !back.Expires.Equal(dbTime(t0.Add(4*time.Hour))) {
			t.Errorf("Decision(%d) TTL, expiry = %v, %v; want 4h, %v", got.ID, back.TTL, back.Expires, t0.Add(4*time.Hour))
		}
		log, _ := sc.AuditLog(ctx, 1)
		if len(log) != 1 || log[0].Action != "decision.create" || log[0].Actor != "rule:ssh-bruteforce" ||
			log[0].Object != fmt.Sprint(got.ID) || !strings.Contains(log[0].Detail, "ref=NPA-2026-0042") {
			t.Errorf("audit log = %+v, want decision.create by the rule with the authority reference", log)
		}
	})
}

func TestDecisionValidation(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		bad := newDecision("203.0.113.7")
		bad.Status = ""
		ok := newDecision("203.0.113.8")
		if _, err := sc.CreateDecisions(t.Context(), "test", []decision.Decision{ok, bad}); err == nil || !strings.Contains(err.Error(), "decision 2 of 2") {
			t.Errorf("CreateDecisions(no status) = %v, want an error naming decision 2", err)
		}
		if ds, _ := sc.Decisions(t.Context(), DecisionFilter{}); len(ds) != 0 {
			t.Errorf("after a failed batch %d decisions are stored, want 0 (all or none)", len(ds))
		}
		if _, err := s.Tenant("nowhere").CreateDecision(t.Context(), "test", ok); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateDecision(unknown tenant) = %v, want ErrNotFound", err)
		}
	})
}

func TestDecisionTenantIsolation(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		mustTenant(t, s, "osaka")
		d, err := s.Tenant("tokyo").CreateDecision(ctx, "test", newDecision("203.0.113.7"))
		if err != nil {
			t.Fatal(err)
		}
		osaka := s.Tenant("osaka")
		if _, err := osaka.Decision(ctx, d.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka.Decision(tokyo's) = %v, want ErrNotFound", err)
		}
		if ds, _ := osaka.Decisions(ctx, DecisionFilter{}); len(ds) != 0 {
			t.Errorf("osaka.Decisions() = %d, want 0", len(ds))
		}
		_, err = osaka.UpdateDecision(ctx, "mallory", d.ID, "decision.revoke", func(d *decision.Decision) error { d.Status = "revoked"; return nil })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka.UpdateDecision(tokyo's) = %v, want ErrNotFound", err)
		}
		if ds, _, _ := osaka.DecisionChanges(ctx, 0, 0); len(ds) != 0 {
			t.Errorf("osaka.DecisionChanges() = %d, want 0", len(ds))
		}
		if got, _ := s.Tenant("tokyo").Decision(ctx, d.ID); got.Status != "active" {
			t.Errorf("tokyo's decision status = %s after osaka's attempt, want active", got.Status)
		}
	})
}

func TestDecisionFilter(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		a := newDecision("203.0.113.1")
		b := newDecision("198.51.100.0/24")
		b.Scope = "range"
		c := newDecision("10.20.1.11")
		c.Action, c.Status, c.Guardrail = "isolate", "held", "life-support"
		d := newDecision("203.0.113.2")
		d.DryRun = true
		e := newDecision("203.0.113.3")
		e.Expires = t0.Add(-time.Minute)
		if _, err := sc.CreateDecisions(ctx, "test", []decision.Decision{a, b, c, d, e}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			f    DecisionFilter
			want []string
		}{
			{"all", DecisionFilter{}, []string{"203.0.113.1", "198.51.100.0/24", "10.20.1.11", "203.0.113.2", "203.0.113.3"}},
			{"held", DecisionFilter{Status: []decision.Status{"held"}}, []string{"10.20.1.11"}},
			{"range", DecisionFilter{Scope: "range"}, []string{"198.51.100.0/24"}},
			{"isolate", DecisionFilter{Action: "isolate"}, []string{"10.20.1.11"}},
			{"value", DecisionFilter{Value: "203.0.113.2"}, []string{"203.0.113.2"}},
			{"live", DecisionFilter{Live: t0}, []string{"203.0.113.1", "198.51.100.0/24"}},
			{"limit", DecisionFilter{Limit: 2}, []string{"203.0.113.1", "198.51.100.0/24"}},
		}
		for _, tt := range tests {
			ds, err := sc.Decisions(ctx, tt.f)
			var got []string
			for _, d := range ds {
				got = append(got, d.Value)
			}
			if err != nil || !cmp.Equal(got, tt.want) {
				t.Errorf("Decisions(%s) = %v, %v; want %v", tt.name, got, err, tt.want)
			}
		}
		all, _ := sc.Decisions(ctx, DecisionFilter{})
		if next, _ := sc.Decisions(ctx, DecisionFilter{After: all[1].ID}); len(next) != 3 {
			t.Errorf("Decisions(After second) = %d, want 3", len(next))
		}
	})
}

func TestDecisionUpdate(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		held := newDecision("10.20.1.11")
		held.Status, held.Guardrail = "held", "life-support"
		d, _ := sc.CreateDecision(ctx, "rule:x", held)

		refuse := errors.New("not allowed")
		if _, err := sc.UpdateDecision(ctx, "person:viewer", d.ID, "decision.approve", func(*decision.Decision) error { return refuse }); !errors.Is(err, refuse) {
			t.Errorf("UpdateDecision(refusing change) = %v, want the change's error", err)
		}
		if got, _ := sc.Decision(ctx, d.ID); got.Status != "held" {
			t.Errorf("status after a refused change = %s, want held", got.Status)
		}
		got, err := sc.UpdateDecision(ctx, "person:aiko", d.ID, "decision.approve", func(d *decision.Decision) error {
			d.Status, d.Note = "active", "ventilator vendor confirmed compromise"
			d.Origin.Kind, d.CreatedBy = "forged", "forged" // ignored: history is not rewritten
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "active" || got.UpdatedBy != "person:aiko" || got.Origin.Kind != "rule" || got.CreatedBy != "rule:x" {
			t.Errorf("UpdateDecision = %+v, want active, updated by aiko, origin and author unchanged", got)
		}
		log, _ := sc.AuditLog(ctx, 1)
		if len(log) != 1 || log[0].Action != "decision.approve" || log[0].Actor != "person:aiko" || !strings.Contains(log[0].Detail, "note=ventilator") {
			t.Errorf("audit log = %+v, want decision.approve by aiko with the note", log)
		}
	})
}

func TestDecisionExpireAndChanges(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		mustTenant(t, s, "osaka")
		sc := s.Tenant("tokyo")
		seq0, err := sc.DecisionSeq(ctx)
		if err != nil || seq0 != 0 {
			t.Fatalf("DecisionSeq() on an empty store = %d, %v; want 0", seq0, err)
		}
		short := newDecision("203.0.113.1")
		short.Expires = t0.Add(time.Minute)
		long := newDecision("203.0.113.2")
		held := newDecision("10.20.1.11")
		held.Status, held.Expires = "held", t0.Add(time.Minute)
		ds, err := sc.CreateDecisions(ctx, "test", []decision.Decision{short, long, held})
		if err != nil {
			t.Fatal(err)
		}
		s.Tenant("osaka").CreateDecision(ctx, "test", newDecision("192.0.2.1")) // another tenant's change
		seq1, _ := sc.DecisionSeq(ctx)
		changed, last, err := sc.DecisionChanges(ctx, seq0, 0)
		if err != nil || len(changed) != 3 || last != seq1 {
			t.Fatalf("DecisionChanges(0) = %d decisions, last %d, %v; want 3, %d", len(changed), last, err, seq1)
		}
		if page, _, _ := sc.DecisionChanges(ctx, seq0, 2); len(page) != 2 {
			t.Errorf("DecisionChanges(0, limit 2) = %d, want 2", len(page))
		}

		expired, err := sc.ExpireDecisions(ctx, "system", t0.Add(2*time.Minute))
		if err != nil || len(expired) != 1 || expired[0].ID != ds[0].ID || expired[0].Status != "expired" {
			t.Fatalf("ExpireDecisions() = %+v, %v; want only the short active one (held ones wait)", expired, err)
		}
		changed, last, _ = sc.DecisionChanges(ctx, seq1, 0)
		if len(changed) != 1 || changed[0].Status != "expired" || last <= seq1 {
			t.Errorf("DecisionChanges after expiry = %+v, last %d; want the expired decision", changed, last)
		}
		// Two changes to one decision are one entry, in its current state.
		sc.UpdateDecision(ctx, "a", ds[1].ID, "decision.extend", func(d *decision.Decision) error { d.Expires = d.Expires.Add(time.Hour); return nil })
		sc.UpdateDecision(ctx, "b", ds[1].ID, "decision.revoke", func(d *decision.Decision) error { d.Status = "revoked"; return nil })
		changed, _, _ = sc.DecisionChanges(ctx, last, 0)
		if len(changed) != 1 || changed[0].Status != "revoked" {
			t.Errorf("DecisionChanges after two updates = %+v, want one revoked decision", changed)
		}
	})
}

func TestBouncerCursor(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		if _, ok, err := sc.BouncerCursor(ctx, "fw-1"); ok || err != nil {
			t.Errorf("BouncerCursor(new) = _, %v, %v; want false, nil", ok, err)
		}
		for _, seq := range []int64{5, 9} {
			if err := sc.SetBouncerCursor(ctx, "fw-1", seq); err != nil {
				t.Fatal(err)
			}
		}
		if seq, ok, err := reopen().Tenant("tokyo").BouncerCursor(ctx, "fw-1"); seq != 9 || !ok || err != nil {
			t.Errorf("BouncerCursor(fw-1) = %d, %v, %v; want 9, true", seq, ok, err)
		}
		if _, ok, _ := s.Tenant("osaka").BouncerCursor(ctx, "fw-1"); ok {
			t.Error("osaka sees tokyo's bouncer position")
		}
	})
}

// TestDecisionActivated: the store records when a decision first came into force, whatever a
// change asks — at its making if active, at the approval of a held one — and never for a held
// decision revoked before anyone approved it; migration 0010 finds the same for decisions
// made before it, from the audit log.
func TestDecisionActivated(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		set := func(status decision.Status) func(*decision.Decision) error {
			return func(d *decision.Decision) error {
				d.Status, d.Activated = status, t0.Add(-time.Hour) // a change cannot set it
				return nil
			}
		}
		update := func(id int64, action string, change func(*decision.Decision) error) decision.Decision {
			t.Helper()
			d, err := sc.UpdateDecision(ctx, "person:mori", id, action, change)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		active := newDecision("203.0.113.7")
		active.Activated = t0.Add(-time.Hour) // ignored
		held := newDecision("10.20.1.11")
		held.Status, held.Guardrail = "held", "life-support: ICU ventilator bed 1"
		ds, err := sc.CreateDecisions(ctx, "rule:x", []decision.Decision{active, held, held, held, active})
		if err != nil {
			t.Fatal(err)
		}
		if !ds[0].Activated.Equal(ds[0].Created) || !ds[1].Activated.IsZero() {
			t.Errorf("activated at creation: active %v, held %v; want %v and never", ds[0].Activated, ds[1].Activated, ds[0].Created)
		}
		approved := update(ds[1].ID, "decision.approve", set("active"))
		if approved.Activated.IsZero() || !approved.Activated.Equal(approved.Updated) {
			t.Errorf("approved: activated %v, want its approval %v", approved.Activated, approved.Updated)
		}
		update(ds[1].ID, "decision.revoke", set("revoked"))
		update(ds[2].ID, "decision.revoke", set("revoked"))
		update(ds[3].ID, "decision.reject", set("rejected"))
		update(ds[4].ID, "decision.revoke", set("revoked"))
		if _, err := sc.ExpireDecisions(ctx, "system", t0.Add(5*time.Hour)); err != nil {
			t.Fatal(err)
		}
		want := map[int64]time.Time{ds[0].ID: ds[0].Created, ds[1].ID: approved.Activated, ds[2].ID: {}, ds[3].ID: {}, ds[4].ID: ds[4].Created}
		check := func(when string) {
			t.Helper()
			for _, id := range slices.Sorted(maps.Keys(want)) {
				w := want[id]
				d, err := sc.Decision(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if !d.Activated.Equal(w) {
					t.Errorf("%s: decision %d (%s) activated %v, want %v", when, id, d.Status, d.Activated, w)
				}
			}
		}
		check("as the store set it")

		// Migration 0010's backfill, on the same decisions as if made before it.
		text, err := migrationFS.ReadFile("migrations/" + s.Driver() + "/0010_decision_activated.sql")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE decisions SET activated = NULL`); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(string(text), ";\n") {
			if strings.Contains(stmt, "ALTER TABLE") || strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := s.db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("migration 0010: %v\n%s", err, stmt)
			}
		}
		// An approval is dated by its audit entry, the only record of it but the decision's own.
		log, err := sc.AuditLog(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range log {
			if e.Action == "decision.approve" && e.Object == fmt.Sprint(ds[1].ID) {
				want[ds[1].ID] = dbTime(e.Time)
			}
		}
		check("after migration 0010's backfill")
	})
}
