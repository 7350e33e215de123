package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

// The incident pages: the list of what is burning with its clocks, and one incident with
// everything people do to it (state, assignee, checklist, notes, report drafts). The work
// itself is package incident's; these pages only read and forward what a person asked.

const incidentsPerPage = 25

type incidentRow struct {
	incident.Incident
	Assignee string // the assignee's name
	Clocks   []clockView
}

type incidentsData struct {
	Configured  bool
	Rows        []incidentRow
	State       string
	States      []option
	Severity    string
	Severities  []severity.Level
	Sort        string
	Sorts       []string
	Pager       pager
	OpenTotal   int
	BreachedNow int
}

// severities are what an incident may be, most severe first: every level but informational.
var severities = func() []severity.Level {
	var out []severity.Level
	for _, l := range levels {
		if l.AtLeast(severity.Low) {
			out = append(out, l)
		}
	}
	return out
}()

func (s *Server) incidents(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Nav = "incidents"
	d := incidentsData{Configured: s.opt.Incidents != nil, Severities: severities, Sorts: []string{"urgent", "opened", "updated"}}
	q := r.URL.Query()
	stateVals := []string{"open", "all"}
	for _, st := range incident.States {
		stateVals = append(stateVals, string(st))
	}
	d.State = oneOf(q.Get("state"), stateVals...)
	for _, v := range stateVals {
		d.States = append(d.States, option{v, p.L.T("state." + v)})
	}
	if sv, err := incident.ParseSeverity(q.Get("severity")); err == nil {
		d.Severity = string(sv)
	}
	d.Sort = oneOf(q.Get("sort"), d.Sorts...)
	if !d.Configured {
		p.Data = d
		s.render(w, r, http.StatusOK, "incidents", p)
		return nil
	}
	ctx := r.Context()
	var states []incident.State
	switch d.State {
	case "all":
	case "open":
		for _, st := range incident.States {
			if st != incident.Closed {
				states = append(states, st)
			}
		}
	default:
		states = []incident.State{incident.State(d.State)}
	}
	list, err := s.opt.Incidents.List(ctx, p.Tenant, states...)
	if err != nil {
		return err
	}
	list = slices.DeleteFunc(list, func(i incident.Incident) bool {
		return i.MergedInto != "" || (d.Severity != "" && string(i.Severity) != d.Severity)
	})
	switch d.Sort {
	case "opened":
		slices.SortStableFunc(list, func(a, b incident.Incident) int { return b.Opened.Compare(a.Opened) })
	case "updated":
		slices.SortStableFunc(list, func(a, b incident.Incident) int { return b.Updated.Compare(a.Updated) })
	}
	var lo, hi int
	d.Pager, lo, hi = paginate(len(list), incidentsPerPage, q)
	rows, err := s.incidentRows(r, list[lo:hi])
	if err != nil {
		return err
	}
	d.Rows = rows
	p.Data = d
	s.render(w, r, http.StatusOK, "incidents", p)
	return nil
}

// incidentRows adds each incident's running clocks and its assignee's name. The clocks are
// read per incident, so only for the rows shown.
func (s *Server) incidentRows(r *http.Request, list []incident.Incident) ([]incidentRow, error) {
	now := time.Now()
	who := s.actors(r.Context())
	rows := make([]incidentRow, 0, len(list))
	for _, inc := range list {
		rec, err := s.opt.Incidents.Show(r.Context(), inc.Tenant, inc.ID)
		if err != nil {
			return nil, err
		}
		rows = append(rows, incidentRow{Incident: inc, Assignee: who.Name(inc.Assignee), Clocks: running(clockViews(rec.Clocks, now))})
	}
	return rows, nil
}

type stepView struct {
	incident.Step
	TitleEn string
	DoneBy  string
}

type timelineView struct {
	incident.TimelineEntry
	Who string
}

type assignee struct {
	Actor, Name string
}

type incidentData struct {
	Rec          incident.Record
	Assignee     string
	Clocks       []clockView
	Steps        []stepView
	StepsDone    int
	Timeline     []timelineView
	Next         []option // states the incident may move to
	Assignees    []assignee
	Reports      []incident.Obligation
	Decisions    map[string]int // alert ID → decisions taken on it
	Kinds        []option       // the playbooks that apply: ID and title in the page's language
	Facts        []factField    // what people established, as the facts form shows it
	FactsVersion int            // the incident's version the facts form was filled from
	Answers      []string       // the choices for a yes-or-no fact
	Error        string
	Note, Form   string // what the person typed, kept when a change is refused
}

func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.showIncident(w, r, p, http.StatusOK, "")
}

