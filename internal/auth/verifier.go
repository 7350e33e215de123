package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

// TokenStore is what the Verifier needs from the store; *store.Store has it.
type TokenStore interface {
	// LookupToken returns the token with the ID, of whichever tenant, or an error wrapping
	// store.ErrNotFound.
	LookupToken(ctx context.Context, id string) (store.Token, error)
	// TouchTokens records last-use times of many tokens at once.
	TouchTokens(ctx context.Context, used map[string]time.Time) error
}

// Verifier checks presented tokens. It reads the store on every call, so a revocation takes
// effect on the next request; the last-use times it notes are written in batches by Flush
// (or Run), never once per request. It is safe for concurrent use.
type Verifier struct {
	store TokenStore
	log   *slog.Logger
	now   func() time.Time

	mu   sync.Mutex
	used map[string]time.Time // token ID → latest use not yet written
}

// NewVerifier returns a Verifier reading tokens from s.
func NewVerifier(s TokenStore, log *slog.Logger) *Verifier {
	return &Verifier{store: s, log: log, now: time.Now, used: map[string]time.Time{}}
}

// Verify returns the Principal that token stands for. A refused token gives an *Error (which
// matches ErrRefused); any other error means the store could not be asked.
func (v *Verifier) Verify(ctx context.Context, token Secret) (Principal, error) {
	id, ok := ParseID(token)
	if !ok {
		return Principal{}, &Error{Reason: ReasonMalformed}
	}
	rec, err := v.store.LookupToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, &Error{Reason: ReasonUnknown, TokenID: id}
	}
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w", err)
	}
	if subtle.ConstantTimeCompare(Hash(token), rec.Hash) != 1 {
		return Principal{}, &Error{Reason: ReasonMismatch, TokenID: id}
	}
	now := v.now()
	if !rec.Revoked.IsZero() {
		return Principal{}, &Error{Reason: ReasonRevoked, TokenID: id}
	}
	if expired(rec.Expires, now) {
		return Principal{}, &Error{Reason: ReasonExpired, TokenID: id}
	}
	scopes := make([]Scope, 0, len(rec.Scopes))
	for _, s := range rec.Scopes {
		scopes = append(scopes, Scope(s))
	}
	v.mu.Lock()
	v.used[id] = now
	v.mu.Unlock()
	return Principal{Tenant: rec.Tenant, TokenID: rec.ID, Name: rec.Name, Scopes: scopes}, nil
}

// Flush writes the last-use times noted since the previous Flush. On error they are kept for
// the next one, unless a newer use has been noted meanwhile.
func (v *Verifier) Flush(ctx context.Context) error {
	v.mu.Lock()
	used := v.used
	v.used = map[string]time.Time{}
	v.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	if err := v.store.TouchTokens(ctx, used); err != nil {
		v.mu.Lock()
		for id, t := range used {
			if cur, ok := v.used[id]; !ok || cur.Before(t) {
				v.used[id] = t
			}
		}
		v.mu.Unlock()
		return err
	}
	return nil
}

// Pending returns the last-use times not yet written, for tests and diagnostics.
func (v *Verifier) Pending() map[string]time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.used)
}

// Run flushes last-use times every interval until ctx is done, then once more (with a short
// grace period of its own, since ctx is already cancelled), and returns nil.
func (v *Verifier) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := v.Flush(ctx); err != nil {
				v.log.Warn("record token use", "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := v.Flush(fctx); err != nil {
				v.log.Warn("record token use at shutdown", "err", err)
			}
			return nil
		}
	}
}

// ErrInvalidRequest is wrapped by Issue's errors about its Request (a bad name or scope), as
// opposed to failures of the store.
var ErrInvalidRequest = errors.New("invalid token request")

// Request describes a token to issue.
type Request struct {
	Name    string    // for people, unique in the tenant: "fortigate-tokyo"
	Scopes  []Scope   // what it may do; at least one
	Expires time.Time // zero: never
}

// Issue creates a token in the tenant of sc, recording actor in the audit log, and returns the
// stored record and the token, which is shown this once and never again. Whether actor may
// grant the scopes is the caller's to check (Principal.CanGrant).
func Issue(ctx context.Context, sc store.Scope, actor string, req Request) (store.Token, Secret, error) {
	if err := validName(req.Name); err != nil {
		return store.Token{}, "", fmt.Errorf("issue token: %w: %v", ErrInvalidRequest, err)
	}
	if len(req.Scopes) == 0 {
		return store.Token{}, "", fmt.Errorf("issue token: %w: at least one scope is needed", ErrInvalidRequest)
	}
	names := make([]string, len(req.Scopes))
	for i, s := range req.Scopes {
		names[i] = string(s)
	}
	if _, err := ParseScopes(names); err != nil {
		return store.Token{}, "", fmt.Errorf("issue token: %w: %v", ErrInvalidRequest, err)
	}
	id, token, hash := NewToken()
	rec, err := sc.CreateToken(ctx, actor, store.Token{ID: id, Name: req.Name, Scopes: names, Hash: hash, Expires: req.Expires})
	if err != nil {
		return store.Token{}, "", err
	}
	return rec, token, nil
}

func validName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("name must be 1 to 64 characters, got %d", len(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("name %q has a control character", name)
		}
	}
	return nil
}
