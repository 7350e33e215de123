package incident_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/store"
)

func ExampleService() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "omamori")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer st.Close()
	st.EnsureTenant(ctx, "system", store.Tenant{ID: "handa", Name: "半田病院"})

	jst := time.FixedZone("JST", 9*3600)
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, jst)
	notes := &incident.Recorder{}
	svc, err := incident.NewService(st, incident.Config{}, func() time.Time { return now }, notes, nil)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	// Two alerts about the same attacker become one incident.
	for i, a := range []detect.Alert{
		{ID: "a1", Tenant: "handa", RuleID: "behavior.brute_force", Title: "brute force on the SSL-VPN", Level: "high",
			Entities: detect.Entities{Source: "198.51.100.77"}, First: now, Last: now, Count: 10},
		{ID: "a2", Tenant: "handa", RuleID: "behavior.ransomware_burst", Title: "ransomware on FS01", Level: "critical",
			Techniques: []string{"T1486"}, Entities: detect.Entities{Source: "198.51.100.77", Host: "FS01"}, First: now, Last: now, Count: 25},
	} {
		if _, err := svc.Ingest(ctx, a, uint64(i+1)); err != nil {
			fmt.Println("error:", err)
			return
		}
	}
	list, _ := svc.List(ctx, "handa")
	inc := list[0]
	fmt.Println(len(list), inc.Severity, inc.State, inc.Alerts, inc.Kinds)

	// Nobody acknowledges it: three minutes on, the next tier is told.
	now = now.Add(3 * time.Minute)
	svc.CheckClocks(ctx)
	for _, n := range notes.Sent() {
		fmt.Println(strings.TrimSpace(n.Kind + " " + n.Tier + " " + n.Clock))
	}
	// The state machine refuses skipping phases, and says what is allowed.
	_, err = svc.Transition(ctx, "handa", inc.ID, "user:sato", incident.Recovered, "")
	var te *incident.TransitionError
	fmt.Println(errors.As(err, &te), te)
	// Output:
	// 1 critical new 2 [ransomware]
	// opened l1
	// warning l2 acknowledge
	// true cannot move an incident from new to recovered: from new it can go to triaged or closed
}
