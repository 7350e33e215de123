package web

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/event"
)

// probeDay is the day of the firewall records the archive tests search for.
var probeDay = time.Date(2026, 5, 10, 9, 0, 0, 0, JST)

const (
	prober  = "198.51.100.77" // tokyo's probes come from here, and osaka's too
	other   = "198.51.100.99" // a few of tokyo's other records
	probes  = archivePerPage + 5
	auditor = "kato"
)

// archiveEvents adds to the fixture's archive the firewall's records of probes from prober
// at tokyo (one more page than fits), three of tokyo's records from another address, and
// osaka's own records of the same address; and signs in an auditor of tokyo.
func (f *fixture) archiveEvents(t *testing.T) *http.Client {
	t.Helper()
	ctx := t.Context()
	fw := func(tenant, src string, i int, msg string) event.Event {
		return event.Event{Tenant: tenant, Time: probeDay.Add(time.Duration(i) * time.Minute), Received: probeDay,
			Format: "fortigate", Dataset: "fortigate.traffic", Host: "fw-" + tenant, User: "admin", Category: "network",
			Action: "deny", Outcome: event.OutcomeFailure, SrcIP: netip.MustParseAddr(src), SrcPort: uint16(40000 + i),
			DstIP: netip.MustParseAddr("10.20.2.10"), DstPort: 443, Protocol: "tcp", Message: msg}
	}
	var tokyo, osaka []event.Event
	for i := range probes {
		tokyo = append(tokyo, fw("tokyo", prober, i, fmt.Sprintf("probe-%02d", i)))
	}
	for i := range 3 {
		tokyo = append(tokyo, fw("tokyo", other, i, fmt.Sprintf("other-%d", i)))
		osaka = append(osaka, fw("osaka", prober, i, "Osaka-only probe"))
	}
	for tenant, evs := range map[string][]event.Event{"tokyo": tokyo, "osaka": osaka} {
		if err := f.archive.Append(ctx, tenant, 0, evs); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.archive.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	u, _, err := f.accounts.CreateUser(ctx, "test", auth.NewUser{Tenant: "tokyo", Name: auditor, Password: password,
		Roles: []auth.Role{auth.RoleAuditor}})
	if err != nil {
		t.Fatal(err)
	}
	f.ids[auditor] = u.ID
	return f.signIn(t, auditor)
}

// may returns the search form's values for probeDay with kv set.
func may(kv ...string) url.Values {
	day := probeDay.Format(time.DateOnly)
	q := url.Values{"from": {day}, "to": {day}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func rowsOf(body string) int { return strings.Count(body, "<td><time") }

func TestArchiveSearch(t *testing.T) {
	f := newFixture(t, false)
	kato := f.archiveEvents(t)
	search := func(q url.Values) (*http.Response, string) {
		return do(t, kato, "GET", f.ts.URL+"/t/tokyo/archive?"+q.Encode(), nil)
	}

	// Before a search: the form, what it is for, and what an export is checked against.
	resp, body := search(url.Values{})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET archive = %d", resp.StatusCode)
	}
	// html/template writes the key's + signs as &#43;.
	contains(t, "no search yet", body, []string{"期間と条件を入れて検索", `type="date"`, `name="where"`,
		strings.ReplaceAll(f.archive.PublicKey(), "+", "&#43;"),
		`id="checkpoint"`, f.archive.Origin("tokyo")}, "<table", "probe-")
	if log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 1); len(log) > 0 && log[0].Action == "archive.search" {
		t.Errorf("showing the form was audited as a search: %+v", log[0])
	}

	for _, c := range []struct {
		name string
		q    url.Values
		rows int
		want []string
		not  []string
	}{
		{"condition", may("where", "source.ip="+prober), archivePerPage,
			[]string{"probe-00", "probe-49", "fortigate.traffic", "fw-tokyo", prober + ":40000 → 10.20.2.10:443", "2026-05-10 09:00:00 JST",
				`id="next"`, "1 件目から 50 件を表示"},
			[]string{"probe-50", "other-", "Osaka-only", `id="prev"`}},
		{"second page", may("where", "source.ip="+prober, "page", "2"), probes - archivePerPage,
			[]string{"probe-50", "probe-54", `id="prev"`, "51 件目から 5 件を表示"}, []string{"probe-49", `id="next"`}},
		{"address either way", may("ip", other), 3, []string{"other-0", "other-2"}, []string{"probe-"}},
		{"two conditions on lines", may("where", "source.ip = "+prober+"\r\nmessage~probe-5"), 5,
			[]string{"probe-50", "probe-54"}, []string{"probe-05", `id="next"`}},
		{"comma-separated", may("where", "event.action=deny, message~probe-0"), 10,
			[]string{"probe-00", "probe-09"}, []string{"probe-10", "other-"}},
		{"host and user, any case", may("host", "FW-TOKYO", "user", "Admin", "page", "2"), probes + 3 - archivePerPage,
			nil, []string{"Osaka-only"}},
		{"another day", may("from", "2026-05-11", "to", "2026-05-12", "where", "source.ip="+prober), 0,
			[]string{"該当する記録はありません"}, nil},
		{"default range", url.Values{"where": {"source.ip=" + prober}}, 0, []string{"該当する記録はありません"}, nil},
	} {
		resp, body := search(c.q)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: search %v = %d, want 200", c.name, c.q, resp.StatusCode)
			continue
		}
		if n := rowsOf(body); n != c.rows {
			t.Errorf("%s: search %v shows %d rows, want %d", c.name, c.q, n, c.rows)
		}
		contains(t, c.name, body, c.want, append(c.not, `id="export-form"`)...)
	}

	log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 1)
	if len(log) != 1 || log[0].Action != "archive.search" || log[0].Actor != "user:"+f.ids[auditor] ||
		!strings.Contains(log[0].Detail, "where=source.ip="+prober) {
		t.Errorf("audit log after a search = %+v, want the search by %s with its condition", log, auditor)
	}

	for _, c := range []struct {
		q    url.Values
		want string
	}{
		{may("where", "source.ip"), "条件「source.ip」を読めません"},
		{may("where", "event.action=deny\n=deny"), "条件「=deny」を読めません"},
		{may("ip", "198.51.100"), "「198.51.100」は IP アドレスとして読めません"},
		{may("from", "2026-05-11"), "期間が正しくありません"},
		{may("to", "yesterday"), "期間が正しくありません"},
	} {
		resp, body := search(c.q)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("search %v = %d, want 400 saying %q", c.q, resp.StatusCode, c.want)
		}
		if strings.Contains(body, "<table") {
			t.Errorf("search %v shows results beside its error", c.q)
		}
	}

	// In English too.
	do(t, kato, "POST", f.ts.URL+"/lang", url.Values{"lang": {"en"}, "next": {"/t/tokyo/archive"}})
	_, body = search(may("where", "source.ip"))
	contains(t, "in English", body, []string{`<html lang="en">`, "Archive search and export", "The condition “source.ip” cannot be read"},
		"条件")
}

