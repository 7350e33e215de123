package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// User is a person who signs in to the web UI. The account belongs to a home tenant, whose
// admins manage it; the roles it holds may be in other tenants too (see Grant). What the
// hashes and the sealed secret mean is package auth's business: the store keeps bytes.
type User struct {
	ID           string // random, public
	Tenant       string // home tenant; set by the store from the Scope
	Name         string // sign-in name, unique across the installation
	DisplayName  string
	PasswordHash PasswordHash
	TOTPSecret   SealedSecret // empty: no second factor enrolled
	TOTPStep     int64        // last TOTP time step accepted, so a code is never accepted twice
	Created      time.Time
	Disabled     time.Time // zero: may sign in
	// TemporaryPassword marks a password someone else chose, which its holder must replace
	// before doing anything else.
	TemporaryPassword bool
}

// PasswordHash is an encoded password hash. It keeps itself out of logs.
type PasswordHash string

func (PasswordHash) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// SealedSecret is a secret (a TOTP key) as sealed for storage. It keeps itself out of logs
// even though it is sealed: a key on the log would let its reader try it.
type SealedSecret []byte

func (SealedSecret) LogValue() slog.Value { return slog.StringValue("REDACTED") }
func (SealedSecret) String() string       { return "REDACTED" }

// LogValue names the user without anything secret.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", u.ID), slog.String("name", u.Name), slog.String("tenant", u.Tenant))
}

// Grant is one role a user holds in one tenant.
type Grant struct {
	User      string // user ID
	Tenant    string
	Role      string // see package auth for the roles
	Created   time.Time
	GrantedBy string // actor, as in the audit log
}

const userColumns = `id, tenant, name, display_name, password_hash, totp_secret, totp_step, created, disabled, password_temporary`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var hash string
	var secret []byte
	var disabled sql.NullTime
	if err := row.Scan(&u.ID, &u.Tenant, &u.Name, &u.DisplayName, &hash, &secret, &u.TOTPStep, &u.Created, &disabled, &u.TemporaryPassword); err != nil {
		return User{}, err
	}
	u.PasswordHash, u.TOTPSecret = PasswordHash(hash), SealedSecret(secret)
	u.Created, u.Disabled = u.Created.UTC(), fromNull(disabled)
	return u, nil
}

// CreateUser adds a user whose home is the scope's tenant and records actor creating it.
// u.ID, u.Name and u.PasswordHash are required. It returns ErrExists if the name is taken
// anywhere in the installation, ErrNotFound if the tenant does not exist.
func (sc Scope) CreateUser(ctx context.Context, actor string, u User) (User, error) {
	if u.ID == "" || u.Name == "" || u.PasswordHash == "" {
		return User{}, errors.New("create user: ID, name and password hash are required")
	}
	u.Tenant = sc.tenant
	if u.DisplayName == "" {
		u.DisplayName = u.Name
	}
	if u.Created.IsZero() {
		u.Created = sc.s.now()
	}
	u.Created, u.Disabled = dbTime(u.Created), time.Time{}
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)`,
			u.ID, sc.tenant, u.Name, u.DisplayName, string(u.PasswordHash), nullBytes(u.TOTPSecret), u.TOTPStep, u.Created,
			u.TemporaryPassword)
		if err != nil {
			return sc.s.dialect.classify(err)
		}
		detail := "name=" + u.Name
		if len(u.TOTPSecret) > 0 {
			detail += " totp=enrolled"
		}
		if u.TemporaryPassword {
			detail += " password=temporary"
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "user.create", Object: u.ID, Detail: detail})
	})
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", u.Name, err)
	}
	return u, nil
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Users lists the users whose home is the scope's tenant, by name.
func (sc Scope) Users(ctx context.Context) ([]User, error) {
	out, err := queryRows(ctx, sc.s.db, `SELECT `+userColumns+` FROM users WHERE tenant = $1 ORDER BY name`,
		[]any{sc.tenant}, func(r *sql.Rows) (User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// User returns the user id if its home is the scope's tenant, or ErrNotFound.
func (sc Scope) User(ctx context.Context, id string) (User, error) {
	u, err := scanUser(sc.s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND tenant = $2`, id, sc.tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("get user %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// updateUser changes one of the scope's users with query (whose last two parameters are the
// user ID and the tenant) and audits action, in one transaction.
func (sc Scope) updateUser(ctx context.Context, actor, action, id, detail, query string, args ...any) error {
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, append(args, id, sc.tenant)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: action, Object: id, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, id, err)
	}
	return nil
}

