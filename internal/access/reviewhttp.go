package access

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/omamori-project/omamori/internal/httpapi"
)

// Reviewer says which tenant a request acts for and who is reviewing: the integrator takes
// both from the caller's verified session or token.
type Reviewer func(r *http.Request) (tenant, reviewer string, err error)

// pendingItem is a ReviewItem as the review page shows it.
type pendingItem struct {
	ReviewItem
	Overdue bool `json:"overdue"`
}

// ReviewHandler serves the break-glass review queue, for the web UI and the privacy
// officer's tools:
//
//	GET  /api/v1/access/reviews        the tenant's pending items, earliest due first, each with "overdue"
//	POST /api/v1/access/reviews/{id}   body {"outcome":"justified"|"not_justified","note":"..."}
//
// The reviewer recorded is who is calling (Reviewer), never the body. It answers 404 for an
// item the tenant does not have and 409 for one already reviewed.
func ReviewHandler(q ReviewQueue, who Reviewer, now func() time.Time, log *slog.Logger) http.Handler {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "access")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/access/reviews", func(w http.ResponseWriter, r *http.Request) {
		tenant, _, err := who(r)
		if err != nil {
			httpapi.WriteError(w, http.StatusForbidden, "the review queue is not available to this caller", "")
			return
		}
		items, err := q.Pending(r.Context(), tenant)
		if err != nil {
			log.ErrorContext(r.Context(), "list break-glass reviews", "err", err)
			httpapi.WriteError(w, http.StatusInternalServerError, "the review queue cannot be read now", "")
			return
		}
		t := now()
		out := make([]pendingItem, len(items))
		for i, it := range items {
			out[i] = pendingItem{it, it.Overdue(t)}
		}
		httpapi.WriteJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /api/v1/access/reviews/{id}", func(w http.ResponseWriter, r *http.Request) {
		tenant, reviewer, err := who(r)
		if err != nil || reviewer == "" {
			httpapi.WriteError(w, http.StatusForbidden, "reviews need a named reviewer", "")
			return
		}
		var body struct {
			Outcome Outcome `json:"outcome"`
			Note    string  `json:"note"`
		}
		if err := httpapi.DecodeJSON(io.LimitReader(r.Body, 64<<10), &body); err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, "decode review: "+err.Error(), "")
			return
		}
		it, err := q.Review(r.Context(), tenant, r.PathValue("id"), body.Outcome, reviewer, body.Note, now())
		switch {
		case errors.Is(err, ErrReviewNotFound):
			httpapi.WriteError(w, http.StatusNotFound, err.Error(), "")
		case errors.Is(err, ErrReviewed):
			httpapi.WriteError(w, http.StatusConflict, err.Error(), "")
		case err != nil && (body.Outcome != OutcomeJustified && body.Outcome != OutcomeNotJustified):
			httpapi.WriteError(w, http.StatusBadRequest, err.Error(), "")
		case err != nil:
			log.ErrorContext(r.Context(), "record break-glass review", "err", err)
			httpapi.WriteError(w, http.StatusInternalServerError, "the review could not be recorded", "")
		default:
			httpapi.WriteJSON(w, http.StatusOK, it)
		}
	})
	return mux
}
