package incident

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

// ErrInvalidAlert is wrapped by Ingest's refusal of an alert that lacks what grouping needs.
var ErrInvalidAlert = errors.New("incident: invalid alert")

// Outcome says what Ingest did with an alert.
type Outcome struct {
	Incident string   // the incident the alert is on
	Opened   bool     // a new incident was opened for it
	Merged   []string // incidents the alert linked, merged into Incident
	Repeat   bool     // the alert was already on an incident: nothing changed
}

// entities returns what an alert is about, normalised so the same thing matches however a
// log source spelled it: an address is one entity whether an alert has it as source or
// destination (the victim of one step is the source of the next), users lose their Windows
// or mail domain and case (HOSPITAL\Administrator and Administrator are one account), hosts
// their case, and a host the inventory knows (Config.Hosts) stands for its address too.
func (s *Service) entities(a detect.Alert) []store.IncidentEntity {
	var out []store.IncidentEntity
	add := func(kind, v string) {
		if v == "" || slices.Contains(s.cfg.Ignore, v) {
			return
		}
		e := store.IncidentEntity{Kind: kind, Value: v, Last: a.Last}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for _, f := range []struct{ kind, v string }{
		{EntitySource, a.Entities.Source}, {EntityDestination, a.Entities.Destination},
		{EntityUser, a.Entities.User}, {EntityHost, a.Entities.Host},
	} {
		v := strings.TrimSpace(f.v)
		if v == "" || v == "-" || !slices.Contains(s.cfg.GroupBy, f.kind) || slices.Contains(s.cfg.Ignore, v) {
			continue
		}
		switch f.kind {
		case EntitySource, EntityDestination:
			add(indexAddr, v)
			if h, ok := s.hostOf[v]; ok {
				add(EntityHost, h)
			}
		case EntityUser:
			if i := strings.LastIndexByte(v, '\\'); i >= 0 {
				v = v[i+1:]
			}
			if i := strings.IndexByte(v, '@'); i > 0 {
				v = v[:i]
			}
			add(EntityUser, strings.ToLower(v))
		case EntityHost:
			v = strings.ToLower(v)
			add(EntityHost, v)
			if addr, ok := s.cfg.Hosts[v]; ok {
				add(indexAddr, addr)
			}
		}
	}
	// Addresses the detection stage knows the entities by, such as the attacker's Internet
	// address behind the VPN tunnel address an RDP logon came from: they join the incidents.
	for _, v := range a.Related {
		add(indexAddr, v)
	}
	return out
}

// indexAddr is the entity kind of addresses in the index, whichever side they were on.
const indexAddr = "addr"

// Fingerprint identifies a detection whatever ID it was published with: detection that
// restarts publishes the same alert again under a new ID.
func Fingerprint(a detect.Alert) string {
	h := sha256.New()
	for _, s := range []string{a.Tenant, a.RuleID, a.Entities.Source, a.Entities.Destination, a.Entities.User, a.Entities.Host,
		a.First.UTC().Format(time.RFC3339Nano), a.Last.UTC().Format(time.RFC3339Nano), strconv.Itoa(a.Count)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// protected reports whether an alert names a life-support device or protected clinical
// service.
func (s *Service) protected(a detect.Alert) bool {
	for _, v := range []string{a.Entities.Source, a.Entities.Destination, a.Entities.Host} {
		if v != "" && slices.ContainsFunc(s.cfg.Protected, func(p string) bool { return strings.EqualFold(p, v) }) {
			return true
		}
	}
	return false
}

// Ingest puts alert a (at position seq on ALERTS) on an incident: the open incident that
// names one of its entities with activity within the window, or a new one. When the alert
// links several such incidents, those still new and unassigned are merged into the oldest
// (ones people already work on are only noted). An alert already on an incident, by ID or
// fingerprint, changes nothing: redelivery is harmless. Alerts never reopen a closed
// incident: a new one opens, and a person who sees the same matter reopens or merges.
//
// Ingest is safe to call concurrently, but alerts of one tenant are meant to come from one
// goroutine, as Handle does: two alerts about the same new attacker ingested at the same
// instant could each open an incident, which a person would then merge.
func (s *Service) Ingest(ctx context.Context, a detect.Alert, seq uint64) (Outcome, error) {
	if a.Tenant == "" || a.ID == "" || a.RuleID == "" {
		return Outcome{}, fmt.Errorf("ingest alert %q: %w: tenant, ID and rule ID are required", a.ID, ErrInvalidAlert)
	}
	if a.First.IsZero() || a.Last.IsZero() {
		return Outcome{}, fmt.Errorf("ingest alert %s: %w: no time", a.ID, ErrInvalidAlert)
	}
	sc := s.st.Tenant(a.Tenant)
	fp := Fingerprint(a)
	for attempt := 0; ; attempt++ {
		if prev, err := sc.IncidentAlertByKey(ctx, a.ID, fp); err == nil {
			return Outcome{Incident: prev.Incident, Repeat: true}, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return Outcome{}, fmt.Errorf("ingest alert %s: %w", a.ID, err)
		}
		out, err := s.ingest(ctx, sc, a, seq, fp)
		if (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists)) && attempt < 5 {
			continue // someone changed the incident, or the alert arrived twice at once: look again
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("ingest alert %s: %w", a.ID, err)
		}
		if out.Opened {
			s.notifyOpened(ctx, a.Tenant, out.Incident)
		}
		return out, nil
	}
}

func (s *Service) ingest(ctx context.Context, sc store.Scope, a detect.Alert, seq uint64, fp string) (Outcome, error) {
	now := s.now()
	ents := s.entities(a)
	candidates, err := sc.IncidentsTouching(ctx, ents, a.First.Add(-s.cfg.Window), string(Closed))
	if err != nil {
		return Outcome{}, err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return Outcome{}, err
	}
	sev := severityOf(a.Level)
	if s.protected(a) {
		sev = severity.Critical
	}
	ref := store.IncidentAlert{AlertID: a.ID, Fingerprint: fp, Seq: seq, RuleID: a.RuleID, Title: a.Title, Level: string(a.Level),
		First: a.First, Last: a.Last, Data: data}
	alertLine := store.IncidentEvent{Time: now, Actor: "system", Kind: "alert",
		Detail: fmt.Sprintf("%s [%s] %s", a.ID, a.Level, a.Title)}

	var inc Incident
	var clocks []store.IncidentClock
	var steps []store.ChecklistStep
	out := Outcome{}
	ch := store.IncidentChange{Alerts: []store.IncidentAlert{ref}}
	if len(candidates) == 0 {
		inc = Incident{ID: newID(now), Tenant: sc.ID(), Title: a.Title, Severity: sev, State: New,
			First: a.First, Last: a.Last, Opened: now}
		out.Opened = true
		ch.Action, ch.Detail = "incident.open", fmt.Sprintf("severity=%s alert=%s", sev, a.ID)
		ch.Timeline = append(ch.Timeline, store.IncidentEvent{Time: now, Actor: "system", Kind: "opened",
			Detail: fmt.Sprintf("%s from alert %s", sev, a.ID)})
		if sev == severity.Critical && s.protected(a) {
			ch.Timeline = append(ch.Timeline, store.IncidentEvent{Time: now, Actor: "system", Kind: "severity",
				Detail: "critical: a protected clinical system or life-support device is concerned"})
		}
	} else {
		if inc, err = fromStore(candidates[0]); err != nil {
			return Outcome{}, err
		}
		if clocks, err = sc.IncidentClocks(ctx, inc.ID); err != nil {
			return Outcome{}, err
		}
		if steps, err = sc.IncidentChecklist(ctx, inc.ID); err != nil {
			return Outcome{}, err
		}
		ch.Action, ch.Detail = "incident.alert", a.ID
		if sev.Rank() > inc.Severity.Rank() {
			ch.Timeline = append(ch.Timeline, store.IncidentEvent{Time: now, Actor: "system", Kind: "severity",
				Detail: fmt.Sprintf("%s → %s by alert %s", inc.Severity, sev, a.ID)})
			inc.Severity = sev
		}
	}
	ch.Timeline = append(ch.Timeline, alertLine)
	inc.Alerts++
	inc.First, inc.Last = minTime(inc.First, a.First), maxTime(inc.Last, a.Last)
	inc.Updated = now
	inc.Entities = entitiesOf(ents)

	// Other open incidents the alert links: merge those nobody works on yet.
	var merged []store.IncidentChange
	for _, c := range candidates[min(1, len(candidates)):] {
		other, err := fromStore(c)
		if err != nil {
			return Outcome{}, err
		}
		if other.State != New || other.Assignee != "" {
			ch.Timeline = append(ch.Timeline, store.IncidentEvent{Time: now, Actor: "system", Kind: "related",
				Detail: fmt.Sprintf("alert %s also concerns %s (%s, %s)", a.ID, other.ID, other.State, orDash(other.Assignee))})
			continue
		}
		mch, err := s.absorb(ctx, sc, &inc, &other, now, "system", fmt.Sprintf("linked by alert %s", a.ID))
		if err != nil {
			return Outcome{}, err
		}
		ch.MoveAlerts = append(ch.MoveAlerts, mch.moved...)
		ch.Timeline = append(ch.Timeline, mch.into...)
		ch.Checklist = append(ch.Checklist, mch.checklist...)
		merged = append(merged, mch.from)
		out.Merged = append(out.Merged, other.ID)
		steps = append(steps, mch.checklist...)
	}

	// Playbooks the alert calls for.
	for _, p := range s.cfg.Playbooks {
		if p.Matches(a) && !slices.Contains(inc.Kinds, p.ID) {
			inc.Kinds = append(inc.Kinds, p.ID)
			if !slices.ContainsFunc(steps, func(st store.ChecklistStep) bool { return st.Playbook == p.ID }) {
				ch.Checklist = append(ch.Checklist, checklist(p)...)
			}
			ch.Timeline = append(ch.Timeline, store.IncidentEvent{Time: now, Actor: "system", Kind: "playbook",
				Detail: p.ID + ": " + p.Title})
		}
	}
	ch.Clocks = append(ch.Clocks, s.slaClocks(inc, now, clocks, false)...)
	stat, err := s.statutoryClocks(inc, clocks)
	if err != nil {
		return Outcome{}, err
	}
	ch.Clocks = append(ch.Clocks, stat...)
	ch.Incident = inc.toStore()
	if _, err := sc.SaveIncidents(ctx, "system", append([]store.IncidentChange{ch}, merged...)...); err != nil {
		return Outcome{}, err
	}
	out.Incident = inc.ID
	return out, nil
}

func entitiesOf(ents []store.IncidentEntity) []Entity {
	out := make([]Entity, len(ents))
	for i, e := range ents {
		out[i] = Entity{Kind: e.Kind, Value: e.Value, Last: e.Last}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// absorption is what merging one incident into another writes.
type absorption struct {
	moved     []string
	into      []store.IncidentEvent // on the surviving incident
	checklist []store.ChecklistStep // playbook steps the survivor lacked
	from      store.IncidentChange  // the merged incident, closed
}

// absorb merges from into into (both already read): its alerts, entities, kinds, worst
// severity and time span move over; from is closed as merged, with its timeline kept.
func (s *Service) absorb(ctx context.Context, sc store.Scope, into, from *Incident, now time.Time, actor, why string) (absorption, error) {
	var ab absorption
	alerts, err := sc.IncidentAlerts(ctx, from.ID)
	if err != nil {
		return ab, err
	}
	for _, a := range alerts {
		ab.moved = append(ab.moved, a.AlertID)
	}
	have, err := sc.IncidentChecklist(ctx, into.ID)
	if err != nil {
		return ab, err
	}
	theirs, err := sc.IncidentChecklist(ctx, from.ID)
	if err != nil {
		return ab, err
	}
	for _, st := range theirs {
		if !slices.ContainsFunc(have, func(h store.ChecklistStep) bool { return h.Playbook == st.Playbook && h.Step == st.Step }) {
			ab.checklist = append(ab.checklist, st)
		}
	}
	for _, k := range from.Kinds {
		if !slices.Contains(into.Kinds, k) {
			into.Kinds = append(into.Kinds, k)
		}
	}
	into.Entities = append(into.Entities, from.Entities...)
	into.Alerts += len(alerts)
	into.First, into.Last = minTime(into.First, from.First), maxTime(into.Last, from.Last)
	if from.Severity.Rank() > into.Severity.Rank() {
		ab.into = append(ab.into, store.IncidentEvent{Time: now, Actor: actor, Kind: "severity",
			Detail: fmt.Sprintf("%s → %s from %s", into.Severity, from.Severity, from.ID)})
		into.Severity = from.Severity
	}
	ab.into = append(ab.into, store.IncidentEvent{Time: now, Actor: actor, Kind: "merged",
		Detail: fmt.Sprintf("%s merged in (%d alerts): %s", from.ID, len(alerts), why)})

	clocks, err := sc.IncidentClocks(ctx, from.ID)
	if err != nil {
		return ab, err
	}
	prevState := from.State
	from.State, from.MergedInto, from.Closed, from.Updated, from.Alerts = Closed, into.ID, now, now, 0
	ab.from = store.IncidentChange{Incident: from.toStore(), Action: "incident.merge", Detail: "into " + into.ID,
		Clocks: stopClocks(clocks, now, ClockAcknowledge, ClockContain, ClockReport),
		Timeline: []store.IncidentEvent{{Time: now, Actor: actor, Kind: "merged",
			Detail: fmt.Sprintf("merged into %s (%s → closed): %s", into.ID, prevState, why)}}}
	return ab, nil
}

// Merge merges tenant's incident from into into, as a person decides: alerts, entities,
// playbooks and the worse severity move over, from is closed as merged into into, and both
// timelines say so.
func (s *Service) Merge(ctx context.Context, tenant, into, from, actor, reason string) (Incident, error) {
	if into == from {
		return Incident{}, refuse("merge %s into itself", into)
	}
	sc := s.st.Tenant(tenant)
	for attempt := 0; ; attempt++ {
		now := s.now()
		a, err := s.Get(ctx, tenant, into)
		if err != nil {
			return Incident{}, fmt.Errorf("merge into %s: %w", into, err)
		}
		b, err := s.Get(ctx, tenant, from)
		if err != nil {
			return Incident{}, fmt.Errorf("merge %s: %w", from, err)
		}
		if a.State == Closed || b.State == Closed {
			return Incident{}, refuse("merge %s into %s: a closed incident cannot be merged; reopen it first", from, into)
		}
		ab, err := s.absorb(ctx, sc, &a, &b, now, actor, reason)
		if err != nil {
			return Incident{}, fmt.Errorf("merge %s into %s: %w", from, into, err)
		}
		a.Updated = now
		clocks, err := sc.IncidentClocks(ctx, a.ID)
		if err != nil {
			return Incident{}, err
		}
		ch := store.IncidentChange{Incident: a.toStore(), MoveAlerts: ab.moved, Timeline: ab.into, Checklist: ab.checklist,
			Clocks: s.slaClocks(a, now, clocks, false), Action: "incident.merge", Detail: from + " into " + into}
		stat, err := s.statutoryClocks(a, clocks)
		if err != nil {
			return Incident{}, err
		}
		ch.Clocks = append(ch.Clocks, stat...)
		saved, err := sc.SaveIncidents(ctx, actor, ch, ab.from)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return Incident{}, fmt.Errorf("merge %s into %s: %w", from, into, err)
		}
		a.Version = saved[0].Version
		return a, nil
	}
}

// Split moves the alerts alertIDs of tenant's incident id to a new incident, as a person
// decides they are a separate matter; both timelines say so. The new incident starts in
// state new with its own clocks.
func (s *Service) Split(ctx context.Context, tenant, id, actor string, alertIDs []string, reason string) (Incident, error) {
	sc := s.st.Tenant(tenant)
	for attempt := 0; ; attempt++ {
		now := s.now()
		src, err := s.Get(ctx, tenant, id)
		if err != nil {
			return Incident{}, fmt.Errorf("split %s: %w", id, err)
		}
		alerts, err := sc.IncidentAlerts(ctx, id)
		if err != nil {
			return Incident{}, err
		}
		var moving []store.IncidentAlert
		for _, aid := range alertIDs {
			i := slices.IndexFunc(alerts, func(a store.IncidentAlert) bool { return a.AlertID == aid })
			if i < 0 {
				return Incident{}, refuse("split %s: alert %s is not on it", id, aid)
			}
			moving = append(moving, alerts[i])
		}
		if len(moving) == 0 || len(moving) == len(alerts) {
			return Incident{}, refuse("split %s: choose some of its %d alerts, not none or all", id, len(alerts))
		}
		nu := Incident{ID: newID(now), Tenant: tenant, State: New, Opened: now, Updated: now, Alerts: len(moving)}
		for _, ma := range moving {
			var a detect.Alert
			if err := json.Unmarshal(ma.Data, &a); err != nil {
				return Incident{}, fmt.Errorf("split %s: read alert %s: %w", id, ma.AlertID, err)
			}
			if nu.Title == "" {
				nu.Title = a.Title
			}
			if sv := severityOf(a.Level); sv.Rank() > nu.Severity.Rank() {
				nu.Severity = sv
			}
			nu.First, nu.Last = minTime(nu.First, a.First), maxTime(nu.Last, a.Last)
			nu.Entities = append(nu.Entities, entitiesOf(s.entities(a))...)
			for _, p := range s.cfg.Playbooks {
				if p.Matches(a) && !slices.Contains(nu.Kinds, p.ID) {
					nu.Kinds = append(nu.Kinds, p.ID)
				}
			}
		}
		var ids []string
		for _, m := range moving {
			ids = append(ids, m.AlertID)
		}
		newCh := store.IncidentChange{MoveAlerts: ids, Action: "incident.split", Detail: "from " + id,
			Timeline: []store.IncidentEvent{{Time: now, Actor: actor, Kind: "split",
				Detail: fmt.Sprintf("split from %s with %d alerts: %s", id, len(ids), reason)}},
			Clocks: s.slaClocks(nu, now, nil, false)}
		for _, k := range nu.Kinds {
			if p, ok := s.playbook(k); ok {
				newCh.Checklist = append(newCh.Checklist, checklist(p)...)
			}
		}
		src.Alerts -= len(ids)
		src.Updated = now
		srcCh := store.IncidentChange{Incident: src.toStore(), Action: "incident.split", Detail: "to " + nu.ID,
			Timeline: []store.IncidentEvent{{Time: now, Actor: actor, Kind: "split",
				Detail: fmt.Sprintf("%d alerts split off to %s: %s", len(ids), nu.ID, reason)}}}
		// The new incident is saved first: the moved alerts need it to exist.
		newCh.Incident = nu.toStore()
		saved, err := sc.SaveIncidents(ctx, actor, newCh, srcCh)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return Incident{}, fmt.Errorf("split %s: %w", id, err)
		}
		nu.Version = saved[0].Version
		return nu, nil
	}
}

func (s *Service) notifyOpened(ctx context.Context, tenant, id string) {
	inc, err := s.Get(ctx, tenant, id)
	if err != nil {
		s.log.Error("notify of new incident", "tenant", tenant, "incident", id, "err", err)
		return
	}
	n := Notification{Kind: "opened", Tier: s.cfg.Escalation.tier(0), Tenant: tenant, Incident: id, Title: inc.Title,
		Severity: inc.Severity, State: inc.State, Time: s.now()}
	n.Shift, n.People = s.cfg.Roster.OnCall(n.Tier, n.Time)
	n.Text = n.text()
	if err := s.notify.Notify(ctx, n); err != nil {
		// The acknowledge clock still runs: its warning reaches the next tier.
		s.log.Error("notify of new incident", "tenant", tenant, "incident", id, "tier", n.Tier, "err", err)
	}
}
