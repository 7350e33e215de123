// Package incident turns alerts into incidents that people work: it groups the alerts of
// the ALERTS stream by the entities they share (attacker, victim, user, host) within a time
// window, keeps each incident's severity, state, assignee and a timeline of every change
// with who made it, runs SLA clocks (acknowledge, contain, report) and the statutory
// reporting clocks of a Japanese hospital with stored deadlines, escalates along a chain of
// tiers through a Notifier (webhook, e-mail, per-tier routing, an on-call roster by shift)
// when a clock is about to lapse, attaches playbooks (YAML, shipped in the binary) as
// checklists, and drafts the reports to the authorities in Japanese (text/template) from the
// hospital's profile (Profile, kept per tenant in the store), the facts people established
// (a yes-or-no fact is Unconfirmed until someone says otherwise) and the measures taken.
//
// It sits after detection on the data path: detect publishes alerts on ALERTS, the Service's
// Handle (a bus.Handler) reads them into incidents, RunClocks escalates, and the API
// (HTTP.Routes), the web UI and the CLI act on incidents through a Service. Its state lives
// in the metadata store (package store), per tenant, so clocks and timelines survive
// restarts.
//
// Clinical safety: nothing here acts on the network; it only records, notifies and drafts.
package incident

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

// ParseSeverity reads an incident's severity: a severity.Level, in any case, but not
// informational, which no incident is.
func ParseSeverity(s string) (severity.Level, error) {
	if l, err := severity.Parse(strings.ToLower(s)); err == nil && l.AtLeast(severity.Low) {
		return l, nil
	}
	return "", fmt.Errorf("incident: unknown severity %q (want low, medium, high or critical)", s)
}

// severityOf maps an alert's Sigma level to an incident's severity: informational, or a level
// no rule should have, counts as low.
func severityOf(level severity.Level) severity.Level {
	if l, err := ParseSeverity(string(level)); err == nil {
		return l
	}
	return severity.Low
}

// State is where an incident is in its handling (NIST SP 800-61's phases, as SOCs name them).
type State string

const (
	New        State = "new"        // opened from alerts, nobody has looked yet
	Triaged    State = "triaged"    // a person has looked and owns it
	Contained  State = "contained"  // the spread is stopped
	Eradicated State = "eradicated" // the cause is removed
	Recovered  State = "recovered"  // systems are back in service
	Closed     State = "closed"     // done; may be reopened
)

// States in the order an incident passes through them.
var States = []State{New, Triaged, Contained, Eradicated, Recovered, Closed}

// ParseState reads a state.
func ParseState(s string) (State, error) {
	if st := State(strings.ToLower(s)); slices.Contains(States, st) {
		return st, nil
	}
	return "", fmt.Errorf("incident: unknown state %q (want one of new, triaged, contained, eradicated, recovered, closed)", s)
}

// InputError is a request refused as asked (an empty note, a reason missing, an unknown
// playbook): its message is for the person who made it, and trying again unchanged fails
// again. The HTTP handlers answer it with 400.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

func refuse(format string, args ...any) error { return &InputError{msg: fmt.Sprintf(format, args...)} }

// ErrTransition is wrapped by the error of a state change the state machine does not allow.
var ErrTransition = errors.New("incident: state change not allowed")

// TransitionError says which change was refused and what would have been allowed.
type TransitionError struct {
	From, To State
	Allowed  []State
}

func (e *TransitionError) Error() string {
	if len(e.Allowed) == 0 {
		return fmt.Sprintf("cannot move an incident from %s to %s", e.From, e.To)
	}
	var a []string
	for _, s := range e.Allowed {
		a = append(a, string(s))
	}
	return fmt.Sprintf("cannot move an incident from %s to %s: from %s it can go to %s", e.From, e.To, e.From, strings.Join(a, " or "))
}

func (e *TransitionError) Unwrap() error { return ErrTransition }

