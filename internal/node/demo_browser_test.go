package node

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/store"
)

// TestDemoInTheBrowser runs what `omamori demo` runs — the demo hospital's inventory and rule,
// the careless isolate-both-ends policy, the replayed attack — and then, in a real headless
// Chromium, the demo account signs in with its password and TOTP code, finds the attack's
// incident, and approves the held isolation of the ventilator, which becomes active.
func TestDemoInTheBrowser(t *testing.T) {
	exe := os.Getenv("OMAMORI_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if exe == "" {
			exe, _ = exec.LookPath(name)
		}
	}
	if exe == "" {
		t.Skip("browser test skipped: no chromium found (install Debian's: apt-get install -y chromium)")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx := t.Context()
	dir := t.TempDir()
	own := filepath.Join(dir, "hospital")
	if err := os.CopyFS(own, scenario.Hospital()); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Set: []string{"data_dir=" + dir, "http.listen=127.0.0.1:0", "ingest.batch_wait=10ms",
		"ingest.syslog=[{name: fw, protocol: tcp, listen: '127.0.0.1:0'}]",
		"detect.sigma_rules=[" + filepath.Join(own, "rules") + "]", "respond.assets=" + filepath.Join(own, "assets.csv")}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Respond.Policies = append([]config.ResponsePolicy{{Name: "isolate-life-support-intruder", Rules: []string{scenario.LifeSupportRule},
		Action: "isolate", Target: "destination", TTL: 4 * time.Hour}}, cfg.Respond.Policies...)
	n, err := Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(ctx)
	tenant := cfg.Ingest.DefaultTenant
	_, token, err := auth.Issue(ctx, n.Store.Tenant(tenant), "test", auth.Request{Name: "replay", Scopes: []auth.Scope{auth.ScopeIngest}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + n.HTTPAddr.String()
	if _, err := scenario.Replay(ctx, scenario.Target{Syslog: n.Syslog["fw"].String(), API: base, Token: token.Reveal()},
		scenario.Ransomware(time.Now().Add(-15*time.Minute))); err != nil {
		t.Fatal(err)
	}
	password := auth.NewPassword()
	_, key, err := n.Accounts.CreateUser(ctx, "test", auth.NewUser{Tenant: tenant, Name: "demo", Password: password,
		Roles: []auth.Role{auth.RoleAdmin, auth.RoleApprover, auth.RoleIncidentLead, auth.RoleAuthorityLiaison}, TOTP: true})
	if err != nil {
		t.Fatal(err)
	}
	var held decision.Decision
	for deadline := time.Now().Add(time.Minute); held.ID == 0; time.Sleep(100 * time.Millisecond) {
		ds, err := n.Respond.List(ctx, tenant, store.DecisionFilter{Value: scenario.Ventilator, Status: []decision.Status{decision.StatusHeld}})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 {
			held = ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("no held decision about the ventilator after a minute")
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "ja-JP"))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644)
		})
	}
	today := time.Now().In(cfg.Location())
	err = chromedp.Do(bctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#name`)),
		chromedp.SendKeys(chromedp.CSS(`#name`), "demo"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		chromedp.SendKeys(chromedp.CSS(`#code`), auth.TOTP(key, time.Now())),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`table.bars`)),
		shot("demo-1-dashboard"),
		chromedp.Navigate(base+"/t/"+tenant+"/incidents"),
		chromedp.WaitVisible(`//a[contains(., "CVE-2018-13379")]`),
		shot("demo-2-incidents"),
		chromedp.Navigate(base+"/t/"+tenant+"/decisions"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#approve-%d`, held.ID))),
		shot("demo-3-held"),
		chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`#note-%d`, held.ID)), "ICUは手動換気に切替済み"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#approve-%d`, held.ID))),
		chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf(`#approve-%d`, held.ID))),
		shot("demo-4-approved"),
		// What arrived, counted from the bus: the gateway's listener with its FortiGate logs.
		chromedp.Navigate(base+"/t/"+tenant+"/sources"),
		chromedp.WaitVisible(`//table[@id="source-table"]//th[text()="fw"]`),
		shot("demo-5-sources"),
		// The attacker's every record in the archive, and the export an authority can verify.
		chromedp.Navigate(base+"/t/"+tenant+"/archive?ip="+scenario.Attacker+"&from="+today.AddDate(0, 0, -1).Format(time.DateOnly)+
			"&to="+today.Format(time.DateOnly)),
		chromedp.WaitVisible(chromedp.CSS(`#export`)),
		shot("demo-6-archive"),
	)
	if err != nil {
		t.Fatalf("in the browser: %v", err)
	}
	rows, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`#archive-results`)))
	if err != nil || !strings.Contains(rows, scenario.Attacker) {
		t.Errorf("the archive search for the attacker shows %q (%v), want its records", rows, err)
	}
	d, err := n.Respond.Get(ctx, tenant, held.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != decision.StatusActive || !strings.Contains(d.UpdatedBy, "demo") || !bytes.Contains([]byte(d.Note), []byte("手動換気")) {
		t.Errorf("after the approval the decision is %s by %q with note %q, want active by the demo account with its note", d.Status, d.UpdatedBy, d.Note)
	}
}
