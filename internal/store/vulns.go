package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// VulnRecord is what one source said about one CVE, as package vuln encodes it (Body is its
// Record as JSON). Vulnerability data is public and the same for every tenant, so it is kept
// once, outside any Scope.
type VulnRecord struct {
	CVE      string
	Source   string // kev, nvd, or jvn:JVNDB-2019-000001: one row per CVE and source
	Modified string // the source's own date for the record, for people
	Body     []byte
	Imported time.Time
}

// PutVulnRecords keeps recs, replacing any kept record of the same CVE and source, in one
// transaction, and returns how many were new.
func (s *Store) PutVulnRecords(ctx context.Context, recs []VulnRecord) (added int, err error) {
	now := dbTime(s.now())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		added = 0
		for _, r := range recs {
			if r.CVE == "" || r.Source == "" {
				return errors.New("a record needs its CVE and source")
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM vuln_records WHERE cve = $1 AND source = $2`, r.CVE, r.Source).Scan(&n); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO vuln_records (cve, source, modified, body, imported) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (cve, source) DO UPDATE SET modified = excluded.modified, body = excluded.body, imported = excluded.imported`,
				r.CVE, r.Source, r.Modified, string(r.Body), now); err != nil {
				return err
			}
			if n == 0 {
				added++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("keep vulnerability records: %w", err)
	}
	return added, nil
}

// VulnRecords returns every kept vulnerability record, by CVE and source.
func (s *Store) VulnRecords(ctx context.Context) ([]VulnRecord, error) {
	out, err := queryRows(ctx, s.db, `SELECT cve, source, modified, body, imported FROM vuln_records ORDER BY cve, source`, nil,
		func(r *sql.Rows) (VulnRecord, error) {
			var v VulnRecord
			var body string
			err := r.Scan(&v.CVE, &v.Source, &v.Modified, &body, &v.Imported)
			v.Body, v.Imported = []byte(body), v.Imported.UTC()
			return v, err
		})
	if err != nil {
		return nil, fmt.Errorf("read vulnerability records: %w", err)
	}
	return out, nil
}

// FindingState is where a finding stands in the hospital's work.
type FindingState string

const (
	// FindingOpen: the asset is vulnerable and nobody has said otherwise.
	FindingOpen FindingState = "open"
	// FindingPatched: the asset no longer matches (its version moved past the range), or a
	// person says it is patched.
	FindingPatched FindingState = "patched"
	// FindingMitigated: still vulnerable, but a person says how it is protected (the SSL-VPN
	// portal turned off, say). Needs a reason.
	FindingMitigated FindingState = "mitigated"
	// FindingAccepted: a person accepts the risk for a while. Needs a reason and an expiry;
	// once it expires the finding reads as open again.
	FindingAccepted FindingState = "accepted"
)

// FindingStates returns every state, in the order of the work.
func FindingStates() []FindingState {
	return []FindingState{FindingOpen, FindingPatched, FindingMitigated, FindingAccepted}
}

// Finding is one vulnerability of one asset of a tenant, as kept.
type Finding struct {
	Tenant string
	Asset  string // the asset's address or network, as the inventory gives it
	CVE    string
	Risk   int    // for sorting; package vuln says how it is made
	Body   []byte // package vuln's Finding, as JSON
	State  FindingState
	// StateReason, StateBy and StateChanged say who put the finding in its state, when and
	// why; StateUntil is when an acceptance expires.
	StateReason  string
	StateBy      string
	StateUntil   time.Time
	StateChanged time.Time
	FirstSeen    time.Time // when it was first found
	LastSeen     time.Time // when a match last found it
}

// Key identifies a finding within its tenant.
func (f Finding) Key() string { return f.Asset + " " + f.CVE }

// RecordFindings keeps the result of matching the assets of assessed against the
// vulnerability data: each of current is opened, or updated (risk, body, last seen) if kept
// already — and reopened if it had been patched. A kept finding of an assessed asset that is
// not in current is patched, with gone as the reason ("no longer matches: fortios 6.0.5"),
// unless it already is. Findings of assets not in assessed are left alone, so that one log
// line's asset can be assessed without touching the rest. All in one transaction, each
// change in the audit log.
func (sc Scope) RecordFindings(ctx context.Context, actor string, assessed []string, current []Finding, gone func(Finding) string) (opened, closed int, err error) {
	now := dbTime(sc.s.now())
	err = sc.s.tx(ctx, func(tx *sql.Tx) error {
		opened, closed = 0, 0
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		kept, err := sc.findings(ctx, tx)
		if err != nil {
			return err
		}
		byKey := map[string]Finding{}
		for _, f := range kept {
			byKey[f.Key()] = f
		}
		seen := map[string]bool{}
		for _, f := range current {
			if f.Asset == "" || f.CVE == "" {
				return errors.New("a finding needs its asset and CVE")
			}
			seen[f.Key()] = true
			old, ok := byKey[f.Key()]
			switch {
			case !ok:
				_, err = tx.ExecContext(ctx, `INSERT INTO vuln_findings (tenant, asset, cve, risk, body, state, state_reason, state_by,
					state_until, state_changed, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9, $9)`,
					sc.tenant, f.Asset, f.CVE, f.Risk, string(f.Body), FindingOpen, "found", actor, now)
			case old.State == FindingPatched:
				_, err = tx.ExecContext(ctx, `UPDATE vuln_findings SET risk = $1, body = $2, state = $3, state_reason = $4, state_by = $5,
					state_until = NULL, state_changed = $6, last_seen = $6 WHERE tenant = $7 AND asset = $8 AND cve = $9`,
					f.Risk, string(f.Body), FindingOpen, "matches again", actor, now, sc.tenant, f.Asset, f.CVE)
			default:
				_, err = tx.ExecContext(ctx, `UPDATE vuln_findings SET risk = $1, body = $2, last_seen = $3 WHERE tenant = $4 AND asset = $5 AND cve = $6`,
					f.Risk, string(f.Body), now, sc.tenant, f.Asset, f.CVE)
			}
			if err != nil {
				return err
			}
			if !ok || old.State == FindingPatched {
				opened++
				if err := sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "finding.open", Object: f.Key()}); err != nil {
					return err
				}
			}
		}
		for _, f := range kept {
			if seen[f.Key()] || f.State == FindingPatched || !slices.Contains(assessed, f.Asset) {
				continue
			}
			reason := gone(f)
			if _, err := tx.ExecContext(ctx, `UPDATE vuln_findings SET state = $1, state_reason = $2, state_by = $3, state_until = NULL,
				state_changed = $4 WHERE tenant = $5 AND asset = $6 AND cve = $7`,
				FindingPatched, reason, actor, now, sc.tenant, f.Asset, f.CVE); err != nil {
				return err
			}
			closed++
			if err := sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "finding.patched", Object: f.Key(), Detail: reason}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("record the findings of %s: %w", sc.tenant, sc.s.dialect.classify(err))
	}
	return opened, closed, nil
}

