package incident

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/httpapi"
	"github.com/omamori-project/omamori/internal/store"
)

// HTTP serves the incident workflow as JSON under /api/v1/incidents.
type HTTP struct {
	Service *Service
	// Principal returns the tenant a request acts for and who it is (for the timeline and the
	// audit log), from the authentication the server did.
	Principal func(r *http.Request) (tenant, actor string, err error)
	Log       *slog.Logger
}

// Routes returns the routes to mount, each with the scope a token needs for it: read to see
// incidents and draft reports, respond to work them:
//
//	GET  /api/v1/incidents?state=new,triaged           list, most urgent first
//	GET  /api/v1/incidents/{id}                        incident, alerts, timeline, clocks, checklist
//	POST /api/v1/incidents/{id}/state                  {"state": "triaged", "note": "..."}
//	POST /api/v1/incidents/{id}/assign                 {"assignee": "user:sato"}
//	POST /api/v1/incidents/{id}/notes                  {"text": "..."}
//	POST /api/v1/incidents/{id}/severity               {"severity": "critical", "reason": "..."}
//	PUT  /api/v1/incidents/{id}/facts[?version=N]      Facts (personal_data, unauthorized: true, false, or null/absent for unconfirmed);
//	                                                   with version, 409 if the incident has changed since that version
//	POST /api/v1/incidents/{id}/kinds                  {"kind": "patient-data-leak"}
//	POST /api/v1/incidents/{id}/steps/{playbook}/{step} {"done": true}
//	POST /api/v1/incidents/{id}/clocks/{clock}/stop    {"note": "受付番号 ..."}
//	POST /api/v1/incidents/{id}/merge                  {"from": "INC-...", "reason": "..."}
//	POST /api/v1/incidents/{id}/split                  {"alerts": ["..."], "reason": "..."}
//	GET  /api/v1/incidents/{id}/reports/{obligation}   the draft, text/markdown
func (h *HTTP) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "GET /api/v1/incidents", Scope: auth.ScopeRead, Handler: h.handle(func(r *http.Request, tenant, _ string) (any, error) {
			var states []State
			for _, s := range strings.Split(r.URL.Query().Get("state"), ",") {
				if s = strings.TrimSpace(s); s != "" {
					st, err := ParseState(s)
					if err != nil {
						return nil, refuse("%v", err)
					}
					states = append(states, st)
				}
			}
			list, err := h.Service.List(r.Context(), tenant, states...)
			if list == nil {
				list = []Incident{}
			}
			return list, err
		})},
		{Pattern: "GET /api/v1/incidents/{id}", Scope: auth.ScopeRead, Handler: h.handle(func(r *http.Request, tenant, _ string) (any, error) {
			return h.Service.Show(r.Context(), tenant, r.PathValue("id"))
		})},
		{Pattern: "POST /api/v1/incidents/{id}/state", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct{ State, Note string }
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			st, err := ParseState(in.State)
			if err != nil {
				return nil, refuse("%v", err)
			}
			return h.Service.Transition(r.Context(), tenant, r.PathValue("id"), actor, st, in.Note)
		})},
		{Pattern: "POST /api/v1/incidents/{id}/assign", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct{ Assignee string }
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			return h.Service.Assign(r.Context(), tenant, r.PathValue("id"), actor, in.Assignee)
		})},
		{Pattern: "POST /api/v1/incidents/{id}/notes", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct{ Text string }
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			return h.Service.Note(r.Context(), tenant, r.PathValue("id"), actor, in.Text)
		})},
		{Pattern: "POST /api/v1/incidents/{id}/severity", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct{ Severity, Reason string }
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			sv, err := ParseSeverity(in.Severity)
			if err != nil {
				return nil, refuse("%v", err)
			}
			return h.Service.SetSeverity(r.Context(), tenant, r.PathValue("id"), actor, sv, in.Reason)
		})},
		{Pattern: "PUT /api/v1/incidents/{id}/facts", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in Facts
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			version := 0
			if v := r.URL.Query().Get("version"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n <= 0 {
					return nil, refuse("version %q: want the incident's version, a positive number, as GET /api/v1/incidents/{id} shows it", v)
				}
				version = n
			}
			return h.Service.SetFacts(r.Context(), tenant, r.PathValue("id"), actor, in, version)
		})},
		{Pattern: "POST /api/v1/incidents/{id}/kinds", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct{ Kind string }
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			return h.Service.AddKind(r.Context(), tenant, r.PathValue("id"), actor, in.Kind)
		})},
		{Pattern: "POST /api/v1/incidents/{id}/steps/{playbook}/{step}", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct{ Done *bool }
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			if in.Done == nil {
				return nil, refuse(`say {"done": true} or {"done": false}`)
			}
			return h.Service.CheckStep(r.Context(), tenant, r.PathValue("id"), actor, r.PathValue("playbook"), r.PathValue("step"), *in.Done)
		})},
		{Pattern: "POST /api/v1/incidents/{id}/clocks/{clock}/stop", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct{ Note string }
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			return h.Service.StopClock(r.Context(), tenant, r.PathValue("id"), actor, r.PathValue("clock"), in.Note)
		})},
		{Pattern: "POST /api/v1/incidents/{id}/merge", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct{ From, Reason string }
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			return h.Service.Merge(r.Context(), tenant, r.PathValue("id"), in.From, actor, in.Reason)
		})},
		{Pattern: "POST /api/v1/incidents/{id}/split", Scope: auth.ScopeRespond, Handler: h.handle(func(r *http.Request, tenant, actor string) (any, error) {
			var in struct {
				Alerts []string
				Reason string
			}
			if err := readJSON(r, &in); err != nil {
				return nil, err
			}
			return h.Service.Split(r.Context(), tenant, r.PathValue("id"), actor, in.Alerts, in.Reason)
		})},
		{Pattern: "GET /api/v1/incidents/{id}/reports/{obligation}", Scope: auth.ScopeRead, Handler: h.handleRaw(func(w http.ResponseWriter, r *http.Request, tenant, _ string) error {
			md, err := h.Service.Report(r.Context(), tenant, r.PathValue("id"), r.PathValue("obligation"))
			if err != nil {
				return err
			}
			w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.md"`, r.PathValue("id"), r.PathValue("obligation")))
			_, err = w.Write(md)
			return err
		})},
	}
}

