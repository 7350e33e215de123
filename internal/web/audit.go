package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/omamori-project/omamori/internal/store"
)

// The audit page: who did what in the tenant, newest first, for auditors and admins, found
// by kind of action, by person and by period, as an inspection or an investigation asks
// ("every approval in May", "everything this account did").

const auditPerPage = 100

// auditKinds are the kinds of action the filter offers: the first word of the actions the
// store and the pages record.
var auditKinds = []string{"user", "role", "session", "token", "decision", "incident", "review", "access", "access_log",
	"archive", "assets", "tenant"}

type auditRow struct {
	store.AuditEntry
	Who string // the actor as a person reads it: a user's name, else the actor as recorded
}

type auditData struct {
	Kinds          []string
	Kind, Who      string
	From, To       string // dates as typed
	Rows           []auditRow
	Error          string
	OlderQ, FirstQ string
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := auditData{Kinds: auditKinds, Kind: oneOf(q.Get("kind"), append([]string{""}, auditKinds...)...),
		Who: strings.TrimSpace(q.Get("who")), From: q.Get("from"), To: q.Get("to")}
	p.Nav, p.Data = "audit", &d
	f := store.AuditFilter{Action: d.Kind, Limit: auditPerPage}
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	var err error
	if f.From, f.To, err = dateRange(d.From, d.To, s.opt.Location); err != nil {
		d.Error = p.L.T("audit.bad_range")
		s.render(w, r, http.StatusBadRequest, "audit", p)
		return nil
	}
	// A person is looked for by sign-in name; anything else (a token, "system") as recorded.
	if d.Who != "" {
		f.Actor = d.Who
		if u, err := s.opt.Store.LookupUser(ctx, strings.ToLower(d.Who)); err == nil {
			f.Actor = "user:" + u.ID
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	entries, err := s.opt.Store.Tenant(p.Tenant).AuditSearch(ctx, f)
	if err != nil {
		return err
	}
	who := s.actors(ctx)
	for _, e := range entries {
		d.Rows = append(d.Rows, auditRow{AuditEntry: e, Who: who.Name(e.Actor)})
	}
	link := func(before int64) string {
		v := url.Values{}
		for k, val := range map[string]string{"kind": d.Kind, "who": d.Who, "from": d.From, "to": d.To} {
			if val != "" {
				v.Set(k, val)
			}
		}
		if before > 0 {
			v.Set("before", strconv.FormatInt(before, 10))
		}
		return "?" + v.Encode()
	}
	if len(entries) == auditPerPage {
		d.OlderQ = link(entries[len(entries)-1].ID)
	}
	if f.Before > 0 {
		d.FirstQ = link(0)
	}
	s.render(w, r, http.StatusOK, "audit", p)
	return nil
}
