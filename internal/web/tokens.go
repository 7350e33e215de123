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
	"github.com/omamori-project/omamori/internal/store"
)

// The API tokens page: a hospital's admin lists the tokens its machines use (a firewall's log
// forwarder, a bouncer, the EHR), issues one, and revokes one. The token itself is shown once,
// in the answer to the form that created it, and never again: only its hash is stored, and
// the list (and any reload of it) shows only the record. Every change is written through the
// store, which records it in the audit log in the same transaction.

// tokenScopes are the scopes a hospital's admin may put on a token from the UI: auth.Scopes()
// without the installation-wide ones. Operator lists and creates tenants, and metrics
// describes every tenant at once; a hospital's admin holds neither, and nobody hands out more
// than they have (the API's Principal.CanGrant holds tokens to the same rule).
func tokenScopes() []auth.Scope {
	return slices.DeleteFunc(auth.Scopes(), func(s auth.Scope) bool {
		return s == auth.ScopeOperator || s == auth.ScopeMetrics
	})
}

// maxTokenDays bounds the expiry a form may ask for: ten years is "never" said differently.
const maxTokenDays = 3650

type tokenRow struct {
	store.Token
	Expired bool
}

type tokensData struct {
	Tokens []tokenRow
	Scopes []auth.Scope
	// Created is the token just issued and Secret the token itself: set only in the answer
	// to the create form, never on a GET.
	Created *store.Token
	Secret  string
	Form    tokenForm
}

// tokenForm is what the person typed, given back when the form is refused.
type tokenForm struct {
	Name   string
	Scopes []string
	Days   string
}

func (s *Server) tokens(w http.ResponseWriter, r *http.Request, p *page) error {
	return s.tokensWith(w, r, p, http.StatusOK, tokensData{}, "")
}

// tokensWith renders the tokens page with d's one-time fields and form, and an optional message.
func (s *Server) tokensWith(w http.ResponseWriter, r *http.Request, p *page, status int, d tokensData, key string, args ...any) error {
	toks, err := s.opt.Store.Tenant(p.Tenant).Tokens(r.Context())
	if err != nil {
		return err
	}
	now := time.Now()
	d.Tokens = d.Tokens[:0]
	for _, t := range toks {
		d.Tokens = append(d.Tokens, tokenRow{Token: t, Expired: !t.Expires.IsZero() && !now.Before(t.Expires)})
	}
	// Live tokens first, then revoked and expired ones; by name within each.
	slices.SortStableFunc(d.Tokens, func(a, b tokenRow) int {
		da, db := !a.Revoked.IsZero() || a.Expired, !b.Revoked.IsZero() || b.Expired
		switch {
		case da == db:
			return strings.Compare(a.Name, b.Name)
		case da:
			return 1
		}
		return -1
	})
	d.Scopes = tokenScopes()
	p.Nav, p.Data = "tokens", d
	if key != "" {
		p.with(key, args...)
	}
	s.render(w, r, status, "tokens", p)
	return nil
}

// createToken issues a token and answers with it, once.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	id, _ := auth.IdentityFrom(ctx)
	if err := r.ParseForm(); err != nil {
		return s.tokensWith(w, r, p, http.StatusBadRequest, tokensData{}, "tokens.bad_request")
	}
	form := tokenForm{Name: strings.TrimSpace(r.PostFormValue("name")), Scopes: r.PostForm["scope"], Days: strings.TrimSpace(r.PostFormValue("days"))}
	refuse := func(status int, key string, args ...any) error {
		return s.tokensWith(w, r, p, status, tokensData{Form: form}, key, args...)
	}
	if form.Name == "" {
		return refuse(http.StatusBadRequest, "tokens.need_name")
	}
	scopes, err := auth.ParseScopes(form.Scopes)
	if err != nil || len(scopes) == 0 {
		return refuse(http.StatusBadRequest, "tokens.need_scope")
	}
	for _, sc := range scopes {
		if !slices.Contains(tokenScopes(), sc) {
			s.log.Warn("token scope refused", "by", id, "tenant", p.Tenant, "scope", sc)
			return refuse(http.StatusForbidden, "tokens.scope_refused", string(sc))
		}
	}
	var expires time.Time
	if form.Days != "" {
		n, err := strconv.Atoi(form.Days)
		if err != nil || n < 1 || n > maxTokenDays {
			return refuse(http.StatusBadRequest, "tokens.bad_days", maxTokenDays)
		}
		expires = time.Now().AddDate(0, 0, n)
	}
	rec, secret, err := auth.Issue(ctx, s.opt.Store.Tenant(p.Tenant), id.Actor(), auth.Request{Name: form.Name, Scopes: scopes, Expires: expires})
	switch {
	case errors.Is(err, store.ErrExists):
		return refuse(http.StatusConflict, "tokens.exists", form.Name)
	case errors.Is(err, auth.ErrInvalidRequest):
		return refuse(http.StatusBadRequest, "tokens.bad_name")
	case err != nil:
		return err
	}
	s.log.Info("token created", "by", id, "tenant", p.Tenant, "token", rec.ID, "name", rec.Name, "scopes", rec.Scopes)
	// No redirect: the secret exists only in this answer (Cache-Control: no-store), so a
	// reload of the list cannot show it again.
	return s.tokensWith(w, r, p, http.StatusCreated, tokensData{Created: &rec, Secret: secret.Reveal()}, "")
}

// tokenOf reads the path's token in the page's tenant; another tenant's token is not found.
func (s *Server) tokenOf(r *http.Request, p *page) (store.Token, bool, error) {
	t, err := s.opt.Store.Tenant(p.Tenant).Token(r.Context(), r.PathValue("token"))
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, false, nil
	}
	return t, err == nil, err
}

// confirmRevoke asks before revoking: a machine using the token stops at once, and a bouncer
// that stops pulling decisions stops blocking.
func (s *Server) confirmRevoke(w http.ResponseWriter, r *http.Request, p *page) error {
	t, ok, err := s.tokenOf(r, p)
	if err != nil {
		return err
	} else if !ok {
		return s.tokensWith(w, r, p, http.StatusNotFound, tokensData{}, "tokens.unknown")
	}
	p.Nav, p.Data = "tokens", t
	s.render(w, r, http.StatusOK, "token_revoke", p)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	id, _ := auth.IdentityFrom(ctx)
	t, ok, err := s.tokenOf(r, p)
	if err != nil {
		return err
	} else if !ok {
		return s.tokensWith(w, r, p, http.StatusNotFound, tokensData{}, "tokens.unknown")
	}
	if r.PostFormValue("confirm") != "yes" {
		return s.tokensWith(w, r, p, http.StatusBadRequest, tokensData{}, "tokens.not_confirmed")
	}
	if err := s.opt.Store.Tenant(p.Tenant).RevokeToken(ctx, id.Actor(), t.ID); err != nil {
		return err
	}
	s.log.Info("token revoked", "by", id, "tenant", p.Tenant, "token", t.ID, "name", t.Name)
	http.Redirect(w, r, "/t/"+url.PathEscape(p.Tenant)+"/tokens", http.StatusSeeOther)
	return nil
}
