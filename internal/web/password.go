package web

import (
	"errors"
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
	var locked *auth.LockedError
	switch {
	case errors.As(err, &locked):
		s.render(w, r, http.StatusTooManyRequests, "password", p.with("signin.locked", p.L.Time(locked.Until)))
		return nil
	case errors.Is(err, auth.ErrSignIn):
		s.render(w, r, http.StatusUnauthorized, "password", p.with("password.wrong"))
		return nil
	case errors.Is(err, auth.ErrWeakPassword):
		s.render(w, r, http.StatusBadRequest, "password", p.with("password.weak", auth.MinPasswordLen))
		return nil
	case errors.Is(err, auth.ErrSamePassword):
		s.render(w, r, http.StatusBadRequest, "password", p.with("password.same"))
		return nil
	case errors.Is(err, auth.ErrNoSession):
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil
	case err != nil:
		return err
	}
	s.setCookie(w, r, cookie, 0)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
