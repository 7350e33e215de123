package crowdsec_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/omamori-project/omamori/internal/crowdsec"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/store"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "crowdsec-example")
	defer os.RemoveAll(dir)
	st, _ := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	defer st.Close()
	st.CreateTenant(ctx, "cli", store.Tenant{ID: "tokyo"})
	now := time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC)
	st.Tenant("tokyo").CreateDecision(ctx, "rule:behavior.bruteforce", decision.Decision{Action: "block", Scope: "ip",
		Value: "203.0.113.7", TTL: 4 * time.Hour, Expires: now.Add(4 * time.Hour), Reason: "SSH brute force",
		Origin: decision.Origin{Kind: "rule", Name: "behavior.bruteforce"}, Status: "active"})

	// The gateway's firewall bouncer has this key in its configuration (api_key).
	keys, _ := crowdsec.NewStaticKeys(map[string]crowdsec.Bouncer{
		"3f1c9a7e5b2d4c6a8e0f": {Tenant: "tokyo", Name: "gw-tokyo"},
	})
	srv := httptest.NewServer(crowdsec.NewHandler(st, crowdsec.Config{Keys: keys, Now: func() time.Time { return now }}))
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/v1/decisions/stream?startup=true", nil)
	req.Header.Set("X-Api-Key", "3f1c9a7e5b2d4c6a8e0f")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	// Output:
	// {"new":[{"duration":"4h0m0s","id":1,"origin":"omamori","scenario":"omamori/rule:behavior.bruteforce","scope":"Ip","type":"ban","until":"2026-04-01T06:00:00Z","value":"203.0.113.7"}],"deleted":[]}
}
