package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

// StoreQueue is a ReviewQueue kept in the metadata store (SQLite or PostgreSQL), so that
// break-glass accesses stay queued across restarts and every enqueue and verdict is in the
// store's audit log. The decision is stored whole as its JSON form.
type StoreQueue struct {
	st *store.Store
	// Actor is who the audit log names as queuing a review; "access" if empty.
	Actor string
}

// NewStoreQueue returns a queue over st. A tenant must exist in st before its reviews can
// be queued.
func NewStoreQueue(st *store.Store) *StoreQueue { return &StoreQueue{st: st} }

var _ ReviewQueue = (*StoreQueue)(nil)

func (q *StoreQueue) Enqueue(ctx context.Context, d *Decision, due time.Time) (ReviewItem, error) {
	if d.ID == "" || d.Tenant == "" {
		return ReviewItem{}, errors.New("enqueue review: decision has no id or tenant")
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return ReviewItem{}, fmt.Errorf("enqueue review %s: %w", d.ID, err)
	}
	actor := q.Actor
	if actor == "" {
		actor = "access"
	}
	r, err := q.st.Tenant(d.Tenant).CreateReview(ctx, actor, store.Review{ID: d.ID, Decision: raw,
		Subject: d.Subject.ID, Patient: d.Patient, Decided: d.Time, Due: due})
	if err != nil {
		return ReviewItem{}, fmt.Errorf("enqueue review: %w", err)
	}
	return reviewItem(r)
}

func (q *StoreQueue) Pending(ctx context.Context, tenant string) ([]ReviewItem, error) {
	return q.list(ctx, tenant, store.ReviewFilter{Pending: true})
}

// Reviewed returns tenant's reviewed items, the latest reviewed first, at most limit (0: all).
func (q *StoreQueue) Reviewed(ctx context.Context, tenant string, limit int) ([]ReviewItem, error) {
	return q.list(ctx, tenant, store.ReviewFilter{Reviewed: true, Limit: limit})
}

func (q *StoreQueue) list(ctx context.Context, tenant string, f store.ReviewFilter) ([]ReviewItem, error) {
	rs, err := q.st.Tenant(tenant).Reviews(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]ReviewItem, 0, len(rs))
	for _, r := range rs {
		it, err := reviewItem(r)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

func (q *StoreQueue) Review(ctx context.Context, tenant, id string, outcome Outcome, reviewer, note string, at time.Time) (ReviewItem, error) {
	if outcome != OutcomeJustified && outcome != OutcomeNotJustified {
		return ReviewItem{}, fmt.Errorf("review %s: outcome %q is not justified or not_justified", id, outcome)
	}
	if reviewer == "" {
		return ReviewItem{}, fmt.Errorf("review %s: no reviewer named", id)
	}
	r, err := q.st.Tenant(tenant).CompleteReview(ctx, reviewer, id, string(outcome), note, at)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ReviewItem{}, fmt.Errorf("review %s: %w", id, ErrReviewNotFound)
	case errors.Is(err, store.ErrConflict):
		return ReviewItem{}, fmt.Errorf("review %s: %w (%v)", id, ErrReviewed, err)
	case err != nil:
		return ReviewItem{}, err
	}
	return reviewItem(r)
}

func (q *StoreQueue) Get(ctx context.Context, tenant, id string) (ReviewItem, error) {
	r, err := q.st.Tenant(tenant).Review(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ReviewItem{}, fmt.Errorf("get review %s: %w", id, ErrReviewNotFound)
	}
	if err != nil {
		return ReviewItem{}, err
	}
	return reviewItem(r)
}

func reviewItem(r store.Review) (ReviewItem, error) {
	it := ReviewItem{ID: r.ID, Tenant: r.Tenant, Due: r.Due, Outcome: Outcome(r.Outcome), Reviewer: r.Reviewer,
		Note: r.Note, ReviewedAt: r.Reviewed}
	if err := json.Unmarshal(r.Decision, &it.Decision); err != nil {
		return ReviewItem{}, fmt.Errorf("review %s: stored decision is not readable: %w", r.ID, err)
	}
	return it, nil
}