// showIncident renders one incident; status and msg carry a refused change back to the person.
func (s *Server) showIncident(w http.ResponseWriter, r *http.Request, p *page, status int, msg string) error {
	p.Nav = "incidents"
	if s.opt.Incidents == nil {
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.not_configured"))
		return nil
	}
	ctx := r.Context()
	rec, err := s.opt.Incidents.Show(ctx, p.Tenant, r.PathValue("incident"))
	if errors.Is(err, store.ErrNotFound) {
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.unknown"))
		return nil
	} else if err != nil {
		return err
	}
	who := s.actors(ctx)
	d := incidentData{Rec: rec, Assignee: who.Name(rec.Incident.Assignee), Clocks: clockViews(rec.Clocks, time.Now()),
		Reports: s.obligations, Error: msg, Note: r.PostFormValue("note")}
	d.Facts, d.FactsVersion = factFields(rec.Incident.Facts, p.L), rec.Incident.Version
	if _, typed := r.PostForm["facts_version"]; typed {
		d.Facts = postedFacts(r.PostForm, p.L) // a refused save shows what the person typed
	}
	for _, a := range answers {
		d.Answers = append(d.Answers, a.String())
	}
	for _, k := range rec.Incident.Kinds {
		title := k
		if t, ok := s.playbooks[k]; ok {
			title = t[0]
			if p.L.Lang == "en" && t[1] != "" {
				title = t[1]
			}
		}
		d.Kinds = append(d.Kinds, option{k, title})
	}
	for _, st := range rec.Checklist {
		d.Steps = append(d.Steps, stepView{Step: st, TitleEn: s.stepTitleEn[st.Playbook+"/"+st.ID], DoneBy: who.Name(st.DoneBy)})
		if !st.Done.IsZero() {
			d.StepsDone++
		}
	}
	for i := len(rec.Timeline) - 1; i >= 0; i-- { // newest first
		e := rec.Timeline[i]
		e.Detail = who.Text(e.Detail)
		d.Timeline = append(d.Timeline, timelineView{TimelineEntry: e, Who: who.Name(e.Actor)})
	}
	for _, st := range incident.States {
		if incident.CheckTransition(rec.Incident.State, st) == nil {
			d.Next = append(d.Next, option{string(st), p.L.T("state." + string(st))})
		}
	}
	if p.Can(string(auth.ActionWorkIncidents)) {
		if d.Assignees, err = s.assignees(r, p.Tenant); err != nil {
			return err
		}
	}
	if s.opt.Decisions != nil {
		d.Decisions = map[string]int{}
		for _, a := range rec.Alerts {
			ds, err := s.opt.Decisions.List(ctx, p.Tenant, store.DecisionFilter{AlertID: a.ID})
			if err != nil {
				return err
			}
			d.Decisions[a.ID] = len(ds)
		}
	}
	p.Data = d
	s.render(w, r, status, "incident", p)
	return nil
}

// assignees are the tenant's people who may work incidents.
func (s *Server) assignees(r *http.Request, tenant string) ([]assignee, error) {
	ud, err := s.usersData(r, tenant)
	if err != nil {
		return nil, err
	}
	var out []assignee
	for _, u := range ud.Users {
		if u.Disabled {
			continue
		}
		if slices.ContainsFunc(u.Roles, func(r auth.Role) bool { return r.Allows(auth.ActionWorkIncidents) }) {
			out = append(out, assignee{Actor: "user:" + u.ID, Name: u.Name})
		}
	}
	return out, nil
}

// changeIncident runs one change a person asked for and goes back to the incident, or shows
// it again with why the change was refused.
func (s *Server) changeIncident(w http.ResponseWriter, r *http.Request, p *page, change func(actor, id string) error) error {
	if s.opt.Incidents == nil {
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.not_configured"))
		return nil
	}
	id, _ := auth.IdentityFrom(r.Context())
	inc := r.PathValue("incident")
	err := change(id.Actor(), inc)
	var input *incident.InputError
	var bad badInput
	switch {
	case errors.As(err, &bad):
		return s.showIncident(w, r, p, http.StatusBadRequest, p.L.T(string(bad)))
	case errors.Is(err, incident.ErrTransition), errors.Is(err, incident.ErrStep), errors.As(err, &input):
		return s.showIncident(w, r, p, http.StatusBadRequest, p.L.T("incidents.refused", err.Error()))
	case errors.Is(err, store.ErrNotFound):
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.unknown"))
		return nil
	case errors.Is(err, store.ErrConflict):
		return s.showIncident(w, r, p, http.StatusConflict, p.L.T("incidents.conflict"))
	case err != nil:
		return err
	}
	http.Redirect(w, r, "/t/"+url.PathEscape(p.Tenant)+"/incidents/"+url.PathEscape(inc), http.StatusSeeOther)
	return nil
}

