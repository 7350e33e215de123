package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
)

// DecisionFilter selects decisions; the zero value selects all of a tenant's.
type DecisionFilter struct {
	Status  []decision.Status // any of these; empty: any status
	Action  decision.Action   // if set
	Scope   decision.Scope    // if set
	Value   string            // if set, exactly
	AlertID string            // if set
	Live    time.Time         // if set: only active, not dry-run, and expiring after this time
	After   int64             // only IDs above this, for paging
	Limit   int               // at most this many; 0: no limit
}

const decisionColumns = `id, tenant, action, scope, value, ttl, expires, reason, origin, origin_name, origin_ref,
	alert_id, status, guardrail, dry_run, created, created_by, updated, updated_by, note, activated`

// scanDecision reads a row of decisionColumns. The columns hold the strings of the decision's
// typed fields, which package decision defines; the store does not interpret them.
func scanDecision(row interface{ Scan(...any) error }) (decision.Decision, error) {
	var d decision.Decision
	var action, scope, origin, status string
	var ttl int64
	var activated sql.NullTime
	err := row.Scan(&d.ID, &d.Tenant, &action, &scope, &d.Value, &ttl, &d.Expires, &d.Reason, &origin,
		&d.Origin.Name, &d.Origin.Reference, &d.AlertID, &status, &d.Guardrail, &d.DryRun, &d.Created, &d.CreatedBy,
		&d.Updated, &d.UpdatedBy, &d.Note, &activated)
	if err != nil {
		return decision.Decision{}, err
	}
	d.Action, d.Scope, d.Origin.Kind, d.Status = decision.Action(action), decision.Scope(scope), decision.OriginKind(origin), decision.Status(status)
	d.TTL = time.Duration(ttl) * time.Millisecond
	d.Activated = fromNull(activated)
	d.Expires, d.Created, d.Updated = d.Expires.UTC(), d.Created.UTC(), d.Updated.UTC()
	return d, nil
}

// lockDecisions serialises the tenant's decision writers on PostgreSQL, so that the change
// log's sequence numbers become visible in the order they were taken: a bouncer that has read
// up to seq N must never later find a committed change below N. SQLite's write transactions
// are serial already.
func (sc Scope) lockDecisions(ctx context.Context, tx *sql.Tx) error {
	if sc.s.dialect.name != "postgres" {
		return nil
	}
	// The two-key form keeps these locks apart from the migration lock's single key.
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7, hashtext($1))`, sc.tenant)
	return err
}

func (sc Scope) logChange(ctx context.Context, tx *sql.Tx, id int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO decision_changes (tenant, decision) VALUES ($1, $2)`, sc.tenant, id)
	return err
}

func validDecision(d decision.Decision) error {
	switch {
	case d.Action == "" || d.Scope == "" || d.Value == "":
		return errors.New("action, scope and value are required")
	case d.Status == "":
		return errors.New("status is required")
	case d.Origin.Kind == "":
		return errors.New("origin is required")
	case d.Expires.IsZero():
		return errors.New("expiry is required")
	}
	return nil
}

// CreateDecision stores a new decision in the scope's tenant, recording actor as its author in
// the audit log and the change log, and returns it with its ID. d.Tenant and d.Activated are
// ignored (an active decision is activated at d.Created); a zero d.Created means now.
func (sc Scope) CreateDecision(ctx context.Context, actor string, d decision.Decision) (decision.Decision, error) {
	out, err := sc.CreateDecisions(ctx, actor, []decision.Decision{d})
	if err != nil {
		return decision.Decision{}, err
	}
	return out[0], nil
}

