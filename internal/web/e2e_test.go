package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
)

// chromium finds a Chromium to drive: $OMAMORI_CHROMIUM, else Debian's or another usual name.
func chromium(t *testing.T) string {
	if p := os.Getenv("OMAMORI_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("browser test skipped: no chromium found (install Debian's: apt-get install -y chromium, or set OMAMORI_CHROMIUM)")
	return ""
}

// TestBrowser signs in in a real headless Chromium with password and TOTP, reads the alerts,
// switches to English and back, opens the ventilator incident and ticks off its first step,
// approves the held decision to isolate the ventilator and sees it active, reviews a
// break-glass access (made through a real access.Decider) after reading the patient's access
// log, issues an API token (shown once, gone on reload) and revokes it, creates an
// approver's account (initial password and TOTP key shown once), whose holder then signs in
// and must choose a password of their own, and saves a screenshot of each step (go test
// -artifacts keeps them under the output directory). On the way it reads the sources page and
// searches the archive.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	f := newFixture(t, false)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // the test may run as root in CI, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "ja-JP"),
	)
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	dir := t.ArtifactDir()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		})
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	// change fires the change event on a select, as a person choosing an option does.
	change := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.querySelector('`+sel+`').dispatchEvent(new Event('change', {bubbles: true}))`)(ctx, tg)
			return err
		})
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(f.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#name`)),
		shot("1-signin"),
		chromedp.SendKeys(chromedp.CSS(`#name`), "tanaka"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		shot("2-totp"),
	)
	if err != nil {
		t.Fatalf("sign in with password: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#code`), auth.TOTP(f.keys["tanaka"], time.Now())),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`table.bars`)),
		shot("3-dashboard"),
	)
	if err != nil {
		t.Fatalf("second factor: %v", err)
	}
	if h := text("h1"); h != "ダッシュボード" {
		t.Errorf("after sign-in the heading is %q, want ダッシュボード", h)
	}

	// From the dashboard's ingest card to the sources page: the silent domain controller
	// first, and the dead letters an analyst may read.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#ingest a[href="/t/tokyo/sources"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#dead-letter-table`)),
		shot("3b-sources"),
	)
	if err != nil {
		t.Fatalf("sources: %v", err)
	}
	if row := text("#source-table tbody tr"); !strings.Contains(row, "dc01-winlogbeat") || !strings.Contains(row, "途絶") {
		t.Errorf("first source row: %q, want the silent domain controller", row)
	}
	if dl := text("#dead-letter-table"); !strings.Contains(dl, `\x00`) || strings.Contains(dl, "osaka") {
		t.Errorf("dead letters: %q", dl)
	}

	// The archive: a doctor's accesses of two days, searched from the form.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/archive"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#where`)),
		chromedp.SetValue(chromedp.CSS(`#from`), "2026-03-31"),
		chromedp.SetValue(chromedp.CSS(`#to`), "2026-04-01"),
		chromedp.SendKeys(chromedp.CSS(`#user`), "D001"),
		chromedp.Click(chromedp.CSS(`#search`)),
		chromedp.WaitVisible(chromedp.CSS(`#archive-results`)),
		shot("3c-archive"),
	)
	if err != nil {
		t.Fatalf("archive search: %v", err)
	}
	if rows := text("#archive-results"); !strings.Contains(rows, "D001") || strings.Contains(rows, "Osaka") {
		t.Errorf("archive results: %q, want D001's records of tokyo", rows)
	}

	// The alerts page, then the level filter, which htmx applies without a reload.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/alerts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#alert-table`)),
		shot("4-alerts"),
		chromedp.SetValue(chromedp.CSS(`#level`), "critical"),
		change("#level"),
		chromedp.WaitVisible(`//p[contains(., "全 1 件")]`),
		shot("5-alerts-critical"),
	)
	if err != nil {
		t.Fatalf("alerts: %v", err)
	}
	if body := text("#alert-table"); !strings.Contains(body, "CVE-2018-13379") || strings.Contains(body, "Port scan") || strings.Contains(body, "Osaka") {
		t.Errorf("critical alerts of tokyo: %q", body)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.Contains(loc, "/t/tokyo/alerts?level=critical") {
		t.Errorf("URL after filtering = %s, want the filter in it (hx-push-url)", loc)
	}

	// English, one click away, and back.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#lang-switch`)),
		chromedp.WaitVisible(`//h1[text()="Alerts"]`),
		shot("6-alerts-en"),
	)
	if err != nil {
		t.Fatalf("switch to English: %v", err)
	}
	// The switch kept the filter chosen before it (htmx updated the form's return path).
	if body := text("#alerts-view"); !strings.Contains(body, "Showing 1–1 of 1") || !strings.Contains(body, "Critical") {
		t.Errorf("English alert list: %q, want the one critical alert", body)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#lang-switch`)),
		chromedp.WaitVisible(`//h1[text()="アラート一覧"]`),
	)
	if err != nil {
		t.Fatalf("back to Japanese: %v", err)
	}

	// The incident about the ventilator: from the dashboard's count to the list, to the
	// incident, its clocks and its checklist; the first step ticked off.
	held := strconv.FormatInt(f.held, 10)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tile-held`)),
		shot("8-dashboard-incidents"),
		chromedp.Click(chromedp.CSS(`#tile-incidents`)),
		chromedp.WaitVisible(chromedp.CSS(`#incident-table`)),
		shot("9-incidents"),
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/incidents/`+f.incidents["tokyo"]+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#incident-state`)),
		chromedp.Click(chromedp.CSS(`#step-medical-device-patient-safety`)),
		chromedp.WaitVisible(chromedp.CSS(`#step-medical-device-patient-safety[aria-pressed="true"]`)),
		shot("10-incident"),
	)
	if err != nil {
		t.Fatalf("incident: %v", err)
	}
	if h := text("h1"); !strings.Contains(h, "Write to an ICU ventilator") || !strings.Contains(h, "緊急") {
		t.Errorf("incident heading %q, want the ventilator incident, critical", h)
	}
	if c := text("#clocks-h + ul"); !strings.Contains(c, "初動(受付)") || !strings.Contains(c, "残り") {
		t.Errorf("incident clocks %q, want the acknowledge clock with its time left", c)
	}

	// The held decision: isolating the ventilator waits for an approver, who approves it with
	// a comment and sees it active.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/decisions?alert=tokyo-vent"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#held-`+held)),
		shot("11-decisions-held"),
		chromedp.SendKeys(chromedp.CSS(`#note-`+held), "ICU は手動換気に切替済み"),
		chromedp.Click(chromedp.CSS(`#approve-`+held)),
		chromedp.WaitVisible(`//h2[@id="held-h" and contains(., "0 件")]`),
		shot("12-decisions-approved"),
	)
	if err != nil {
		t.Fatalf("approve the held decision: %v", err)
	}
	if row := text("#decision-" + held); !strings.Contains(row, "実行中") || !strings.Contains(row, "10.20.1.11") || !strings.Contains(row, "手動換気") {
		t.Errorf("approved decision row: %q, want it active with the comment", row)
	}
	if d, err := f.dec.Get(t.Context(), "tokyo", f.held); err != nil || d.Status != decision.StatusActive || d.UpdatedBy != "person:tanaka" {
		t.Errorf("stored decision after approval: %+v, %v", d, err)
	}
	// The inventory the guardrail read: the ventilator is marked as life-support.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/assets"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#asset-table`)),
		shot("13-assets"),
	)
	if err != nil {
		t.Fatalf("assets: %v", err)
	}
	if row := text("tr.cat-life-support"); !strings.Contains(row, "ICU ventilator bed 1") || !strings.Contains(row, "生命維持") {
		t.Errorf("first life-support row: %q, want the ventilator", row)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.WaitVisible(chromedp.CSS(`#name`)),
	)
	if err != nil {
		t.Fatalf("sign out: %v", err)
	}
	// An administrator grants a role with one click on the users page.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#name`), "sato"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		chromedp.SendKeys(chromedp.CSS(`#code`), auth.TOTP(f.keys["sato"], time.Now())),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`table.bars`)),
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/users"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.users`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="suzuki に 分析担当(L1) の役割を付与"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="suzuki から 分析担当(L1) の役割を解除"]`)),
		shot("7-users"),
	)
	if err != nil {
		t.Fatalf("users page: %v", err)
	}
	// The break-glass access the fixture made through a real access.Decider waits in the
	// review queue, overdue; the administrator reads the patient's access log around it (the
	// decision and the EHR's own line), comes back and judges it not justified, with a note.
	review := f.review
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/access/reviews"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#review-`+review)),
		shot("14-access-reviews"),
		chromedp.Click(chromedp.CSS(`#patient-log-`+review)),
		chromedp.WaitVisible(chromedp.CSS(`#access-log`)),
		shot("15-access-log"),
	)
	if err != nil {
		t.Fatalf("break-glass review queue and access log: %v", err)
	}
	if log := text("#access-log"); !strings.Contains(log, "N002") || !strings.Contains(log, "緊急アクセス") ||
		!strings.Contains(log, "電子カルテのログ") || !strings.Contains(log, "omamori の判定") {
		t.Errorf("patient P005's access log: %q, want the break-glass in omamori's decision and the EHR's log", log)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/access/reviews"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#review-`+review)),
		chromedp.SendKeys(chromedp.CSS(`#note-`+review), "受け持ち外。本人と所属長に確認"),
		chromedp.Click(chromedp.CSS(`#not-justified-`+review)),
		chromedp.WaitVisible(chromedp.CSS(`#reviewed-`+review)),
		shot("16-access-reviewed"),
	)
	if err != nil {
		t.Fatalf("review the break-glass access: %v", err)
	}
	if row := text("#reviewed-" + review); !strings.Contains(row, "妥当でない") || !strings.Contains(row, "本人と所属長に確認") || !strings.Contains(row, "sato") {
		t.Errorf("reviewed row: %q, want not justified with the note, by sato", row)
	}
	if it, err := f.reviews.Get(t.Context(), "tokyo", review); err != nil || it.Outcome != "not_justified" {
		t.Errorf("stored review after the browser's verdict: %+v, %v", it, err)
	}

	// Settings: the administrator issues an API token for the firewall's log forwarder, sees
	// it once, reloads and sees it no more; revokes it after the confirmation; and creates an
	// approver's account, whose initial password and TOTP key are shown once.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/tokens"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-form`)),
		chromedp.SendKeys(chromedp.CSS(`#token-name`), "fortigate-tokyo"),
		chromedp.Click(chromedp.CSS(`#token-form input[name="scope"][value="ingest"]`)),
		chromedp.SendKeys(chromedp.CSS(`#token-days`), "90"),
		chromedp.Click(chromedp.CSS(`#token-create`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-secret`)),
		shot("17-token-issued"),
	)
	if err != nil {
		t.Fatalf("issue a token: %v", err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#token-secret`)))
	if err != nil || !strings.HasPrefix(secret, auth.Prefix) {
		t.Fatalf("token shown: %q, %v", secret, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/tokens"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-table`)),
	)
	if err != nil {
		t.Fatalf("reload the tokens page: %v", err)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`html`))); err != nil || strings.Contains(html, secret) || !strings.Contains(html, "fortigate-tokyo") {
		t.Errorf("tokens page after reload shows the token again, or not its name (%v)", err)
	}
	p, err := auth.NewVerifier(f.store, nil).Verify(t.Context(), auth.Secret(secret))
	if err != nil || p.Tenant != "tokyo" {
		t.Fatalf("token issued in the browser: %+v, %v", p, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#token-`+p.TokenID+` a`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-revoke-confirm`)),
		shot("18-token-revoke"),
		chromedp.Click(chromedp.CSS(`#token-revoke-confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-table`)),
		shot("19-token-revoked"),
	)
	if err != nil {
		t.Fatalf("revoke the token: %v", err)
	}
	if row := text("#token-" + p.TokenID); !strings.Contains(row, "失効済み") {
		t.Errorf("revoked token's row: %q", row)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/t/tokyo/users"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-form`)),
		chromedp.SendKeys(chromedp.CSS(`#user-name`), "yamamoto.h"),
		chromedp.SendKeys(chromedp.CSS(`#user-display`), "山本 花子"),
		chromedp.Click(chromedp.CSS(`#user-form input[name="role"][value="approver"]`)),
		chromedp.Click(chromedp.CSS(`#user-create`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-totp-key`)),
		shot("20-user-created"),
	)
	if err != nil {
		t.Fatalf("create a user: %v", err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#new-password`)))
	if err != nil {
		t.Fatal(err)
	}
	keyText, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#new-totp-key`)))
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.ParseTOTPKey(keyText)
	if err != nil {
		t.Fatalf("TOTP key shown: %q: %v", keyText, err)
	}

	// The new approver signs in with what the administrator handed over, and must choose a
	// password of their own before anything else.
	own := "私のパスフレーズ ICU 2026"
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.WaitVisible(chromedp.CSS(`#name`)),
		chromedp.SendKeys(chromedp.CSS(`#name`), "yamamoto.h"),
		chromedp.SendKeys(chromedp.CSS(`#password`), shown),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		chromedp.SendKeys(chromedp.CSS(`#code`), auth.TOTP(key, time.Now())),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#password-required`)),
		shot("21-password-required"),
		chromedp.SendKeys(chromedp.CSS(`#current`), shown),
		chromedp.SendKeys(chromedp.CSS(`#new`), own),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), own),
		chromedp.Click(chromedp.CSS(`#change-password`)),
		chromedp.WaitVisible(chromedp.CSS(`table.bars`)),
		shot("22-first-dashboard"),
	)
	if err != nil {
		t.Fatalf("first sign-in of the new approver: %v", err)
	}
	if u, err := f.store.LookupUser(t.Context(), "yamamoto.h"); err != nil || u.TemporaryPassword {
		t.Errorf("the new approver after choosing a password: %+v, %v; want a password of their own", u, err)
	}
	t.Logf("screenshots in %s", dir)
}
