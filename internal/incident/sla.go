package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

// The SLA clocks every incident has. Statutory clocks are named by their Obligation's ID.
const (
	ClockAcknowledge = "acknowledge" // a person triages or takes the incident
	ClockContain     = "contain"     // the incident reaches contained
	ClockReport      = "report"      // the first report to the CSIRT lead and management
)

// SLA is how long each step may take for one severity. A zero duration means no clock.
type SLA struct {
	Acknowledge time.Duration
	// AcknowledgeNextBusinessDay sets the acknowledge deadline to the end of the next business
	// day instead of a duration.
	AcknowledgeNextBusinessDay bool
	Contain                    time.Duration
	Report                     time.Duration
}

// DefaultSLA returns the default clocks. To acknowledge: critical at once (the on-call tier
// is told the moment it opens, the next tier after two and a half minutes, and the deadline is
// five), high 15 minutes, medium an hour, low the end of the next business day.
func DefaultSLA() map[severity.Level]SLA {
	return map[severity.Level]SLA{
		severity.Critical: {Acknowledge: 5 * time.Minute, Contain: 4 * time.Hour, Report: time.Hour},
		severity.High:     {Acknowledge: 15 * time.Minute, Contain: 24 * time.Hour, Report: 4 * time.Hour},
		severity.Medium:   {Acknowledge: time.Hour, Contain: 72 * time.Hour, Report: 24 * time.Hour},
		severity.Low:      {AcknowledgeNextBusinessDay: true},
	}
}

// warnFraction is how far into a clock's time the next tier is told.
const warnFraction = 0.5

// Clock is one deadline on an incident.
type Clock struct {
	Name        string    `json:"name"`
	Started     time.Time `json:"started"`
	WarnAt      time.Time `json:"warn_at"`
	Deadline    time.Time `json:"deadline"`
	Stopped     time.Time `json:"stopped,omitzero"`
	Warned      time.Time `json:"warned,omitzero"`
	Breached    time.Time `json:"breached,omitzero"`
	Escalations int       `json:"escalations"`
}

// Status says where a clock stands at now: "running", "warning" (past its warning time),
// "breached" (past the deadline, still running), "met" or "missed" (stopped before or after
// the deadline).
func (c Clock) Status(now time.Time) string {
	switch {
	case !c.Stopped.IsZero() && c.Stopped.After(c.Deadline):
		return "missed"
	case !c.Stopped.IsZero():
		return "met"
	case !now.Before(c.Deadline):
		return "breached"
	case !now.Before(c.WarnAt):
		return "warning"
	}
	return "running"
}

// Remaining is the time left at now; negative past the deadline.
func (c Clock) Remaining(now time.Time) time.Duration { return c.Deadline.Sub(now) }

func clockFromStore(c store.IncidentClock) Clock {
	return Clock{Name: c.Name, Started: c.Started, WarnAt: c.WarnAt, Deadline: c.Deadline, Stopped: c.Stopped,
		Warned: c.Warned, Breached: c.Breached, Escalations: c.Escalations}
}

// newClock starts a clock at start with the deadline; the warning comes when warnFraction of
// the time has passed, or warnBefore before the deadline when that is set.
func newClock(name string, start, deadline time.Time, warnBefore time.Duration) store.IncidentClock {
	warn := start.Add(time.Duration(float64(deadline.Sub(start)) * warnFraction))
	if warnBefore > 0 {
		warn = deadline.Add(-warnBefore)
	}
	if warn.Before(start) {
		warn = start
	}
	return store.IncidentClock{Name: name, Started: start, WarnAt: warn, Deadline: deadline}
}

// slaClocks returns the SLA clocks to save for inc at now, given the clocks it has: new ones
// for those missing, and running ones brought forward when the severity now asks for less
// time. Deadlines never move later. When reopened (by a person, so acknowledged), contain
// and report start afresh and acknowledge does not.
func (s *Service) slaClocks(inc Incident, now time.Time, have []store.IncidentClock, reopened bool) []store.IncidentClock {
	sla := s.cfg.SLA[inc.Severity]
	var out []store.IncidentClock
	want := func(name string, deadline func(start time.Time) time.Time) {
		i := slices.IndexFunc(have, func(c store.IncidentClock) bool { return c.Name == name })
		if i < 0 || reopened {
			out = append(out, newClock(name, now, deadline(now), 0))
			return
		}
		c := have[i]
		if !c.Stopped.IsZero() {
			return
		}
		if d := deadline(c.Started); d.Before(c.Deadline) {
			nc := newClock(name, c.Started, d, 0)
			nc.Warned, nc.Breached, nc.Escalations = c.Warned, c.Breached, c.Escalations
			out = append(out, nc)
		}
	}
	switch {
	case reopened: // no acknowledge clock
	case sla.AcknowledgeNextBusinessDay:
		want(ClockAcknowledge, s.cfg.Calendar.NextBusinessDayEnd)
	case sla.Acknowledge > 0:
		want(ClockAcknowledge, func(t time.Time) time.Time { return t.Add(sla.Acknowledge) })
	}
	if sla.Contain > 0 {
		want(ClockContain, func(t time.Time) time.Time { return t.Add(sla.Contain) })
	}
	if sla.Report > 0 {
		want(ClockReport, func(t time.Time) time.Time { return t.Add(sla.Report) })
	}
	return out
}