func (s *Server) incidentState(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.changeIncident(w, r, p, func(actor, id string) error {
		st, err := incident.ParseState(r.PostFormValue("state"))
		if err != nil {
			return badInput("incidents.bad_state")
		}
		_, err = s.opt.Incidents.Transition(r.Context(), p.Tenant, id, actor, st, strings.TrimSpace(r.PostFormValue("note")))
		return err
	})
}

func (s *Server) incidentAssign(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.changeIncident(w, r, p, func(actor, id string) error {
		to := r.PostFormValue("assignee")
		if to == "me" {
			to = actor
		}
		if to != "" {
			as, err := s.assignees(r, p.Tenant)
			if err != nil {
				return err
			}
			// Only someone of this hospital who may work incidents: an ID typed into the form
			// does not reach another hospital's user.
			if !slices.ContainsFunc(as, func(a assignee) bool { return a.Actor == to }) {
				return badInput("incidents.bad_assignee")
			}
		}
		_, err := s.opt.Incidents.Assign(r.Context(), p.Tenant, id, actor, to)
		return err
	})
}

func (s *Server) incidentNote(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.changeIncident(w, r, p, func(actor, id string) error {
		_, err := s.opt.Incidents.Note(r.Context(), p.Tenant, id, actor, strings.TrimSpace(r.PostFormValue("note")))
		return err
	})
}

func (s *Server) incidentStep(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.changeIncident(w, r, p, func(actor, id string) error {
		done := r.PostFormValue("done") == "true"
		_, err := s.opt.Incidents.CheckStep(r.Context(), p.Tenant, id, actor, r.PostFormValue("playbook"), r.PostFormValue("step"), done)
		return err
	})
}

// incidentFacts replaces the incident's facts with the form's, through the service call the
// API's PUT /api/v1/incidents/{id}/facts makes: the same rules, the same timeline entry and
// audit record. The form carries a mark of the facts it was filled from; when someone changed
// them since, the save is refused rather than silently undoing their change.
func (s *Server) incidentFacts(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.changeIncident(w, r, p, func(actor, id string) error {
		f, err := readFacts(r.PostForm, s.opt.Location)
		if err != nil {
			return err
		}
		// The store saves only over the version the form was filled from, so that nothing
		// saved since — by another person, or an alert attached — is undone unseen.
		version, err := strconv.Atoi(r.PostFormValue("facts_version"))
		if err != nil || version <= 0 {
			return fmt.Errorf("facts form of %s says no version it was filled from: %w", id, store.ErrConflict)
		}
		_, err = s.opt.Incidents.SetFacts(r.Context(), p.Tenant, id, actor, f, version)
		return err
	})
}

// factField is one fact on the incident page, as its form shows and sends it. The form's
// names are the API's JSON names, so a fact is called the same everywhere.
type factField struct {
	Name  string
	Kind  string // answer, time, count, lines (one item a line), text
	Value string // as the form holds it
	Shown string // as the page shows it to someone who may not change it
}

// factTable is every field of incident.Facts, in the order the drafts ask for them, with where
// each is kept: the form, its reading and the read-only view all come from this one table,
// and a test holds it to the struct.
var factTable = []struct {
	name string
	of   func(*incident.Facts) any
}{
	{"aware_at", func(f *incident.Facts) any { return &f.AwareAt }},
	{"personal_data", func(f *incident.Facts) any { return &f.PersonalData }},
	{"unauthorized", func(f *incident.Facts) any { return &f.Unauthorized }},
	{"patients_affected", func(f *incident.Facts) any { return &f.PatientsAffected }},
	{"data_items", func(f *incident.Facts) any { return &f.DataItems }},
	{"systems", func(f *incident.Facts) any { return &f.Systems }},
	{"summary", func(f *incident.Facts) any { return &f.Summary }},
	{"cause", func(f *incident.Facts) any { return &f.Cause }},
	{"secondary_damage", func(f *incident.Facts) any { return &f.SecondaryDamage }},
	{"care_impact", func(f *incident.Facts) any { return &f.CareImpact }},
	{"individual_notice", func(f *incident.Facts) any { return &f.IndividualNotice }},
	{"publication", func(f *incident.Facts) any { return &f.Publication }},
	{"measures", func(f *incident.Facts) any { return &f.Measures }},
	{"police_case", func(f *incident.Facts) any { return &f.PoliceCase }},
}