// SetPassword replaces the password hash of the scope's user id. It also ends the user's
// sessions: whoever changed the password wants anyone holding the old one out.
func (sc Scope) SetPassword(ctx context.Context, actor, id string, hash PasswordHash, temporary bool) error {
	if hash == "" {
		return errors.New("set password: empty hash")
	}
	detail := ""
	if temporary {
		detail = "password=temporary"
	}
	err := sc.updateUser(ctx, actor, "user.password", id, detail,
		`UPDATE users SET password_hash = $1, password_temporary = $2 WHERE id = $3 AND tenant = $4`, string(hash), temporary)
	if err != nil {
		return err
	}
	return sc.s.DeleteUserSessions(ctx, id)
}

// SetTOTP enrolls (or, with an empty secret, removes) the scope's user's second factor.
func (sc Scope) SetTOTP(ctx context.Context, actor, id string, secret SealedSecret) error {
	detail := "totp=enrolled"
	if len(secret) == 0 {
		detail = "totp=removed"
	}
	return sc.updateUser(ctx, actor, "user.totp", id, detail,
		`UPDATE users SET totp_secret = $1, totp_step = 0 WHERE id = $2 AND tenant = $3`, nullBytes(secret))
}

// DisableUser stops the scope's user id from signing in and ends its sessions. Disabling a
// disabled user succeeds and changes nothing but the time.
func (sc Scope) DisableUser(ctx context.Context, actor, id string) error {
	err := sc.updateUser(ctx, actor, "user.disable", id, "",
		`UPDATE users SET disabled = $1 WHERE id = $2 AND tenant = $3`, dbTime(sc.s.now()))
	if err != nil {
		return err
	}
	return sc.s.DeleteUserSessions(ctx, id)
}

// Grant gives user (of any home tenant: a regional SOC's analyst may work for this hospital)
// role in the scope's tenant, and records actor doing it. Granting a role the user holds
// succeeds and changes nothing. Which roles exist is for the caller to check.
func (sc Scope) Grant(ctx context.Context, actor, user, role string) error {
	if role == "" {
		return errors.New("grant role: empty role")
	}
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM role_grants WHERE user_id = $1 AND tenant = $2 AND role = $3`,
			user, sc.tenant, role).Scan(&one)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO role_grants (user_id, tenant, role, created, granted_by) VALUES ($1, $2, $3, $4, $5)`,
			user, sc.tenant, role, dbTime(sc.s.now()), actor); err != nil {
			return sc.s.dialect.classify(err)
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "role.grant", Object: user, Detail: "role=" + role})
	})
	if err != nil {
		return fmt.Errorf("grant %s to %s: %w", role, user, err)
	}
	return nil
}

