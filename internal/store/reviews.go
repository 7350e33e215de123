package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Review is a break-glass access waiting for, or having had, a person's review. What the
// decision and the outcomes mean belongs to package access; the store keeps the decision as
// the JSON the caller gives and records every change in the audit log.
type Review struct {
	ID       string // the access decision's ID, unique within the tenant
	Tenant   string // set by the store from the Scope
	Decision []byte // the decision as JSON, kept whole for the record
	Subject  string // who accessed, for finding reviews by person
	Patient  string // whose record, for finding reviews by patient
	Decided  time.Time
	Due      time.Time // when the review is due
	Outcome  string    // empty until reviewed
	Reviewer string
	Note     string
	Reviewed time.Time // zero until reviewed
	Created  time.Time
}

// ReviewFilter selects reviews; the zero value selects all of a tenant's.
type ReviewFilter struct {
	Pending  bool   // only those not yet reviewed, the earliest due first
	Reviewed bool   // only those reviewed, the latest reviewed first
	Subject  string // if set, exactly
	Patient  string // if set, exactly
	Limit    int    // at most this many; 0: no limit
}

const reviewColumns = `tenant, id, decision, subject, patient, decided, due, outcome, reviewer, note, reviewed, created`

func scanReview(row interface{ Scan(...any) error }) (Review, error) {
	var r Review
	var decision string
	var reviewed sql.NullTime
	if err := row.Scan(&r.Tenant, &r.ID, &decision, &r.Subject, &r.Patient, &r.Decided, &r.Due, &r.Outcome,
		&r.Reviewer, &r.Note, &reviewed, &r.Created); err != nil {
		return Review{}, err
	}
	r.Decision = []byte(decision)
	r.Decided, r.Due, r.Created = r.Decided.UTC(), r.Due.UTC(), r.Created.UTC()
	r.Reviewed = fromNull(reviewed)
	return r, nil
}

// CreateReview queues a review in the scope's tenant, recording actor in the audit log. ID,
// Decision and Due are required; Outcome, Reviewer, Note and Reviewed are ignored (a review
// starts pending). It returns ErrExists if the tenant has a review of that ID, ErrNotFound if
// the tenant does not exist.
func (sc Scope) CreateReview(ctx context.Context, actor string, r Review) (Review, error) {
	switch {
	case r.ID == "":
		return Review{}, errors.New("create review: the decision ID is required")
	case len(r.Decision) == 0:
		return Review{}, fmt.Errorf("create review %s: the decision is required", r.ID)
	case r.Due.IsZero():
		return Review{}, fmt.Errorf("create review %s: the due time is required", r.ID)
	}
	r.Tenant = sc.tenant
	r.Outcome, r.Reviewer, r.Note, r.Reviewed = "", "", "", time.Time{}
	if r.Created.IsZero() {
		r.Created = sc.s.now()
	}
	r.Created, r.Due, r.Decided = dbTime(r.Created), dbTime(r.Due), dbTime(r.Decided)
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO access_reviews (`+reviewColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, '', '', '', NULL, $8)`,
			sc.tenant, r.ID, string(r.Decision), r.Subject, r.Patient, r.Decided, r.Due, r.Created)
		if err != nil {
			return sc.s.dialect.classify(err)
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "review.create", Object: r.ID,
			Detail: fmt.Sprintf("subject=%s patient=%s due=%s", r.Subject, r.Patient, r.Due.Format(time.RFC3339))})
	})
	if err != nil {
		return Review{}, fmt.Errorf("create review %s: %w", r.ID, err)
	}
	return r, nil
}

// Review returns the tenant's review id, or ErrNotFound (also when another tenant has it).
func (sc Scope) Review(ctx context.Context, id string) (Review, error) {
	r, err := scanReview(sc.s.db.QueryRowContext(ctx,
		`SELECT `+reviewColumns+` FROM access_reviews WHERE tenant = $1 AND id = $2`, sc.tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Review{}, fmt.Errorf("get review %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Review{}, fmt.Errorf("get review %s: %w", id, err)
	}
	return r, nil
}

// Reviews lists the tenant's reviews that pass f: pending ones by due time, reviewed ones
// latest first, and both (neither flag set) by due time.
func (sc Scope) Reviews(ctx context.Context, f ReviewFilter) ([]Review, error) {
	if f.Pending && f.Reviewed {
		return nil, errors.New("list reviews: pending and reviewed exclude each other")
	}
	args := params{sc.tenant}
	where := []string{"tenant = $1"}
	order := "due, id"
	switch {
	case f.Pending:
		where = append(where, "outcome = ''")
	case f.Reviewed:
		where = append(where, "outcome <> ''")
		order = "reviewed DESC, id"
	}
	if f.Subject != "" {
		where = append(where, "subject = "+args.add(f.Subject))
	}
	if f.Patient != "" {
		where = append(where, "patient = "+args.add(f.Patient))
	}
	q := `SELECT ` + reviewColumns + ` FROM access_reviews WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	out, err := queryRows(ctx, sc.s.db, q, args, func(r *sql.Rows) (Review, error) { return scanReview(r) })
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	return out, nil
}

// CompleteReview records reviewer's outcome and note on the tenant's review id at time at,
// with an audit entry by reviewer, and returns the review. A review is given once: it returns
// ErrConflict if the review has an outcome already and ErrNotFound if the tenant has no such
// review.
func (sc Scope) CompleteReview(ctx context.Context, reviewer, id, outcome, note string, at time.Time) (Review, error) {
	if outcome == "" || reviewer == "" {
		return Review{}, fmt.Errorf("complete review %s: an outcome and a reviewer are required", id)
	}
	var r Review
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanReview(tx.QueryRowContext(ctx,
			`SELECT `+reviewColumns+` FROM access_reviews WHERE tenant = $1 AND id = $2`, sc.tenant, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if r.Outcome != "" {
			return fmt.Errorf("%w: already reviewed %s by %s", ErrConflict, r.Outcome, r.Reviewer)
		}
		r.Outcome, r.Reviewer, r.Note, r.Reviewed = outcome, reviewer, note, dbTime(at)
		// "outcome = ''" keeps a concurrent reviewer on PostgreSQL, where this transaction
		// did not lock the row it read, from overwriting a verdict given meanwhile.
		res, err := tx.ExecContext(ctx, `UPDATE access_reviews SET outcome = $1, reviewer = $2, note = $3, reviewed = $4
			WHERE tenant = $5 AND id = $6 AND outcome = ''`, outcome, reviewer, note, r.Reviewed, sc.tenant, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%w: reviewed by someone else meanwhile", ErrConflict)
		}
		detail := "outcome=" + outcome
		if note != "" {
			detail += " note=" + note
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: reviewer, Tenant: sc.tenant, Action: "review.complete", Object: id, Detail: detail})
	})
	if err != nil {
		return Review{}, fmt.Errorf("complete review %s: %w", id, err)
	}
	return r, nil
}
