package web

import (
	"errors"
	"net/http"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/incident"
)

// The hospital profile page (設定 › 病院情報): the hospital's administrator keeps the name,
// address, 管理者, 医療情報システム安全管理責任者 and reporter that every report draft to the
// authorities names. The configuration (incidents.hospitals) gives the first values; what is
// saved here is kept in the store, per tenant, and used from then on.

type hospitalData struct {
	Fields []incident.ProfileField
	Saved  bool
}

func (s *Server) hospitalProfile(w http.ResponseWriter, r *http.Request, p *page) error {
	if s.opt.Incidents == nil {
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.not_configured"))
		return nil
	}
	h, err := s.opt.Incidents.Profile(r.Context(), p.Tenant)
	if err != nil {
		return err
	}
	return s.showHospital(w, r, p, http.StatusOK, &h, false)
}

// saveHospitalProfile keeps the profile as typed; a refused one comes back with what was
// typed and why.
func (s *Server) saveHospitalProfile(w http.ResponseWriter, r *http.Request, p *page) error {
	if s.opt.Incidents == nil {
		s.render(w, r, http.StatusNotFound, "error", p.with("incidents.not_configured"))
		return nil
	}
	var h incident.Hospital
	for _, f := range incident.ProfileFields(&h) {
		*f.Value = r.PostFormValue(f.Name)
	}
	id, _ := auth.IdentityFrom(r.Context())
	saved, err := s.opt.Incidents.SaveProfile(r.Context(), p.Tenant, id.Actor(), h)
	var input *incident.InputError
	switch {
	case errors.As(err, &input):
		return s.showHospital(w, r, p.with("hospital.refused", err.Error()), http.StatusBadRequest, &h, false)
	case err != nil:
		return err
	}
	return s.showHospital(w, r, p.with("hospital.saved"), http.StatusOK, &saved, true)
}

func (s *Server) showHospital(w http.ResponseWriter, r *http.Request, p *page, status int, h *incident.Hospital, saved bool) error {
	p.Nav = "hospital"
	p.Data = hospitalData{Fields: incident.ProfileFields(h), Saved: saved}
	s.render(w, r, status, "hospital", p)
	return nil
}
