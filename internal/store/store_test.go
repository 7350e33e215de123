package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The conformance suite: every test here runs against every database the store supports.
// SQLite always; PostgreSQL when OMAMORI_TEST_POSTGRES_DSN names one, such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each PostgreSQL test gets a fresh
// schema, dropped afterwards.

const postgresEnv = "OMAMORI_TEST_POSTGRES_DSN"

// backend opens a fresh, empty database for one test, and can open it again.
type backend struct {
	driver string
	// dsn returns the DSN of a new empty database, cleaned up with t.
	dsn func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "omamori.db") }},
		{"postgres", postgresDSN},
	}
}

func postgresDSN(t *testing.T) string {
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL not tested: set %s, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable", postgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "omamori_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// each runs f as a subtest per backend, with a freshly opened store.
func each(t *testing.T, f func(t *testing.T, s *Store, reopen func() *Store)) {
	for _, b := range backends() {
		t.Run(b.driver, func(t *testing.T) {
			dsn := b.dsn(t)
			open := func() *Store {
				s, err := Open(t.Context(), b.driver, dsn)
				if err != nil {
					t.Fatalf("Open(%s) = %v", b.driver, err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			f(t, open(), open)
		})
	}
}

var t0 = time.Date(2026, 4, 1, 9, 30, 15, 123456789, time.FixedZone("JST", 9*3600))

func mustTenant(t *testing.T, s *Store, id string) {
	t.Helper()
	if _, err := s.CreateTenant(t.Context(), "test", Tenant{ID: id, Name: "Hospital " + id}); err != nil {
		t.Fatalf("CreateTenant(%s) = %v", id, err)
	}
}

func newToken(name string) Token {
	return Token{ID: strings.ToLower(rand.Text()[:16]), Name: name, Scopes: []string{"ingest", "read"}, Hash: []byte("h-" + name), Created: t0}
}

func TestMigrations(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ms, err := migrations(s.Driver())
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // reopening applies nothing and changes nothing
			s = reopen()
			v, err := s.Version(t.Context())
			if err != nil || v != len(ms) {
				t.Fatalf("Version() = %d, %v; want %d", v, err, len(ms))
			}
			var n int
			s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
			if n != len(ms) {
				t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
			}
		}
		if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES ($1, 'future', $2)`, len(ms)+1, dbTime(t0)); err != nil {
			t.Fatal(err)
		}
		s2, err := Open(t.Context(), s.Driver(), dsnOf(t, s))
		if !errors.Is(err, ErrSchemaTooNew) {
			if s2 != nil {
				s2.Close()
			}
			t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
		}
	})
}

// dsnOf recovers the DSN a store was opened with, for opening it once more by hand.
func dsnOf(t *testing.T, s *Store) string {
	t.Helper()
	if s.Driver() == "sqlite" {
		var file string
		var seq int
		var name string
		if err := s.db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
			t.Fatal(err)
		}
		return file
	}
	var schema string
	if err := s.db.QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	base := os.Getenv(postgresEnv)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func TestMigrationFilesMatchAcrossDialects(t *testing.T) {
	var names [][]string
	for d := range dialects {
		ms, err := migrations(d)
		if err != nil {
			t.Fatalf("migrations(%s) = %v", d, err)
		}
		var n []string
		for _, m := range ms {
			n = append(n, fmt.Sprintf("%d_%s", m.version, m.name))
		}
		names = append(names, n)
	}
	if diff := cmp.Diff(names[0], names[1]); diff != "" {
		t.Errorf("the dialects' migrations differ:\n%s", diff)
	}
}

func TestTenants(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		got, err := s.CreateTenant(ctx, "cli", Tenant{ID: "tokyo-general", Name: "東京総合病院", Created: t0})
		if err != nil {
			t.Fatal(err)
		}
		want := Tenant{ID: "tokyo-general", Name: "東京総合病院", Created: dbTime(t0)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CreateTenant returned (-want +got):\n%s", diff)
		}
		if _, err := s.CreateTenant(ctx, "cli", Tenant{ID: "tokyo-general"}); !errors.Is(err, ErrExists) {
			t.Errorf("CreateTenant(duplicate) = %v, want ErrExists", err)
		}
		for _, id := range []string{"", "Tokyo", "a b", "-x", strings.Repeat("a", 64), "a/b"} {
			if _, err := s.CreateTenant(ctx, "cli", Tenant{ID: id}); err == nil {
				t.Errorf("CreateTenant(%q) = nil error, want invalid ID", id)
			}
		}
		if _, err := s.EnsureTenant(ctx, "system", Tenant{ID: "default"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnsureTenant(ctx, "system", Tenant{ID: "default"}); err != nil {
			t.Errorf("EnsureTenant(existing) = %v, want nil", err)
		}
		list, err := s.Tenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tn := range list {
			ids = append(ids, tn.ID)
		}
		if diff := cmp.Diff([]string{"default", "tokyo-general"}, ids); diff != "" {
			t.Errorf("Tenants() IDs (-want +got):\n%s", diff)
		}
		got, err = s.Tenant("tokyo-general").Get(ctx)
		if err != nil || !cmp.Equal(want, got) {
			t.Errorf("Tenant(tokyo-general).Get() = %+v, %v; want %+v", got, err, want)
		}
		if _, err := s.Tenant("nobody").Get(ctx); !errors.Is(err, ErrNotFound) {
			t.Errorf("Tenant(nobody).Get() = %v, want ErrNotFound", err)
		}
	})
}

func TestTokens(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "a")
		a := s.Tenant("a")
		tok := newToken("fortigate")
		tok.Tenant = "ignored"
		tok.Expires = t0.Add(90 * 24 * time.Hour)
		created, err := a.CreateToken(ctx, "cli", tok)
		if err != nil {
			t.Fatal(err)
		}
		want := tok
		want.Tenant, want.Created, want.Expires = "a", dbTime(t0), dbTime(tok.Expires)
		if diff := cmp.Diff(want, created); diff != "" {
			t.Errorf("CreateToken returned (-want +got):\n%s", diff)
		}
		got, err := a.Token(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Token() after CreateToken (-want +got):\n%s", diff)
		}
		if got, err := s.LookupToken(ctx, tok.ID); err != nil || !cmp.Equal(want, got) {
			t.Errorf("LookupToken() = %+v, %v; want %+v", got, err, want)
		}
		if _, err := s.LookupToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LookupToken(nope) = %v, want ErrNotFound", err)
		}

		dup := newToken("fortigate")
		if _, err := a.CreateToken(ctx, "cli", dup); !errors.Is(err, ErrExists) {
			t.Errorf("CreateToken(same name) = %v, want ErrExists", err)
		}
		if _, err := s.Tenant("ghost").CreateToken(ctx, "cli", newToken("x")); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateToken(unknown tenant) = %v, want ErrNotFound", err)
		}
		if _, err := a.CreateToken(ctx, "cli", Token{ID: "x", Name: "no-hash"}); err == nil {
			t.Error("CreateToken(no hash) = nil error, want error")
		}

		// Revocation: recorded once, idempotent, visible in the token.
		if _, err := a.CreateToken(ctx, "cli", newToken("metrics")); err != nil {
			t.Fatal(err)
		}
		if err := a.RevokeToken(ctx, "cli", tok.ID); err != nil {
			t.Fatal(err)
		}
		if err := a.RevokeToken(ctx, "cli", tok.ID); err != nil {
			t.Errorf("RevokeToken(again) = %v, want nil", err)
		}
		if err := a.RevokeToken(ctx, "cli", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("RevokeToken(nope) = %v, want ErrNotFound", err)
		}
		list, err := a.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "fortigate" || list[1].Name != "metrics" {
			t.Fatalf("Tokens() = %+v, want fortigate and metrics by name", list)
		}
		if list[0].Revoked.IsZero() || !list[1].Revoked.IsZero() {
			t.Errorf("Tokens() revoked = %v, %v; want only fortigate revoked", list[0].Revoked, list[1].Revoked)
		}

		// Last use is batched, only moves forward, ignores unknown IDs.
		later := t0.Add(time.Hour)
		if err := s.TouchTokens(ctx, map[string]time.Time{list[1].ID: later, "unknown": later}); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchTokens(ctx, map[string]time.Time{list[1].ID: t0}); err != nil {
			t.Fatal(err)
		}
		got, _ = a.Token(ctx, list[1].ID)
		if !got.LastUsed.Equal(dbTime(later)) {
			t.Errorf("LastUsed after touches = %v, want %v", got.LastUsed, dbTime(later))
		}
	})
}

// Tenant A cannot see, read, revoke or audit-read tenant B's rows through its Scope.
func TestTenantIsolation(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "a")
		mustTenant(t, s, "b")
		a, b := s.Tenant("a"), s.Tenant("b")
		tb, err := b.CreateToken(ctx, "cli", newToken("b-secret"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.CreateToken(ctx, "cli", newToken("a-own")); err != nil {
			t.Fatal(err)
		}
		// Same name in another tenant is fine: names are per tenant.
		if _, err := a.CreateToken(ctx, "cli", newToken("b-secret")); err != nil {
			t.Errorf("CreateToken(name used in another tenant) = %v, want nil", err)
		}
		if _, err := a.Token(ctx, tb.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("a.Token(b's id) = %v, want ErrNotFound", err)
		}
		if err := a.RevokeToken(ctx, "token:a", tb.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("a.RevokeToken(b's id) = %v, want ErrNotFound", err)
		}
		if got, _ := b.Token(ctx, tb.ID); !got.Revoked.IsZero() {
			t.Errorf("b's token revoked by a: %+v", got)
		}
		list, err := a.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range list {
			if tok.Tenant != "a" || tok.ID == tb.ID {
				t.Errorf("a.Tokens() includes %+v", tok)
			}
		}
		log, err := a.AuditLog(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range log {
			if e.Tenant != "a" || e.Object == tb.ID {
				t.Errorf("a.AuditLog() includes %+v", e)
			}
		}
	})
}

// Every change made through the store is in the tenant's audit log, newest first.
func TestAuditLog(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx := t.Context()
		mustTenant(t, s, "a")
		a := s.Tenant("a")
		tok, err := a.CreateToken(ctx, "token:admin1", newToken("fw"))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.RevokeToken(ctx, "token:admin2", tok.ID); err != nil {
			t.Fatal(err)
		}
		if err := a.Audit(ctx, AuditEntry{Actor: "cli", Action: "archive.export", Object: "host 10.0.0.5", Detail: "for police"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Tenant("ghost").Audit(ctx, AuditEntry{Actor: "cli", Action: "x"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Audit(unknown tenant) = %v, want ErrNotFound", err)
		}
		if err := a.Audit(ctx, AuditEntry{Action: "x"}); err == nil {
			t.Error("Audit(no actor) = nil error, want error")
		}
		log, err := a.AuditLog(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		type line struct{ Actor, Tenant, Action, Object, Detail string }
		var got []line
		for _, e := range log {
			if e.Time.IsZero() || e.ID == 0 {
				t.Errorf("audit entry %+v lacks time or ID", e)
			}
			got = append(got, line{e.Actor, e.Tenant, e.Action, e.Object, e.Detail})
		}
		want := []line{
			{"cli", "a", "archive.export", "host 10.0.0.5", "for police"},
			{"token:admin2", "a", "token.revoke", tok.ID, ""},
			{"token:admin1", "a", "token.create", tok.ID, "name=fw scopes=ingest,read"},
			{"test", "a", "tenant.create", "a", "Hospital a"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AuditLog() (-want +got):\n%s", diff)
		}
		if short, _ := a.AuditLog(ctx, 1); len(short) != 1 {
			t.Errorf("AuditLog(limit 1) returned %d entries", len(short))
		}
		// AuditSince pages forward from an ID, oldest first, as the archive's copier reads it.
		first, err := a.AuditSince(ctx, 0, 2)
		if err != nil || len(first) != 2 || first[0].Action != "tenant.create" || first[1].Action != "token.create" {
			t.Fatalf("AuditSince(0, 2) = %+v, %v; want tenant.create then token.create", first, err)
		}
		rest, err := a.AuditSince(ctx, first[1].ID, 10)
		if err != nil || len(rest) != 2 || rest[0].Action != "token.revoke" || rest[1].Action != "archive.export" {
			t.Errorf("AuditSince(after token.create) = %+v, %v; want token.revoke then archive.export", rest, err)
		}
		if other, _ := s.Tenant("b").AuditSince(ctx, 0, 10); len(other) != 0 {
			t.Errorf("tenant b sees %d of a's audit entries", len(other))
		}

		// AuditSearch: by action prefix (whole dotted words only, no wildcards), actor, time
		// and pages before an ID.
		actions := func(f AuditFilter) []string {
			t.Helper()
			es, err := a.AuditSearch(ctx, f)
			if err != nil {
				t.Fatalf("AuditSearch(%+v) = %v", f, err)
			}
			var out []string
			for _, e := range es {
				out = append(out, e.Action)
			}
			return out
		}
		if err := a.Audit(ctx, AuditEntry{Actor: "cli", Action: "tokenizer.run"}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for _, c := range []struct {
			f    AuditFilter
			want []string
		}{
			{AuditFilter{Action: "token"}, []string{"token.revoke", "token.create"}},
			{AuditFilter{Action: "token.create"}, []string{"token.create"}},
			{AuditFilter{Action: "tok%"}, nil},
			{AuditFilter{Action: "archive", Actor: "cli"}, []string{"archive.export"}},
			{AuditFilter{Actor: "token:admin2"}, []string{"token.revoke"}},
			{AuditFilter{Before: log[1].ID, Limit: 1}, []string{"token.create"}},
			{AuditFilter{From: now.Add(-time.Hour), To: now.Add(time.Hour), Limit: 2}, []string{"tokenizer.run", "archive.export"}},
			{AuditFilter{To: now.Add(-time.Hour)}, nil},
		} {
			if got := actions(c.f); !slices.Equal(got, c.want) {
				t.Errorf("AuditSearch(%+v) = %v, want %v", c.f, got, c.want)
			}
		}
	})
}

// Writers in parallel all succeed: SQLite's busy timeout and immediate transactions queue them.
func TestConcurrentWrites(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		mustTenant(t, s, "a")
		const n = 16
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := s.Tenant("a").CreateToken(context.Background(), "test", newToken(fmt.Sprintf("t%02d", i)))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent CreateToken = %v", err)
			}
		}
		list, _ := s.Tenant("a").Tokens(t.Context())
		if len(list) != n {
			t.Errorf("Tokens() after %d concurrent creates = %d", n, len(list))
		}
	})
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.Context(), "mysql", "x"); err == nil || !strings.Contains(err.Error(), "unknown driver") {
		t.Errorf("Open(mysql) = %v, want unknown driver", err)
	}
	if _, err := Open(t.Context(), "sqlite", ""); err == nil {
		t.Error("Open(sqlite, \"\") = nil error, want error")
	}
	dir := filepath.Join(t.TempDir(), "missing", "dir", "x.db")
	if _, err := Open(t.Context(), "sqlite", dir); err == nil {
		t.Errorf("Open(sqlite, %s) = nil error, want error for a missing directory", dir)
	}
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "omamori")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer s.Close()
	if _, err := s.EnsureTenant(ctx, "system", Tenant{ID: "default", Name: "Default hospital"}); err != nil {
		fmt.Println("error:", err)
		return
	}
	// Everything a tenant owns is reached through its Scope.
	hospital := s.Tenant("default")
	tok, _ := hospital.CreateToken(ctx, "cli", Token{ID: "k3x9", Name: "fortigate", Scopes: []string{"ingest"}, Hash: []byte{1}})
	_, err = s.Tenant("other").Token(ctx, tok.ID)
	fmt.Println(tok.Tenant, tok.Name, errors.Is(err, ErrNotFound))
	// Output: default fortigate true
}

// TestTxEndedByContext: a transaction whose context ends before it commits reports the
// context's end, which a stopping node takes for a clean stop, and never database/sql's
// "transaction has already been committed or rolled back", which it took for a failure.
func TestTxEndedByContext(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ func() *Store) {
		ctx, cancel := context.WithCancel(t.Context())
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created) VALUES ($1, $2, $3)`, "ended", "ended", dbTime(time.Now())); err != nil {
				return err
			}
			cancel()
			// database/sql rolls back in a goroutine of its own; once it has, what the
			// transaction says is ErrTxDone, as it said to the node that stopped.
			for range 1000 {
				if _, err := tx.Exec(`SELECT 1`); errors.Is(err, sql.ErrTxDone) {
					return nil
				}
				time.Sleep(time.Millisecond)
			}
			return errors.New("the transaction was never rolled back")
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("tx ended by its context = %v, want context.Canceled", err)
		}
		ts, err := s.Tenants(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range ts {
			if tn.ID == "ended" {
				t.Errorf("the transaction's tenant was kept")
			}
		}
	})
}