// next lists the states each state may move to. Forward one phase at a time, so the time to
// each phase is measured; closed from any open state (a false positive, a duplicate), with
// a reason; reopen from closed to triaged.
var next = map[State][]State{
	New:        {Triaged, Closed},
	Triaged:    {Contained, Closed},
	Contained:  {Eradicated, Closed},
	Eradicated: {Recovered, Closed},
	Recovered:  {Closed},
	Closed:     {Triaged},
}

// CheckTransition returns nil if an incident may move from one state to the other, and a
// *TransitionError otherwise.
func CheckTransition(from, to State) error {
	if slices.Contains(next[from], to) {
		return nil
	}
	return &TransitionError{From: from, To: to, Allowed: next[from]}
}

// Entity kinds alerts are grouped by (Config.GroupBy). Source and destination addresses are
// one kind, "addr", on an incident.
const (
	EntitySource      = "source"
	EntityDestination = "destination"
	EntityUser        = "user"
	EntityHost        = "host"
)

// Entity is one thing an incident is about.
type Entity struct {
	Kind  string    `json:"kind"`
	Value string    `json:"value"`
	Last  time.Time `json:"last"` // last alert that named it
}

// Incident is an incident as people see it.
type Incident struct {
	ID         string         `json:"id"`
	Tenant     string         `json:"tenant"`
	Title      string         `json:"title"`
	Kinds      []string       `json:"kinds"` // playbooks that apply: "ransomware", "vpn-compromise", ...
	Severity   severity.Level `json:"severity"`
	State      State          `json:"state"`
	Assignee   string         `json:"assignee,omitempty"`
	MergedInto string         `json:"merged_into,omitempty"`
	First      time.Time      `json:"first"` // first and last activity of its alerts
	Last       time.Time      `json:"last"`
	Opened     time.Time      `json:"opened"`
	Updated    time.Time      `json:"updated"`
	Closed     time.Time      `json:"closed,omitzero"`
	Alerts     int            `json:"alerts"`
	Entities   []Entity       `json:"entities,omitempty"`
	Facts      Facts          `json:"facts"`
	Version    int            `json:"version"` // for optimistic updates by the API
}

// Answer is what people have established about a yes-or-no fact. The zero value is
// Unconfirmed, so a fact nobody checked is never drafted as "no" to an authority. In JSON it
// is true, false or absent (null); "yes", "no" and "unconfirmed" are read too.
type Answer uint8

const (
	Unconfirmed Answer = iota // nobody has established it yet
	Yes
	No
)

// IsZero reports whether a is Unconfirmed, so that JSON omits it.
func (a Answer) IsZero() bool { return a == Unconfirmed }

// Holds reports whether the fact is established as true: only Yes starts a clock or changes a
// deadline.
func (a Answer) Holds() bool { return a == Yes }

