package vuln

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/httpapi"
	"github.com/omamori-project/omamori/internal/store"
)

// HTTP serves a hospital's findings as JSON. The server mounts its one route behind its
// authentication with the read scope:
//
//	GET /api/v1/findings?state=open,accepted   the findings in those states (default: open,
//	                                           mitigated, accepted), highest risk first
type HTTP struct {
	Store *store.Store
	// Principal returns the tenant a request acts for, from the authentication the server did.
	Principal func(r *http.Request) (tenant, actor string, err error)
	Log       *slog.Logger
}

// Routes are the findings API's routes, with the scope each needs, for the server's table.
func (h *HTTP) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "GET /api/v1/findings", Scope: auth.ScopeRead, Handler: h}}
}

// ServeHTTP answers GET /api/v1/findings.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant, _, err := h.Principal(r)
	if err != nil {
		httpapi.WriteError(w, http.StatusUnauthorized, "not signed in", "")
		return
	}
	states := []store.FindingState{store.FindingOpen, store.FindingMitigated, store.FindingAccepted}
	if q := r.URL.Query().Get("state"); q != "" {
		states = nil
		for _, s := range strings.Split(q, ",") {
			st := store.FindingState(strings.TrimSpace(s))
			if !slices.Contains(store.FindingStates(), st) {
				httpapi.WriteError(w, http.StatusBadRequest, "unknown state "+string(st), "states are open, patched, mitigated, accepted")
				return
			}
			states = append(states, st)
		}
	}
	out, err := Findings(r.Context(), h.Store.Tenant(tenant), states...)
	if err != nil {
		if h.Log != nil {
			h.Log.Error("findings request", "tenant", tenant, "err", err)
		}
		httpapi.WriteError(w, http.StatusInternalServerError, "internal error", "")
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}
