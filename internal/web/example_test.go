package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/store"
	"github.com/omamori-project/omamori/internal/web"
)

// Mounting the UI: it takes "/", and the API keeps "/api/v1/" on the same listener.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "omamori-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	accounts := auth.NewAccounts(auth.AccountsConfig{Store: st})
	ui, err := web.New(web.Options{
		Store:    st,
		Accounts: accounts,
		Alerts:   nil, // the *bus.Bus in serve
		Location: time.FixedZone("JST", 9*3600),
		Secure:   false, // true whenever served over TLS, which it must be off loopback
		// In serve: the *incident.Service, the *respond.Service and each tenant's
		// *asset.Inventory (the one its guardrails use). Nil: those pages say so.
		Incidents: nil,
		Decisions: nil,
		Assets:    func(tenant string) *asset.Inventory { return nil },
		// In serve: access.NewStoreQueue(st), the queue the access.Deciders put break-glass
		// accesses in, and the *archive.Archive their decisions are recorded in.
		Reviews: access.NewStoreQueue(st),
		Archive: nil,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.NotFoundHandler()) // internal/api's handler in serve
	mux.Handle("/", ui)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/signin", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output:
	// 303 /signin
	// 200 text/html; charset=utf-8
}
