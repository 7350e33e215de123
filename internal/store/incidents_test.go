package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newIncident(id string, at time.Time, entities ...IncidentEntity) IncidentChange {
	return IncidentChange{
		Incident: Incident{ID: id, Title: "VPN brute force", Kinds: []string{"vpn-compromise"}, Severity: "high", State: "new",
			First: at, Last: at, Opened: at, Updated: at, Alerts: 1, Entities: entities},
		Alerts: []IncidentAlert{{AlertID: id + "-a1", Fingerprint: id + "-fp1", Seq: 7, RuleID: "r1", Title: "brute force",
			Level: "high", First: at, Last: at, Data: []byte(`{"id":"` + id + `-a1"}`)}},
		Timeline: []IncidentEvent{{Time: at, Actor: "system", Kind: "opened", Detail: "from alert " + id + "-a1"}},
		Clocks:   []IncidentClock{{Name: "acknowledge", Started: at, WarnAt: at.Add(10 * time.Minute), Deadline: at.Add(15 * time.Minute)}},
		Checklist: []ChecklistStep{
			{Playbook: "vpn-compromise", Step: "isolate", Position: 1, Title: "Isolate the appliance"},
			{Playbook: "vpn-compromise", Step: "reset", Position: 2, Title: "Reset credentials"},
		},
		Action: "incident.open",
		Detail: "severity=high",
	}
}

func TestIncidentLifecycle(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "a")
		a := s.Tenant("a")
		src := IncidentEntity{Kind: "source", Value: "198.51.100.77", Last: t0}
		saved, err := a.SaveIncidents(ctx, "system", newIncident("inc1", t0, src))
		if err != nil {
			t.Fatal(err)
		}
		if saved[0].Version != 1 || saved[0].Tenant != "a" {
			t.Errorf("SaveIncidents(new) = version %d tenant %q, want 1 and a", saved[0].Version, saved[0].Tenant)
		}

		// A second alert joins; the store survives a restart in between.
		a = reopen().Tenant("a")
		got, err := a.Incident(ctx, "inc1")
		if err != nil {
			t.Fatal(err)
		}
		later := t0.Add(5 * time.Minute)
		got.Last, got.Updated, got.Alerts, got.Severity = later, later, 2, "critical"
		got.Entities = []IncidentEntity{{Kind: "source", Value: "198.51.100.77", Last: later}, {Kind: "user", Value: "admin", Last: later}}
		ch := IncidentChange{Incident: got, Action: "incident.alert",
			Alerts:   []IncidentAlert{{AlertID: "a2", Fingerprint: "fp2", Seq: 9, RuleID: "r2", Title: "login after failures", Level: "critical", First: later, Last: later, Data: []byte(`{}`)}},
			Timeline: []IncidentEvent{{Time: later, Actor: "system", Kind: "alert", Detail: "a2"}},
			Clocks:   []IncidentClock{{Name: "acknowledge", Started: t0, WarnAt: t0, Deadline: t0, Warned: later}},
		}
		if _, err := a.SaveIncidents(ctx, "system", ch); err != nil {
			t.Fatal(err)
		}
		// The same version again is a conflict; the same alert again is a duplicate.
		if _, err := a.SaveIncidents(ctx, "system", ch); !errors.Is(err, ErrConflict) {
			t.Errorf("SaveIncidents(stale version) = %v, want ErrConflict", err)
		}
		got, _ = a.Incident(ctx, "inc1")
		ch.Incident = got
		if _, err := a.SaveIncidents(ctx, "system", ch); !errors.Is(err, ErrExists) {
			t.Errorf("SaveIncidents(alert attached twice) = %v, want ErrExists", err)
		}
		if _, err := a.IncidentAlertByKey(ctx, "other-id", "fp2"); err != nil {
			t.Errorf("IncidentAlertByKey(by fingerprint) = %v, want found", err)
		}
		if _, err := a.IncidentAlertByKey(ctx, "nope", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("IncidentAlertByKey(unknown) = %v, want ErrNotFound", err)
		}

		got, err = a.Incident(ctx, "inc1")
		if err != nil {
			t.Fatal(err)
		}
		want := Incident{ID: "inc1", Tenant: "a", Title: "VPN brute force", Kinds: []string{"vpn-compromise"}, Severity: "critical",
			State: "new", First: dbTime(t0), Last: dbTime(later), Opened: dbTime(t0), Updated: dbTime(later), Alerts: 2,
			Facts: []byte("{}"), Version: 2,
			Entities: []IncidentEntity{{Kind: "source", Value: "198.51.100.77", Last: dbTime(later)}, {Kind: "user", Value: "admin", Last: dbTime(later)}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Incident() (-want +got):\n%s", diff)
		}
		alerts, _ := a.IncidentAlerts(ctx, "inc1")
		if len(alerts) != 2 || alerts[0].AlertID != "inc1-a1" || alerts[1].Seq != 9 {
			t.Errorf("IncidentAlerts() = %+v, want inc1-a1 then a2", alerts)
		}
		tl, _ := a.IncidentTimeline(ctx, "inc1")
		var kinds []string
		for _, e := range tl {
			kinds = append(kinds, e.Kind)
		}
		if diff := cmp.Diff([]string{"opened", "alert"}, kinds); diff != "" {
			t.Errorf("IncidentTimeline() kinds (-want +got):\n%s", diff)
		}
		clocks, _ := a.IncidentClocks(ctx, "inc1")
		if len(clocks) != 1 || !clocks[0].Warned.Equal(dbTime(later)) {
			t.Errorf("IncidentClocks() = %+v, want acknowledge warned at %v", clocks, later)
		}
		steps, _ := a.IncidentChecklist(ctx, "inc1")
		if len(steps) != 2 || steps[0].Step != "isolate" || !steps[0].Done.IsZero() {
			t.Errorf("IncidentChecklist() = %+v", steps)
		}

		list, err := a.Incidents(ctx, IncidentFilter{States: []string{"new", "triaged"}})
		if err != nil || len(list) != 1 {
			t.Errorf("Incidents(new, triaged) = %d, %v; want 1", len(list), err)
		}
		if list, _ := a.Incidents(ctx, IncidentFilter{States: []string{"closed"}}); len(list) != 0 {
			t.Errorf("Incidents(closed) = %d, want 0", len(list))
		}
	})
}

