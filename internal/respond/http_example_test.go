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

	"github.com/omamori-project/omamori/internal/auth"
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

	// A script's API token with scope respond, and the approver's web UI session with TOTP.
	soar := auth.Principal{Tenant: "tokyo", TokenID: "soar", Scopes: []auth.Scope{auth.ScopeRead, auth.ScopeRespond}}
	mori := auth.Identity{UserID: "u1", Name: "mori", Roles: map[string][]auth.Role{"tokyo": {auth.RoleApprover}}, SecondFactor: true}
	h := &respond.HTTP{Service: s, Principal: func(r *http.Request) (string, respond.Person, error) {
		switch r.Header.Get("X-Example-User") {
		case "soar":
			return soar.Tenant, respond.ByToken(soar), nil
		case "mori":
			return "tokyo", respond.SignedIn(mori, "tokyo"), nil
		}
		return "", respond.Person{}, errors.New("not signed in")
	}}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler) // the server adds authentication and the scope each route declares
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
	// A token may neither override the guardrail nor approve; the approver may.
	send("soar", "POST", "/api/v1/decisions", `{"target": "203.0.113.7", "ttl": "4h", "reason": "SSH brute force", "override": true}`)
	send("soar", "POST", "/api/v1/decisions", `{"target": "203.0.113.7", "ttl": "4h", "reason": "SSH brute force"}`)
	send("soar", "POST", "/api/v1/decisions/1/approve", `{}`)
	send("mori", "POST", "/api/v1/decisions/1/approve", `{"note": "seen in the VPN log"}`)
	// Output:
	// 403 respond: not allowed: overriding a guardrail is a person's act: the API decides past a guardrail for no caller, API token or person, token:soar included; without override, a decision a guardrail objects to is held for an approver
	//     hint: send the decision without override: a guardrail holds it, and an approver decides on the web UI's decisions page, signed in with a second factor
	// 201 decision 1 held: no-inventory: no asset inventory for this hospital, so omamori cannot tell whether the target is a medical device
	// 403 approve decision 1: respond: not allowed: token:soar is an API token, whatever its scopes; to approve a decision takes a person with role approver, signed in to the web UI with a second factor
	//     hint: a viewer only sees decisions; a responder adds, extends and revokes them; approving or rejecting a held one needs an approver
	// 200 decision 1 active: no-inventory: no asset inventory for this hospital, so omamori cannot tell whether the target is a medical device
}
