package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/store"
)

// The decisions page: what omamori blocks or isolates, and the held decisions a guardrail
// kept back for a person, first and prominent, with the forms to approve or reject them. The
// permission to approve is the one table's (auth.ActionApproveDecisions); package respond
// checks it again from the session (respond.SignedIn), second factor included.

const decisionsPerPage = 50

type decisionRow struct {
	decision.Decision
	Left     time.Duration // active: until it expires; held: how long it has waited
	Asker    string        // who asked, by name
	Changer  string        // who changed it last, by name
	Incident string        // the incident its alert is on, if any and the person may see it
}

type decisionsData struct {
	Configured bool
	Held       []decisionRow
	Rows       []decisionRow
	Status     string
	Statuses   []string
	Action     string
	Actions    []string
	Query      string
	Alert      string
	Back       string // the list's query, for the forms to come back to
	Sort       string
	Sorts      []string
	Pager      pager
	Counts     map[string]int // status → how many, over the tenant's decisions
}

var decisionStatuses = []string{string(decision.StatusActive), string(decision.StatusHeld), string(decision.StatusExpired),
	string(decision.StatusRevoked), string(decision.StatusRejected)}

func (s *Server) decisions(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.showDecisions(w, r, p, http.StatusOK)
}

func (s *Server) showDecisions(w http.ResponseWriter, r *http.Request, p *page, status int) error {
	p.Nav = "decisions"
	q := r.URL.Query()
	d := decisionsData{Configured: s.opt.Decisions != nil, Statuses: decisionStatuses,
		Actions: []string{string(decision.ActionBlock), string(decision.ActionIsolate)}, Sorts: []string{"newest", "oldest", "expires"}}
	d.Status = oneOf(q.Get("status"), append([]string{""}, decisionStatuses...)...)
	d.Action = oneOf(q.Get("action"), append([]string{""}, d.Actions...)...)
	d.Sort = oneOf(q.Get("sort"), d.Sorts...)
	d.Query = strings.TrimSpace(q.Get("q"))
	d.Alert = strings.TrimSpace(q.Get("alert"))
	d.Back = r.URL.RawQuery
	if !d.Configured {
		p.Data = d
		s.render(w, r, status, "decisions", p)
		return nil
	}
	ctx := r.Context()
	all, err := s.opt.Decisions.List(ctx, p.Tenant, store.DecisionFilter{AlertID: d.Alert})
	if err != nil {
		return err
	}
	now := time.Now()
	who := s.actors(ctx)
	incidents := s.opt.Incidents != nil && p.Can(string(auth.ActionViewIncidents))
	row := func(dc decision.Decision) decisionRow {
		rw := decisionRow{Decision: dc, Asker: who.Name(dc.CreatedBy), Changer: who.Name(dc.UpdatedBy)}
		if incidents && dc.AlertID != "" {
			if inc, err := s.opt.Incidents.IncidentOf(ctx, p.Tenant, dc.AlertID); err == nil {
				rw.Incident = inc
			} else if !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("find the incident of a decision", "tenant", p.Tenant, "decision", dc.ID, "err", err)
			}
		}
		switch dc.Status {
		case decision.StatusActive:
			rw.Left = max(0, dc.Expires.Sub(now))
		case decision.StatusHeld:
			rw.Left = dc.Waiting(now)
		}
		return rw
	}
	d.Counts = map[string]int{}
	var list []decision.Decision
	for _, dc := range all {
		d.Counts[string(dc.Status)]++
		// Held decisions are shown on their own, above the list, whatever the filters.
		if dc.Status == decision.StatusHeld {
			d.Held = append(d.Held, row(dc))
		}
		if (d.Status != "" && string(dc.Status) != d.Status) || (d.Action != "" && string(dc.Action) != d.Action) ||
			(d.Query != "" && !strings.Contains(strings.ToLower(dc.Value+" "+dc.Reason+" "+dc.Guardrail), strings.ToLower(d.Query))) {
			continue
		}
		list = append(list, dc)
	}
	// Longest-waiting held decision first: it has kept a person waiting longest.
	slices.SortStableFunc(d.Held, func(a, b decisionRow) int { return a.Decision.Created.Compare(b.Decision.Created) })
	switch d.Sort {
	case "newest":
		slices.SortStableFunc(list, func(a, b decision.Decision) int { return b.Created.Compare(a.Created) })
	case "oldest":
		slices.SortStableFunc(list, func(a, b decision.Decision) int { return a.Created.Compare(b.Created) })
	case "expires":
		slices.SortStableFunc(list, func(a, b decision.Decision) int {
			// Active ones by when they end; the rest after them.
			ax, bx := a.Status != decision.StatusActive, b.Status != decision.StatusActive
			if ax != bx {
				if ax {
					return 1
				}
				return -1
			}
			return a.Expires.Compare(b.Expires)
		})
	}
	var lo, hi int
	d.Pager, lo, hi = paginate(len(list), decisionsPerPage, q)
	for _, dc := range list[lo:hi] {
		d.Rows = append(d.Rows, row(dc))
	}
	p.Data = d
	s.render(w, r, status, "decisions", p)
	return nil
}

// changeDecision approves, rejects or revokes one decision, as the signed-in person, and goes
// back to the list (keeping its filters), or shows it with why the change did not happen.
func (s *Server) changeDecision(w http.ResponseWriter, r *http.Request, p *page, op string) error {
	if s.opt.Decisions == nil {
		s.render(w, r, http.StatusNotFound, "error", p.with("decisions.not_configured"))
		return nil
	}
	ctx := r.Context()
	id, _ := auth.IdentityFrom(ctx)
	n, err := strconv.ParseInt(r.PathValue("decision"), 10, 64)
	if err != nil {
		return s.showDecisions(w, r, p.with("decisions.unknown"), http.StatusNotFound)
	}
	// The guard checked the action in this tenant; respond checks again, from the session.
	who := respond.SignedIn(id, p.Tenant)
	note := strings.TrimSpace(r.PostFormValue("note"))
	switch op {
	case "approve":
		_, err = s.opt.Decisions.Approve(ctx, p.Tenant, who, n, note)
	case "reject":
		_, err = s.opt.Decisions.Reject(ctx, p.Tenant, who, n, note)
	default:
		_, err = s.opt.Decisions.Revoke(ctx, p.Tenant, who, n, note)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s.showDecisions(w, r, p.with("decisions.unknown"), http.StatusNotFound)
	case errors.Is(err, respond.ErrState):
		return s.showDecisions(w, r, p.with("decisions.state"), http.StatusConflict)
	case errors.Is(err, respond.ErrInvalid), errors.Is(err, respond.ErrNotAllowed):
		return s.showDecisions(w, r, p.with("decisions.refused", err.Error()), http.StatusBadRequest)
	case err != nil:
		return err
	}
	s.log.Info("decision changed", "by", id, "tenant", p.Tenant, "decision", n, "op", op)
	http.Redirect(w, r, "/t/"+url.PathEscape(p.Tenant)+"/decisions"+localQuery(r.PostFormValue("back")), http.StatusSeeOther)
	return nil
}

// localQuery keeps a list's query string across a form's post, and nothing else.
func localQuery(q string) string {
	v, err := url.ParseQuery(strings.TrimPrefix(q, "?"))
	if err != nil || len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func (s *Server) approveDecision(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.changeDecision(w, r, p, "approve")
}

func (s *Server) rejectDecision(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.changeDecision(w, r, p, "reject")
}

func (s *Server) revokeDecision(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.changeDecision(w, r, p, "revoke")
}
