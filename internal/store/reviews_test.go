package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newReview(id, subject, patient string, dueIn time.Duration) Review {
	return Review{ID: id, Decision: []byte(`{"id":"` + id + `","break_glass":true}`), Subject: subject, Patient: patient,
		Decided: t0, Due: t0.Add(dueIn), Created: t0}
}

func TestReviewCreateGetComplete(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		in := newReview("d-1", "N002", "P005", 72*time.Hour)
		in.Outcome, in.Reviewer = "justified", "sneaky" // ignored: a review starts pending
		got, err := sc.CreateReview(ctx, "access", in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Tenant != "tokyo" || got.Outcome != "" || got.Reviewer != "" || !got.Due.Equal(dbTime(t0.Add(72*time.Hour))) {
			t.Errorf("CreateReview = %+v, want tenant tokyo, pending, due in 72h", got)
		}
		back, err := reopen().Tenant("tokyo").Review(ctx, "d-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, back); diff != "" {
			t.Errorf("Review(d-1) differs from what CreateReview returned (-created +read):\n%s", diff)
		}
		if _, err := sc.CreateReview(ctx, "access", in); !errors.Is(err, ErrExists) {
			t.Errorf("CreateReview twice = %v, want ErrExists", err)
		}

		done, err := sc.CompleteReview(ctx, "PO01", "d-1", "not_justified", "担当外の閲覧", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if done.Outcome != "not_justified" || done.Reviewer != "PO01" || done.Note != "担当外の閲覧" || !done.Reviewed.Equal(dbTime(t0.Add(time.Hour))) {
			t.Errorf("CompleteReview = %+v", done)
		}
		if back, _ := sc.Review(ctx, "d-1"); back.Outcome != "not_justified" || !back.Reviewed.Equal(done.Reviewed) {
			t.Errorf("Review after completion = %+v", back)
		}
		if _, err := sc.CompleteReview(ctx, "PO02", "d-1", "justified", "", t0); !errors.Is(err, ErrConflict) {
			t.Errorf("CompleteReview twice = %v, want ErrConflict", err)
		}
		log, _ := sc.AuditLog(ctx, 3)
		if len(log) < 2 || log[0].Action != "review.complete" || log[0].Actor != "PO01" || log[0].Object != "d-1" ||
			log[1].Action != "review.create" || log[1].Actor != "access" {
			t.Errorf("audit log = %+v, want review.complete by PO01 after review.create by access", log)
		}
	})
}

func TestReviewRefusals(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		sc := s.Tenant("tokyo")
		for name, r := range map[string]Review{
			"no id":       {Decision: []byte("{}"), Due: t0},
			"no decision": {ID: "x", Due: t0},
			"no due time": {ID: "x", Decision: []byte("{}")},
		} {
			if _, err := sc.CreateReview(ctx, "access", r); err == nil {
				t.Errorf("CreateReview(%s) succeeded", name)
			}
		}
		if _, err := s.Tenant("nowhere").CreateReview(ctx, "access", newReview("d-1", "N002", "P005", 0)); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateReview(unknown tenant) = %v, want ErrNotFound", err)
		}
		sc.CreateReview(ctx, "access", newReview("d-1", "N002", "P005", 0))
		if _, err := sc.CompleteReview(ctx, "", "d-1", "justified", "", t0); err == nil {
			t.Errorf("CompleteReview without a reviewer succeeded")
		}
		if _, err := sc.CompleteReview(ctx, "PO01", "d-1", "", "", t0); err == nil {
			t.Errorf("CompleteReview without an outcome succeeded")
		}
		if _, err := sc.CompleteReview(ctx, "PO01", "nope", "justified", "", t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("CompleteReview(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := sc.Reviews(ctx, ReviewFilter{Pending: true, Reviewed: true}); err == nil {
			t.Errorf("Reviews(pending and reviewed) succeeded")
		}
	})
}

func TestReviewsFilterAndTenants(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "tokyo")
		mustTenant(t, s, "osaka")
		sc := s.Tenant("tokyo")
		for _, r := range []Review{
			newReview("a", "N002", "P005", 30*time.Hour),
			newReview("b", "D001", "P005", 10*time.Hour),
			newReview("c", "N002", "P009", 20*time.Hour),
			newReview("d", "N002", "P005", 5*time.Hour),
		} {
			if _, err := sc.CreateReview(ctx, "access", r); err != nil {
				t.Fatal(err)
			}
		}
		s.Tenant("osaka").CreateReview(ctx, "access", newReview("z", "N002", "P005", time.Hour))
		sc.CompleteReview(ctx, "PO01", "d", "justified", "", t0.Add(time.Hour))
		sc.CompleteReview(ctx, "PO01", "c", "justified", "", t0.Add(2*time.Hour))
		ids := func(f ReviewFilter) []string {
			rs, err := sc.Reviews(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    ReviewFilter
			want []string
		}{
			{"all by due", ReviewFilter{}, []string{"d", "b", "c", "a"}},
			{"pending by due", ReviewFilter{Pending: true}, []string{"b", "a"}},
			{"reviewed latest first", ReviewFilter{Reviewed: true}, []string{"c", "d"}},
			{"by patient", ReviewFilter{Patient: "P005"}, []string{"d", "b", "a"}},
			{"by subject, pending", ReviewFilter{Subject: "N002", Pending: true}, []string{"a"}},
			{"limit", ReviewFilter{Limit: 1}, []string{"d"}},
		} {
			if got := ids(tc.f); !cmp.Equal(got, tc.want) {
				t.Errorf("Reviews(%s) = %v, want %v", tc.name, got, tc.want)
			}
		}
		if _, err := s.Tenant("osaka").Review(ctx, "a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka reading tokyo's review = %v, want ErrNotFound", err)
		}
		if _, err := s.Tenant("osaka").CompleteReview(ctx, "PO", "a", "justified", "", t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("osaka reviewing tokyo's review = %v, want ErrNotFound", err)
		}
	})
}