// String is the answer in English, as the CLI shows it.
func (a Answer) String() string {
	switch a {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "unconfirmed"
}

// MarshalJSON writes Yes as true, No as false and Unconfirmed as null.
func (a Answer) MarshalJSON() ([]byte, error) {
	switch a {
	case Yes:
		return []byte("true"), nil
	case No:
		return []byte("false"), nil
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads true, false, null, "yes", "no" or "unconfirmed".
func (a *Answer) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.TrimSpace(string(b))) {
	case "true", `"yes"`:
		*a = Yes
	case "false", `"no"`:
		*a = No
	case "null", `"unconfirmed"`, `""`:
		*a = Unconfirmed
	default:
		return fmt.Errorf("incident: want true, false or null (unconfirmed) for a yes-or-no fact, got %s", b)
	}
	return nil
}

// Facts are what people establish about an incident and the reports are drafted from. They
// start empty, every yes-or-no fact Unconfirmed; personal data (Yes) starts the statutory
// clocks.
type Facts struct {
	// AwareAt is when the hospital became aware of the incident (「知った」時点), from which the
	// statutory deadlines run. Zero: when the incident was opened.
	AwareAt time.Time `json:"aware_at,omitzero"`
	// PersonalData: patients' personal data (要配慮個人情報: medical information) leaked or may
	// have leaked. Yes starts the 個人情報保護委員会 clocks.
	PersonalData Answer `json:"personal_data,omitzero"`
	// Unauthorized: the leak may have been done with an unlawful purpose, such as unauthorised
	// access (規則第7条第3号): Yes makes the final report due in 60 days rather than 30.
	Unauthorized Answer `json:"unauthorized,omitzero"`
	// PatientsAffected is the number of people whose data is concerned (本人の数), 0 if unknown.
	PatientsAffected int      `json:"patients_affected,omitempty"`
	DataItems        []string `json:"data_items,omitempty"`       // 漏えい等が発生したおそれがある個人データの項目
	Systems          []string `json:"systems,omitempty"`          // affected systems, e.g. 電子カルテ
	Summary          string   `json:"summary,omitempty"`          // 概要, in the reporter's words
	Cause            string   `json:"cause,omitempty"`            // 原因
	SecondaryDamage  string   `json:"secondary_damage,omitempty"` // 二次被害又はそのおそれ
	Measures         []string `json:"measures,omitempty"`         // 講じた措置 / 再発防止策
	IndividualNotice string   `json:"individual_notice,omitempty"`
	Publication      string   `json:"publication,omitempty"`
	CareImpact       string   `json:"care_impact,omitempty"` // 診療への影響
	PoliceCase       string   `json:"police_case,omitempty"` // 相談・届出先の警察署と受理番号
}

// Record is an incident with everything attached to it.
type Record struct {
	Incident  Incident        `json:"incident"`
	Alerts    []AlertRef      `json:"alerts"`
	Timeline  []TimelineEntry `json:"timeline"`
	Clocks    []Clock         `json:"clocks"`
	Checklist []Step          `json:"checklist"`
}

// AlertRef is an alert attached to an incident.
type AlertRef struct {
	ID     string         `json:"id"`
	Seq    uint64         `json:"seq"`
	RuleID string         `json:"rule_id"`
	Title  string         `json:"title"`
	Level  severity.Level `json:"level"`
	First  time.Time      `json:"first"`
	Last   time.Time      `json:"last"`
}

// TimelineEntry is one change of an incident, with who made it and when.
type TimelineEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// Step is one playbook step on an incident's checklist.
type Step struct {
	Playbook string    `json:"playbook"`
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Done     time.Time `json:"done,omitzero"`
	DoneBy   string    `json:"done_by,omitempty"`
}

// Config is how a Service groups, times and escalates. Zero values take the defaults.
type Config struct {
	// Window is how long after its last alert an incident still attracts alerts about the same
	// entities (default 24 hours).
	Window time.Duration
	// GroupBy are the entity kinds that group alerts (default source, destination, user, host).
	GroupBy []string
	// Ignore are entity values that never group, such as the log collector's own address or a
	// shared service account that every alert names.
	Ignore []string
	// Hosts maps host names (lower case) to their addresses, from the device inventory, so
	// an alert naming a host and one naming its address group together.
	Hosts map[string]string
	// Protected are entity values (host names, addresses) of life-support devices and
	// protected clinical services: an incident touching one is raised to critical.
	Protected []string
	// SLA holds the clocks per severity (default DefaultSLA).
	SLA map[severity.Level]SLA
	// Escalation is who is told as clocks run out.
	Escalation Escalation
	// Roster names the people on call in each tier by shift (nil: tiers only).
	Roster *Roster
	// Calendar decides business days (default: Japanese public holidays and the year-end
	// closure, in Asia/Tokyo).
	Calendar *Calendar
	// Obligations are the statutory reports and their deadlines (default: the embedded
	// obligations.yaml).
	Obligations []Obligation
	// Playbooks (default: the embedded ones).
	Playbooks []Playbook
	// Hospital is each tenant's profile as the drafts name it, until the tenant's administrator
	// saves one on the settings page (SaveProfile), which then takes its place.
	Hospital map[string]Hospital
}

// Service is the incident workflow over the store. It is safe for concurrent use; changes to
// one incident are serialised by the store's version check.
type Service struct {
	st     *store.Store
	cfg    Config
	now    func() time.Time
	notify Notifier
	log    *slog.Logger
	hostOf map[string]string // Config.Hosts reversed
}

// NewService returns a Service over st. now is the clock (nil: time.Now), so tests and drills can
// move time; notify is told of openings and escalations (nil: nobody).
func NewService(st *store.Store, cfg Config, now func() time.Time, notify Notifier, log *slog.Logger) (*Service, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if notify == nil {
		notify = nopNotifier{}
	}
	if cfg.Window <= 0 {
		cfg.Window = 24 * time.Hour
	}
	if len(cfg.GroupBy) == 0 {
		cfg.GroupBy = []string{EntitySource, EntityDestination, EntityUser, EntityHost}
	}
	for _, k := range cfg.GroupBy {
		if !slices.Contains([]string{EntitySource, EntityDestination, EntityUser, EntityHost}, k) {
			return nil, fmt.Errorf("incident: cannot group by %q (want source, destination, user or host)", k)
		}
	}
	if cfg.Roster != nil {
		if err := cfg.Roster.Check(); err != nil {
			return nil, err
		}
	}
	if cfg.SLA == nil {
		cfg.SLA = DefaultSLA()
	}
	for _, sv := range severity.All() {
		if _, ok := cfg.SLA[sv]; !ok && sv.AtLeast(severity.Low) {
			return nil, fmt.Errorf("incident: no SLA for severity %s", sv)
		}
	}
	if cfg.Calendar == nil {
		cfg.Calendar = JapanCalendar()
	}
	if cfg.Obligations == nil {
		obs, err := DefaultObligations()
		if err != nil {
			return nil, err
		}
		cfg.Obligations = obs
	}
	if cfg.Playbooks == nil {
		pbs, err := DefaultPlaybooks()
		if err != nil {
			return nil, err
		}
		cfg.Playbooks = pbs
	}
	hostOf := map[string]string{}
	hosts := map[string]string{}
	for h, addr := range cfg.Hosts {
		hosts[strings.ToLower(h)] = addr
		hostOf[addr] = strings.ToLower(h)
	}
	cfg.Hosts = hosts
	return &Service{st: st, cfg: cfg, now: now, notify: notify, log: log.With("component", "incident"), hostOf: hostOf}, nil
}

// newID returns an incident ID people can read out on the phone: the date, then six letters.
func newID(t time.Time) string {
	return "INC-" + t.In(jst).Format("20060102") + "-" + rand.Text()[:6]
}

func fromStore(si store.Incident) (Incident, error) {
	inc := Incident{ID: si.ID, Tenant: si.Tenant, Title: si.Title, Kinds: si.Kinds, Severity: severity.Level(si.Severity),
		State: State(si.State), Assignee: si.Assignee, MergedInto: si.MergedInto, First: si.First, Last: si.Last,
		Opened: si.Opened, Updated: si.Updated, Closed: si.Closed, Alerts: si.Alerts, Version: si.Version}
	for _, e := range si.Entities {
		inc.Entities = append(inc.Entities, Entity{Kind: e.Kind, Value: e.Value, Last: e.Last})
	}
	if len(si.Facts) > 0 {
		if err := json.Unmarshal(si.Facts, &inc.Facts); err != nil {
			return Incident{}, fmt.Errorf("read facts of incident %s: %w", si.ID, err)
		}
	}
	return inc, nil
}

func (inc Incident) toStore() store.Incident {
	facts, _ := json.Marshal(inc.Facts) // plain struct: cannot fail
	si := store.Incident{ID: inc.ID, Title: inc.Title, Kinds: inc.Kinds, Severity: string(inc.Severity), State: string(inc.State),
		Assignee: inc.Assignee, MergedInto: inc.MergedInto, First: inc.First, Last: inc.Last, Opened: inc.Opened,
		Updated: inc.Updated, Closed: inc.Closed, Alerts: inc.Alerts, Facts: facts, Version: inc.Version}
	for _, e := range inc.Entities {
		si.Entities = append(si.Entities, store.IncidentEntity{Kind: e.Kind, Value: e.Value, Last: e.Last})
	}
	return si
}

// Get returns tenant's incident id.
func (s *Service) Get(ctx context.Context, tenant, id string) (Incident, error) {
	si, err := s.st.Tenant(tenant).Incident(ctx, id)
	if err != nil {
		return Incident{}, err
	}
	return fromStore(si)
}

// IncidentOf returns the ID of tenant's incident that holds the alert alertID, for a page
// that shows an alert's or a decision's incident; store.ErrNotFound if none holds it.
func (s *Service) IncidentOf(ctx context.Context, tenant, alertID string) (string, error) {
	// The alert's ID stands for the fingerprint too: no fingerprint equals an alert ID.
	a, err := s.st.Tenant(tenant).IncidentAlertByKey(ctx, alertID, alertID)
	if err != nil {
		return "", err
	}
	return a.Incident, nil
}

// List returns tenant's incidents in the given states (none: all), critical and most
// recently active first: what is burning comes first.
func (s *Service) List(ctx context.Context, tenant string, states ...State) ([]Incident, error) {
	var f store.IncidentFilter
	for _, st := range states {
		f.States = append(f.States, string(st))
	}
	list, err := s.st.Tenant(tenant).Incidents(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Incident, 0, len(list))
	for _, si := range list {
		inc, err := fromStore(si)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	slices.SortStableFunc(out, func(a, b Incident) int { return severity.Compare(b.Severity, a.Severity) })
	return out, nil
}

// Show returns tenant's incident id with its alerts, timeline, clocks and checklist.
func (s *Service) Show(ctx context.Context, tenant, id string) (Record, error) {
	sc := s.st.Tenant(tenant)
	inc, err := s.Get(ctx, tenant, id)
	if err != nil {
		return Record{}, err
	}
	r := Record{Incident: inc}
	alerts, err := sc.IncidentAlerts(ctx, id)
	if err != nil {
		return Record{}, err
	}
	for _, a := range alerts {
		r.Alerts = append(r.Alerts, AlertRef{ID: a.AlertID, Seq: a.Seq, RuleID: a.RuleID, Title: a.Title, Level: severity.Level(a.Level), First: a.First, Last: a.Last})
	}
	tl, err := sc.IncidentTimeline(ctx, id)
	if err != nil {
		return Record{}, err
	}
	for _, e := range tl {
		r.Timeline = append(r.Timeline, TimelineEntry{Time: e.Time, Actor: e.Actor, Kind: e.Kind, Detail: e.Detail})
	}
	clocks, err := sc.IncidentClocks(ctx, id)
	if err != nil {
		return Record{}, err
	}
	for _, c := range clocks {
		r.Clocks = append(r.Clocks, clockFromStore(c))
	}
	steps, err := sc.IncidentChecklist(ctx, id)
	if err != nil {
		return Record{}, err
	}
	for _, st := range steps {
		r.Checklist = append(r.Checklist, Step{Playbook: st.Playbook, ID: st.Step, Title: st.Title, Done: st.Done, DoneBy: st.DoneBy})
	}
	return r, nil
}

// change is one read-modify-write of an incident: f edits inc and returns what else to
// save. It is retried when someone else saved the incident meanwhile.
func (s *Service) change(ctx context.Context, tenant, id, actor, action string, f func(inc *Incident, now time.Time) (store.IncidentChange, error)) (Incident, error) {
	sc := s.st.Tenant(tenant)
	for attempt := 0; ; attempt++ {
		si, err := sc.Incident(ctx, id)
		if err != nil {
			return Incident{}, fmt.Errorf("%s %s: %w", action, id, err)
		}
		inc, err := fromStore(si)
		if err != nil {
			return Incident{}, err
		}
		now := s.now()
		ch, err := f(&inc, now)
		if err != nil {
			return Incident{}, fmt.Errorf("%s %s: %w", action, id, err)
		}
		inc.Updated = now
		ch.Incident = inc.toStore()
		ch.Action = "incident." + action
		for i := range ch.Timeline {
			if ch.Timeline[i].Time.IsZero() {
				ch.Timeline[i].Time = now
			}
			if ch.Timeline[i].Actor == "" {
				ch.Timeline[i].Actor = actor
			}
		}
		saved, err := sc.SaveIncidents(ctx, actor, ch)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return Incident{}, fmt.Errorf("%s %s: %w", action, id, err)
		}
		inc.Version = saved[0].Version
		return inc, nil
	}
}

// Transition moves tenant's incident id to state to, with a note saying why (required to
// close or reopen). Acknowledge stops when the incident is triaged, contain when it is
// contained; closing stops every SLA clock (not the statutory ones: the law does not stop),
// reopening starts contain and report afresh.
func (s *Service) Transition(ctx context.Context, tenant, id, actor string, to State, note string) (Incident, error) {
	return s.change(ctx, tenant, id, actor, "state", func(inc *Incident, now time.Time) (store.IncidentChange, error) {
		if err := CheckTransition(inc.State, to); err != nil {
			return store.IncidentChange{}, err
		}
		if (to == Closed || inc.State == Closed) && strings.TrimSpace(note) == "" {
			return store.IncidentChange{}, refuse("say why the incident is %s", map[bool]string{true: "closed", false: "reopened"}[to == Closed])
		}
		clocks, err := s.st.Tenant(tenant).IncidentClocks(ctx, inc.ID)
		if err != nil {
			return store.IncidentChange{}, err
		}
		from := inc.State
		inc.State = to
		ch := store.IncidentChange{Detail: fmt.Sprintf("%s -> %s", from, to),
			Timeline: []store.IncidentEvent{{Kind: "state", Detail: strings.TrimSpace(fmt.Sprintf("%s → %s %s", from, to, note))}}}
		switch {
		case to == Closed:
			inc.Closed = now
			ch.Clocks = stopClocks(clocks, now, ClockAcknowledge, ClockContain, ClockReport)
		case from == Closed:
			inc.Closed = time.Time{}
			ch.Clocks = s.slaClocks(*inc, now, clocks, true)
		case to == Triaged:
			ch.Clocks = stopClocks(clocks, now, ClockAcknowledge)
		case to == Contained:
			ch.Clocks = stopClocks(clocks, now, ClockAcknowledge, ClockContain)
		}
		return ch, nil
	})
}

// Assign gives tenant's incident id to assignee; empty assignee unassigns. Assigning
// acknowledges: it stops the acknowledge clock.
func (s *Service) Assign(ctx context.Context, tenant, id, actor, assignee string) (Incident, error) {
	return s.change(ctx, tenant, id, actor, "assign", func(inc *Incident, now time.Time) (store.IncidentChange, error) {
		prev := inc.Assignee
		inc.Assignee = strings.TrimSpace(assignee)
		detail := fmt.Sprintf("%s → %s", orDash(prev), orDash(inc.Assignee))
		ch := store.IncidentChange{Detail: detail, Timeline: []store.IncidentEvent{{Kind: "assign", Detail: detail}}}
		if inc.Assignee != "" {
			clocks, err := s.st.Tenant(tenant).IncidentClocks(ctx, inc.ID)
			if err != nil {
				return ch, err
			}
			ch.Clocks = stopClocks(clocks, now, ClockAcknowledge)
		}
		return ch, nil
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Note adds a comment to tenant's incident id's timeline.
func (s *Service) Note(ctx context.Context, tenant, id, actor, text string) (Incident, error) {
	text = strings.TrimSpace(text)
	return s.change(ctx, tenant, id, actor, "note", func(inc *Incident, now time.Time) (store.IncidentChange, error) {
		if text == "" {
			return store.IncidentChange{}, refuse("an empty note")
		}
		return store.IncidentChange{Timeline: []store.IncidentEvent{{Kind: "note", Detail: text}}}, nil
	})
}

// SetSeverity overrides the severity people judge right; SLA clocks that are running take
// the stricter of their deadline and the new severity's.
func (s *Service) SetSeverity(ctx context.Context, tenant, id, actor string, sv severity.Level, reason string) (Incident, error) {
	if !sv.AtLeast(severity.Low) {
		return Incident{}, refuse("set severity of %s: unknown severity %q", id, sv)
	}
	return s.change(ctx, tenant, id, actor, "severity", func(inc *Incident, now time.Time) (store.IncidentChange, error) {
		clocks, err := s.st.Tenant(tenant).IncidentClocks(ctx, inc.ID)
		if err != nil {
			return store.IncidentChange{}, err
		}
		detail := strings.TrimSpace(fmt.Sprintf("%s → %s %s", inc.Severity, sv, reason))
		inc.Severity = sv
		return store.IncidentChange{Detail: detail, Timeline: []store.IncidentEvent{{Kind: "severity", Detail: detail}},
			Clocks: s.slaClocks(*inc, now, clocks, false)}, nil
	})
}

// SetFacts replaces the facts of tenant's incident id. Marking personal data as leaked (or
// possibly leaked) starts the statutory reporting clocks from Facts.AwareAt.
//
// version, if not 0, is the incident's Version the new facts were written from: if the
// incident has changed since, the save fails with store.ErrConflict, so that facts typed into
// a form are never saved over someone else's newer ones. The store compares it as it saves.
func (s *Service) SetFacts(ctx context.Context, tenant, id, actor string, f Facts, version int) (Incident, error) {
	return s.change(ctx, tenant, id, actor, "facts", func(inc *Incident, now time.Time) (store.IncidentChange, error) {
		if version != 0 && inc.Version != version {
			return store.IncidentChange{}, fmt.Errorf("%w: the facts were written from version %d, and the incident is at version %d", store.ErrConflict, version, inc.Version)
		}
		if f.PatientsAffected < 0 {
			return store.IncidentChange{}, refuse("a negative number of patients")
		}
		if !f.AwareAt.IsZero() && f.AwareAt.After(now) {
			return store.IncidentChange{}, refuse("aware at %s is in the future", f.AwareAt.Format(time.RFC3339))
		}
		inc.Facts = f
		clocks, err := s.st.Tenant(tenant).IncidentClocks(ctx, inc.ID)
		if err != nil {
			return store.IncidentChange{}, err
		}
		ch := store.IncidentChange{Timeline: []store.IncidentEvent{{Kind: "facts", Detail: factsSummary(f)}}}
		ch.Clocks, err = s.statutoryClocks(*inc, clocks)
		if err != nil {
			return store.IncidentChange{}, err
		}
		for _, c := range ch.Clocks {
			ch.Timeline = append(ch.Timeline, store.IncidentEvent{Kind: "clock.started", Detail: fmt.Sprintf("%s: due %s", c.Name, c.Deadline.In(jst).Format("2006-01-02 15:04 MST"))})
		}
		return ch, nil
	})
}

func factsSummary(f Facts) string {
	var parts []string
	if f.PersonalData != Unconfirmed {
		parts = append(parts, "personal data concerned: "+f.PersonalData.String())
	}
	if f.Unauthorized != Unconfirmed {
		parts = append(parts, "unauthorised access: "+f.Unauthorized.String())
	}
	if f.PatientsAffected > 0 {
		parts = append(parts, fmt.Sprintf("%d patients", f.PatientsAffected))
	}
	if len(f.Systems) > 0 {
		parts = append(parts, "systems: "+strings.Join(f.Systems, ", "))
	}
	if len(parts) == 0 {
		return "facts updated"
	}
	return strings.Join(parts, "; ")
}

// StopClock marks tenant's incident id's clock name done, such as a report sent; note says
// how (the report's reference number, the person spoken to).
func (s *Service) StopClock(ctx context.Context, tenant, id, actor, name, note string) (Incident, error) {
	return s.change(ctx, tenant, id, actor, "clock", func(inc *Incident, now time.Time) (store.IncidentChange, error) {
		clocks, err := s.st.Tenant(tenant).IncidentClocks(ctx, inc.ID)
		if err != nil {
			return store.IncidentChange{}, err
		}
		stopped := stopClocks(clocks, now, name)
		if len(stopped) == 0 {
			return store.IncidentChange{}, refuse("no running clock %q", name)
		}
		return store.IncidentChange{Detail: name, Timeline: []store.IncidentEvent{{Kind: "clock.stopped", Detail: strings.TrimSpace(name + " " + note)}},
			Clocks: stopped}, nil
	})
}
