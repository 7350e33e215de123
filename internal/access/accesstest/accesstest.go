// Package accesstest holds the conformance suite every access.ReviewQueue must pass: the
// in-memory queue runs it here, and the integrator's store-backed queue runs the same
// suite, as testing/slogtest does for slog handlers. It is used only by tests.
package accesstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/access"
)

// ReviewQueue checks a ReviewQueue implementation. newQueue returns an empty queue for
// each subtest.
func ReviewQueue(t *testing.T, newQueue func(t *testing.T) access.ReviewQueue) {
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	decision := func(id, tenant string) *access.Decision {
		return &access.Decision{Schema: access.DecisionSchema, ID: id, Tenant: tenant, Time: t0, Decision: "allow",
			Subject: access.Subject{ID: "N002"}, Action: "view", Patient: "P005", BreakGlass: true, BreakGlassReason: "急変",
			Policies: []string{"break-glass"}, Obligations: []string{"log", "notify_privacy_officer", "review"}}
	}

	t.Run("enqueue and pending, earliest due first", func(t *testing.T) {
		q := newQueue(t)
		for i, h := range []int{30, 10, 20} {
			if _, err := q.Enqueue(ctx, decision([]string{"a", "b", "c"}[i], "tokyo"), t0.Add(time.Duration(h)*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		p, err := q.Pending(ctx, "tokyo")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range p {
			ids = append(ids, it.ID)
		}
		if len(ids) != 3 || ids[0] != "b" || ids[1] != "c" || ids[2] != "a" {
			t.Errorf("Pending = %v, want [b c a]", ids)
		}
		it := p[0]
		if it.Tenant != "tokyo" || it.Decision.Patient != "P005" || it.Decision.BreakGlassReason != "急変" || !it.Due.Equal(t0.Add(10*time.Hour)) {
			t.Errorf("Pending[0] = %+v, want the decision kept whole with its due time", it)
		}
	})

	t.Run("tenants are isolated", func(t *testing.T) {
		q := newQueue(t)
		q.Enqueue(ctx, decision("a", "tokyo"), t0)
		q.Enqueue(ctx, decision("a", "osaka"), t0)
		if p, _ := q.Pending(ctx, "osaka"); len(p) != 1 || p[0].Tenant != "osaka" {
			t.Errorf("Pending(osaka) = %+v, want osaka's one item", p)
		}
		if _, err := q.Review(ctx, "kyoto", "a", access.OutcomeJustified, "PO", "", t0); !errors.Is(err, access.ErrReviewNotFound) {
			t.Errorf("Review from another tenant = %v, want ErrReviewNotFound", err)
		}
		if _, err := q.Get(ctx, "kyoto", "a"); !errors.Is(err, access.ErrReviewNotFound) {
			t.Errorf("Get from another tenant = %v, want ErrReviewNotFound", err)
		}
	})

	t.Run("review once", func(t *testing.T) {
		q := newQueue(t)
		q.Enqueue(ctx, decision("a", "tokyo"), t0.Add(72*time.Hour))
		it, err := q.Review(ctx, "tokyo", "a", access.OutcomeNotJustified, "PO01", "担当外の閲覧", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if it.Outcome != access.OutcomeNotJustified || it.Reviewer != "PO01" || it.Note != "担当外の閲覧" || !it.ReviewedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("Review = %+v", it)
		}
		if got, err := q.Get(ctx, "tokyo", "a"); err != nil || got.Outcome != access.OutcomeNotJustified {
			t.Errorf("Get after review = %+v, %v", got, err)
		}
		if _, err := q.Review(ctx, "tokyo", "a", access.OutcomeJustified, "PO02", "", t0); !errors.Is(err, access.ErrReviewed) {
			t.Errorf("second Review = %v, want ErrReviewed", err)
		}
		if p, _ := q.Pending(ctx, "tokyo"); len(p) != 0 {
			t.Errorf("Pending after review = %d items, want 0", len(p))
		}
	})

	t.Run("refusals", func(t *testing.T) {
		q := newQueue(t)
		q.Enqueue(ctx, decision("a", "tokyo"), t0)
		if _, err := q.Enqueue(ctx, decision("a", "tokyo"), t0); err == nil {
			t.Errorf("Enqueue of the same decision twice succeeded")
		}
		if _, err := q.Review(ctx, "tokyo", "a", "maybe", "PO", "", t0); err == nil {
			t.Errorf("Review with outcome maybe succeeded")
		}
		if _, err := q.Review(ctx, "tokyo", "a", access.OutcomeJustified, "", "", t0); err == nil {
			t.Errorf("Review without a reviewer succeeded")
		}
		if _, err := q.Review(ctx, "tokyo", "zzz", access.OutcomeJustified, "PO", "", t0); !errors.Is(err, access.ErrReviewNotFound) {
			t.Errorf("Review of an unknown item = %v, want ErrReviewNotFound", err)
		}
	})
}
