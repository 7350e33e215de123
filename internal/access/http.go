package access

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/omamori-project/omamori/internal/httpapi"
)

// MaxBatch is the most requests one POST /api/v1/access/decide may carry.
const MaxBatch = 1000

// Lookup finds the decider for an HTTP request, from its caller: the integrator takes the
// tenant of the request's verified token (auth.FromContext(r.Context()).Tenant), never
// anything the body says. An error is answered 403 and logged.
type Lookup func(r *http.Request) (*Decider, error)

// Handler serves POST /api/v1/access/decide for authenticated callers: the body is one
// Request (JSON object) or a batch (JSON array of up to MaxBatch), and the answer is one
// Decision or an array of them in the same order. The tenant is the caller's token's
// (through lookup), never the body's; the time is the server's, never the body's.
// A request that cannot be decided as sent is answered with a deny that says why, so a
// batch is never lost to one bad item; a body that is not JSON gets 400.
//
// The integrator registers it behind the API's token check:
//
//	lookup := func(r *http.Request) (*access.Decider, error) {
//		p, ok := auth.FromContext(r.Context())
//		if !ok {
//			return nil, errors.New("no principal")
//		}
//		return deciders.For(p.Tenant) // deciders is an *access.Deciders
//	}
//	srv.Handle("POST /api/v1/access/decide", auth.ScopeAccess, access.Handler(lookup, log), api.MaxBody(8<<20))
//
// (auth.ScopeAccess, "access", is a scope the EHR's token needs: it may ask for decisions and
// nothing else.)
func Handler(lookup Lookup, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "access")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := lookup(r)
		if err != nil {
			log.WarnContext(r.Context(), "access decision refused", "err", err)
			httpapi.WriteError(w, http.StatusForbidden, "access decisions are not available to this caller", "")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, "read body: "+err.Error(), "")
			return
		}
		body = bytes.TrimSpace(body)
		batch := len(body) > 0 && body[0] == '['
		var reqs []Request
		if batch {
			err = httpapi.DecodeJSON(bytes.NewReader(body), &reqs)
			if err == nil && len(reqs) > MaxBatch {
				err = fmt.Errorf("a batch holds at most %d requests, this one %d", MaxBatch, len(reqs))
			}
		} else {
			reqs = make([]Request, 1)
			err = httpapi.DecodeJSON(bytes.NewReader(body), &reqs[0])
		}
		if err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, "decode access request: "+err.Error(), "send one request as a JSON object, or a batch as an array")
			return
		}
		out := make([]Decision, len(reqs))
		for i := range reqs {
			reqs[i].Time = time.Time{}
			out[i] = d.Decide(r.Context(), reqs[i])
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		if batch {
			err = enc.Encode(out)
		} else {
			err = enc.Encode(out[0])
		}
		if err != nil {
			log.DebugContext(r.Context(), "write access decision", "err", err)
		}
	})
}
