package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/asset"
)

// replaceAssets is what the node does with an upload, minus the store: the file checked whole
// by package asset, then in force.
func (f *fixture) replaceAssets(_ context.Context, tenant, _ string, csv []byte) (int, error) {
	list, err := asset.ParseCSV(bytes.NewReader(csv))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidUpload, err)
	}
	inv, err := asset.New(list)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidUpload, err)
	}
	f.inv[tenant] = inv
	return len(list), nil
}

// upload posts csv as the inventory file of the assets form, with the CSRF token of the page.
func upload(t *testing.T, c *http.Client, base, csrf, csv string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("inventory", "assets.csv")
	fw.Write([]byte(csv))
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/t/tokyo/assets", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAssetsUpload(t *testing.T) {
	f := newFixture(t, false)
	sato := f.signIn(t, "sato") // admin: settings.manage
	_, page := do(t, sato, "GET", f.ts.URL+"/t/tokyo/assets", nil)
	contains(t, "admin's assets page", page, []string{`id="assets-upload"`, `enctype="multipart/form-data"`})
	csrf := csrfOf(t, page)

	// A file with a mistake changes nothing and says where it is.
	code, body := upload(t, sato, f.ts.URL, csrf, "address,name,category,department,protected\n10.20.9.9,new pump,life-saving,ICU,\n")
	if code != http.StatusBadRequest || !strings.Contains(body, "何も変わっていません") || !strings.Contains(body, "life-saving") {
		t.Errorf("a bad file = %d", code)
	}
	if _, ok := f.inv["tokyo"].Lookup(netip.MustParseAddr("10.20.1.11")); !ok {
		t.Error("a refused file replaced the inventory")
	}
	// A good one is in force, and the page says so.
	code, body = upload(t, sato, f.ts.URL, csrf, "address,name,category,department,protected\n10.20.9.9,new infusion pump,life-support,ICU,\n")
	if code != http.StatusOK || !strings.Contains(body, "1 件の資産台帳を反映しました") || !strings.Contains(body, "new infusion pump") {
		t.Errorf("a good file = %d", code)
	}
	if a, ok := f.inv["tokyo"].Lookup(netip.MustParseAddr("10.20.9.9")); !ok || a.Category != asset.LifeSupport {
		t.Errorf("after the upload: %+v, %v; want the pump as life-support", a, ok)
	}

	// An analyst sees the inventory but neither the form nor the right to send one.
	tanaka := f.signIn(t, "tanaka")
	_, page = do(t, tanaka, "GET", f.ts.URL+"/t/tokyo/assets", nil)
	contains(t, "analyst's assets page", page, nil, `id="assets-upload"`)
	if code, _ := upload(t, tanaka, f.ts.URL, csrfOf(t, page), "address,name,category,department,protected\n"); code != http.StatusForbidden {
		t.Errorf("an analyst's upload = %d, want 403", code)
	}
	// Without the page's CSRF token nothing is taken.
	if code, _ := upload(t, sato, f.ts.URL, "forged", "address,name,category,department,protected\n"); code != http.StatusForbidden {
		t.Errorf("an upload without the CSRF token = %d, want 403", code)
	}
}
