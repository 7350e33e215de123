package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kinds of document a tenant sends whole (PutDocument).
const (
	DocAccessDirectory = "access.directory" // package access's Entities, as JSON
	DocAssets          = "assets"           // the asset inventory, as package asset's CSV
	DocHospitalProfile = "hospital.profile" // package incident's Hospital, as JSON
)

// Document is what a tenant sent whole, as kept.
type Document struct {
	Tenant  string
	Kind    string
	Body    []byte
	Updated time.Time
}

// PutDocument keeps body as the scope's document of kind, replacing the one kept, and records
// actor replacing it (action kind+".replace", with detail) in the audit log, in one
// transaction. It returns ErrNotFound if the tenant does not exist.
func (sc Scope) PutDocument(ctx context.Context, actor, kind string, body []byte, detail string) error {
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO documents (tenant, kind, body, updated) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant, kind) DO UPDATE SET body = excluded.body, updated = excluded.updated`,
			sc.tenant, kind, string(body), dbTime(sc.s.now())); err != nil {
			return err
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: kind + ".replace", Object: kind, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("keep the %s of %s: %w", kind, sc.tenant, sc.s.dialect.classify(err))
	}
	return nil
}

// Document returns the scope's kept document of kind, or ErrNotFound if none has been kept.
func (sc Scope) Document(ctx context.Context, kind string) (Document, error) {
	d := Document{Tenant: sc.tenant, Kind: kind}
	var body string
	err := sc.s.db.QueryRowContext(ctx, `SELECT body, updated FROM documents WHERE tenant = $1 AND kind = $2`, sc.tenant, kind).
		Scan(&body, &d.Updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Document{}, fmt.Errorf("%s of %s: %w", kind, sc.tenant, ErrNotFound)
	}
	if err != nil {
		return Document{}, fmt.Errorf("read the %s of %s: %w", kind, sc.tenant, err)
	}
	d.Body, d.Updated = []byte(body), d.Updated.UTC()
	return d, nil
}

// DocumentsSince returns every tenant's document of kind kept after since, oldest first: how
// a node learns of what another node was sent.
func (s *Store) DocumentsSince(ctx context.Context, kind string, since time.Time) ([]Document, error) {
	out, err := queryRows(ctx, s.db, `SELECT tenant, body, updated FROM documents WHERE kind = $1 AND updated > $2
		ORDER BY updated`, []any{kind, dbTime(since)}, func(r *sql.Rows) (Document, error) {
		d := Document{Kind: kind}
		var body string
		err := r.Scan(&d.Tenant, &body, &d.Updated)
		d.Body, d.Updated = []byte(body), d.Updated.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s documents: %w", kind, err)
	}
	return out, nil
}
