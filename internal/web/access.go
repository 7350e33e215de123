package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/store"
)

// The access pages, for the privacy officer: the break-glass review queue (every access
// that only the emergency override allowed, the overdue first, each judged justified or not
// justified with a note), and the access log, a search by patient or by member of staff
// over the archive, where both omamori's decisions and the EHR's own access log are kept.
// Who saw which patient is itself personal information, so both pages need access.view
// (auditor, admin), a verdict needs access.review, and every search is written to the
// tenant's audit log.

// reviewedLister is what a queue offers beyond access.ReviewQueue to show the latest
// verdicts; access.StoreQueue has it.
type reviewedLister interface {
	Reviewed(ctx context.Context, tenant string, limit int) ([]access.ReviewItem, error)
}

const reviewedShown = 50

type reviewRow struct {
	access.ReviewItem
	Overdue  bool
	Left     time.Duration // until due, or overdue by
	DataType string        // in the page's language
	Reviewer string        // by name
	LogQuery template.URL  // the access log around the access: the day before to the day after
}

type reviewsData struct {
	Configured bool
	Pending    []reviewRow
	Overdue    int
	Reviewed   []reviewRow
	HasHistory bool // the queue can list past verdicts
}

func (s *Server) dataTypeLabel(l *localizer, dt string) string {
	if dt != "" && l.Has("datatype."+dt) {
		return l.T("datatype." + dt)
	}
	return dt
}

func (s *Server) accessReviews(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.showReviews(w, r, p, http.StatusOK)
}

func (s *Server) showReviews(w http.ResponseWriter, r *http.Request, p *page, status int) error {
	p.Nav = "access_reviews"
	d := reviewsData{Configured: s.opt.Reviews != nil}
	if !d.Configured {
		p.Data = d
		s.render(w, r, status, "access_reviews", p)
		return nil
	}
	ctx := r.Context()
	now := time.Now()
	who := s.actors(ctx)
	row := func(it access.ReviewItem) reviewRow {
		day := it.Decision.Time.In(s.opt.Location)
		rw := reviewRow{ReviewItem: it, Overdue: it.Overdue(now), Left: it.Due.Sub(now).Abs(),
			DataType: s.dataTypeLabel(p.L, it.Decision.Resource.DataType), Reviewer: who.Name(it.Reviewer),
			// Built by url.Values.Encode, so safe to put in a link as it is.
			LogQuery: template.URL(url.Values{"from": {day.AddDate(0, 0, -1).Format(time.DateOnly)},
				"to": {day.AddDate(0, 0, 1).Format(time.DateOnly)}}.Encode())}
		return rw
	}
	pending, err := s.opt.Reviews.Pending(ctx, p.Tenant)
	if err != nil {
		return err
	}
	for _, it := range pending {
		rw := row(it)
		if rw.Overdue {
			d.Overdue++
		}
		d.Pending = append(d.Pending, rw)
	}
	if rl, ok := s.opt.Reviews.(reviewedLister); ok {
		d.HasHistory = true
		done, err := rl.Reviewed(ctx, p.Tenant, reviewedShown)
		if err != nil {
			return err
		}
		for _, it := range done {
			d.Reviewed = append(d.Reviewed, row(it))
		}
	}
	p.Data = d
	s.render(w, r, status, "access_reviews", p)
	return nil
}

// reviewAccess records the signed-in person's verdict on one break-glass access. A verdict
// of not justified needs a note: it starts a conversation with the person and their head of
// department, and the note is what they will be shown.
func (s *Server) reviewAccess(w http.ResponseWriter, r *http.Request, p *page) error {
	if s.opt.Reviews == nil {
		s.render(w, r, http.StatusNotFound, "error", p.with("reviews.not_configured"))
		return nil
	}
	ctx := r.Context()
	id, _ := auth.IdentityFrom(ctx)
	outcome := access.Outcome(r.PostFormValue("outcome"))
	note := strings.TrimSpace(r.PostFormValue("note"))
	switch {
	case outcome != access.OutcomeJustified && outcome != access.OutcomeNotJustified:
		return s.showReviews(w, r, p.with("reviews.bad_outcome"), http.StatusBadRequest)
	case outcome == access.OutcomeNotJustified && note == "":
		return s.showReviews(w, r, p.with("reviews.note_required"), http.StatusBadRequest)
	case len(note) > 2000:
		return s.showReviews(w, r, p.with("reviews.note_long"), http.StatusBadRequest)
	}
	item := r.PathValue("review")
	_, err := s.opt.Reviews.Review(ctx, p.Tenant, item, outcome, id.Actor(), note, time.Now())
	switch {
	case errors.Is(err, access.ErrReviewNotFound):
		return s.showReviews(w, r, p.with("reviews.unknown"), http.StatusNotFound)
	case errors.Is(err, access.ErrReviewed):
		return s.showReviews(w, r, p.with("reviews.already"), http.StatusConflict)
	case err != nil:
		return err
	}
	s.log.Info("break-glass access reviewed", "by", id, "tenant", p.Tenant, "review", item, "outcome", outcome)
	http.Redirect(w, r, "/t/"+url.PathEscape(p.Tenant)+"/access/reviews", http.StatusSeeOther)
	return nil
}

// The access log search.

const (
	accessLogPerPage = 50
	accessLogMaxPage = 200 // 10,000 rows: beyond that, narrow the time range
	accessLogDays    = 30  // the default range, ending today
)

