package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Scope is the store seen by one tenant: every query it makes is limited to that tenant's
// rows, so a caller holding a Scope cannot read or change another tenant's data whatever
// IDs it passes. Making a Scope costs nothing and does no I/O.
type Scope struct {
	s      *Store
	tenant string
}

// Tenant returns the store limited to tenant id. An unknown id yields a Scope that finds
// nothing and cannot create anything.
func (s *Store) Tenant(id string) Scope { return Scope{s: s, tenant: id} }

// ID returns the tenant the scope is limited to.
func (sc Scope) ID() string { return sc.tenant }

// Get returns the scope's tenant, or ErrNotFound.
func (sc Scope) Get(ctx context.Context) (Tenant, error) {
	var t Tenant
	err := sc.s.db.QueryRowContext(ctx, `SELECT id, name, created FROM tenants WHERE id = $1`, sc.tenant).
		Scan(&t.ID, &t.Name, &t.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", sc.tenant, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", sc.tenant, err)
	}
	t.Created = t.Created.UTC()
	return t, nil
}

// Token is an API token as stored: never the secret, only its hash.
type Token struct {
	ID       string   // public part of the token, unique across tenants
	Tenant   string   // set by the store from the Scope
	Name     string   // for people: "fortigate-tokyo", unique within the tenant
	Scopes   []string // what the token may do, such as "ingest" or "admin"
	Hash     []byte   // hash of the whole token; how it is made is package auth's business
	Created  time.Time
	LastUsed time.Time // zero: never used
	Expires  time.Time // zero: never expires
	Revoked  time.Time // zero: not revoked
}

// CreateToken stores a new token in the scope's tenant and records actor creating it. tok.ID
// and tok.Hash must be set; tok.Tenant is ignored. It returns ErrExists if the tenant has a
// token of that name (or, astronomically unlikely, the ID is taken) and ErrNotFound if the
// tenant does not exist.
func (sc Scope) CreateToken(ctx context.Context, actor string, tok Token) (Token, error) {
	if tok.ID == "" || len(tok.Hash) == 0 || tok.Name == "" {
		return Token{}, errors.New("create token: ID, name and hash are required")
	}
	tok.Tenant = sc.tenant
	if tok.Created.IsZero() {
		tok.Created = sc.s.now()
	}
	tok.Created = dbTime(tok.Created)
	tok.Expires = fromNull(nullTime(tok.Expires))
	tok.LastUsed, tok.Revoked = time.Time{}, time.Time{}
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		// The tenant is checked explicitly: a foreign key error would not say which row.
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO api_tokens (id, tenant, name, scopes, hash, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			tok.ID, sc.tenant, tok.Name, joinScopes(tok.Scopes), tok.Hash, tok.Created, nullTime(tok.Expires))
		if err != nil {
			return sc.s.dialect.classify(err)
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "token.create", Object: tok.ID,
			Detail: fmt.Sprintf("name=%s scopes=%s", tok.Name, strings.Join(tok.Scopes, ","))})
	})
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: %w", tok.Name, err)
	}
	return tok, nil
}

func (sc Scope) exists(ctx context.Context, tx *sql.Tx) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM tenants WHERE id = $1`, sc.tenant).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("tenant %s: %w", sc.tenant, ErrNotFound)
	}
	return err
}

const tokenColumns = `id, tenant, name, scopes, hash, created, last_used, expires, revoked`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var scopes string
	var lastUsed, expires, revoked sql.NullTime
	if err := row.Scan(&t.ID, &t.Tenant, &t.Name, &scopes, &t.Hash, &t.Created, &lastUsed, &expires, &revoked); err != nil {
		return Token{}, err
	}
	t.Scopes = splitScopes(scopes)
	t.Created = t.Created.UTC()
	t.LastUsed, t.Expires, t.Revoked = fromNull(lastUsed), fromNull(expires), fromNull(revoked)
	return t, nil
}

// Tokens lists the tenant's tokens, revoked ones included, by name.
func (sc Scope) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := sc.s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE tenant = $1 ORDER BY name`, sc.tenant)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// Token returns the tenant's token id, or ErrNotFound (also when another tenant has it).
func (sc Scope) Token(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(sc.s.db.QueryRowContext(ctx,
		`SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1 AND tenant = $2`, id, sc.tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("get token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("get token %s: %w", id, err)
	}
	return t, nil
}

// RevokeToken marks the tenant's token id revoked from now on and records actor doing it.
// Revoking a revoked token changes nothing and succeeds. It returns ErrNotFound if the
// tenant has no such token — including when another tenant has.
func (sc Scope) RevokeToken(ctx context.Context, actor, id string) error {
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE api_tokens SET revoked = $1 WHERE id = $2 AND tenant = $3 AND revoked IS NULL`,
			dbTime(sc.s.now()), id, sc.tenant)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_tokens WHERE id = $1 AND tenant = $2`, id, sc.tenant).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err // nil: already revoked
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "token.revoke", Object: id})
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// AuditEntry is one line of the audit log: who did what to which object, when.
type AuditEntry struct {
	ID     int64
	Time   time.Time
	Actor  string // "token:<id>", "cli", "system"
	Tenant string
	Action string // dotted verb: "token.create", "token.revoke", "tenant.create"
	Object string // ID of what was acted on
	Detail string // free text for people; never a secret
}