func TestArchiveExport(t *testing.T) {
	f := newFixture(t, false)
	kato := f.archiveEvents(t)
	liaison := f.signIn(t, "liaison")
	page := "/t/tokyo/archive?" + may("where", "source.ip="+prober).Encode()
	export := func(c *http.Client, csrf string, q url.Values) (*http.Response, string) {
		q.Set("csrf", csrf)
		return do(t, c, "POST", f.ts.URL+"/t/tokyo/archive/export", q)
	}

	// An auditor may search but not export: no button, and the route refuses.
	_, body := do(t, kato, "GET", f.ts.URL+page, nil)
	contains(t, "auditor's results", body, []string{"probe-00"}, `id="export-form"`)
	if resp, _ := export(kato, csrfOf(t, body), may("where", "source.ip="+prober)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("auditor: export = %d, want 403", resp.StatusCode)
	}
	log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 1)
	if len(log) != 1 || log[0].Action != "archive.search" {
		t.Errorf("audit log after a refused export = %+v, want the search last", log)
	}

	// The authority liaison sees the button with how to verify, and gets a bundle.
	_, body = do(t, liaison, "GET", f.ts.URL+page, nil)
	contains(t, "liaison's results", body, []string{`id="export-form"`, `name="where" value="source.ip=` + prober + `"`,
		"omamori archive verify-bundle -key", "probe-00"})
	csrf := csrfOf(t, body)
	if resp, body := export(liaison, csrf, may("where", "source.ip")); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "条件「source.ip」を読めません") {
		t.Errorf("export with a bad condition = %d, want 400 saying so", resp.StatusCode)
	}
	if resp, _ := export(liaison, "forged", may("where", "source.ip="+prober)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("export without the CSRF token = %d, want 403", resp.StatusCode)
	}
	resp, bundle := export(liaison, csrf, may("where", "source.ip="+prober))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("liaison: export = %d, want 200:\n%s", resp.StatusCode, bundle)
	}
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/x-tar" ||
		cd != `attachment; filename=omamori-export-tokyo-2026-05-10-2026-05-10.tar` {
		t.Errorf("export headers: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	rep, err := archive.VerifyBundle(strings.NewReader(bundle), f.archive.PublicKey())
	if err != nil {
		t.Fatalf("VerifyBundle(export) = %v", err)
	}
	var want []string
	for i := range probes {
		want = append(want, fmt.Sprintf("probe-%02d", i))
	}
	if got := bundleMessages(t, bundle); rep.Records != probes || !slices.Equal(got, want) {
		t.Errorf("bundle holds %d records with messages %q, want %d: %q", rep.Records, got, probes, want)
	}
	log, _ = f.store.Tenant("tokyo").AuditLog(t.Context(), 1)
	if len(log) != 1 || log[0].Action != "archive.export" || log[0].Actor != "user:"+f.ids["liaison"] ||
		log[0].Object != rep.Checkpoint.Origin || !strings.Contains(log[0].Detail, fmt.Sprintf("records=%d", probes)) ||
		!strings.Contains(log[0].Detail, "where=source.ip="+prober) {
		t.Errorf("audit log after an export = %+v, want the export by liaison with its query and %d records", log, probes)
	}
	// A bundle altered on the way does not verify.
	altered := strings.Replace(bundle, "probe-07", "probe-70", 1)
	if _, err := archive.VerifyBundle(strings.NewReader(altered), f.archive.PublicKey()); !errors.Is(err, archive.ErrBundle) {
		t.Errorf("VerifyBundle(altered export) = %v, want %v", err, archive.ErrBundle)
	}
}

// bundleMessages returns the messages of the records in an export bundle, in order.
func bundleMessages(t *testing.T, bundle string) []string {
	t.Helper()
	tr := tar.NewReader(strings.NewReader(bundle))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatal("bundle has no records.ndjson")
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != "records.ndjson" {
			continue
		}
		var out []string
		sc := bufio.NewScanner(tr)
		for sc.Scan() {
			var r struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("records.ndjson: %v", err)
			}
			out = append(out, r.Message)
		}
		return out
	}
}

