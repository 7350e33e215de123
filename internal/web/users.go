package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/store"
)

// The users page: who may do what in this hospital, and the one form that changes it.
// Creating accounts and enrolling TOTP from the browser come later; for now the CLI or the
// demo creates them.

type userRow struct {
	ID, Name, DisplayName, Home string
	TOTP, Disabled              bool
	Roles                       []auth.Role // in this tenant
}

type usersData struct {
	Users []userRow
	Roles []auth.Role
}

func (s *Server) users(w http.ResponseWriter, r *http.Request, p *page) error {
	d, err := s.usersData(r, p.Tenant)
	if err != nil {
		return err
	}
	p.Nav, p.Data = "users", d
	s.render(w, r, http.StatusOK, "users", p)
	return nil
}

// usersData lists the users whose home is the tenant and those of other homes (a regional
// SOC's) holding roles here, with their roles here.
func (s *Server) usersData(r *http.Request, tenant string) (usersData, error) {
	ctx := r.Context()
	sc := s.opt.Store.Tenant(tenant)
	home, err := sc.Users(ctx)
	if err != nil {
		return usersData{}, err
	}
	grants, err := sc.Grants(ctx)
	if err != nil {
		return usersData{}, err
	}
	rows := map[string]*userRow{}
	var order []string
	add := func(u store.User) {
		rows[u.ID] = &userRow{ID: u.ID, Name: u.Name, DisplayName: u.DisplayName, Home: u.Tenant,
			TOTP: len(u.TOTPSecret) > 0, Disabled: !u.Disabled.IsZero()}
		order = append(order, u.ID)
	}
	for _, u := range home {
		add(u)
	}
	for _, g := range grants {
		if rows[g.User] == nil {
			u, err := s.opt.Store.UserByID(ctx, g.User)
			if err != nil {
				return usersData{}, err
			}
			add(u)
		}
		rows[g.User].Roles = append(rows[g.User].Roles, auth.Role(g.Role))
	}
	d := usersData{Roles: auth.Roles()}
	for _, id := range order {
		d.Users = append(d.Users, *rows[id])
	}
	return d, nil
}

// setRole grants or revokes one role of one user in this tenant, recorded in the audit log
// with the admin who did it.
func (s *Server) setRole(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	id, _ := auth.IdentityFrom(ctx)
	role, err := auth.ParseRole(r.PostFormValue("role"))
	op := r.PostFormValue("op")
	if err != nil || (op != "grant" && op != "revoke") {
		return s.usersWith(w, r, p, http.StatusBadRequest, "users.bad_request")
	}
	userID := r.PathValue("user")
	u, err := s.opt.Store.UserByID(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return s.usersWith(w, r, p, http.StatusNotFound, "users.unknown")
	} else if err != nil {
		return err
	}
	sc := s.opt.Store.Tenant(p.Tenant)
	switch {
	case op == "grant" && role.RequiresTOTP() && len(u.TOTPSecret) == 0:
		return s.usersWith(w, r, p, http.StatusConflict, "users.needs_totp")
	case op == "revoke" && u.ID == id.UserID && role == auth.RoleAdmin:
		// Nobody locks the hospital out of its own administration by accident.
		return s.usersWith(w, r, p, http.StatusConflict, "users.own_admin")
	case op == "grant":
		err = sc.Grant(ctx, id.Actor(), u.ID, string(role))
	default:
		err = sc.Revoke(ctx, id.Actor(), u.ID, string(role))
		if errors.Is(err, store.ErrNotFound) {
			err = nil // already not held: the page shows the state asked for
		}
	}
	if err != nil {
		return err
	}
	s.log.Info("role changed", "by", id, "user", u, "tenant", p.Tenant, "op", op, "role", role)
	http.Redirect(w, r, "/t/"+url.PathEscape(p.Tenant)+"/users", http.StatusSeeOther)
	return nil
}

func (s *Server) usersWith(w http.ResponseWriter, r *http.Request, p *page, status int, key string) error {
	d, err := s.usersData(r, p.Tenant)
	if err != nil {
		return err
	}
	p.Nav, p.Data = "users", d
	s.render(w, r, status, "users", p.with(key))
	return nil
}

// has reports whether roles holds r, for the template.
func has(roles []auth.Role, r auth.Role) bool { return slices.Contains(roles, r) }