// answers are the choices for a yes-or-no fact, unconfirmed first: it is what a fact is until
// someone establishes it.
var answers = []incident.Answer{incident.Unconfirmed, incident.Yes, incident.No}

// factTimeLayout is how a datetime-local field holds a time; a browser may leave out the
// seconds (factTimeMinutes).
const (
	factTimeLayout  = "2006-01-02T15:04:05"
	factTimeMinutes = "2006-01-02T15:04"
)

// factFields is f as the form shows it: times in the page's zone, lists one item a line, an
// unknown number of patients (0) empty.
func factFields(f incident.Facts, l *localizer) []factField {
	out := make([]factField, 0, len(factTable))
	for _, fc := range factTable {
		ff := factField{Name: fc.name}
		switch v := fc.of(&f).(type) {
		case *incident.Answer:
			shown := "facts.answer." + v.String()
			ff.Kind, ff.Value, ff.Shown = "answer", v.String(), l.T(shown)
		case *time.Time:
			ff.Kind = "time"
			if !v.IsZero() {
				ff.Value, ff.Shown = v.In(l.loc).Format(factTimeLayout), l.Time(*v)
			}
		case *int:
			ff.Kind = "count"
			if *v > 0 {
				ff.Value = strconv.Itoa(*v)
				ff.Shown = ff.Value
			}
		case *[]string:
			ff.Kind, ff.Value, ff.Shown = "lines", strings.Join(*v, "\n"), strings.Join(*v, "、")
		case *string:
			ff.Kind, ff.Value, ff.Shown = "text", *v, *v
		}
		out = append(out, ff)
	}
	return out
}

// postedFacts is the facts form as it was sent, to show it again when the save is refused.
func postedFacts(form url.Values, l *localizer) []factField {
	out := factFields(incident.Facts{}, l)
	for i := range out {
		out[i].Value = form.Get(out[i].Name)
	}
	return out
}

// readFacts reads the facts form. It only turns text into values (a number that is not one
// is refused here); what a value may be is the incident service's to say, as it does for the
// API. An empty field is a fact not yet known, an absent yes-or-no unconfirmed, as in the API.
func readFacts(form url.Values, loc *time.Location) (incident.Facts, error) {
	var f incident.Facts
	for _, fc := range factTable {
		v := strings.TrimSpace(strings.ReplaceAll(form.Get(fc.name), "\r\n", "\n"))
		switch p := fc.of(&f).(type) {
		case *incident.Answer:
			i := slices.IndexFunc(answers, func(a incident.Answer) bool { return a.String() == v })
			if i < 0 && v != "" {
				return incident.Facts{}, badInput("incidents.facts_bad_answer")
			}
			*p = answers[max(i, 0)]
		case *time.Time:
			if v == "" {
				continue
			}
			t, err := time.ParseInLocation(factTimeLayout, v, loc)
			if err != nil {
				t, err = time.ParseInLocation(factTimeMinutes, v, loc)
			}
			if err != nil {
				return incident.Facts{}, badInput("incidents.facts_bad_time")
			}
			*p = t
		case *int:
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return incident.Facts{}, badInput("incidents.facts_bad_count")
			}
			*p = n
		case *[]string:
			for line := range strings.Lines(v) {
				if line = strings.TrimSpace(line); line != "" {
					*p = append(*p, line)
				}
			}
		case *string:
			*p = v
		}
	}
	return f, nil
}

// badInput is a form the page refuses before the service sees it; its value is the message's
// catalogue key.
type badInput string

func (b badInput) Error() string { return string(b) }

type reportData struct {
	Incident   incident.Incident
	Obligation incident.Obligation
	Text       string
}

// incidentReport shows a report draft as the Markdown it is: people copy it into the
// authority's form or a document, so preformatted text is what they need.
func (s *Server) incidentReport(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Nav = "incidents"
	if s.opt.Incidents == nil {
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.not_configured"))
		return nil
	}
	ctx := r.Context()
	inc, err := s.opt.Incidents.Get(ctx, p.Tenant, r.PathValue("incident"))
	if errors.Is(err, store.ErrNotFound) {
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.unknown"))
		return nil
	} else if err != nil {
		return err
	}
	i := slices.IndexFunc(s.obligations, func(o incident.Obligation) bool { return o.ID == r.PathValue("obligation") })
	if i < 0 {
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.unknown_report"))
		return nil
	}
	text, err := s.opt.Incidents.Report(ctx, p.Tenant, inc.ID, s.obligations[i].ID)
	if err != nil {
		return err
	}
	p.Data = reportData{Incident: inc, Obligation: s.obligations[i], Text: string(text)}
	s.render(w, r, http.StatusOK, "report", p)
	return nil
}
