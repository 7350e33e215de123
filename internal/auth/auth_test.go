package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, id := range []string{"a", "b"} {
		if _, err := s.CreateTenant(t.Context(), "test", store.Tenant{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

var tokenShape = regexp.MustCompile(`^omm_[a-z2-7]{16}_[a-z2-7]{52}$`)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, tok, hash := NewToken()
		if !tokenShape.MatchString(tok.Reveal()) {
			t.Fatalf("NewToken() = %q, want omm_<16 base32>_<52 base32>", tok.Reveal())
		}
		if got, ok := ParseID(tok); !ok || got != id {
			t.Errorf("ParseID(%q) = %q, %v; want %q, true", tok.Reveal(), got, ok, id)
		}
		if !bytes.Equal(hash, Hash(tok)) || len(hash) != 32 {
			t.Errorf("NewToken hash = %x, want SHA-256 of the token", hash)
		}
		if seen[id] {
			t.Fatalf("NewToken repeated ID %s", id)
		}
		seen[id] = true
	}
}

func TestParseID(t *testing.T) {
	_, good, _ := NewToken()
	g := good.Reveal()
	tests := []struct {
		in string
		ok bool
	}{
		{g, true},
		{"", false},
		{"Bearer " + g, false},
		{strings.TrimPrefix(g, "omm_"), false},
		{strings.Replace(g, "_", "-", 2), false},
		{g + "x", false},
		{g[:len(g)-1], false},
		{"omm_" + strings.Repeat("a", 16) + "_", false},
		{"omm__" + strings.Repeat("a", 52), false},
	}
	for _, tt := range tests {
		if _, ok := ParseID(Secret(tt.in)); ok != tt.ok {
			t.Errorf("ParseID(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
	}
}

// A Secret never shows itself in logs, formatted text or JSON.
func TestSecretRedacts(t *testing.T) {
	_, tok, _ := NewToken()
	raw := tok.Reveal()
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("issued", "token", tok)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("issued", "token", tok)
	js, _ := json.Marshal(struct{ T Secret }{tok})
	outs := map[string]string{
		"slog":  logs.String(),
		"%v":    fmt.Sprintf("%v", tok),
		"%s":    fmt.Sprintf("%s", tok),
		"%q":    fmt.Sprintf("%q", tok),
		"%#v":   fmt.Sprintf("%#v", tok),
		"%+v":   fmt.Sprintf("%+v", struct{ T Secret }{tok}),
		"Print": fmt.Sprint(tok),
		"json":  string(js),
		"error": fmt.Errorf("bad token %v", tok).Error(),
	}
	for how, out := range outs {
		if strings.Contains(out, raw) || strings.Contains(out, raw[4:20]) {
			t.Errorf("%s shows the token: %s", how, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s = %q, want REDACTED", how, out)
		}
	}
}

func TestVerify(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	issue := func(tenant, name string, expires time.Time, scopes ...Scope) (store.Token, Secret) {
		rec, tok, err := Issue(ctx, s.Tenant(tenant), "test", Request{Name: name, Scopes: scopes, Expires: expires})
		if err != nil {
			t.Fatalf("Issue(%s) = %v", name, err)
		}
		return rec, tok
	}
	_, ingest := issue("a", "fw", time.Time{}, ScopeIngest)
	_, admin := issue("b", "admin", now.Add(time.Hour), ScopeAdmin, ScopeRead)
	_, expiredTok := issue("a", "old", now, ScopeIngest)
	revokedRec, revoked := issue("a", "gone", time.Time{}, ScopeIngest)
	if err := s.Tenant("a").RevokeToken(ctx, "test", revokedRec.ID); err != nil {
		t.Fatal(err)
	}
	id, _ := ParseID(ingest)
	forged := Secret(Prefix + id + "_" + strings.Repeat("a", 52))
	_, unknown, _ := NewToken()

	tests := []struct {
		name   string
		token  Secret
		reason Reason // "" for accepted
		want   Principal
	}{
		{"ingest token", ingest, "", Principal{Tenant: "a", Name: "fw", Scopes: []Scope{ScopeIngest}}},
		{"admin token of b", admin, "", Principal{Tenant: "b", Name: "admin", Scopes: []Scope{ScopeAdmin, ScopeRead}}},
		{"malformed", "hunter2", ReasonMalformed, Principal{}},
		{"unknown", unknown, ReasonUnknown, Principal{}},
		{"right id, wrong secret", forged, ReasonMismatch, Principal{}},
		{"revoked", revoked, ReasonRevoked, Principal{}},
		{"expired at the instant", expiredTok, ReasonExpired, Principal{}},
	}
	v := NewVerifier(s, slog.New(slog.DiscardHandler))
	v.now = func() time.Time { return now }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(ctx, tt.token)
			if tt.reason != "" {
				var ae *Error
				if !errors.As(err, &ae) || ae.Reason != tt.reason || !errors.Is(err, ErrRefused) {
					t.Fatalf("Verify(%s) = %v, want refusal %q", tt.name, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify(%s) = %v", tt.name, err)
			}
			tt.want.TokenID, _ = ParseID(tt.token)
			if fmt.Sprint(p) != fmt.Sprint(tt.want) {
				t.Errorf("Verify(%s) = %+v, want %+v", tt.name, p, tt.want)
			}
		})
	}
}

// Uses are written in one batch per Flush, with the latest time per token.
func TestLastUseBatched(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	rec, tok, err := Issue(ctx, s.Tenant("a"), "test", Request{Name: "fw", Scopes: []Scope{ScopeIngest}})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{TokenStore: s}
	v := NewVerifier(cs, slog.New(slog.DiscardHandler))
	base := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	for i := range 50 {
		v.now = func() time.Time { return base.Add(time.Duration(i) * time.Second) }
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if cs.touches != 0 {
		t.Fatalf("Verify wrote last use %d times before Flush, want 0", cs.touches)
	}
	if got, _ := s.Tenant("a").Token(ctx, rec.ID); !got.LastUsed.IsZero() {
		t.Fatalf("LastUsed before Flush = %v, want zero", got.LastUsed)
	}
	// A failed flush keeps the times for the next one.
	cs.fail = true
	if err := v.Flush(ctx); err == nil {
		t.Fatal("Flush with failing store = nil error")
	}
	cs.fail = false
	if err := v.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cs.touches != 2 {
		t.Errorf("TouchTokens calls = %d, want 2 (one failed, one written)", cs.touches)
	}
	got, _ := s.Tenant("a").Token(ctx, rec.ID)
	if want := base.Add(49 * time.Second); !got.LastUsed.Equal(want) {
		t.Errorf("LastUsed = %v, want %v", got.LastUsed, want)
	}
	if len(v.Pending()) != 0 {
		t.Errorf("Pending after Flush = %v, want empty", v.Pending())
	}
	if err := v.Flush(ctx); err != nil || cs.touches != 2 {
		t.Errorf("Flush with nothing pending: err %v, calls %d; want nil, 2", err, cs.touches)
	}
}

type countingStore struct {
	TokenStore
	touches int
	fail    bool
}

func (c *countingStore) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	c.touches++
	if c.fail {
		return errors.New("disk full")
	}
	return c.TokenStore.TouchTokens(ctx, used)
}

func TestRunFlushesOnShutdown(t *testing.T) {
	s := openStore(t)
	rec, tok, _ := Issue(t.Context(), s.Tenant("a"), "test", Request{Name: "fw", Scopes: []Scope{ScopeIngest}})
	v := NewVerifier(s, slog.New(slog.DiscardHandler))
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := v.Run(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Tenant("a").Token(t.Context(), rec.ID); got.LastUsed.IsZero() {
		t.Error("Run did not flush last use at shutdown")
	}
}

func TestIssueRejects(t *testing.T) {
	s := openStore(t)
	tests := []struct {
		name string
		req  Request
	}{
		{"no name", Request{Scopes: []Scope{ScopeIngest}}},
		{"long name", Request{Name: strings.Repeat("x", 65), Scopes: []Scope{ScopeIngest}}},
		{"control char", Request{Name: "a\nb", Scopes: []Scope{ScopeIngest}}},
		{"no scopes", Request{Name: "x"}},
		{"unknown scope", Request{Name: "x", Scopes: []Scope{"root"}}},
	}
	for _, tt := range tests {
		if _, _, err := Issue(t.Context(), s.Tenant("a"), "test", tt.req); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Issue(%s) = %v, want ErrInvalidRequest", tt.name, err)
		}
	}
	if _, _, err := Issue(t.Context(), s.Tenant("ghost"), "test", Request{Name: "x", Scopes: []Scope{ScopeRead}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Issue(unknown tenant) = %v, want ErrNotFound", err)
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"ingest", "admin", "ingest"})
	if err != nil || fmt.Sprint(got) != "[ingest admin]" {
		t.Errorf("ParseScopes = %v, %v; want [ingest admin]", got, err)
	}
	if _, err := ParseScopes([]string{"Admin"}); err == nil {
		t.Error("ParseScopes(Admin) = nil error, want unknown scope")
	}
}

func TestPrincipal(t *testing.T) {
	p := Principal{Tenant: "a", TokenID: "x", Scopes: []Scope{ScopeAdmin, ScopeRead}}
	if err := p.CanGrant([]Scope{ScopeRead}); err != nil {
		t.Errorf("CanGrant(read) = %v, want nil", err)
	}
	if err := p.CanGrant([]Scope{ScopeRead, ScopeOperator}); err == nil {
		t.Error("CanGrant(operator) by an admin = nil, want error")
	}
	if _, ok := FromContext(t.Context()); ok {
		t.Error("FromContext(empty) ok = true")
	}
	got, ok := FromContext(NewContext(t.Context(), p))
	if !ok || got.Tenant != "a" || got.Actor() != "token:x" {
		t.Errorf("FromContext(NewContext(p)) = %+v, %v", got, ok)
	}
}

func BenchmarkVerify(b *testing.B) {
	s, err := store.Open(context.Background(), "sqlite", filepath.Join(b.TempDir(), "omamori.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.CreateTenant(context.Background(), "test", store.Tenant{ID: "a"})
	_, tok, _ := Issue(context.Background(), s.Tenant("a"), "test", Request{Name: "fw", Scopes: []Scope{ScopeIngest}})
	v := NewVerifier(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleIssue() {
	dir, _ := os.MkdirTemp("", "omamori")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, _ := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	defer s.Close()
	s.EnsureTenant(ctx, "system", store.Tenant{ID: "default"})

	rec, token, err := Issue(ctx, s.Tenant("default"), "cli", Request{Name: "fortigate", Scopes: []Scope{ScopeIngest}})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(rec.Name, rec.Scopes, token)               // the token stays hidden in output...
	fmt.Println(strings.HasPrefix(token.Reveal(), "omm_")) // ...until revealed, once, to its holder

	p, err := NewVerifier(s, slog.New(slog.DiscardHandler)).Verify(ctx, token)
	fmt.Println(p.Tenant, p.Name, p.Has(ScopeIngest), p.Has(ScopeAdmin), err)
	// Output:
	// fortigate [ingest] REDACTED
	// true
	// default fortigate true false <nil>
}
