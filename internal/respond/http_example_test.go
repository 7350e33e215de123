package respond_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/store"
)

// ExampleHTTP mounts the decisions API as the API server does, with the caller's tenant and
// person from its authentication (here, a header).
func ExampleHTTP() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "respond-http-example")
	defer os.RemoveAll(dir)
	st, _ := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	defer st.Close()
	st.CreateTenant(ctx, "cli", store.Tenant{ID: "tokyo"})
	s, _ := respond.New(st, respond.Config{})

	h := &respond.HTTP{Service: s, Principal: func(r *http.Request) (string, respond.Person, error) {
		switch r.Header.Get("X-Example-User") {
		case "aiko":
			return "tokyo", respond.Person{Name: "aiko", Role: respond.RoleResponder}, nil
		case "mori":
			return "tokyo", respond.Person{Name: "mori", Role: respond.RoleApprover}, nil
		case "kenji":
			return "tokyo", respond.Person{Name: "kenji", Role: respond.RoleViewer}, nil
		}
		return "", respond.Person{}, errors.New("not signed in")
	}}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler) // the server adds authentication and the scope Write asks for
	}
	send := func(user, method, path, body string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("X-Example-User", user)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		var out struct {
			ID                             int64
			Status, Guardrail, Error, Hint string
		}
		json.Unmarshal(w.Body.Bytes(), &out)
		if out.Error != "" {
			fmt.Printf("%d %s\n    hint: %s\n", w.Code, out.Error, out.Hint)
			return
		}
		fmt.Printf("%d decision %d %s: %s\n", w.Code, out.ID, out.Status, out.Guardrail)
	}
	// Without an asset inventory every decision is held for a person's approval.
	send("aiko", "POST", "/api/v1/decisions", `{"target": "203.0.113.7", "ttl": "4h", "reason": "SSH brute force"}`)
	send("kenji", "POST", "/api/v1/decisions/1/approve", `{}`)
	send("mori", "POST", "/api/v1/decisions/1/approve", `{"note": "seen in the VPN log"}`)
	// Output:
	// 201 decision 1 held: no-inventory: no asset inventory for this hospital, so omamori cannot tell whether the target is a medical device
	// 403 approve decision 1: respond: not allowed: kenji has role "viewer"; to approve a decision a person needs role approver, signed in to the web UI with a second factor
	//     hint: a viewer only sees decisions; a responder adds, extends and revokes them; approving or rejecting a held one needs an approver
	// 200 decision 1 active: no-inventory: no asset inventory for this hospital, so omamori cannot tell whether the target is a medical device
}