// Revoke takes role in the scope's tenant away from user. It returns ErrNotFound if the user
// did not hold it here.
func (sc Scope) Revoke(ctx context.Context, actor, user, role string) error {
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM role_grants WHERE user_id = $1 AND tenant = $2 AND role = $3`, user, sc.tenant, role)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: "role.revoke", Object: user, Detail: "role=" + role})
	})
	if err != nil {
		return fmt.Errorf("revoke %s from %s: %w", role, user, err)
	}
	return nil
}

// Grants lists the roles held in the scope's tenant, by user and role.
func (sc Scope) Grants(ctx context.Context) ([]Grant, error) {
	return sc.s.grants(ctx, `WHERE tenant = $1`, sc.tenant)
}

// UserGrants lists every role user holds, in every tenant: what signing in gives them. Like
// LookupUser it crosses tenants, for package auth only.
func (s *Store) UserGrants(ctx context.Context, user string) ([]Grant, error) {
	return s.grants(ctx, `WHERE user_id = $1`, user)
}

func (s *Store) grants(ctx context.Context, where string, arg string) ([]Grant, error) {
	out, err := queryRows(ctx, s.db, `SELECT user_id, tenant, role, created, granted_by FROM role_grants `+where+
		` ORDER BY user_id, tenant, role`, []any{arg}, func(r *sql.Rows) (Grant, error) {
		var g Grant
		err := r.Scan(&g.User, &g.Tenant, &g.Role, &g.Created, &g.GrantedBy)
		g.Created = g.Created.UTC()
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("list role grants: %w", err)
	}
	return out, nil
}

// LookupUser returns the user signing in as name, of whichever home tenant, or ErrNotFound.
// It is a read across tenants, for sign-in only.
func (s *Store) LookupUser(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("look up user: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("look up user: %w", err)
	}
	return u, nil
}

// UserByID returns user id of whichever home tenant, or ErrNotFound; for package auth, which
// finds the user behind a session.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("get user %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// UseTOTPStep records that user's TOTP code for step was accepted, unless a code of that step
// or a later one already was: it reports false then, and the caller refuses the code as
// replayed. The check and the write are one statement, so two requests racing with the same
// code cannot both win.
func (s *Store) UseTOTPStep(ctx context.Context, user string, step int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET totp_step = $1 WHERE id = $2 AND totp_step < $1`, step, user)
	if err != nil {
		return false, fmt.Errorf("record TOTP use: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record TOTP use: %w", err)
	}
	return n == 1, nil
}

// Session is a signed-in browser, as stored: the ID itself is only in the browser's cookie.
type Session struct {
	IDHash   []byte // hash of the session ID; package auth makes it
	User     string // user ID
	Stage    int    // package auth's: how far sign-in has got (password only, or complete)
	CSRF     string // the token the session's forms carry
	Addr     string // the address it was created from, for the audit log and people
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time // absolute end, whatever the activity
}

