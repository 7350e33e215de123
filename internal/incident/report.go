package incident

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

// Obligation is a report a hospital owes an authority, when it is owed and by when.
type Obligation struct {
	ID        string `yaml:"id"`
	Name      string `yaml:"name"`
	Authority string `yaml:"authority"`
	Basis     string `yaml:"basis"`
	Template  string `yaml:"template"`
	When      When   `yaml:"when"`
	Due       Due    `yaml:"due"`
}

// When says which incidents owe a report: any condition that holds is enough.
type When struct {
	PersonalData bool           `yaml:"personal_data"`
	Kinds        []string       `yaml:"kinds"`
	Severity     severity.Level `yaml:"severity"` // at least this severe
}

// Due is a reporting deadline, from when the hospital became aware.
type Due struct {
	Hours              int           `yaml:"hours"`
	Days               int           `yaml:"days"`
	DaysIfUnauthorized int           `yaml:"days_if_unauthorized"`
	FirstDayCounts     bool          `yaml:"first_day_counts"`
	RollForward        bool          `yaml:"roll_forward"`
	WarnBefore         time.Duration `yaml:"warn_before"`
}

// Applies reports whether an incident owes the report.
func (o Obligation) Applies(inc Incident) bool {
	w := o.When
	return (w.PersonalData && inc.Facts.PersonalData.Holds()) ||
		slices.ContainsFunc(w.Kinds, func(k string) bool { return slices.Contains(inc.Kinds, k) }) ||
		(w.Severity != "" && inc.Severity.Rank() >= w.Severity.Rank())
}

// Deadline returns when the report is due for an incident the hospital became aware of at
// aware, with the calendar deciding business days.
func (o Obligation) Deadline(aware time.Time, unauthorized bool, cal *Calendar) time.Time {
	d := o.Due
	if d.Hours > 0 {
		return aware.Add(time.Duration(d.Hours) * time.Hour)
	}
	days := d.Days
	if unauthorized && d.DaysIfUnauthorized > 0 {
		days = d.DaysIfUnauthorized
	}
	if !d.FirstDayCounts {
		days++
	}
	// The end of the last day: midnight after it, less a second, in the calendar's zone.
	last := cal.startOfDay(aware).AddDate(0, 0, days-1)
	if d.RollForward {
		last = cal.RollForward(last)
	}
	return last.AddDate(0, 0, 1).Add(-time.Second)
}

//go:embed reports
var reportFS embed.FS

// DefaultObligations returns the obligations shipped in the binary (reports/obligations.yaml)
// with the periods omamori ships (config.Default's incidents.deadlines).
func DefaultObligations() ([]Obligation, error) {
	return ObligationsWith(config.Default().Incidents.Deadlines)
}

// Deadlines are the reporting periods of the obligations shipped in the binary: the
// configuration's incidents.deadlines, whose type it is.
type Deadlines = config.Deadlines

// ObligationsWith returns the shipped obligations with d's periods. The shipped file says how
// each report's deadline is counted and leaves its period to d, so a period is written in one
// place, the configuration.
func ObligationsWith(d Deadlines) ([]Obligation, error) {
	data, err := fs.ReadFile(reportFS, "reports/obligations.yaml")
	if err != nil {
		return nil, fmt.Errorf("load obligations: %w", err)
	}
	obs, err := decodeObligations(data)
	if err != nil {
		return nil, err
	}
	for i := range obs {
		due := &obs[i].Due
		switch obs[i].ID {
		case "ppc-preliminary":
			due.Days = d.PPCPreliminaryDays
		case "ppc-final":
			due.Days, due.DaysIfUnauthorized = d.PPCFinalDays, d.PPCFinalUnauthorizedDays
		case "mhlw":
			due.Hours = d.MHLWHours
		case "police":
			due.Hours = d.PoliceHours
		}
	}
	if err := checkObligations(obs); err != nil {
		return nil, err
	}
	return obs, nil
}

// Obligations returns the statutory reports the Service drafts and runs clocks for.
func (s *Service) Obligations() []Obligation { return slices.Clone(s.cfg.Obligations) }

// decodeObligations reads a list of obligations (YAML), refusing unknown keys.
func decodeObligations(data []byte) ([]Obligation, error) {
	var obs []Obligation
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&obs); err != nil {
		return nil, fmt.Errorf("parse obligations: %w", err)
	}
	return obs, nil
}