func TestIncidentsTouching(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "a")
		a := s.Tenant("a")
		host := IncidentEntity{Kind: "host", Value: "ehr-01", Last: t0}
		old := newIncident("old", t0.Add(-2*time.Hour), IncidentEntity{Kind: "host", Value: "ehr-01", Last: t0.Add(-2 * time.Hour)})
		cur := newIncident("cur", t0, host)
		closed := newIncident("closed", t0, host)
		closed.Incident.State = "closed"
		if _, err := a.SaveIncidents(ctx, "system", old, cur, closed); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			entities []IncidentEntity
			since    time.Time
			want     []string
		}{
			{"within the window", []IncidentEntity{host}, t0.Add(-time.Hour), []string{"cur"}},
			{"wide window", []IncidentEntity{{Kind: "user", Value: "x"}, host}, t0.Add(-3 * time.Hour), []string{"old", "cur"}},
			{"same value, other kind", []IncidentEntity{{Kind: "user", Value: "ehr-01"}}, t0.Add(-3 * time.Hour), nil},
			{"nothing", nil, t0, nil},
		} {
			got, err := a.IncidentsTouching(ctx, tc.entities, tc.since, "closed")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, inc := range got {
				ids = append(ids, inc.ID)
			}
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("%s: IncidentsTouching() (-want +got):\n%s", tc.name, diff)
			}
		}
	})
}

func TestIncidentMoveAlertsAndDueClocks(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "a")
		a := s.Tenant("a")
		if _, err := a.SaveIncidents(ctx, "system", newIncident("x", t0), newIncident("y", t0)); err != nil {
			t.Fatal(err)
		}
		x, _ := a.Incident(ctx, "x")
		y, _ := a.Incident(ctx, "y")
		y.State, y.MergedInto = "closed", "x"
		x.Alerts = 2
		_, err := a.SaveIncidents(ctx, "user:sato",
			IncidentChange{Incident: x, MoveAlerts: []string{"y-a1"}, Action: "incident.merge", Detail: "y"},
			IncidentChange{Incident: y, Action: "incident.merge", Detail: "into x"})
		if err != nil {
			t.Fatal(err)
		}
		if al, _ := a.IncidentAlerts(ctx, "x"); len(al) != 2 {
			t.Errorf("IncidentAlerts(x) after merge = %d alerts, want 2", len(al))
		}
		if al, _ := a.IncidentAlerts(ctx, "y"); len(al) != 0 {
			t.Errorf("IncidentAlerts(y) after merge = %d alerts, want 0", len(al))
		}
		x, _ = a.Incident(ctx, "x")
		if _, err := a.SaveIncidents(ctx, "u", IncidentChange{Incident: x, MoveAlerts: []string{"ghost"}, Action: "incident.merge"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("SaveIncidents(move unknown alert) = %v, want ErrNotFound", err)
		}

		// Clocks: warn at +10m, deadline +15m; stopped clocks are never due.
		for _, tc := range []struct {
			at   time.Duration
			want int
		}{{5 * time.Minute, 0}, {10 * time.Minute, 2}, {20 * time.Minute, 2}} {
			due, err := a.DueIncidentClocks(ctx, t0.Add(tc.at))
			if err != nil || len(due) != tc.want {
				t.Errorf("DueIncidentClocks(t0+%v) = %d, %v; want %d", tc.at, len(due), err, tc.want)
			}
		}
		x, _ = a.Incident(ctx, "x")
		stop := IncidentClock{Name: "acknowledge", Started: t0, WarnAt: t0.Add(10 * time.Minute), Deadline: t0.Add(15 * time.Minute), Stopped: t0.Add(time.Minute)}
		if _, err := a.SaveIncidents(ctx, "u", IncidentChange{Incident: x, Clocks: []IncidentClock{stop}, Action: "incident.state"}); err != nil {
			t.Fatal(err)
		}
		if due, _ := a.DueIncidentClocks(ctx, t0.Add(time.Hour)); len(due) != 1 || due[0].Incident != "y" {
			t.Errorf("DueIncidentClocks after stopping x's = %+v, want only y's", due)
		}
	})
}

