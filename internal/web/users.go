package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/store"
	"rsc.io/qr"
)

// The users page: who may do what in this hospital, the form that changes it, and the form
// that creates an account here. A new account's initial password, and its TOTP key when it
// enrols one, are shown once, in the answer to the form that created it: the store keeps
// only the password's argon2id hash and the key sealed.

type userRow struct {
	ID, Name, DisplayName, Home string
	TOTP, Disabled              bool
	Roles                       []auth.Role // in this tenant
}

type usersData struct {
	Users []userRow
	Roles []auth.Role
	// Created is the account just made, set only in the answer to the create form.
	Created *createdUser
	Form    userForm
}

// createdUser is what the new account's holder needs, shown this once.
type createdUser struct {
	Name, DisplayName, Password string
	TOTPKey, TOTPURI            string // empty without a second factor
	// TOTPQR is the URI as a QR code (a data: URL of a PNG), which an authenticator app on
	// the person's phone scans.
	TOTPQR template.URL
}

// userForm is what the admin typed, given back when the form is refused.
type userForm struct {
	Name, DisplayName string
	Roles             []string
	TOTP              bool
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

func (s *Server) usersWith(w http.ResponseWriter, r *http.Request, p *page, status int, key string, args ...any) error {
	return s.usersFull(w, r, p, status, usersData{}, key, args...)
}

// usersFull renders the users page with d's one-time fields and form, and an optional message.
func (s *Server) usersFull(w http.ResponseWriter, r *http.Request, p *page, status int, d usersData, key string, args ...any) error {
	got, err := s.usersData(r, p.Tenant)
	if err != nil {
		return err
	}
	got.Created, got.Form = d.Created, d.Form
	p.Nav, p.Data = "users", got
	if key != "" {
		p.with(key, args...)
	}
	s.render(w, r, status, "users", p)
	return nil
}

// createUser makes an account whose home is this hospital, with the roles chosen here, and
// answers with its initial password (and TOTP key) once. A role that requires a second
// factor enrols one whether or not the box was ticked.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	id, _ := auth.IdentityFrom(ctx)
	if err := r.ParseForm(); err != nil {
		return s.usersWith(w, r, p, http.StatusBadRequest, "users.bad_request")
	}
	form := userForm{Name: strings.ToLower(strings.TrimSpace(r.PostFormValue("name"))), DisplayName: strings.TrimSpace(r.PostFormValue("display_name")),
		Roles: r.PostForm["role"], TOTP: r.PostFormValue("totp") == "on"}
	refuse := func(status int, key string, args ...any) error {
		return s.usersFull(w, r, p, status, usersData{Form: form}, key, args...)
	}
	nu := auth.NewUser{Tenant: p.Tenant, Name: form.Name, DisplayName: form.DisplayName, Password: auth.NewPassword(), TOTP: form.TOTP,
		TemporaryPassword: true} // the administrator sees it
	for _, name := range form.Roles {
		role, err := auth.ParseRole(name)
		if err != nil {
			return refuse(http.StatusBadRequest, "users.bad_request")
		}
		if !slices.Contains(nu.Roles, role) {
			nu.Roles = append(nu.Roles, role)
		}
		nu.TOTP = nu.TOTP || role.RequiresTOTP()
	}
	u, key, err := s.accounts.CreateUser(ctx, id.Actor(), nu)
	switch {
	case errors.Is(err, store.ErrExists):
		return refuse(http.StatusConflict, "users.exists", form.Name)
	case errors.Is(err, auth.ErrInvalidUser):
		s.log.Info("user refused", "by", id, "tenant", p.Tenant, "err", err)
		return refuse(http.StatusBadRequest, "users.bad_name")
	case err != nil:
		return err
	}
	s.log.Info("user created", "by", id, "user", u, "tenant", p.Tenant, "roles", nu.Roles, "totp", key != nil)
	c := &createdUser{Name: u.Name, DisplayName: u.DisplayName, Password: nu.Password}
	if key != nil {
		c.TOTPKey, c.TOTPURI = key.Base32(), key.URI("omamori", u.Name)
		if c.TOTPQR, err = qrDataURL(c.TOTPURI); err != nil {
			return err
		}
	}
	// No redirect: the password and key exist only in this answer (Cache-Control: no-store).
	return s.usersFull(w, r, p, http.StatusCreated, usersData{Created: c}, "")
}

// qrDataURL draws text as a QR code, as a data: URL for an <img> (the page's CSP allows
// img-src data:). rsc.io/qr was chosen over github.com/skip2/go-qrcode: both are pure Go and
// encode correctly; qr is smaller, has no dependencies, and writes the PNG itself. Level M
// recovers from 15% damage, plenty for a screen.
func qrDataURL(text string) (template.URL, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("draw QR code: %w", err)
	}
	code.Scale = 4
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG())), nil
}

// has reports whether roles holds r, for the template.
func has(roles []auth.Role, r auth.Role) bool { return slices.Contains(roles, r) }