// checkObligations refuses an obligation without an ID, name, template, condition or
// deadline, or with a deadline both in hours and in days.
func checkObligations(obs []Obligation) error {
	seen := map[string]bool{}
	for _, o := range obs {
		switch {
		case !validKind(o.ID) || seen[o.ID]:
			return fmt.Errorf("obligation ID %q: missing, malformed or used twice", o.ID)
		case o.Name == "" || o.Template == "":
			return fmt.Errorf("obligation %s: needs a name and a template", o.ID)
		case (o.Due.Hours > 0) == (o.Due.Days > 0):
			return fmt.Errorf("obligation %s: give the deadline in hours or in days, not both or neither", o.ID)
		case o.When.Severity != "" && !o.When.Severity.AtLeast(severity.Low):
			return fmt.Errorf("obligation %s: unknown severity %q", o.ID, o.When.Severity)
		case !o.When.PersonalData && len(o.When.Kinds) == 0 && o.When.Severity == "":
			return fmt.Errorf("obligation %s: no condition in when", o.ID)
		}
		if _, err := reportTemplate(o.Template); err != nil {
			return fmt.Errorf("obligation %s: %w", o.ID, err)
		}
		seen[o.ID] = true
	}
	return nil
}

func (s *Service) obligation(id string) (Obligation, bool) {
	i := slices.IndexFunc(s.cfg.Obligations, func(o Obligation) bool { return o.ID == id })
	if i < 0 {
		return Obligation{}, false
	}
	return s.cfg.Obligations[i], true
}

// awareAt is when the statutory clocks start.
func awareAt(inc Incident) time.Time {
	if !inc.Facts.AwareAt.IsZero() {
		return inc.Facts.AwareAt
	}
	return inc.Opened
}