// CreateSession stores a session. When audit is set (a complete sign-in, not a half-way
// one) it records the sign-in in the user's home tenant's audit log, in the same transaction.
func (s *Store) CreateSession(ctx context.Context, sess Session, audit bool) error {
	if len(sess.IDHash) == 0 || sess.User == "" {
		return errors.New("create session: ID hash and user are required")
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, stage, csrf, addr, created, last_seen, expires)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sess.IDHash, sess.User, sess.Stage, sess.CSRF, sess.Addr,
			dbTime(sess.Created), dbTime(sess.LastSeen), dbTime(sess.Expires))
		if err != nil {
			return s.dialect.classify(err)
		}
		if !audit {
			return nil
		}
		var tenant string
		if err := tx.QueryRowContext(ctx, `SELECT tenant FROM users WHERE id = $1`, sess.User).Scan(&tenant); err != nil {
			return err
		}
		return s.audit(ctx, tx, AuditEntry{Actor: "user:" + sess.User, Tenant: tenant, Action: "session.create", Object: sess.User, Detail: "addr=" + sess.Addr})
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByHash returns the session whose ID hashes to idHash, or ErrNotFound. Expiry is the
// caller's to check.
func (s *Store) SessionByHash(ctx context.Context, idHash []byte) (Session, error) {
	var sess Session
	err := s.db.QueryRowContext(ctx, `SELECT id_hash, user_id, stage, csrf, addr, created, last_seen, expires FROM sessions WHERE id_hash = $1`, idHash).
		Scan(&sess.IDHash, &sess.User, &sess.Stage, &sess.CSRF, &sess.Addr, &sess.Created, &sess.LastSeen, &sess.Expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("get session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("get session: %w", err)
	}
	sess.Created, sess.LastSeen, sess.Expires = sess.Created.UTC(), sess.LastSeen.UTC(), sess.Expires.UTC()
	return sess, nil
}

// TouchSession moves the session's last activity forward to t (never backward).
func (s *Store) TouchSession(ctx context.Context, idHash []byte, t time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen = $1 WHERE id_hash = $2 AND last_seen < $1`, dbTime(t), idHash)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session; ending one that is gone succeeds. When signOut is set it
// records the sign-out in the user's home tenant's audit log, in the same transaction.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte, signOut bool) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var user, tenant string
		err := tx.QueryRowContext(ctx, `SELECT s.user_id, u.tenant FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1`, idHash).
			Scan(&user, &tenant)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
			return err
		}
		if !signOut {
			return nil
		}
		return s.audit(ctx, tx, AuditEntry{Actor: "user:" + user, Tenant: tenant, Action: "session.delete", Object: user})
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of user.
func (s *Store) DeleteUserSessions(ctx context.Context, user string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, user); err != nil {
		return fmt.Errorf("delete sessions of %s: %w", user, err)
	}
	return nil
}

// DeleteSessions removes sessions that expired before t, or were last seen before idle, and
// returns how many.
func (s *Store) DeleteSessions(ctx context.Context, t, idle time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires < $1 OR last_seen < $2`, dbTime(t), dbTime(idle))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// Failures is the count of recent failed sign-ins under one key, such as "user:alice" or
// "addr:192.0.2.1", behind the lockout.
type Failures struct {
	Key         string
	Count       int
	Last        time.Time
	LockedUntil time.Time // zero: not locked
}

// SigninFailures returns the failures under key; a key with none gives a zero count.
func (s *Store) SigninFailures(ctx context.Context, key string) (Failures, error) {
	f := Failures{Key: key}
	var locked sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT failures, last_failure, locked_until FROM signin_failures WHERE key = $1`, key).
		Scan(&f.Count, &f.Last, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return f, nil
	}
	if err != nil {
		return Failures{}, fmt.Errorf("read sign-in failures: %w", err)
	}
	f.Last, f.LockedUntil = f.Last.UTC(), fromNull(locked)
	return f, nil
}

// RecordSigninFailure counts one more failure under key at now, and locks the key until the
// time lock returns for the new count and the previous count (which the caller may reset
// when the last failure is old). Read and write are one transaction.
func (s *Store) RecordSigninFailure(ctx context.Context, key string, now time.Time, lock func(prev Failures) Failures) (Failures, error) {
	var out Failures
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Make sure the row exists, then read it locked (SQLite's IMMEDIATE transactions already
		// exclude other writers; PostgreSQL needs FOR UPDATE), so two failures at once count two.
		if _, err := tx.ExecContext(ctx, `INSERT INTO signin_failures (key, failures, last_failure) VALUES ($1, 0, $2)
			ON CONFLICT (key) DO NOTHING`, key, dbTime(now)); err != nil {
			return err
		}
		forUpdate := ""
		if s.dialect.name == "postgres" {
			forUpdate = " FOR UPDATE"
		}
		prev := Failures{Key: key}
		var locked sql.NullTime
		if err := tx.QueryRowContext(ctx, `SELECT failures, last_failure, locked_until FROM signin_failures WHERE key = $1`+forUpdate, key).
			Scan(&prev.Count, &prev.Last, &locked); err != nil {
			return err
		}
		prev.Last, prev.LockedUntil = prev.Last.UTC(), fromNull(locked)
		out = lock(prev)
		out.Key, out.Last = key, dbTime(now)
		out.LockedUntil = fromNull(nullTime(out.LockedUntil))
		_, err := tx.ExecContext(ctx, `UPDATE signin_failures SET failures = $1, last_failure = $2, locked_until = $3 WHERE key = $4`,
			out.Count, out.Last, nullTime(out.LockedUntil), key)
		return err
	})
	if err != nil {
		return Failures{}, fmt.Errorf("record sign-in failure: %w", err)
	}
	return out, nil
}

// ClearSigninFailures forgets the failures under key, after a successful sign-in.
func (s *Store) ClearSigninFailures(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM signin_failures WHERE key = $1`, key); err != nil {
		return fmt.Errorf("clear sign-in failures: %w", err)
	}
	return nil
}
