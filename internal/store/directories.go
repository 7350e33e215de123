package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetAccessDirectory keeps body as the scope's EHR directory (package access's JSON),
// replacing the one kept, and records actor replacing it with detail in the audit log, in one
// transaction. It returns ErrNotFound if the tenant does not exist.
func (sc Scope) SetAccessDirectory(ctx context.Context, actor string, body []byte, detail string) error {
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO access_directories (tenant, body, updated) VALUES ($1, $2, $3)
			ON CONFLICT (tenant) DO UPDATE SET body = excluded.body, updated = excluded.updated`,
			sc.tenant, string(body), dbTime(sc.s.now())); err != nil {
			return err
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "access.directory.replace",
			Object: "directory", Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("keep the access directory of %s: %w", sc.tenant, sc.s.dialect.classify(err))
	}
	return nil
}

// AccessDirectory returns the scope's kept EHR directory and when it was kept, or ErrNotFound
// if none has been.
func (sc Scope) AccessDirectory(ctx context.Context) ([]byte, time.Time, error) {
	var body string
	var updated time.Time
	err := sc.s.db.QueryRowContext(ctx, `SELECT body, updated FROM access_directories WHERE tenant = $1`, sc.tenant).
		Scan(&body, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, fmt.Errorf("access directory of %s: %w", sc.tenant, ErrNotFound)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read the access directory of %s: %w", sc.tenant, err)
	}
	return []byte(body), updated.UTC(), nil
}
