package web

import (
	"net/http"
	"strings"

	"github.com/omamori-project/omamori/internal/store"
)

// The audit page: the tenant's latest audit entries, who did what, for auditors and admins.

const auditShown = 200

type auditRow struct {
	store.AuditEntry
	Who string // the actor as a person reads it: a user's name, else the actor as recorded
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	entries, err := s.opt.Store.Tenant(p.Tenant).AuditLog(ctx, auditShown)
	if err != nil {
		return err
	}
	names := map[string]string{}
	rows := make([]auditRow, 0, len(entries))
	for _, e := range entries {
		who := e.Actor
		if id, ok := strings.CutPrefix(e.Actor, "user:"); ok {
			if _, seen := names[id]; !seen {
				names[id] = e.Actor
				if u, err := s.opt.Store.UserByID(ctx, id); err == nil {
					names[id] = u.Name
				}
			}
			who = names[id]
		}
		rows = append(rows, auditRow{AuditEntry: e, Who: who})
	}
	p.Nav, p.Data = "audit", rows
	s.render(w, r, http.StatusOK, "audit", p)
	return nil
}