// CreateDecisions stores many decisions in one transaction: all of them or none. Each gets its
// own audit entry. The returned slice is new; ds is not modified.
func (sc Scope) CreateDecisions(ctx context.Context, actor string, ds []decision.Decision) ([]decision.Decision, error) {
	out := make([]decision.Decision, len(ds))
	now := dbTime(sc.s.now())
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		if err := sc.lockDecisions(ctx, tx); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO decisions (tenant, action, scope, value, ttl, expires, reason,
			origin, origin_name, origin_ref, alert_id, status, guardrail, dry_run, created, created_by, updated, updated_by, note, activated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) RETURNING id`)
		if err != nil {
			return err
		}
		defer ins.Close()
		change, err := tx.PrepareContext(ctx, `INSERT INTO decision_changes (tenant, decision) VALUES ($1, $2)`)
		if err != nil {
			return err
		}
		defer change.Close()
		for i, d := range ds {
			if err := validDecision(d); err != nil {
				return fmt.Errorf("decision %d of %d: %w", i+1, len(ds), err)
			}
			d.Tenant = sc.tenant
			if d.Created.IsZero() {
				d.Created = now
			}
			d.Created, d.Expires = dbTime(d.Created), dbTime(d.Expires)
			d.Updated, d.UpdatedBy = d.Created, actor
			d.CreatedBy = actor
			d.Activated = time.Time{}
			if d.Status == decision.StatusActive {
				d.Activated = d.Created
			}
			err := ins.QueryRowContext(ctx, sc.tenant, string(d.Action), string(d.Scope), d.Value, d.TTL.Milliseconds(), d.Expires,
				d.Reason, string(d.Origin.Kind), d.Origin.Name, d.Origin.Reference, d.AlertID, string(d.Status), d.Guardrail, d.DryRun,
				d.Created, d.CreatedBy, d.Updated, d.UpdatedBy, d.Note, nullTime(d.Activated)).Scan(&d.ID)
			if err != nil {
				return sc.s.dialect.classify(err)
			}
			d.TTL = d.TTL.Truncate(time.Millisecond)
			if _, err := change.ExecContext(ctx, sc.tenant, d.ID); err != nil {
				return err
			}
			if err := sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "decision.create",
				Object: fmt.Sprint(d.ID), Detail: describeDecision(d)}); err != nil {
				return err
			}
			out[i] = d
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create decisions: %w", err)
	}
	return out, nil
}

func describeDecision(d decision.Decision) string {
	s := fmt.Sprintf("%s %s %s status=%s expires=%s origin=%s", d.Action, d.Scope, d.Value, d.Status,
		d.Expires.Format(time.RFC3339), d.Origin.Kind)
	if d.Origin.Name != "" {
		s += ":" + d.Origin.Name
	}
	if d.Origin.Reference != "" {
		s += " ref=" + d.Origin.Reference
	}
	if d.AlertID != "" {
		s += " alert=" + d.AlertID
	}
	if d.Guardrail != "" {
		s += " guardrail=" + d.Guardrail
	}
	if d.DryRun {
		s += " dry-run"
	}
	if d.Note != "" {
		s += " note=" + d.Note
	}
	return s
}

// Decision returns the tenant's decision id, or ErrNotFound (also when another tenant has it).
func (sc Scope) Decision(ctx context.Context, id int64) (decision.Decision, error) {
	d, err := scanDecision(sc.s.db.QueryRowContext(ctx,
		`SELECT `+decisionColumns+` FROM decisions WHERE id = $1 AND tenant = $2`, id, sc.tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return decision.Decision{}, fmt.Errorf("get decision %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return decision.Decision{}, fmt.Errorf("get decision %d: %w", id, err)
	}
	return d, nil
}

// Decisions lists the tenant's decisions that pass f, by ID.
func (sc Scope) Decisions(ctx context.Context, f DecisionFilter) ([]decision.Decision, error) {
	args := params{sc.tenant}
	where := []string{"tenant = $1"}
	if len(f.Status) > 0 {
		where = append(where, "status IN ("+args.add(anys(f.Status)...)+")")
	}
	for _, c := range [...]struct{ col, v string }{{"action", string(f.Action)}, {"scope", string(f.Scope)}, {"value", f.Value}, {"alert_id", f.AlertID}} {
		if c.v != "" {
			where = append(where, c.col+" = "+args.add(c.v))
		}
	}
	if !f.Live.IsZero() {
		where = append(where, "status = 'active'", "dry_run = FALSE", "expires > "+args.add(dbTime(f.Live)))
	}
	if f.After > 0 {
		where = append(where, "id > "+args.add(f.After))
	}
	q := `SELECT ` + decisionColumns + ` FROM decisions WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return sc.queryDecisions(ctx, "list decisions", q, args...)
}

