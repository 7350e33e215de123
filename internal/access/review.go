package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Outcome is a reviewer's verdict on a break-glass access.
type Outcome string

const (
	OutcomePending      Outcome = ""
	OutcomeJustified    Outcome = "justified"
	OutcomeNotJustified Outcome = "not_justified"
)

// ReviewItem is one break-glass access waiting for, or having had, its review.
type ReviewItem struct {
	ID         string    `json:"id"` // the decision's ID
	Tenant     string    `json:"tenant"`
	Decision   Decision  `json:"decision"`
	Due        time.Time `json:"due"` // the review's SLA
	Outcome    Outcome   `json:"outcome,omitempty"`
	Reviewer   string    `json:"reviewer,omitempty"`
	Note       string    `json:"note,omitempty"`
	ReviewedAt time.Time `json:"reviewed_at,omitzero"`
}

// Overdue reports whether the item is still unreviewed at t after its due time.
func (it *ReviewItem) Overdue(t time.Time) bool {
	return it.Outcome == OutcomePending && t.After(it.Due)
}

// Errors of a review queue.
var (
	ErrReviewNotFound = errors.New("access: no such review item")
	ErrReviewed       = errors.New("access: already reviewed")
)

// ReviewQueue keeps break-glass accesses until someone reviews them. All methods may be
// called concurrently; every one is confined to one tenant. MemoryQueue implements it in
// memory; the integrator backs it by the metadata store (internal/store) so that the
// queue survives restarts, and runs the conformance suite accesstest.ReviewQueue against it.
type ReviewQueue interface {
	// Enqueue adds the decision, due for review by due. d is copied.
	Enqueue(ctx context.Context, d *Decision, due time.Time) (ReviewItem, error)
	// Pending returns tenant's unreviewed items, the earliest due first.
	Pending(ctx context.Context, tenant string) ([]ReviewItem, error)
	// Review records a reviewer's outcome; it fails with ErrReviewed if the item was reviewed
	// already and ErrReviewNotFound if tenant has no such item.
	Review(ctx context.Context, tenant, id string, outcome Outcome, reviewer, note string, at time.Time) (ReviewItem, error)
	// Get returns one item of tenant.
	Get(ctx context.Context, tenant, id string) (ReviewItem, error)
}

// MemoryQueue is a ReviewQueue in memory: for tests and for a node without a store. Its
// content is lost when the process ends.
type MemoryQueue struct {
	mu    sync.Mutex
	items map[[2]string]*ReviewItem // tenant, id
}

// NewMemoryQueue returns an empty queue.
func NewMemoryQueue() *MemoryQueue { return &MemoryQueue{items: map[[2]string]*ReviewItem{}} }

func (q *MemoryQueue) Enqueue(ctx context.Context, d *Decision, due time.Time) (ReviewItem, error) {
	if d.ID == "" || d.Tenant == "" {
		return ReviewItem{}, errors.New("enqueue review: decision has no id or tenant")
	}
	it := ReviewItem{ID: d.ID, Tenant: d.Tenant, Decision: *d, Due: due}
	it.Decision.Policies = slices.Clone(d.Policies)
	it.Decision.Obligations = slices.Clone(d.Obligations)
	q.mu.Lock()
	defer q.mu.Unlock()
	k := [2]string{d.Tenant, d.ID}
	if _, dup := q.items[k]; dup {
		return ReviewItem{}, fmt.Errorf("enqueue review %s: already queued", d.ID)
	}
	q.items[k] = &it
	return it, nil
}

func (q *MemoryQueue) Pending(ctx context.Context, tenant string) ([]ReviewItem, error) {
	q.mu.Lock()
	var out []ReviewItem
	for k, it := range q.items {
		if k[0] == tenant && it.Outcome == OutcomePending {
			out = append(out, *it)
		}
	}
	q.mu.Unlock()
	slices.SortFunc(out, func(a, b ReviewItem) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (q *MemoryQueue) Review(ctx context.Context, tenant, id string, outcome Outcome, reviewer, note string, at time.Time) (ReviewItem, error) {
	if outcome != OutcomeJustified && outcome != OutcomeNotJustified {
		return ReviewItem{}, fmt.Errorf("review %s: outcome %q is not justified or not_justified", id, outcome)
	}
	if reviewer == "" {
		return ReviewItem{}, fmt.Errorf("review %s: no reviewer named", id)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.items[[2]string{tenant, id}]
	if !ok {
		return ReviewItem{}, fmt.Errorf("review %s: %w", id, ErrReviewNotFound)
	}
	if it.Outcome != OutcomePending {
		return ReviewItem{}, fmt.Errorf("review %s: %w (%s by %s)", id, ErrReviewed, it.Outcome, it.Reviewer)
	}
	it.Outcome, it.Reviewer, it.Note, it.ReviewedAt = outcome, reviewer, note, at
	return *it, nil
}

func (q *MemoryQueue) Get(ctx context.Context, tenant, id string) (ReviewItem, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.items[[2]string{tenant, id}]
	if !ok {
		return ReviewItem{}, fmt.Errorf("get review %s: %w", id, ErrReviewNotFound)
	}
	return *it, nil
}
