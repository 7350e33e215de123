package node

import (
	"net/http"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/httpapi"
)

// mountArchive registers the archive's routes for the CLI beside a running server. The server
// holds the archive, so only it can sign a checkpoint of what it holds, and an export that
// reads the archive read-only needs one that covers every record, or it silently misses the
// newest. It holds the embedded bus too, so only it can compare the two (archive verify).
func (n *Node) mountArchive() {
	// The comparison of the archive with EVENTS (archive.Complete): of the token's tenant, or
	// of every tenant for an operator's token.
	n.API.Handle("GET /api/v1/archive/complete", auth.ScopeRead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := tokenPrincipal(r)
		if err != nil {
			httpapi.WriteError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		c, err := archive.Complete(r.Context(), n.Archive, n.Bus)
		if err != nil {
			n.log.Error("compare the archive with the bus", "err", err)
			httpapi.WriteError(w, http.StatusServiceUnavailable, "the archive could not be compared with the bus", "look in the server's log")
			return
		}
		if !p.Has(auth.ScopeOperator) {
			c = c.Only(p.Tenant)
		}
		httpapi.WriteJSON(w, http.StatusOK, c)
	}))
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