// Audit records an action that changed nothing in the store but must be on record, such as
// an export of logs for an authority. e.Tenant and e.Time are set by the store.
func (sc Scope) Audit(ctx context.Context, e AuditEntry) error {
	e.Tenant = sc.tenant
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		return sc.s.audit(ctx, tx, e)
	})
	if err != nil {
		return fmt.Errorf("record audit entry %s: %w", e.Action, err)
	}
	return nil
}

// AuditLog returns the tenant's most recent audit entries, newest first, at most limit.
func (sc Scope) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	return sc.AuditSearch(ctx, AuditFilter{Limit: limit})
}

// AuditFilter selects audit entries; the zero value selects all of a tenant's.
type AuditFilter struct {
	Action   string    // if set, actions of this dotted prefix: "token" is token.create, token.revoke...
	Actor    string    // if set, exactly
	From, To time.Time // if set, at or after From and before To
	Before   int64     // if set, entries older than the one of this ID: the next page
	Limit    int       // at most this many; 0: no limit
}

// AuditSearch returns the tenant's audit entries that f selects, newest first.
func (sc Scope) AuditSearch(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	args := params{sc.tenant}
	q := `SELECT id, time, actor, tenant, action, object, detail FROM audit_log WHERE tenant = $1`
	if f.Action != "" {
		// A prefix by comparison rather than LIKE, so that no character of it is a wildcard.
		n := utf8.RuneCountInString(f.Action) + 1
		q += fmt.Sprintf(" AND (action = %s OR substr(action, 1, %d) = %s)", args.add(f.Action), n, args.add(f.Action+"."))
	}
	if f.Actor != "" {
		q += " AND actor = " + args.add(f.Actor)
	}
	if !f.From.IsZero() {
		q += " AND time >= " + args.add(dbTime(f.From))
	}
	if !f.To.IsZero() {
		q += " AND time < " + args.add(dbTime(f.To))
	}
	if f.Before > 0 {
		q += " AND id < " + args.add(f.Before)
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + args.add(f.Limit)
	}
	return sc.auditQuery(ctx, q, args...)
}

// AuditSince returns the tenant's audit entries after the one whose ID is after, oldest first,
// at most limit: for copying the audit log into the archive as it grows.
func (sc Scope) AuditSince(ctx context.Context, after int64, limit int) ([]AuditEntry, error) {
	return sc.auditQuery(ctx,
		`SELECT id, time, actor, tenant, action, object, detail FROM audit_log WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`,
		sc.tenant, after, limit)
}

func (sc Scope) auditQuery(ctx context.Context, query string, args ...any) ([]AuditEntry, error) {
	out, err := queryRows(ctx, sc.s.db, query, args, func(r *sql.Rows) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.ID, &e.Time, &e.Actor, &e.Tenant, &e.Action, &e.Object, &e.Detail)
		e.Time = e.Time.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

func (s *Store) audit(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return errors.New("audit entry needs an actor and an action")
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO audit_log (time, actor, tenant, action, object, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		dbTime(s.now()), e.Actor, e.Tenant, e.Action, e.Object, e.Detail)
	return err
}

// LookupToken returns the token id of whichever tenant holds it, for verifying a presented
// token: the token's ID is its public half and decides the tenant. It is the one read that
// crosses tenants, and returns the hash for a constant-time comparison by the caller.
func (s *Store) LookupToken(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("look up token: %w", ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("look up token: %w", err)
	}
	return t, nil
}

// TouchTokens records when tokens were last used, many at once: verification collects the
// times and calls this now and then, so a busy ingest token costs no write per request.
// Unknown IDs are ignored; a time never moves last_used backwards.
func (s *Store) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	slices.Sort(ids) // a fixed order keeps two writers from deadlocking on PostgreSQL
	err := s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx,
			`UPDATE api_tokens SET last_used = $1 WHERE id = $2 AND (last_used IS NULL OR last_used < $1)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, dbTime(used[id]), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}
