package respond_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/store"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "respond-example")
	defer os.RemoveAll(dir)
	st, _ := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	defer st.Close()
	st.CreateTenant(ctx, "cli", store.Tenant{ID: "tokyo"})

	s, err := respond.New(st, respond.Config{Policies: []respond.Policy{
		{Name: "brute-force", Rules: []string{"behavior.bruteforce"}, Action: decision.ActionBlock, TTL: 4 * time.Hour},
		{Name: "ransomware", Rules: []string{"behavior.ransomware"}, Action: decision.ActionIsolate, Target: respond.EntityHost, TTL: time.Hour},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	assets, _ := asset.ParseCSV(strings.NewReader("address,name,category,department\n10.20.1.11,ICU ventilator bed 1,life-support,ICU\n"))
	inv, _ := asset.New(assets)
	var allow respond.Networks
	allow.AddPrefix(netip.MustParsePrefix("10.0.0.53/32"), "hospital DNS resolver")
	s.SetGuardrails("tokyo", &respond.Guardrails{Assets: inv, Allow: []respond.Allowlist{&allow}})

	// The attacker is blocked.
	ds, _ := s.OnAlert(ctx, detect.Alert{ID: "a1", Tenant: "tokyo", RuleID: "behavior.bruteforce", Title: "SSH brute force",
		Entities: detect.Entities{Source: "203.0.113.7"}})
	fmt.Println(ds[0].Action, ds[0].Value, ds[0].Status)

	// Isolating the ventilator waits for a person.
	ds, _ = s.OnAlert(ctx, detect.Alert{ID: "a2", Tenant: "tokyo", RuleID: "behavior.ransomware", Title: "Mass encryption",
		Entities: detect.Entities{Host: "10.20.1.11"}})
	held := ds[0]
	fmt.Println(held.Action, held.Value, held.Status, "-", held.Guardrail)

	// A script's token may not approve it; the approver, signed in to the web UI with TOTP, may.
	script := respond.ByToken(auth.Principal{Tenant: "tokyo", TokenID: "soar", Scopes: []auth.Scope{auth.ScopeRespond}})
	_, err = s.Approve(ctx, "tokyo", script, held.ID, "")
	fmt.Println(err)
	mori := auth.Identity{UserID: "u1", Name: "mori", Roles: map[string][]auth.Role{"tokyo": {auth.RoleApprover}}, SecondFactor: true}
	d, _ := s.Approve(ctx, "tokyo", respond.SignedIn(mori, "tokyo"), held.ID, "ICU on manual ventilation")
	fmt.Println(d.Status, "by", d.UpdatedBy)
	// Output:
	// block 203.0.113.7 active
	// isolate 10.20.1.11 held - life-support: isolating 10.20.1.11 would cut off ICU ventilator bed 1 (life-support, ICU); a person must approve
	// approve decision 2: respond: not allowed: token:soar is an API token, whatever its scopes; to approve a decision takes a person with role approver, signed in to the web UI with a second factor
	// active by person:mori
}
