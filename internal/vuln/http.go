package vuln

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/omamori-project/omamori/internal/api"
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

// FindingsPattern is the route's pattern, for the server's mux.
const FindingsPattern = "GET /api/v1/findings"

// ServeHTTP answers GET /api/v1/findings.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant, _, err := h.Principal(r)
	if err != nil {
		api.WriteError(w, http.StatusUnauthorized, "not signed in", "")
		return
	}
	states := []store.FindingState{store.FindingOpen, store.FindingMitigated, store.FindingAccepted}
	if q := r.URL.Query().Get("state"); q != "" {
		states = nil
		for _, s := range strings.Split(q, ",") {
			st := store.FindingState(strings.TrimSpace(s))
			if !slices.Contains(store.FindingStates(), st) {
				api.WriteError(w, http.StatusBadRequest, "unknown state "+string(st), "states are open, patched, mitigated, accepted")
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
		api.WriteError(w, http.StatusInternalServerError, "internal error", "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