// Tenant b cannot read, find, change or see the clocks of tenant a's incidents.
func TestIncidentTenantIsolation(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "a")
		mustTenant(t, s, "b")
		a, b := s.Tenant("a"), s.Tenant("b")
		src := IncidentEntity{Kind: "source", Value: "198.51.100.77", Last: t0}
		if _, err := a.SaveIncidents(ctx, "system", newIncident("inc1", t0, src)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Incident(ctx, "inc1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("b.Incident(a's) = %v, want ErrNotFound", err)
		}
		if got, _ := b.IncidentsTouching(ctx, []IncidentEntity{src}, t0.Add(-time.Hour)); len(got) != 0 {
			t.Errorf("b.IncidentsTouching(a's attacker) = %+v, want none", got)
		}
		if _, err := b.IncidentAlertByKey(ctx, "inc1-a1", "inc1-fp1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("b.IncidentAlertByKey(a's alert) = %v, want ErrNotFound", err)
		}
		for name, n := range map[string]func() (int, error){
			"Incidents":         func() (int, error) { l, err := b.Incidents(ctx, IncidentFilter{}); return len(l), err },
			"IncidentAlerts":    func() (int, error) { l, err := b.IncidentAlerts(ctx, "inc1"); return len(l), err },
			"IncidentTimeline":  func() (int, error) { l, err := b.IncidentTimeline(ctx, "inc1"); return len(l), err },
			"IncidentClocks":    func() (int, error) { l, err := b.IncidentClocks(ctx, "inc1"); return len(l), err },
			"IncidentChecklist": func() (int, error) { l, err := b.IncidentChecklist(ctx, "inc1"); return len(l), err },
			"DueIncidentClocks": func() (int, error) { l, err := b.DueIncidentClocks(ctx, t0.Add(time.Hour)); return len(l), err },
		} {
			if got, err := n(); got != 0 || err != nil {
				t.Errorf("b.%s(a's incident) = %d rows, %v; want 0", name, got, err)
			}
		}
		// b cannot overwrite a's incident by guessing its ID and version.
		inc, _ := a.Incident(ctx, "inc1")
		inc.Title = "hijacked"
		if _, err := b.SaveIncidents(ctx, "token:b", IncidentChange{Incident: inc, Action: "incident.update"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("b.SaveIncidents(a's incident) = %v, want ErrNotFound", err)
		}
		// The same ID is free in another tenant.
		if _, err := b.SaveIncidents(ctx, "system", newIncident("inc1", t0)); err != nil {
			t.Errorf("b.SaveIncidents(ID used by a) = %v, want nil", err)
		}
		if _, err := s.Tenant("ghost").SaveIncidents(ctx, "system", newIncident("g", t0)); !errors.Is(err, ErrNotFound) {
			t.Errorf("ghost.SaveIncidents = %v, want ErrNotFound", err)
		}
		if got, _ := a.Incident(ctx, "inc1"); got.Title != "VPN brute force" {
			t.Errorf("a's incident title = %q after b's attempts", got.Title)
		}
		log, _ := a.AuditLog(ctx, 10)
		if len(log) == 0 || log[0].Action != "incident.open" || log[0].Object != "inc1" {
			t.Errorf("a.AuditLog()[0] = %+v, want incident.open of inc1", log)
		}
	})
}