func (sc Scope) queryDecisions(ctx context.Context, op, q string, args ...any) ([]decision.Decision, error) {
	out, err := queryRows(ctx, sc.s.db, q, args, func(r *sql.Rows) (decision.Decision, error) { return scanDecision(r) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// UpdateDecision changes the tenant's decision id in one transaction: it reads the decision,
// lets change modify it (returning an error leaves it unchanged and is returned wrapped), and
// writes it back with the audit entry action (such as "decision.approve") by actor and a
// change log entry. The ID, tenant, creation and origin cannot be changed, nor can Activated,
// which the store sets the first time the status becomes active. It returns ErrNotFound if
// the tenant has no such decision.
func (sc Scope) UpdateDecision(ctx context.Context, actor string, id int64, action string, change func(*decision.Decision) error) (decision.Decision, error) {
	var d decision.Decision
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.lockDecisions(ctx, tx); err != nil {
			return err
		}
		var err error
		d, err = scanDecision(tx.QueryRowContext(ctx,
			`SELECT `+decisionColumns+` FROM decisions WHERE id = $1 AND tenant = $2`, id, sc.tenant))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		before := d
		if err := change(&d); err != nil {
			return err
		}
		d.ID, d.Tenant, d.Created, d.CreatedBy = before.ID, before.Tenant, before.Created, before.CreatedBy
		d.Origin, d.AlertID = before.Origin, before.AlertID
		d.Updated, d.UpdatedBy = dbTime(sc.s.now()), actor
		d.Activated = before.Activated
		if d.Activated.IsZero() && d.Status == decision.StatusActive {
			d.Activated = d.Updated
		}
		d.Expires = dbTime(d.Expires)
		d.TTL = d.TTL.Truncate(time.Millisecond)
		if err := validDecision(d); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE decisions SET action = $1, scope = $2, value = $3, ttl = $4, expires = $5,
			reason = $6, status = $7, guardrail = $8, dry_run = $9, updated = $10, updated_by = $11, note = $12, activated = $13
			WHERE id = $14 AND tenant = $15`,
			string(d.Action), string(d.Scope), d.Value, d.TTL.Milliseconds(), d.Expires, d.Reason, string(d.Status), d.Guardrail, d.DryRun,
			d.Updated, d.UpdatedBy, d.Note, nullTime(d.Activated), d.ID, sc.tenant)
		if err != nil {
			return err
		}
		if err := sc.logChange(ctx, tx, d.ID); err != nil {
			return err
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: action,
			Object: fmt.Sprint(d.ID), Detail: describeDecision(d)})
	})
	if err != nil {
		return decision.Decision{}, fmt.Errorf("update decision %d: %w", id, err)
	}
	return d, nil
}

// ExpireDecisions marks the tenant's active decisions whose time is up as expired, by actor,
// and returns them. Held decisions do not expire: they wait for a person.
func (sc Scope) ExpireDecisions(ctx context.Context, actor string, now time.Time) ([]decision.Decision, error) {
	now = dbTime(now)
	var out []decision.Decision
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.lockDecisions(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+decisionColumns+` FROM decisions
			WHERE tenant = $1 AND status = 'active' AND expires <= $2 ORDER BY id`, sc.tenant, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			d, err := scanDecision(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			d := &out[i]
			d.Status, d.Updated, d.UpdatedBy = decision.StatusExpired, now, actor
			if _, err := tx.ExecContext(ctx, `UPDATE decisions SET status = 'expired', updated = $1, updated_by = $2
				WHERE id = $3 AND tenant = $4`, now, actor, d.ID, sc.tenant); err != nil {
				return err
			}
			if err := sc.logChange(ctx, tx, d.ID); err != nil {
				return err
			}
			if err := sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "decision.expire",
				Object: fmt.Sprint(d.ID), Detail: describeDecision(*d)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expire decisions: %w", err)
	}
	return out, nil
}

// DecisionSeq returns the position of the tenant's latest decision change, 0 if none: a
// follower that starts from a full list of live decisions reads changes after it.
func (sc Scope) DecisionSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := sc.s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM decision_changes WHERE tenant = $1`, sc.tenant).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read decision position: %w", err)
	}
	return seq, nil
}

// DecisionChanges returns the tenant's decisions changed after position seq, each once and in
// its current state, by ID, and the position of the last change read. At most limit changes
// are read (0: all); call again from the returned position for more.
func (sc Scope) DecisionChanges(ctx context.Context, seq int64, limit int) ([]decision.Decision, int64, error) {
	last := seq
	q := `SELECT seq, decision FROM decision_changes WHERE tenant = $1 AND seq > $2 ORDER BY seq`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := sc.s.db.QueryContext(ctx, q, sc.tenant, seq)
	if err != nil {
		return nil, seq, fmt.Errorf("read decision changes: %w", err)
	}
	seen := map[int64]bool{}
	var ids []any
	for rows.Next() {
		var s, id int64
		if err := rows.Scan(&s, &id); err != nil {
			rows.Close()
			return nil, seq, fmt.Errorf("read decision changes: %w", err)
		}
		last = s
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, seq, fmt.Errorf("read decision changes: %w", err)
	}
	var out []decision.Decision
	// In chunks, to stay under the databases' limits on bound parameters.
	for len(ids) > 0 {
		n := min(len(ids), 500)
		ph := make([]string, n)
		for i := range n {
			ph[i] = fmt.Sprintf("$%d", i+2)
		}
		// "tenant || ''" keeps SQLite, which has no statistics, from walking the tenant's
		// index over all its decisions instead of fetching these few by primary key.
		ds, err := sc.queryDecisions(ctx, "read decision changes",
			`SELECT `+decisionColumns+` FROM decisions WHERE id IN (`+strings.Join(ph, ", ")+`) AND tenant || '' = $1 ORDER BY id`,
			append([]any{sc.tenant}, ids[:n]...)...)
		if err != nil {
			return nil, seq, err
		}
		out = append(out, ds...)
		ids = ids[n:]
	}
	return out, last, nil
}

// BouncerCursor returns how far the tenant's bouncer (a CrowdSec-style follower, by name) has
// read the decision changes, and false if it has never pulled.
func (sc Scope) BouncerCursor(ctx context.Context, bouncer string) (int64, bool, error) {
	var seq int64
	err := sc.s.db.QueryRowContext(ctx, `SELECT seq FROM bouncer_cursors WHERE tenant = $1 AND bouncer = $2`,
		sc.tenant, bouncer).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read bouncer %s position: %w", bouncer, err)
	}
	return seq, true, nil
}

// SetBouncerCursor records that the tenant's bouncer has read the decision changes up to seq.
// It is bookkeeping, not a change people make, so it writes no audit entry.
func (sc Scope) SetBouncerCursor(ctx context.Context, bouncer string, seq int64) error {
	_, err := sc.s.db.ExecContext(ctx, `INSERT INTO bouncer_cursors (tenant, bouncer, seq, last_pull) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant, bouncer) DO UPDATE SET seq = excluded.seq, last_pull = excluded.last_pull`,
		sc.tenant, bouncer, seq, dbTime(sc.s.now()))
	if err != nil {
		return fmt.Errorf("record bouncer %s position: %w", bouncer, sc.s.dialect.classify(err))
	}
	return nil
}
