// Package store is omamori's metadata database: what people edit and the workflow tracks, as
// opposed to the events themselves, which live on the bus and in the archive. For now it
// holds tenants, API tokens and the audit log; incidents, alerts, assets and users follow.
//
// SQLite, embedded, is the default; PostgreSQL stands behind the same API for a regional SOC.
// Both are driven through database/sql with the same queries; what differs (DDL, error codes,
// locking) is kept in a dialect, and one conformance suite runs against both.
//
// Every row belongs to a tenant (a hospital), and isolation is enforced here rather than in
// the callers: everything a tenant owns is reached through Store.Tenant(id), a Scope whose
// queries all carry that tenant in their WHERE clause. A change made through a Scope writes
// its audit entry in the same transaction, so no change goes unrecorded.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/tenant"
)

var (
	// ErrNotFound means the row does not exist, or belongs to another tenant: callers cannot
	// tell the two apart, by design.
	ErrNotFound = errors.New("store: not found")
	// ErrExists means a row with the same identity already exists.
	ErrExists = errors.New("store: already exists")
	// ErrSchemaTooNew means the database was migrated by a newer omamori than this one.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this omamori")
)

// Store is the metadata database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect dialect
	now     func() time.Time
}

// Open connects to the database, applies any pending migrations and returns the store.
// driver is "sqlite" (dsn is a file path, created if missing) or "postgres" (dsn is a
// postgres:// URL). It refuses a database whose schema is newer than this build knows.
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	d, ok := dialects[driver]
	if !ok {
		return nil, fmt.Errorf("open store: unknown driver %q (want sqlite or postgres)", driver)
	}
	db, err := d.open(dsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{db: db, dialect: d, now: time.Now}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// Driver returns the driver name the store was opened with.
func (s *Store) Driver() string { return s.dialect.name }

// Tenant is a hospital or other organisation whose data omamori keeps apart from the rest.
type Tenant struct {
	ID      string // short and stable, such as "tokyo-general"; see tenant.Parse
	Name    string // for people, in any language
	Created time.Time
}

// CreateTenant adds a tenant, recording actor as its creator in the tenant's audit log.
// A zero t.Created means now. It returns ErrExists if the ID is taken.
func (s *Store) CreateTenant(ctx context.Context, actor string, t Tenant) (Tenant, error) {
	if _, err := tenant.Parse(t.ID); err != nil {
		return Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	if t.Name == "" {
		t.Name = t.ID
	}
	if t.Created.IsZero() {
		t.Created = s.now()
	}
	t.Created = dbTime(t.Created)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created) VALUES ($1, $2, $3)`,
			t.ID, t.Name, t.Created); err != nil {
			return s.dialect.classify(err)
		}
		return s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: t.ID, Action: "tenant.create", Object: t.ID, Detail: t.Name})
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t.ID, err)
	}
	return t, nil
}

// EnsureTenant creates the tenant if it does not exist, as a serve does for the default
// tenant on first start, and returns it.
func (s *Store) EnsureTenant(ctx context.Context, actor string, t Tenant) (Tenant, error) {
	got, err := s.Tenant(t.ID).Get(ctx)
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Tenant{}, err
	}
	got, err = s.CreateTenant(ctx, actor, t)
	if errors.Is(err, ErrExists) { // created meanwhile by another process
		return s.Tenant(t.ID).Get(ctx)
	}
	return got, err
}

// Tenants lists every tenant, by ID. Only operators of the whole installation may see this;
// the caller checks that.
func (s *Store) Tenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		var t Tenant
		if err := rows.Scan(&t.ID, &t.Name, &t.Created); err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		t.Created = t.Created.UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}

// tx runs f in a transaction, committing if it returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return txErr(ctx, err)
	}
	return txErr(ctx, tx.Commit())
}

// txErr is err as the caller should read it. When ctx ends, database/sql rolls the
// transaction back on its own, and what the statement or commit then says is "transaction
// has already been committed or rolled back": the cause is ctx, and a node that is stopping
// must see context.Canceled, not a store failure.
func txErr(ctx context.Context, err error) error {
	if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
		return fmt.Errorf("%w (the transaction was rolled back)", ctx.Err())
	}
	return err
}

// dbTime is t as stored: UTC, to the microsecond (PostgreSQL's resolution), so what is read
// back equals what was written on both databases.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: dbTime(t), Valid: true}
}

func fromNull(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }

func splitScopes(s string) []string { return strings.Fields(s) }

// queryRows runs query on db (the store's, or a transaction) and returns what scan makes of
// each row.
func queryRows[T any](ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args []any, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// params are a query's arguments, numbered as they are added.
type params []any

// add appends vs and returns their placeholders ("$3", or "$3, $4, $5" for an IN list).
func (p *params) add(vs ...any) string {
	ph := make([]string, len(vs))
	for i, v := range vs {
		*p = append(*p, v)
		ph[i] = fmt.Sprintf("$%d", len(*p))
	}
	return strings.Join(ph, ", ")
}

// anys converts a list of strings, or of a type whose values are strings, for params.add.
func anys[S ~string](ss []S) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
