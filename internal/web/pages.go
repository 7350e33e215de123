package web

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

// page is what every template gets.
type page struct {
	L          *localizer
	OtherLang  string
	User       *auth.Current
	Tenant     string // the tenant in the path, if any
	TenantName string
	Tenants    []tenantLink
	CSRF       string
	Here       string // this page's path and query, for the language switch to come back to
	Nav        string
	Message    string // an error or notice, already in the page's language
	Data       any

	cookie string
}

type tenantLink struct {
	ID, Name string
	Roles    []auth.Role
}

func (s *Server) newPage(r *http.Request, cur *auth.Current) *page {
	l := s.localizer(r)
	other := "en"
	if l.Lang == "en" {
		other = "ja"
	}
	p := &page{L: l, OtherLang: other, User: cur, Here: r.URL.RequestURI()}
	if cur != nil {
		p.CSRF = cur.CSRF
		for _, t := range cur.Tenants() {
			name := t
			if got, err := s.opt.Store.Tenant(t).Get(r.Context()); err == nil {
				name = got.Name
			}
			p.Tenants = append(p.Tenants, tenantLink{ID: t, Name: name, Roles: cur.Roles[t]})
		}
	}
	return p
}

// Can reports whether the signed-in person may do action in the page's tenant, so that
// templates show only the links that will open.
func (p *page) Can(action string) bool {
	return p.User != nil && p.Tenant != "" && p.User.Can(p.Tenant, auth.Action(action))
}

func (p *page) with(key string, args ...any) *page {
	p.Message = p.L.T(key, args...)
	return p
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	if p.Tenant != "" {
		for _, t := range p.Tenants {
			if t.ID == p.Tenant {
				p.TenantName = t.Name
			}
		}
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Cookie, HX-Request")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request, p *page) error {
	if _, err := s.accounts.Session(r.Context(), p.cookie); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, "signin", p)
	return nil
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request, p *page) error {
	name, password := r.PostFormValue("name"), r.PostFormValue("password")
	p.Data = map[string]string{"Name": name}
	if s.plainRemote(r) {
		s.log.Warn("sign-in over plain HTTP from another machine refused; serve the UI over TLS and set Options.Secure",
			"addr", clientAddr(r))
		s.render(w, r, http.StatusForbidden, "signin", p.with("signin.insecure"))
		return nil
	}
	cookie, needTOTP, err := s.accounts.SignIn(r.Context(), name, password, clientAddr(r))
	next := "/"
	if needTOTP {
		next = "/signin/totp"
	}
	return s.finishStep(w, r, p, "signin", cookie, next, err,
		refusal{err: auth.ErrSignIn, status: http.StatusUnauthorized, key: "signin.failed"},
		refusal{err: auth.ErrTOTPRequired, status: http.StatusForbidden, key: "signin.totp_required"})
}

// refusal is how a step of signing in answers one of package auth's errors: its form again,
// with a status and a message.
type refusal struct {
	err    error
	status int
	key    string // the message
	args   []any  // for the message, if it has any
}

