package access_test

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/access/accesstest"
	"github.com/omamori-project/omamori/internal/store"
)

// openStore opens a fresh store with the tenants the conformance suite uses.
func openStore(t testing.TB, driver, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{"tokyo", "osaka"} {
		if _, err := st.CreateTenant(t.Context(), "test", store.Tenant{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestStoreQueueSQLite(t *testing.T) {
	accesstest.ReviewQueue(t, func(t *testing.T) access.ReviewQueue {
		return access.NewStoreQueue(openStore(t, "sqlite", filepath.Join(t.TempDir(), "omamori.db")))
	})
}

// TestStoreQueuePostgres runs when OMAMORI_TEST_POSTGRES_DSN names a database, each queue
// in a schema of its own.
func TestStoreQueuePostgres(t *testing.T) {
	base := os.Getenv("OMAMORI_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("PostgreSQL not tested: set OMAMORI_TEST_POSTGRES_DSN")
	}
	accesstest.ReviewQueue(t, func(t *testing.T) access.ReviewQueue {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		schema := "omamori_test_" + strings.ToLower(rand.Text()[:12])
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if db, err := sql.Open("pgx", base); err == nil {
				db.Exec("DROP SCHEMA " + schema + " CASCADE")
				db.Close()
			}
		})
		sep := "?"
		if strings.Contains(base, "?") {
			sep = "&"
		}
		return access.NewStoreQueue(openStore(t, "postgres", base+sep+"search_path="+schema))
	})
}

// TestStoreQueueSurvivesRestart checks what the store adds to the memory queue: a queued
// break-glass access is still pending, whole, after the store is opened again, and the
// verdict is in the store's audit log.
func TestStoreQueueSurvivesRestart(t *testing.T) {
	ctx := t.Context()
	dsn := filepath.Join(t.TempDir(), "omamori.db")
	t0 := time.Date(2026, 4, 1, 3, 12, 0, 0, time.UTC)
	d := &access.Decision{Schema: access.DecisionSchema, ID: "dec-1", Tenant: "tokyo", Time: t0, Decision: "allow",
		Subject: access.Subject{ID: "N002", Role: "nurse", Department: "救急科"}, Action: "view", Patient: "P005",
		Resource: access.Resource{Patient: "P005", DataType: "psychiatric"}, BreakGlass: true, BreakGlassReason: "急変対応",
		Policies: []string{"break-glass"}, Obligations: []string{"log", "notify_privacy_officer", "review"}}
	q := access.NewStoreQueue(openStore(t, "sqlite", dsn))
	if _, err := q.Enqueue(ctx, d, t0.Add(access.DefaultReviewSLA)); err != nil {
		t.Fatal(err)
	}

	st2, err := store.Open(ctx, "sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	q2 := access.NewStoreQueue(st2)
	p, err := q2.Pending(ctx, "tokyo")
	if err != nil || len(p) != 1 {
		t.Fatalf("Pending after reopening = %+v, %v; want the one item", p, err)
	}
	if got := p[0].Decision; got.Resource.DataType != "psychiatric" || got.Subject.Department != "救急科" || !got.Time.Equal(t0) {
		t.Errorf("decision read back = %+v, want it whole", got)
	}
	if _, err := q2.Review(ctx, "tokyo", "dec-1", access.OutcomeJustified, "PO01", "心停止対応で妥当", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	done, err := q2.Reviewed(ctx, "tokyo", 10)
	if err != nil || len(done) != 1 || done[0].Outcome != access.OutcomeJustified || done[0].Note != "心停止対応で妥当" {
		t.Errorf("Reviewed = %+v, %v; want the justified item", done, err)
	}
	log, _ := st2.Tenant("tokyo").AuditLog(ctx, 2)
	if len(log) != 2 || log[0].Action != "review.complete" || log[0].Actor != "PO01" || log[1].Action != "review.create" {
		t.Errorf("audit log = %+v, want review.create then review.complete by PO01", log)
	}
}

// BenchmarkStoreQueue: queuing one break-glass access (a write transaction with its audit
// entry, SQLite in WAL mode on the test's temporary directory), and reading a queue of 1,000
// pending accesses, as the review page does.
func BenchmarkStoreQueue(b *testing.B) {
	ctx := b.Context()
	t0 := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	decision := func(i int) *access.Decision {
		return &access.Decision{Schema: access.DecisionSchema, ID: fmt.Sprintf("d-%d", i), Tenant: "tokyo", Time: t0, Decision: "allow",
			Subject: access.Subject{ID: "N002", Role: "nurse"}, Action: "view", Patient: "P005",
			Resource: access.Resource{Patient: "P005", DataType: "chart"}, BreakGlass: true, BreakGlassReason: "急変",
			Policies: []string{"break-glass"}, Obligations: []string{"log", "notify_privacy_officer", "review"}}
	}
	b.Run("enqueue", func(b *testing.B) {
		q := access.NewStoreQueue(openStore(b, "sqlite", filepath.Join(b.TempDir(), "omamori.db")))
		i := 0
		for b.Loop() {
			if _, err := q.Enqueue(ctx, decision(i), t0.Add(time.Duration(i)*time.Minute)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("pending-1000", func(b *testing.B) {
		q := access.NewStoreQueue(openStore(b, "sqlite", filepath.Join(b.TempDir(), "omamori.db")))
		for i := range 1000 {
			if _, err := q.Enqueue(ctx, decision(i), t0.Add(time.Duration(i)*time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if p, err := q.Pending(ctx, "tokyo"); err != nil || len(p) != 1000 {
				b.Fatalf("Pending = %d, %v", len(p), err)
			}
		}
	})
}
