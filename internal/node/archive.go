package node

import (
	"net/http"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/httpapi"
)

// mountArchive registers the archive's route for the CLI beside a running server: the server
// holds the archive, so only it can sign a checkpoint of what it holds, and an export that
// reads the archive read-only needs one that covers every record, or it silently misses the
// newest.
func (n *Node) mountArchive() {
	n.API.Handle("POST /api/v1/archive/checkpoint", auth.ScopeRead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := tokenPrincipal(r)
		if err != nil {
			httpapi.WriteError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		if _, synced := n.Archive.Size(p.Tenant); synced == 0 {
			httpapi.WriteError(w, http.StatusNotFound, "the archive holds no record of tenant "+p.Tenant, "")
			return
		}
		c, err := n.Archive.Checkpoint(r.Context(), p.Tenant)
		if err != nil {
			n.log.Error("sign an archive checkpoint", "tenant", p.Tenant, "err", err)
			httpapi.WriteError(w, http.StatusServiceUnavailable, "the archive could not sign a checkpoint", "look in the server's log")
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tenant": p.Tenant, "size": c.Size, "checkpoint": string(c.Note)})
	}))
}
