package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

// Sessions of people in browsers. The session ID is 256 random bits in the cookie; the store
// keeps only its SHA-256 (like API tokens: a random secret needs no slow hash), so a copy of
// the database opens no session. A session ends when it has been idle too long, at an
// absolute limit whatever the activity, at sign-out, and when the user's password changes
// or the account is disabled.

// Session stages: how far sign-in has got.
const (
	StagePassword = 1 // password right, TOTP still to come; opens nothing but the TOTP form
	StageComplete = 2 // signed in
)

// Default session lifetimes. Idle: 30 minutes, a workstation left unlocked in a ward office
// (OWASP suggests 15–30 for high-value applications). Absolute: 12 hours, one SOC shift
// (8:00–20:00 or 20:00–8:00), so each shift signs in afresh.
const (
	DefaultIdle     = 30 * time.Minute
	DefaultAbsolute = 12 * time.Hour
	// touchEvery limits writes: last activity is recorded at most once a minute per session.
	touchEvery = time.Minute
	// pendingLifetime bounds the half-way session between password and TOTP.
	pendingLifetime = 5 * time.Minute
)

// ErrNoSession is returned for a missing, unknown, expired or half-way session cookie.
var ErrNoSession = errors.New("auth: no valid session")

func newSessionID() (id string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	id = base64.RawURLEncoding.EncodeToString(b)
	return id, sessionHash(id)
}

func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func newCSRF() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startSession stores a new session for user at stage and returns the cookie value.
func (a *Accounts) startSession(ctx context.Context, user, addr string, stage int) (string, error) {
	id, hash := newSessionID()
	now := a.now()
	life := a.absolute
	if stage != StageComplete {
		life = pendingLifetime
	}
	err := a.store.CreateSession(ctx, store.Session{IDHash: hash, User: user, Stage: stage, CSRF: newCSRF(), Addr: addr,
		Created: now, LastSeen: now, Expires: now.Add(life)}, stage == StageComplete)
	if err != nil {
		return "", err
	}
	return id, nil
}

// session returns the live session behind cookie, ending it if it has expired.
func (a *Accounts) session(ctx context.Context, cookie string) (store.Session, error) {
	if cookie == "" || len(cookie) > 100 {
		return store.Session{}, ErrNoSession
	}
	hash := sessionHash(cookie)
	sess, err := a.store.SessionByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, ErrNoSession
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("read session: %w", err)
	}
	now := a.now()
	if !now.Before(sess.Expires) || now.Sub(sess.LastSeen) >= a.idle {
		if err := a.store.DeleteSession(ctx, hash, false); err != nil {
			a.log.Warn("end expired session", "err", err)
		}
		return store.Session{}, ErrNoSession
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		if err := a.store.TouchSession(ctx, hash, now); err != nil {
			a.log.Warn("record session activity", "err", err)
		}
	}
	return sess, nil
}

// Current is a request's signed-in person and the session's CSRF token.
type Current struct {
	Identity
	CSRF string
}

// Session returns who the cookie signs in, or ErrNoSession. A half-way session (password
// without TOTP) is not a signed-in person and gives ErrNoSession too.
func (a *Accounts) Session(ctx context.Context, cookie string) (Current, error) {
	sess, err := a.session(ctx, cookie)
	if err != nil {
		return Current{}, err
	}
	if sess.Stage != StageComplete {
		return Current{}, ErrNoSession
	}
	u, err := a.store.UserByID(ctx, sess.User)
	if errors.Is(err, store.ErrNotFound) {
		return Current{}, ErrNoSession
	}
	if err != nil {
		return Current{}, fmt.Errorf("read session user: %w", err)
	}
	if !u.Disabled.IsZero() {
		return Current{}, ErrNoSession
	}
	grants, err := a.store.UserGrants(ctx, u.ID)
	if err != nil {
		return Current{}, err
	}
	id := Identity{UserID: u.ID, Name: u.Name, DisplayName: u.DisplayName, Home: u.Tenant,
		Roles: map[string][]Role{}, SecondFactor: len(u.TOTPSecret) > 0, MustChangePassword: u.TemporaryPassword}
	for _, g := range grants {
		id.Roles[g.Tenant] = append(id.Roles[g.Tenant], Role(g.Role))
	}
	return Current{Identity: id, CSRF: sess.CSRF}, nil
}

// PendingCSRF returns the CSRF token of a half-way session, for the TOTP form.
func (a *Accounts) PendingCSRF(ctx context.Context, cookie string) (string, error) {
	sess, err := a.session(ctx, cookie)
	if err != nil {
		return "", err
	}
	if sess.Stage != StagePassword {
		return "", ErrNoSession
	}
	return sess.CSRF, nil
}

// SignOut ends the cookie's session and records it; an unknown cookie is no error.
func (a *Accounts) SignOut(ctx context.Context, cookie string) error {
	if cookie == "" {
		return nil
	}
	return a.store.DeleteSession(ctx, sessionHash(cookie), true)
}

// Sweep deletes sessions that are past their limits; serve runs it now and then.
func (a *Accounts) Sweep(ctx context.Context) (int64, error) {
	now := a.now()
	return a.store.DeleteSessions(ctx, now, now.Add(-a.idle))
}

// Run sweeps ended sessions every interval until ctx is done, and returns nil. Sessions are
// checked on every request anyway; the sweep only keeps the table small.
func (a *Accounts) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if n, err := a.Sweep(ctx); err != nil {
				a.log.Warn("sweep sessions", "err", err)
			} else if n > 0 {
				a.log.Debug("swept sessions", "ended", n)
			}
		case <-ctx.Done():
			return nil
		}
	}
}