// statutoryClocks returns the reporting clocks to save for inc given those it has: new ones
// for obligations that now apply, and running ones whose deadline the facts changed (the
// time of awareness, unauthorised access). Clocks of obligations that no longer apply stay:
// a person stops them with a note.
func (s *Service) statutoryClocks(inc Incident, have []store.IncidentClock) ([]store.IncidentClock, error) {
	var out []store.IncidentClock
	aware := awareAt(inc)
	for _, o := range s.cfg.Obligations {
		i := slices.IndexFunc(have, func(c store.IncidentClock) bool { return c.Name == o.ID })
		if i < 0 && !o.Applies(inc) {
			continue
		}
		c := newClock(o.ID, aware, o.Deadline(aware, inc.Facts.Unauthorized.Holds(), s.cfg.Calendar), o.Due.WarnBefore)
		if i >= 0 {
			old := have[i]
			if !old.Stopped.IsZero() || (old.Started.Equal(c.Started) && old.Deadline.Equal(c.Deadline)) {
				continue
			}
			c.Escalations = old.Escalations
			if !c.WarnAt.After(old.Warned) {
				c.Warned = old.Warned
			}
			if !c.Deadline.After(old.Breached) {
				c.Breached = old.Breached
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// ReportData is what a report template is given.
type ReportData struct {
	Obligation Obligation
	// Hospital is the tenant's profile; ProfileIncomplete says some field of it is empty, and
	// ProfilePage where its administrator fills it in.
	Hospital          Hospital
	ProfileIncomplete bool
	ProfilePage       string
	Incident          Incident
	Kinds             []string // the incident's kinds by their playbooks' Japanese titles
	Facts             Facts
	AwareAt           time.Time
	Deadline          time.Time
	Drafted           time.Time
	Alerts            []AlertRef
	Timeline          []TimelineEntry
	// Measures are what was done about the incident, oldest first: the response decisions
	// on its alerts (blocks and isolations, with their status) and the checklist steps done.
	Measures []Measure
}

// Measure is one measure taken, as a draft lists it.
type Measure struct {
	At   time.Time
	What string // in Japanese
	By   string // the person, or the rule of an automatic decision
}

// ProfilePath is where a tenant's administrator edits the hospital profile in the web UI.
func ProfilePath(tenant string) string { return "/t/" + tenant + "/settings/hospital" }

// unconfirmed is what a draft says of a fact nobody has established: never "no".
const unconfirmed = "（未確認）"

// datetime writes a time as Japanese documents do, in JST.
func datetime(t time.Time) string {
	if t.IsZero() {
		return unconfirmed
	}
	return t.In(jst).Format("2006年1月2日 15時04分")
}

// levelJA names the levels in Japanese, for the reports.
var levelJA = map[severity.Level]string{severity.Critical: "緊急", severity.High: "高", severity.Medium: "中", severity.Low: "低",
	severity.Informational: "情報"}

var reportFuncs = template.FuncMap{
	"datetime": datetime,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return unconfirmed
		}
		return t.In(jst).Format("2006年1月2日")
	},
	// fact gives the text for a fact not yet established.
	"fact": func(s string) string {
		if strings.TrimSpace(s) == "" {
			return unconfirmed
		}
		return s
	},
	// profile gives the text for a field of the hospital profile, which may not be filled in.
	"profile": func(s string) string {
		if strings.TrimSpace(s) == "" {
			return "（未設定）"
		}
		return s
	},
	"join": func(xs []string) string {
		if len(xs) == 0 {
			return unconfirmed
		}
		return strings.Join(xs, "、")
	},
	"count": func(n int) string {
		if n <= 0 {
			return unconfirmed
		}
		return thousands(n) + "名"
	},
	"severity": func(s severity.Level) string { return cmp.Or(levelJA[s], string(s)) },
	// level is an alert's (Sigma) level in Japanese.
	"level": func(l severity.Level) string {
		return cmp.Or(levelJA[severity.Level(strings.ToLower(string(l)))], string(l))
	},
	"state": func(s State) string {
		return cmp.Or(map[State]string{New: "未対応", Triaged: "対応中（初動）", Contained: "封じ込め済み", Eradicated: "原因除去済み",
			Recovered: "復旧済み", Closed: "終了"}[s], string(s))
	},
	"entity": func(kind string) string {
		return cmp.Or(map[string]string{indexAddr: "IPアドレス", EntityHost: "ホスト", EntityUser: "アカウント"}[kind], kind)
	},
	// answer is a yes-or-no fact: あり, なし, or （未確認） when nobody has established it.
	"answer": func(a Answer) string {
		switch a {
		case Yes:
			return "あり"
		case No:
			return "なし"
		}
		return unconfirmed
	},
}

// thousands writes n with commas every three digits, as Japanese official documents do.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// reportTemplate parses report template name with the parts every draft shares
// (reports/common.tmpl: the reporter's block, the measures taken).
func reportTemplate(name string) (*template.Template, error) {
	text, err := fs.ReadFile(reportFS, "reports/"+name)
	if err != nil {
		return nil, fmt.Errorf("report template %s: %w", name, err)
	}
	t, err := template.New(name).Funcs(reportFuncs).Option("missingkey=error").ParseFS(reportFS, "reports/common.tmpl")
	if err == nil {
		t, err = t.Parse(string(text))
	}
	if err != nil {
		return nil, fmt.Errorf("report template %s: %w", name, err)
	}
	return t, nil
}

// Report drafts the report obligation owes for tenant's incident id, in Japanese Markdown,
// from the hospital's profile and the incident's facts, alerts, timeline, response decisions
// and the checklist steps done. It is a draft for people to check and send; drafting records
// nothing.
func (s *Service) Report(ctx context.Context, tenant, id, obligation string) ([]byte, error) {
	o, ok := s.obligation(obligation)
	if !ok {
		var ids []string
		for _, o := range s.cfg.Obligations {
			ids = append(ids, o.ID)
		}
		return nil, refuse("draft report for %s: no report %q (have %s)", id, obligation, strings.Join(ids, ", "))
	}
	r, err := s.Show(ctx, tenant, id)
	if err != nil {
		return nil, fmt.Errorf("draft %s report for %s: %w", o.ID, id, err)
	}
	h, err := s.Profile(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("draft %s report for %s: %w", o.ID, id, err)
	}
	aware := awareAt(r.Incident)
	data := ReportData{Obligation: o, Hospital: h, ProfileIncomplete: !profileComplete(&h), ProfilePage: ProfilePath(tenant),
		Incident: r.Incident, Facts: r.Incident.Facts, AwareAt: aware,
		Deadline: o.Deadline(aware, r.Incident.Facts.Unauthorized.Holds(), s.cfg.Calendar), Drafted: s.now(),
		Alerts: r.Alerts, Timeline: r.Timeline}
	for _, k := range r.Incident.Kinds {
		title := k
		if pb, ok := s.playbook(k); ok {
			title = pb.Title
		}
		data.Kinds = append(data.Kinds, title)
	}
	if data.Measures, err = s.measures(ctx, tenant, r); err != nil {
		return nil, fmt.Errorf("draft %s report for %s: %w", o.ID, id, err)
	}
	// Alerts of the same minute in a fixed order, so a draft reads the same each time.
	data.Alerts = slices.Clone(data.Alerts)
	slices.SortStableFunc(data.Alerts, func(a, b AlertRef) int {
		return cmp.Or(a.First.Truncate(time.Minute).Compare(b.First.Truncate(time.Minute)), strings.Compare(a.Title, b.Title))
	})
	return RenderReport(o, data)
}

// measures lists what was done about r's incident: the decisions taken on its alerts, the
// decisions people made naming the incident (dry runs left out: they did nothing) and the
// checklist steps done, oldest first.
//
// A decision records the alert it answers and nothing of incidents, so a person's decision
// made by hand — with no alert, as a responder blocks the C2 server the analyst found — is
// the incident's when its reason names the incident's ID ("INC-20211031-AB12CD の C2 を遮断").
func (s *Service) measures(ctx context.Context, tenant string, r Record) ([]Measure, error) {
	var out []Measure
	seen := map[int64]bool{}
	manual, err := s.st.Tenant(tenant).Decisions(ctx, store.DecisionFilter{})
	if err != nil {
		return nil, fmt.Errorf("decisions naming incident %s: %w", r.Incident.ID, err)
	}
	for _, d := range manual {
		if d.Origin.Kind != decision.OriginRule && !d.DryRun && strings.Contains(d.Reason, r.Incident.ID) {
			seen[d.ID] = true
			out = append(out, decisionMeasure(d, ""))
		}
	}
	for _, a := range r.Alerts {
		ds, err := s.st.Tenant(tenant).Decisions(ctx, store.DecisionFilter{AlertID: a.ID})
		if err != nil {
			return nil, fmt.Errorf("decisions on alert %s: %w", a.ID, err)
		}
		for _, d := range ds {
			if d.DryRun || seen[d.ID] {
				continue
			}
			seen[d.ID] = true
			out = append(out, decisionMeasure(d, a.Title))
		}
	}
	for _, st := range r.Checklist {
		if !st.Done.IsZero() {
			out = append(out, Measure{At: st.Done, What: st.Title, By: "実施者: " + st.DoneBy})
		}
	}
	slices.SortStableFunc(out, func(a, b Measure) int { return a.At.Compare(b.At) })
	return out, nil
}

// decisionMeasure describes a response decision taken on the alert titled alert in Japanese:
// what, on what, its status now, and who or which policy asked for it. decision.Decision has
// no field for the policy, so a rule's is read from the end of its reason, where package
// respond writes it.
func decisionMeasure(d decision.Decision, alert string) Measure {
	action := cmp.Or(map[decision.Action]string{decision.ActionBlock: "通信の遮断", decision.ActionIsolate: "端末のネットワーク隔離"}[d.Action], string(d.Action))
	scope := cmp.Or(map[decision.Scope]string{decision.ScopeIP: "IPアドレス", decision.ScopeRange: "アドレス範囲", decision.ScopeDomain: "ドメイン"}[d.Scope], string(d.Scope))
	var status string
	switch d.Status {
	case decision.StatusActive:
		status = "実施中、" + datetime(d.Expires) + "まで"
	case decision.StatusHeld:
		status = "保留: ガードレールにより承認待ち、未実施"
	case decision.StatusRejected:
		status = "却下: 実施せず"
	case decision.StatusExpired, decision.StatusRevoked:
		switch {
		case d.Activated.IsZero() && d.Status == decision.StatusRevoked:
			// Held and never approved: it was never in force, so nothing was lifted.
			status = "承認されず取消（未実施）"
		case d.Activated.IsZero():
			status = "承認されないまま期限切れ（未実施）"
		case d.Status == decision.StatusExpired:
			status = "期限切れにより " + datetime(d.Expires) + " に終了"
		default:
			status = datetime(d.Updated) + " に " + d.UpdatedBy + " が解除"
		}
	default:
		status = string(d.Status)
	}
	var by string
	switch d.Origin.Kind {
	case decision.OriginRule:
		// A policy's decision gives its name at the end of the reason (package respond).
		by = "自動対応（アラート「" + alert + "」"
		if rest, ok := strings.CutSuffix(d.Reason, ")"); ok {
			if i := strings.LastIndex(rest, " (policy "); i >= 0 {
				by += "、ポリシー " + rest[i+len(" (policy "):]
			}
		}
		by += "）"
	case decision.OriginAuthority:
		by = d.Origin.Name + "の要請（整理番号 " + d.Origin.Reference + "）"
	default:
		by = "指示者: " + cmp.Or(d.Origin.Name, d.CreatedBy)
	}
	if d.Origin.Kind != decision.OriginRule && d.Reason != "" {
		by += "、理由: " + d.Reason // a person's words; a rule's reason is its alert, listed already
	}
	// A measure is taken when it took effect: when an approver released a held decision, not
	// when the guardrail held it; one never in force is listed when it was asked for.
	at := d.Activated
	if at.IsZero() {
		at = d.Created
	}
	return Measure{At: at, What: fmt.Sprintf("%s: %s %s（%s）", action, scope, d.Value, status), By: by}
}

// RenderReport renders obligation o's template with data.
func RenderReport(o Obligation, data ReportData) ([]byte, error) {
	t, err := reportTemplate(o.Template)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("draft %s report: %w", o.ID, err)
	}
	return b.Bytes(), nil
}
