package access_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/store"
)

// A break-glass access kept in the metadata store until the privacy officer reviews it.
func ExampleNewStoreQueue() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "omamori")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	st.CreateTenant(ctx, "cli", store.Tenant{ID: "tokyo", Name: "東京総合病院"})

	q := access.NewStoreQueue(st)
	at := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	q.Enqueue(ctx, &access.Decision{ID: "dec-1", Tenant: "tokyo", Time: at, Decision: "allow", Subject: access.Subject{ID: "N002"},
		Patient: "P005", BreakGlass: true, BreakGlassReason: "急変対応"}, at.Add(access.DefaultReviewSLA))

	pending, _ := q.Pending(ctx, "tokyo")
	fmt.Println(len(pending), pending[0].Decision.Subject.ID, pending[0].Decision.Patient, pending[0].Due.Format(time.DateTime))
	it, _ := q.Review(ctx, "tokyo", "dec-1", access.OutcomeJustified, "user:po01", "心停止対応", at.Add(time.Hour))
	fmt.Println(it.Outcome, it.Reviewer)
	// Output:
	// 1 N002 P005 2026-04-04 10:00:00
	// justified user:po01
}