// Where the access log rows come from.
const (
	sourceAll       = "all"
	sourceDecisions = "decisions" // omamori's decisions
	sourceEHR       = "ehr"       // the EHR's own access log (decode format ehr)
)

var accessSources = []string{sourceAll, sourceDecisions, sourceEHR}

const ehrDataset = "ehr.access"

type accessLogRow struct {
	Time       time.Time
	Source     string // sourceDecisions or sourceEHR
	User       string
	Role       string
	Patient    string
	DataType   string
	Action     string
	Allowed    bool
	BreakGlass bool
	Reason     string // the break-glass reason, or the decision's reason
	Policies   string
	Decision   string // omamori's decision ID
}

type accessLogData struct {
	Configured bool
	Patient    string
	User       string
	From, To   string // dates as typed, YYYY-MM-DD
	Source     string
	Sources    []string
	Searched   bool
	Rows       []accessLogRow
	Page       int
	First      int
	PrevQ      string
	NextQ      string
	Error      string
}

var (
	keyPatient    = event.K("ehr.patient.id")
	keyDataType   = event.K("ehr.data_type")
	keyRoles      = event.K("user.roles")
	keyBreakGlass = event.K("ehr.break_glass.used")
	keyBGReason   = event.K("ehr.break_glass.reason")
	keyPolicies   = event.K("access.policies")
	keyDecisionID = event.K("access.decision.id")
)

var errEnough = errors.New("enough rows")

func (s *Server) accessLog(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Nav = "access_log"
	q := r.URL.Query()
	loc := s.opt.Location
	today := time.Now().In(loc)
	d := accessLogData{Configured: s.opt.Archive != nil, Sources: accessSources,
		Patient: strings.TrimSpace(q.Get("patient")), User: strings.TrimSpace(q.Get("user")),
		From: q.Get("from"), To: q.Get("to"), Source: oneOf(q.Get("source"), accessSources...)}
	if d.From == "" {
		d.From = today.AddDate(0, 0, -accessLogDays).Format(time.DateOnly)
	}
	if d.To == "" {
		d.To = today.Format(time.DateOnly)
	}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), accessLogMaxPage)
	p.Data = &d
	if !d.Configured || (d.Patient == "" && d.User == "") {
		s.render(w, r, http.StatusOK, "access_log", p)
		return nil
	}
	from, to, err := dateRange(d.From, d.To, loc)
	if err != nil {
		d.Error = p.L.T("accesslog.bad_range")
		s.render(w, r, http.StatusBadRequest, "access_log", p)
		return nil
	}
	d.Searched = true
	// Looking up who saw a patient, or what a person looked at, is itself on record.
	id, _ := auth.IdentityFrom(r.Context())
	if err := s.opt.Store.Tenant(p.Tenant).Audit(r.Context(), store.AuditEntry{Actor: id.Actor(), Action: "access_log.search",
		Object: cmp.Or(d.Patient, d.User), Detail: fmt.Sprintf("patient=%s user=%s from=%s to=%s source=%s page=%d",
			d.Patient, d.User, d.From, d.To, d.Source, d.Page)}); err != nil {
		return err
	}
	aq := archive.Query{Tenant: p.Tenant, From: from, To: to, User: d.User}
	if d.Patient != "" {
		aq.Where = append(aq.Where, archive.Cond{Field: "ehr.patient.id", Op: "=", Value: d.Patient})
	}
	switch d.Source {
	case sourceDecisions:
		aq.Where = append(aq.Where, archive.Cond{Field: "event.dataset", Op: "=", Value: access.DecisionDataset})
	case sourceEHR:
		aq.Where = append(aq.Where, archive.Cond{Field: "event.dataset", Op: "=", Value: ehrDataset})
	}
	// "all" is both sources and nothing else: a user's firewall log-ins are not accesses to
	// records.
	accesses := func(e *event.Event) bool { return e.Dataset == access.DecisionDataset || e.Dataset == ehrDataset }
	more, err := s.searchPage(r.Context(), aq, d.Page, accessLogPerPage, accesses, func(e *event.Event) {
		d.Rows = append(d.Rows, s.accessLogRow(p.L, e))
	})
	if err != nil {
		return err
	}
	d.First = (d.Page-1)*accessLogPerPage + 1
	d.PrevQ, d.NextQ = pageLinks(url.Values{"patient": {d.Patient}, "user": {d.User}, "from": {d.From}, "to": {d.To},
		"source": {d.Source}}, d.Page, more, accessLogMaxPage)
	s.render(w, r, http.StatusOK, "access_log", p)
	return nil
}

func (s *Server) accessLogRow(l *localizer, e *event.Event) accessLogRow {
	get := func(k event.Key) string { v, _ := e.Get(k); return v }
	rw := accessLogRow{Time: e.Time, Source: sourceEHR, User: e.User, Role: get(keyRoles), Patient: get(keyPatient),
		DataType: s.dataTypeLabel(l, get(keyDataType)), Action: e.Action, Allowed: e.Outcome == event.OutcomeSuccess,
		BreakGlass: get(keyBreakGlass) == "true", Reason: get(keyBGReason), Policies: get(keyPolicies),
		Decision: get(keyDecisionID)}
	if e.Dataset == access.DecisionDataset {
		rw.Source = sourceDecisions
		if rw.Reason == "" {
			rw.Reason = e.Message
		}
	}
	return rw
}