// readJSON reads a JSON request body strictly (httpapi.DecodeJSON), refusing what it cannot
// read as an InputError.
func readJSON(r *http.Request, v any) error {
	if err := httpapi.DecodeJSON(r.Body, v); err != nil {
		return refuse("read the request: %v", err)
	}
	return nil
}

func (h *HTTP) handle(f func(r *http.Request, tenant, actor string) (any, error)) http.Handler {
	return h.handleRaw(func(w http.ResponseWriter, r *http.Request, tenant, actor string) error {
		v, err := f(r, tenant, actor)
		if err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusOK, v)
	})
}

func (h *HTTP) handleRaw(f func(w http.ResponseWriter, r *http.Request, tenant, actor string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, actor, err := h.Principal(r)
		if err != nil {
			httpapi.WriteError(w, http.StatusUnauthorized, "not signed in", "")
			return
		}
		err = f(w, r, tenant, actor)
		var in *InputError
		var te *TransitionError
		switch {
		case err == nil:
		case errors.As(err, &te):
			httpapi.WriteError(w, http.StatusConflict, te.Error(), "")
		case errors.As(err, &in):
			httpapi.WriteError(w, http.StatusBadRequest, in.Error(), "")
		case errors.Is(err, store.ErrNotFound), errors.Is(err, ErrStep):
			httpapi.WriteError(w, http.StatusNotFound, "no such incident, step or clock", "")
		case errors.Is(err, store.ErrConflict):
			httpapi.WriteError(w, http.StatusConflict, "the incident changed meanwhile; try again", "")
		default:
			// The details stay in the log: what the client sees is only that it failed.
			if h.Log != nil {
				h.Log.Error("incident request", "method", r.Method, "path", r.URL.Path, "tenant", tenant, "err", err)
			}
			httpapi.WriteError(w, http.StatusInternalServerError, "internal error", "")
		}
	})
}