// finishStep ends a step of signing in (password, one-time code, new password) that gave
// cookie or err: on success the new session's cookie is set and the person goes to next; a
// lockout, or an error among refusals, shows the form again saying why; a session that is
// gone sends the person to sign in again; any other error is the caller's.
func (s *Server) finishStep(w http.ResponseWriter, r *http.Request, p *page, form, cookie, next string, err error, refusals ...refusal) error {
	if err == nil {
		s.setCookie(w, r, cookie, 0)
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	if locked, ok := errors.AsType[*auth.LockedError](err); ok {
		s.render(w, r, http.StatusTooManyRequests, form, p.with("signin.locked", p.L.Time(locked.Until)))
		return nil
	}
	for _, rf := range refusals {
		if errors.Is(err, rf.err) {
			s.render(w, r, rf.status, form, p.with(rf.key, rf.args...))
			return nil
		}
	}
	if errors.Is(err, auth.ErrNoSession) {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil
	}
	return err
}

func (s *Server) totpForm(w http.ResponseWriter, r *http.Request, p *page) error {
	s.render(w, r, http.StatusOK, "totp", p)
	return nil
}

func (s *Server) totp(w http.ResponseWriter, r *http.Request, p *page) error {
	cookie, err := s.accounts.SecondFactor(r.Context(), p.cookie, r.PostFormValue("code"), clientAddr(r))
	return s.finishStep(w, r, p, "totp", cookie, "/", err, refusal{err: auth.ErrCode, status: http.StatusUnauthorized, key: "totp.failed"})
}

// setLang switches the language and goes back where the person was. It changes only a
// preference cookie, so CrossOriginProtection is all the CSRF defence it needs, and it works
// before sign-in.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request, p *page) error {
	lang := r.PostFormValue("lang")
	if !slices.Contains(languages, lang) {
		lang = languages[0]
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		Secure: s.opt.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

// localPath returns next if it is a path on this site, else "/": no open redirect.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request, p *page) error {
	if err := s.accounts.SignOut(r.Context(), p.cookie); err != nil {
		return err
	}
	s.setCookie(w, r, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

// home sends a person with one tenant straight to its dashboard, and lets a regional SOC's
// analyst choose among theirs.
func (s *Server) home(w http.ResponseWriter, r *http.Request, p *page) error {
	if len(p.Tenants) == 1 {
		http.Redirect(w, r, "/t/"+url.PathEscape(p.Tenants[0].ID)+"/", http.StatusSeeOther)
		return nil
	}
	p.Nav = "home"
	s.render(w, r, http.StatusOK, "home", p)
	return nil
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, p *page) error {
	as, err := s.tenantAlerts(r.Context(), p.Tenant)
	if err != nil {
		return err
	}
	now := time.Now()
	d := dashboardData{alertSummary: summarise(as, now)}
	ctx := r.Context()
	if d.Ingest, err = s.ingest(ctx, p.Tenant, now, 24); err != nil {
		return err
	}
	if s.opt.Incidents != nil && p.Can(string(auth.ActionViewIncidents)) {
		d.IncidentsOn = true
		var open []incident.State
		for _, st := range incident.States {
			if st != incident.Closed {
				open = append(open, st)
			}
		}
		list, err := s.opt.Incidents.List(ctx, p.Tenant, open...)
		if err != nil {
			return err
		}
		list = slices.DeleteFunc(list, func(i incident.Incident) bool { return i.MergedInto != "" })
		d.OpenIncidents = len(list)
		if d.Incidents, err = s.incidentRows(r, list[:min(len(list), dashboardIncidents)]); err != nil {
			return err
		}
	}
	if s.opt.Decisions != nil && p.Can(string(auth.ActionViewDecisions)) {
		d.DecisionsOn = true
		ds, err := s.opt.Decisions.List(ctx, p.Tenant, store.DecisionFilter{Status: []decision.Status{decision.StatusActive, decision.StatusHeld}})
		if err != nil {
			return err
		}
		for _, dc := range ds {
			if dc.Status == decision.StatusHeld {
				d.Held++
			} else {
				d.Active++
			}
		}
	}
	p.Nav, p.Data = "dashboard", d
	s.render(w, r, http.StatusOK, "dashboard", p)
	return nil
}

// dashboardIncidents is how many open incidents the dashboard lists, most urgent first.
const dashboardIncidents = 5

type dashboardData struct {
	alertSummary
	IncidentsOn   bool
	OpenIncidents int
	Incidents     []incidentRow
	DecisionsOn   bool
	Active, Held  int
	Ingest        ingestView // the last 24 hours
}

const alertsPerPage = 50

// sortAlerts orders the newest-first as by one of alertSorts; ties stay newest first.
func sortAlerts(as []detect.Alert, by string) {
	switch by {
	case "level":
		slices.SortStableFunc(as, func(a, b detect.Alert) int { return severity.Compare(b.Level, a.Level) })
	case "count":
		slices.SortStableFunc(as, func(a, b detect.Alert) int { return b.Count - a.Count })
	}
}

// alertSorts are the orders of the alert list: the newest first (the default), the most
// severe first, the most events first.
var alertSorts = []string{"last", "level", "count"}

type alertsData struct {
	Alerts []detect.Alert
	Level  string
	Levels []severity.Level
	Query  string // in the title, the rule, the entities
	Sort   string
	Sorts  []string
	Pager  pager
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request, p *page) error {
	as, err := s.tenantAlerts(r.Context(), p.Tenant)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := alertsData{Levels: levels, Sorts: alertSorts, Sort: oneOf(q.Get("sort"), alertSorts...), Query: strings.TrimSpace(q.Get("q"))}
	if l, err := severity.Parse(q.Get("level")); err == nil {
		d.Level = string(l)
		as = slices.DeleteFunc(as, func(a detect.Alert) bool { return a.Level != l })
	}
	if d.Query != "" {
		needle := strings.ToLower(d.Query)
		as = slices.DeleteFunc(as, func(a detect.Alert) bool {
			en := a.Entities
			return !strings.Contains(strings.ToLower(strings.Join([]string{a.Title, a.RuleID, a.Detector, en.Source, en.Destination,
				en.User, en.Host}, "\x00")), needle)
		})
	}
	sortAlerts(as, d.Sort)
	// The links keep the filters as read, and the order only when it is not the default.
	kept := url.Values{"level": {d.Level}, "q": {d.Query}, "page": {q.Get("page")}}
	if d.Sort != alertSorts[0] {
		kept.Set("sort", d.Sort)
	}
	var lo, hi int
	d.Pager, lo, hi = paginate(len(as), alertsPerPage, kept)
	d.Alerts = as[lo:hi]
	p.Nav, p.Data = "alerts", d
	s.render(w, r, http.StatusOK, "alerts", p)
	return nil
}
