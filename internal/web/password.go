package web

import (
	"net/http"

	"github.com/omamori-project/omamori/internal/auth"
)

// passwordPath is where a person changes their password; the only page open to one whose
// password an administrator chose.
const passwordPath = "/account/password"

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Nav = "password"
	s.render(w, r, http.StatusOK, "password", p)
	return nil
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Nav = "password"
	next := r.PostFormValue("new")
	if next != r.PostFormValue("confirm") {
		s.render(w, r, http.StatusBadRequest, "password", p.with("password.mismatch"))
		return nil
	}
	cookie, err := s.accounts.ChangePassword(r.Context(), p.cookie, r.PostFormValue("current"), next, clientAddr(r))
	return s.finishStep(w, r, p, "password", cookie, "/", err,
		refusal{err: auth.ErrSignIn, status: http.StatusUnauthorized, key: "password.wrong"},
		refusal{err: auth.ErrWeakPassword, status: http.StatusBadRequest, key: "password.weak", args: []any{auth.MinPasswordLen}},
		refusal{err: auth.ErrSamePassword, status: http.StatusBadRequest, key: "password.same"})
}
