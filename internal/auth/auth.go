// Package auth decides who is calling omamori's API and what they may do. It sits at the
// door of the data path: the HTTP server asks it to verify the API token of every request
// (a firewall's log forwarder posting NDJSON, Prometheus scraping metrics, an administrator's
// script) and puts the resulting Principal in the request's context, where handlers such as
// ingest find the tenant the data belongs to.
//
// API tokens are for machines. A token reads omm_<id>_<secret>: the prefix makes a leaked
// token easy to find with a secret scanner, the id (public) names the stored record, and the
// secret is 256 random bits. Only a SHA-256 hash of the token is stored. A slow password hash
// (argon2, bcrypt) protects low-entropy human passwords against guessing; a 256-bit random
// secret cannot be guessed however fast the hash, so a slow hash would only cost CPU on every
// ingest request and give an attacker a cheap way to load the server. Human users with
// passwords and TOTP will be a separate kind of Principal.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Scope is one thing a token may do.
type Scope string

const (
	// ScopeIngest sends logs (POST /api/v1/ingest) into the token's tenant.
	ScopeIngest Scope = "ingest"
	// ScopeRead reads the tenant's data: tokens (without secrets), and later events and alerts.
	ScopeRead Scope = "read"
	// ScopeMetrics scrapes Prometheus metrics, which describe the whole installation.
	ScopeMetrics Scope = "metrics"
	// ScopeAdmin administers the token's tenant: creates and revokes its tokens.
	ScopeAdmin Scope = "admin"
	// ScopeOperator operates the whole installation across tenants, as a regional SOC does:
	// lists and creates tenants. Only a token that has it can grant it.
	ScopeOperator Scope = "operator"
	// ScopeAccess asks for access decisions (POST /api/v1/access/decide): the EHR and other
	// clinical systems, before they show a record.
	ScopeAccess Scope = "access"
	// ScopeRespond acts on the tenant's response and incidents: adds, extends and revokes
	// decisions, moves incidents on. A respond token never overrides a guardrail nor approves
	// or rejects a held decision, whatever its other scopes: that is for an approver signed in
	// to the web UI with a second factor; the API refuses a token's try with 403.
	ScopeRespond Scope = "respond"
)

// Scopes returns every scope, in a fixed order.
func Scopes() []Scope {
	return []Scope{ScopeIngest, ScopeRead, ScopeMetrics, ScopeAdmin, ScopeOperator, ScopeAccess, ScopeRespond}
}

// ParseScopes turns scope names into Scopes, rejecting unknown names and removing duplicates.
func ParseScopes(names []string) ([]Scope, error) {
	var out []Scope
	for _, n := range names {
		s := Scope(n)
		if !slices.Contains(Scopes(), s) {
			return nil, fmt.Errorf("unknown scope %q (known: %s)", n, joinScopes(Scopes()))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func joinScopes(ss []Scope) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// Secret is a whole API token as presented by or shown to its holder. It keeps itself out of
// logs and JSON: slog, fmt and encoding/json see "REDACTED"; Reveal returns the token.
type Secret string

// Reveal returns the token itself, for the one response that shows it to its creator.
func (s Secret) Reveal() string { return string(s) }

func (Secret) String() string                  { return "REDACTED" }
func (Secret) LogValue() slog.Value            { return slog.StringValue("REDACTED") }
func (Secret) MarshalJSON() ([]byte, error)    { return []byte(`"REDACTED"`), nil }
func (s Secret) GoString() string              { return `auth.Secret("REDACTED")` }
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, "REDACTED") }

// Prefix starts every omamori API token.
const Prefix = "omm_"

// Lowercase base32 without padding: no '_' (the separator), case-insensitive-safe, and
// double-click selects the whole token.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const (
	idBytes     = 10 // 16 characters; random so IDs reveal nothing about how many tokens exist
	secretBytes = 32 // 256 bits
)

// NewToken makes a new random token and returns its ID, the whole token and the hash to store.
func NewToken() (id string, token Secret, hash []byte) {
	var b [idBytes + secretBytes]byte
	rand.Read(b[:]) // never returns an error (crypto/rand, Go 1.24+)
	id = encoding.EncodeToString(b[:idBytes])
	token = Secret(Prefix + id + "_" + encoding.EncodeToString(b[idBytes:]))
	return id, token, Hash(token)
}

// Hash returns the hash stored for token.
func Hash(token Secret) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ParseID returns the ID part of a token, or false if token does not have the form
// omm_<id>_<secret>.
func ParseID(token Secret) (string, bool) {
	rest, ok := strings.CutPrefix(string(token), Prefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != encoding.EncodedLen(idBytes) || len(secret) != encoding.EncodedLen(secretBytes) {
		return "", false
	}
	return id, true
}

// Principal is who a request acts as: for now always an API token.
type Principal struct {
	Tenant  string  // the tenant all of the request's data belongs to
	TokenID string  // the token's public ID
	Name    string  // the token's name, such as "fortigate-tokyo"; the source of ingested logs
	Scopes  []Scope // what it may do
}

// Has reports whether p holds scope s.
func (p Principal) Has(s Scope) bool { return slices.Contains(p.Scopes, s) }

// Actor names p in the audit log.
func (p Principal) Actor() string { return "token:" + p.TokenID }

// LogValue keeps the log line short and free of anything secret.
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("tenant", p.Tenant), slog.String("token", p.TokenID), slog.String("name", p.Name))
}

// CanGrant returns an error unless p holds every scope in scopes: nobody hands out more
// than they have, so a hospital's admin token cannot mint an operator token.
func (p Principal) CanGrant(scopes []Scope) error {
	for _, s := range scopes {
		if !p.Has(s) {
			return fmt.Errorf("cannot grant scope %q, which this token does not hold", s)
		}
	}
	return nil
}

type contextKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the Principal a request acts as; false if it was not authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(contextKey{}).(Principal)
	return p, ok
}

// Reason says why a token was refused. The client is told only that it was; the reason goes
// to the log.
type Reason string

const (
	ReasonMalformed Reason = "malformed" // not omm_<id>_<secret>
	ReasonUnknown   Reason = "unknown"   // no token with that ID
	ReasonMismatch  Reason = "mismatch"  // the ID exists, the secret is wrong
	ReasonRevoked   Reason = "revoked"
	ReasonExpired   Reason = "expired"
)

// Error is a refused token.
type Error struct {
	Reason  Reason
	TokenID string // empty when malformed
}

func (e *Error) Error() string { return "auth: token refused: " + string(e.Reason) }

// ErrRefused matches every *Error with errors.Is.
var ErrRefused = errors.New("auth: token refused")

func (e *Error) Is(target error) bool { return target == ErrRefused }

// expired reports whether a token with the given expiry is expired at now; zero never expires.
func expired(expires, now time.Time) bool { return !expires.IsZero() && !now.Before(expires) }