func TestArchiveNotConfigured(t *testing.T) {
	f := newFixture(t, false)
	srv, err := New(Options{Store: f.store, Accounts: f.accounts})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	liaison := f.signIn(t, "liaison")
	resp, body := do(t, liaison, "GET", ts.URL+"/t/tokyo/archive?"+may("where", "source.ip="+prober).Encode(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET archive = %d, want 200", resp.StatusCode)
	}
	contains(t, "archive", body, []string{"アーカイブが設定されていない"}, `name="where"`)
	q := may()
	q.Set("csrf", csrfOf(t, body))
	if resp, body := do(t, liaison, "POST", ts.URL+"/t/tokyo/archive/export", q); resp.StatusCode != http.StatusNotFound ||
		!strings.Contains(body, "アーカイブが設定されていない") {
		t.Errorf("export = %d, want 404 saying no archive is configured", resp.StatusCode)
	}
	if log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 1); len(log) > 0 && strings.HasPrefix(log[0].Action, "archive.") {
		t.Errorf("audit log = %+v, want nothing searched or exported", log)
	}
}

// An archive that holds nothing of the tenant's yet says so, rather than failing.
func TestArchiveExportEmptyTenant(t *testing.T) {
	f := newFixture(t, false)
	ito := f.newHospital(t, "nagoya", "ito", auth.RoleAuthorityLiaison)
	_, body := do(t, ito, "GET", f.ts.URL+"/t/nagoya/archive?"+may().Encode(), nil)
	contains(t, "empty archive", body, []string{"該当する記録はありません", `id="export-form"`})
	q := may()
	q.Set("csrf", csrfOf(t, body))
	if resp, body := do(t, ito, "POST", f.ts.URL+"/t/nagoya/archive/export", q); resp.StatusCode != http.StatusNotFound ||
		!strings.Contains(body, "まだ記録がない") {
		t.Errorf("export of an empty archive = %d, want 404 saying it holds nothing yet", resp.StatusCode)
	}
}

// FuzzArchiveQuery: whatever the query string, the archive page answers a page or a refusal
// of the search, never an error of its own, and shows nothing of another hospital.
func FuzzArchiveQuery(f *testing.F) {
	for _, s := range []string{"where=source.ip%3D198.51.100.77&from=2026-05-10&to=2026-05-10", "ip=198.51.100.77&page=2",
		"where=%3D%2C~%0A&page=-3", "from=2026-05-11&to=2026-05-10", "ip=%00&from=9999-99-99", "host=fw-osaka&page=999999999999999999999",
		"where=message~Osaka&from=2026-05-01&to=2026-05-31", "user="} {
		f.Add(s)
	}
	fx := newFixture(f, false)
	ctx := f.Context()
	ev := event.Event{Tenant: "osaka", Time: probeDay, Dataset: "fortigate.traffic", Host: "fw-osaka",
		SrcIP: netip.MustParseAddr(prober), Message: "Osaka-only probe"}
	if err := fx.archive.Append(ctx, "osaka", 0, []event.Event{ev}); err != nil {
		f.Fatal(err)
	}
	if err := fx.archive.Sync(ctx); err != nil {
		f.Fatal(err)
	}
	fx.fuzzQuery(f, "liaison", "/t/tokyo/archive")
}
