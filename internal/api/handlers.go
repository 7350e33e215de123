package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/httpapi"
	"github.com/omamori-project/omamori/internal/store"
	"github.com/omamori-project/omamori/internal/tenant"
)

// tokenJSON is a token as the API shows it: never its hash or secret.
type tokenJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Scopes   []string   `json:"scopes"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Expires  *time.Time `json:"expires,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
}

func toJSON(t store.Token) tokenJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return tokenJSON{ID: t.ID, Name: t.Name, Scopes: scopes, Created: t.Created,
		LastUsed: opt(t.LastUsed), Expires: opt(t.Expires), Revoked: opt(t.Revoked)}
}

// principal returns the request's Principal, which guard has put there.
func principal(r *http.Request) auth.Principal {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		panic("api: handler reached without a principal") // guard wraps every non-public route
	}
	return p
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	toks, err := s.deps.Store.Tenant(p.Tenant).Tokens(r.Context())
	if err != nil {
		s.internal(w, "list tokens", err)
		return
	}
	out := make([]tokenJSON, 0, len(toks))
	for _, t := range toks {
		out = append(out, toJSON(t))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

type createTokenRequest struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	ExpiresIn string   `json:"expires_in,omitempty"` // a Go duration: "720h"; empty: never
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var req createTokenRequest
	if !decode(w, r, &req, `{"name": "fortigate-tokyo", "scopes": ["ingest"], "expires_in": "8760h"}`) {
		return
	}
	scopes, err := auth.ParseScopes(req.Scopes)
	if err != nil || len(scopes) == 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "scopes: "+errText(err, "at least one is needed"), "scopes are: ingest, read, metrics, admin, operator")
		return
	}
	if err := p.CanGrant(scopes); err != nil {
		httpapi.WriteError(w, http.StatusForbidden, err.Error(), "a token can only create tokens with scopes it holds itself")
		return
	}
	var expires time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			httpapi.WriteError(w, http.StatusBadRequest, fmt.Sprintf("expires_in: %q is not a positive duration", req.ExpiresIn), `write hours, such as "720h" for 30 days`)
			return
		}
		expires = time.Now().Add(d)
	}
	rec, secret, err := auth.Issue(r.Context(), s.deps.Store.Tenant(p.Tenant), p.Actor(),
		auth.Request{Name: req.Name, Scopes: scopes, Expires: expires})
	switch {
	case errors.Is(err, store.ErrExists):
		httpapi.WriteError(w, http.StatusConflict, fmt.Sprintf("a token named %q exists", req.Name), "choose another name, or revoke the old token first")
		return
	case errors.Is(err, auth.ErrInvalidRequest):
		httpapi.WriteError(w, http.StatusBadRequest, err.Error(), "a name is 1 to 64 printable characters")
		return
	case err != nil:
		s.internal(w, "create token", err)
		return
	}
	s.log.Info("token created", "principal", p, "token", rec.ID, "name", rec.Name, "scopes", rec.Scopes)
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{
		"token":  toJSON(rec),
		"secret": secret.Reveal(),
		"note":   "this is the only time the secret is shown; store it now",
	})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	id := r.PathValue("id")
	err := s.deps.Store.Tenant(p.Tenant).RevokeToken(r.Context(), p.Actor(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "no such token", "GET /api/v1/tokens lists this tenant's tokens")
		return
	case err != nil:
		s.internal(w, "revoke token", err)
		return
	}
	s.log.Info("token revoked", "principal", p, "token", id)
	w.WriteHeader(http.StatusNoContent)
}

type tenantJSON struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// listTenants shows an operator every tenant, and anyone else with admin only their own.
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var tenants []store.Tenant
	if p.Has(auth.ScopeOperator) {
		all, err := s.deps.Store.Tenants(r.Context())
		if err != nil {
			s.internal(w, "list tenants", err)
			return
		}
		tenants = all
	} else {
		own, err := s.deps.Store.Tenant(p.Tenant).Get(r.Context())
		if err != nil {
			s.internal(w, "get tenant", err)
			return
		}
		tenants = []store.Tenant{own}
	}
	out := make([]tenantJSON, 0, len(tenants))
	for _, t := range tenants {
		out = append(out, tenantJSON{ID: t.ID, Name: t.Name, Created: t.Created})
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var req struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if !decode(w, r, &req, `{"id": "tokyo-general", "name": "東京総合病院"}`) {
		return
	}
	if _, err := tenant.Parse(req.ID); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, fmt.Sprintf("id: %q is not a tenant ID", req.ID), tenant.Rule)
		return
	}
	t, err := s.deps.Store.CreateTenant(r.Context(), p.Actor(), store.Tenant{ID: req.ID, Name: req.Name})
	switch {
	case errors.Is(err, store.ErrExists):
		httpapi.WriteError(w, http.StatusConflict, fmt.Sprintf("tenant %q exists", req.ID), "")
		return
	case err != nil:
		s.internal(w, "create tenant", err)
		return
	}
	s.log.Info("tenant created", "principal", p, "tenant", t.ID)
	httpapi.WriteJSON(w, http.StatusCreated, tenantJSON{ID: t.ID, Name: t.Name, Created: t.Created})
}

// decode reads a JSON body into v strictly (unknown fields are errors), answering 400 or 413
// itself when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any, example string) bool {
	err := httpapi.ReadJSON(r, v, example)
	if refused := (*httpapi.Error)(nil); errors.As(err, &refused) {
		refused.Write(w)
		return false
	}
	return true
}

func (s *Server) internal(w http.ResponseWriter, op string, err error) {
	s.log.Error(op, "err", err)
	httpapi.WriteError(w, http.StatusInternalServerError, "internal error", "the server log has the details")
}

func errText(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}