// stopClocks returns the running clocks among have named names, stopped at now.
func stopClocks(have []store.IncidentClock, now time.Time, names ...string) []store.IncidentClock {
	var out []store.IncidentClock
	for _, c := range have {
		if c.Stopped.IsZero() && slices.Contains(names, c.Name) {
			c.Stopped = now
			out = append(out, c)
		}
	}
	return out
}

// Escalation is who is told as an incident's clocks run out. Each warning and each breach
// goes one step further along Chain; a breach on a critical incident also goes to
// Management.
type Escalation struct {
	Chain      []string // tiers in order, the first being told of new incidents (default l1, l2, l3, csirt-lead)
	Management string   // default "management"
}

func (e Escalation) chain() []string {
	if len(e.Chain) == 0 {
		return []string{"l1", "l2", "l3", "csirt-lead"}
	}
	return e.Chain
}

func (e Escalation) management() string {
	if e.Management == "" {
		return "management"
	}
	return e.Management
}

// tier returns the tier step n of the chain reaches (0: the first), the last one for ever
// after.
func (e Escalation) tier(n int) string {
	c := e.chain()
	return c[min(n, len(c)-1)]
}

// CheckClocks warns and escalates for every clock of every tenant that reached its warning
// time or deadline by now, and records it on the incident. It is what a ticker calls;
// running it twice at the same instant does nothing the second time. A notification that
// fails is tried again at the next check, and its clock is not marked until one succeeds.
func (s *Service) CheckClocks(ctx context.Context) error {
	tenants, err := s.st.Tenants(ctx)
	if err != nil {
		return fmt.Errorf("check clocks: %w", err)
	}
	var errs []error
	for _, t := range tenants {
		if err := s.checkTenantClocks(ctx, t.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RunClocks calls CheckClocks every interval until ctx ends, logging failures.
func (s *Service) RunClocks(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.CheckClocks(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("check incident clocks", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Service) checkTenantClocks(ctx context.Context, tenant string) error {
	now := s.now()
	due, err := s.st.Tenant(tenant).DueIncidentClocks(ctx, now)
	if err != nil {
		return fmt.Errorf("check clocks of %s: %w", tenant, err)
	}
	byIncident := map[string][]store.IncidentClock{}
	var order []string
	for _, c := range due {
		if _, ok := byIncident[c.Incident]; !ok {
			order = append(order, c.Incident)
		}
		byIncident[c.Incident] = append(byIncident[c.Incident], c)
	}
	var errs []error
	for _, id := range order {
		if err := s.escalate(ctx, tenant, id, byIncident[id], now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// escalate notifies for the due clocks of one incident, then records those notified.
func (s *Service) escalate(ctx context.Context, tenant, id string, due []store.IncidentClock, now time.Time) error {
	inc, err := s.Get(ctx, tenant, id)
	if err != nil {
		return err
	}
	var done []store.IncidentClock
	var timeline []store.IncidentEvent
	var errs []error
	for _, c := range due {
		kind, field := "", (*time.Time)(nil)
		switch {
		case !now.Before(c.Deadline) && c.Breached.IsZero():
			kind, field = "breach", &c.Breached
		case c.Warned.IsZero():
			kind, field = "warning", &c.Warned
		default:
			continue
		}
		targets := []string{s.cfg.Escalation.tier(c.Escalations + 1)}
		if kind == "breach" && inc.Severity == severity.Critical {
			targets = append(targets, s.cfg.Escalation.management())
		}
		ok := true
		for _, to := range targets {
			n := Notification{Kind: kind, Tier: to, Tenant: tenant, Incident: inc.ID, Title: inc.Title, Severity: inc.Severity,
				State: inc.State, Assignee: inc.Assignee, Clock: c.Name, Deadline: c.Deadline, Time: now}
			n.Shift, n.People = s.cfg.Roster.OnCall(to, now)
			n.Text = n.text()
			if err := s.notify.Notify(ctx, n); err != nil {
				ok = false
				errs = append(errs, fmt.Errorf("notify %s of %s %s on %s: %w", to, c.Name, kind, id, err))
				continue
			}
		}
		if !ok {
			continue
		}
		*field = now
		if kind == "breach" && c.Warned.IsZero() {
			c.Warned = now // the warning is overtaken: one step, not two
		}
		c.Escalations++
		done = append(done, c)
		timeline = append(timeline, store.IncidentEvent{Kind: "clock." + kind,
			Detail: fmt.Sprintf("%s due %s: told %v", c.Name, c.Deadline.In(jst).Format("2006-01-02 15:04 MST"), targets)})
	}
	if len(done) > 0 {
		_, err := s.change(ctx, tenant, id, "system", "escalate", func(inc *Incident, _ time.Time) (store.IncidentChange, error) {
			// Marked on the clocks as they are now, so a clock stopped meanwhile stays stopped.
			have, err := s.st.Tenant(tenant).IncidentClocks(ctx, id)
			if err != nil {
				return store.IncidentChange{}, err
			}
			var marked []store.IncidentClock
			for _, d := range done {
				if i := slices.IndexFunc(have, func(c store.IncidentClock) bool { return c.Name == d.Name }); i >= 0 {
					c := have[i]
					c.Warned, c.Breached, c.Escalations = d.Warned, d.Breached, d.Escalations
					marked = append(marked, c)
				}
			}
			return store.IncidentChange{Clocks: marked, Timeline: timeline}, nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