// SetFindingState puts a finding in state, recording actor and reason in the finding and the
// audit log. Mitigated and accepted need a reason; accepted needs an expiry in the future.
// It returns ErrNotFound if the tenant has no such finding.
func (sc Scope) SetFindingState(ctx context.Context, actor, assetAddr, cve string, state FindingState, reason string, until time.Time) error {
	switch {
	case !slices.Contains(FindingStates(), state):
		return fmt.Errorf("set finding state: unknown state %q (want open, patched, mitigated or accepted)", state)
	case (state == FindingMitigated || state == FindingAccepted) && reason == "":
		return fmt.Errorf("set finding state %s: a reason is required", state)
	case state == FindingAccepted && !until.After(sc.s.now()):
		return errors.New("set finding state accepted: an expiry in the future is required")
	case state != FindingAccepted:
		until = time.Time{}
	}
	if reason == "" {
		reason = "set by hand"
	}
	now := dbTime(sc.s.now())
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE vuln_findings SET state = $1, state_reason = $2, state_by = $3, state_until = $4,
			state_changed = $5 WHERE tenant = $6 AND asset = $7 AND cve = $8`,
			state, reason, actor, nullTime(until), now, sc.tenant, assetAddr, cve)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		detail := string(state) + ": " + reason
		if !until.IsZero() {
			detail += " (until " + until.UTC().Format(time.RFC3339) + ")"
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "finding.state", Object: assetAddr + " " + cve, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("set the state of finding %s %s: %w", assetAddr, cve, err)
	}
	return nil
}

// Findings returns the tenant's findings, highest risk first (then by CVE and asset), in the
// given states (all if none). An acceptance past its expiry reads as open, its reason saying
// so: the risk is back on the list without anyone having to notice.
func (sc Scope) Findings(ctx context.Context, states ...FindingState) ([]Finding, error) {
	all, err := sc.findings(ctx, sc.s.db)
	if err != nil {
		return nil, fmt.Errorf("read the findings of %s: %w", sc.tenant, err)
	}
	now := sc.s.now()
	out := all[:0]
	for _, f := range all {
		if f.State == FindingAccepted && !f.StateUntil.After(now) {
			f.State = FindingOpen
			f.StateReason = fmt.Sprintf("acceptance by %s expired %s: %s", f.StateBy, f.StateUntil.Format("2006-01-02"), f.StateReason)
		}
		if len(states) == 0 || slices.Contains(states, f.State) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (sc Scope) findings(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]Finding, error) {
	return queryRows(ctx, db, `SELECT asset, cve, risk, body, state, state_reason, state_by, state_until, state_changed, first_seen, last_seen
		FROM vuln_findings WHERE tenant = $1 ORDER BY risk DESC, cve, asset`, []any{sc.tenant}, func(r *sql.Rows) (Finding, error) {
		f := Finding{Tenant: sc.tenant}
		var body string
		var until sql.NullTime
		err := r.Scan(&f.Asset, &f.CVE, &f.Risk, &body, &f.State, &f.StateReason, &f.StateBy, &until, &f.StateChanged, &f.FirstSeen, &f.LastSeen)
		f.Body, f.StateUntil = []byte(body), fromNull(until)
		f.StateChanged, f.FirstSeen, f.LastSeen = f.StateChanged.UTC(), f.FirstSeen.UTC(), f.LastSeen.UTC()
		return f, err
	})
}
