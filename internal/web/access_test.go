package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
)

// accessAt is when the fixture's accesses happen: a time the test hospital's roster (its
// training dates) is valid for. Their reviews, due 72 hours later, are overdue now.
var accessAt = time.Date(2026, 4, 1, 10, 0, 0, 0, JST)

// archiveRecorder appends each decision to the archive, as the integrator wires it.
type archiveRecorder struct{ a *archive.Archive }

func (r archiveRecorder) RecordDecision(ctx context.Context, d *access.Decision) error {
	ev, err := d.Event()
	if err != nil {
		return err
	}
	return r.a.Append(ctx, d.Tenant, 0, []event.Event{ev})
}

// ehrLine is one line of the EHR's own access log (docs/ehr-access-log.md): the nurse's
// break-glass as the EHR recorded it.
const ehrLine = `{"schema":"omamori.ehr.access/1","time":"2026-04-01T01:00:05Z","event_id":"e-1","system":"ehr-main",` +
	`"user":{"id":"N002","role":"nurse"},"patient":{"id":"P005"},"data_type":"chart","action":"view",` +
	`"terminal":{"id":"ER-PC-02","ip":"10.20.9.40"},"purpose_of_use":"ETREAT","outcome":"allowed",` +
	`"break_glass":{"used":true,"reason":"EHR側の記録:意識障害"}}`

// accessServices makes access decisions through real Deciders (the test hospital's roster,
// the default Cedar policies) for tokyo and osaka, with the break-glass ones queued in the
// store and every one recorded in a real archive beside a line of the EHR's own log.
func (f *fixture) accessServices(t testing.TB) {
	t.Helper()
	ctx := t.Context()
	keys, err := keyring.New(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	f.archive, err = archive.Open(ctx, archive.Options{Dir: t.TempDir(), Keys: keys, CheckpointEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.archive.Close() })
	ents, err := access.LoadCSV(filepath.Join("..", "access", "testdata", "hospital"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := access.NewDirectory()
	if err := dir.Replace(ents); err != nil {
		t.Fatal(err)
	}
	f.reviews = access.NewStoreQueue(f.store)
	decider := func(tenant string) *access.Decider {
		d, err := access.New(tenant, access.Options{Directory: dir, Reviews: f.reviews, Recorder: archiveRecorder{f.archive},
			Now: func() time.Time { return accessAt }})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tokyo, osaka := decider("tokyo"), decider("osaka")
	ward := access.Device{ID: "ER-PC-02", Managed: true, Compliant: true, Location: "ER", Network: access.NetworkWard}
	bg := tokyo.Decide(ctx, access.Request{Subject: access.Subject{ID: "N002"}, Action: access.ActionView,
		Resource: access.Resource{Patient: "P005", DataType: "chart", Department: "internal_medicine"}, Device: ward,
		Emergency: true, PurposeOfUse: "ETREAT", Reason: "意識障害で救急搬送、既往歴の確認のため"})
	if !bg.BreakGlass {
		t.Fatalf("fixture: tokyo's emergency access = %+v, want break-glass", bg)
	}
	f.review = bg.ID
	// Enough of the attending doctor's own accesses for two pages of the access log.
	for i := range accessLogPerPage + 5 {
		req := access.Request{Time: accessAt.Add(time.Duration(i) * time.Minute), Subject: access.Subject{ID: "D001"},
			Action: access.ActionView, Resource: access.Resource{Patient: "P001", DataType: "lab"}, Device: ward}
		if d := tokyo.Decide(ctx, req); !d.Allowed() {
			t.Fatalf("fixture: the attending doctor's access = %+v, want allowed", d)
		}
	}
	if d := osaka.Decide(ctx, access.Request{Subject: access.Subject{ID: "N002"}, Action: access.ActionView,
		Resource: access.Resource{Patient: "P005", DataType: "psychiatric"}, Device: ward,
		Emergency: true, PurposeOfUse: "BTG", Reason: "Osaka-only emergency"}); !d.BreakGlass {
		t.Fatalf("fixture: osaka's emergency access = %+v, want break-glass", d)
	}
	dec, err := decode.New("ehr", decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := event.Event{Tenant: "tokyo", Received: accessAt, Raw: []byte(ehrLine)}
	if err := dec.Decode(&e); err != nil {
		t.Fatal(err)
	}
	if err := f.archive.Append(ctx, "tokyo", 0, []event.Event{e}); err != nil {
		t.Fatal(err)
	}
	if err := f.archive.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAccessReviewsPage(t *testing.T) {
	f := newFixture(t, false)
	base := f.ts.URL + "/t/tokyo/access/reviews"
	sato := f.signIn(t, "sato") // admin

	resp, body := do(t, sato, "GET", base, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET reviews = %d", resp.StatusCode)
	}
	contains(t, "review queue", body, []string{"未確認(1 件)", "期限超過 1 件", "職員 N002 が患者 P005 の記録を閲覧",
		"意識障害で救急搬送、既往歴の確認のため", "診療録", "ETREAT", `id="justified-` + f.review,
		`href="/t/tokyo/access/log?patient=P005&amp;from=2026-03-31&amp;to=2026-04-02"`}, "Osaka-only")
	// A viewer sees neither the queue nor its link.
	suzuki := f.signIn(t, "suzuki")
	if resp, _ := do(t, suzuki, "GET", base, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer: GET reviews = %d, want 403", resp.StatusCode)
	}
	if _, body := do(t, suzuki, "GET", f.ts.URL+"/t/tokyo/", nil); strings.Contains(body, "/access/reviews") {
		t.Errorf("viewer's dashboard links to the review queue")
	}

	post := func(outcome, note string) (*http.Response, string) {
		return do(t, sato, "POST", base+"/"+f.review, url.Values{"csrf": {csrfOf(t, body)}, "outcome": {outcome}, "note": {note}})
	}
	for _, c := range []struct {
		outcome, note string
		status        int
		want          string
	}{
		{"maybe", "", http.StatusBadRequest, "「妥当」か「妥当でない」"},
		{"not_justified", " ", http.StatusBadRequest, "所見を書いてください"},
		{"justified", strings.Repeat("長", 1000), http.StatusBadRequest, "2000文字以内"},
	} {
		if resp, body := post(c.outcome, c.note); resp.StatusCode != c.status || !strings.Contains(body, c.want) {
			t.Errorf("review %q with note %q = %d, want %d saying %q", c.outcome, c.note, resp.StatusCode, c.status, c.want)
		}
	}
	if resp, _ := do(t, sato, "POST", base+"/nope", url.Values{"csrf": {csrfOf(t, body)}, "outcome": {"justified"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("review of an unknown access = %d, want 404", resp.StatusCode)
	}
	if resp, _ := post("not_justified", "担当外の閲覧、本人に確認"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("review = %d, want 303", resp.StatusCode)
	}
	_, body = do(t, sato, "GET", base, nil)
	contains(t, "after review", body, []string{"未確認の緊急アクセスはありません", `id="reviewed-` + f.review, "妥当でない",
		"担当外の閲覧、本人に確認", "sato"})
	if resp, body := post("justified", ""); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "すでに判定されています") {
		t.Errorf("second review = %d, want 409 already reviewed", resp.StatusCode)
	}
	it, err := f.reviews.Get(t.Context(), "tokyo", f.review)
	if err != nil || it.Outcome != access.OutcomeNotJustified || it.Reviewer != "user:"+f.ids["sato"] {
		t.Errorf("stored review = %+v, %v; want not justified by user:%s", it, err, f.ids["sato"])
	}
	log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 1)
	if len(log) != 1 || log[0].Action != "review.complete" || log[0].Object != f.review {
		t.Errorf("audit log = %+v, want the verdict", log)
	}
	// Osaka's queue is osaka's own.
	if p, _ := f.reviews.Pending(t.Context(), "osaka"); len(p) != 1 {
		t.Errorf("osaka's queue has %d items, want its one", len(p))
	}
}

func TestAccessLogPage(t *testing.T) {
	f := newFixture(t, false)
	sato := f.signIn(t, "sato")
	search := func(q url.Values) (*http.Response, string) {
		return do(t, sato, "GET", f.ts.URL+"/t/tokyo/access/log?"+q.Encode(), nil)
	}
	april := func(kv ...string) url.Values {
		q := url.Values{"from": {"2026-03-31"}, "to": {"2026-04-01"}}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}

	_, body := search(url.Values{})
	contains(t, "empty search", body, []string{"患者IDか職員IDを入力", `type="date"`}, "<table")

	_, body = search(april("patient", "P005"))
	contains(t, "by patient", body, []string{"N002", "P005", "緊急アクセス", "意識障害で救急搬送", "EHR側の記録:意識障害",
		"omamori の判定", "電子カルテのログ", "break-glass"}, "Osaka-only", "P001")
	log, _ := f.store.Tenant("tokyo").AuditLog(t.Context(), 1)
	if len(log) != 1 || log[0].Action != "access_log.search" || log[0].Actor != "user:"+f.ids["sato"] || log[0].Object != "P005" {
		t.Errorf("audit log after a search = %+v, want the search by sato for P005", log)
	}
	_, body = search(april("patient", "P005", "source", "ehr"))
	contains(t, "EHR log only", body, []string{"EHR側の記録:意識障害"}, "意識障害で救急搬送")

	_, body = search(april("user", "D001"))
	contains(t, "by user, first page", body, []string{"1 件目から 50 件を表示", "P001", "検査結果", `id="next"`}, "P005", `id="prev"`)
	if n := strings.Count(body, "<td><time"); n != accessLogPerPage {
		t.Errorf("first page has %d rows, want %d", n, accessLogPerPage)
	}
	_, body = search(april("user", "D001", "page", "2"))
	contains(t, "by user, second page", body, []string{"51 件目から 5 件を表示", `id="prev"`}, `id="next"`)

	_, body = search(url.Values{"user": {"D001"}, "from": {"2026-05-01"}, "to": {"2026-05-31"}})
	contains(t, "another month", body, []string{"該当する記録はありません"})

	for _, q := range []url.Values{april("user", "D001", "from", "2026-04-02"), april("user", "D001", "to", "yesterday")} {
		if resp, body := search(q); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "期間が正しくありません") {
			t.Errorf("search %v = %d, want 400 with the dates refused", q, resp.StatusCode)
		}
	}
	// In English too.
	do(t, sato, "POST", f.ts.URL+"/lang", url.Values{"lang": {"en"}, "next": {"/t/tokyo/access/log"}})
	_, body = search(april("patient", "P005"))
	contains(t, "in English", body, []string{`<html lang="en">`, "Access log search", "Break-glass", "Chart", "EHR log"}, "緊急アクセス")
}

// A hospital just added has nothing in the archive yet: its access log finds nothing, and
// says so, rather than failing.
func TestAccessLogNothingArchived(t *testing.T) {
	f := newFixture(t, false)
	ito := f.newHospital(t, "nagoya", "ito", auth.RoleAuditor)
	resp, body := do(t, ito, "GET", f.ts.URL+"/t/nagoya/access/log?patient=P005", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("access log of a hospital with nothing archived = %d, want 200", resp.StatusCode)
	}
	contains(t, "empty access log", body, []string{"該当する記録はありません"})
}

func TestAccessNotConfigured(t *testing.T) {
	f := newFixture(t, false)
	srv, err := New(Options{Store: f.store, Accounts: f.accounts})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	sato := f.signIn(t, "sato")
	_, body := do(t, sato, "GET", ts.URL+"/t/tokyo/access/reviews", nil)
	contains(t, "reviews", body, []string{"確認キューが設定されていません"})
	_, body = do(t, sato, "GET", ts.URL+"/t/tokyo/access/log?patient=P005", nil)
	contains(t, "access log", body, []string{"アーカイブが設定されていない"})
}

// FuzzAccessLogQuery: whatever the query string, the access log answers a page or a refusal
// of the dates, never an error of its own, and shows nothing of another hospital.
func FuzzAccessLogQuery(f *testing.F) {
	for _, s := range []string{"patient=P005&from=2026-03-31&to=2026-04-01", "user=D001&page=2", "user=D001&page=-3&source=zzz",
		"patient=P005&from=2026-04-02&to=2026-04-01", "user=%00&from=9999-99-99", "patient=P005&page=999999999999999999999"} {
		f.Add(s)
	}
	newFixture(f, false).fuzzQuery(f, "sato", "/t/tokyo/access/log")
}

// BenchmarkAccessPages: one signed-in request for each access page over the fixture: the
// review queue (one pending, read from SQLite), and the access log searched by patient and
// by user over the fixture's archive (58 decisions and one EHR line).
func BenchmarkAccessPages(b *testing.B) {
	f := newFixture(b, false)
	benchPages(b, f, f.srv, []struct{ name, path, want string }{
		{"reviews", "/t/tokyo/access/reviews", `id="review-`},
		{"log-patient", "/t/tokyo/access/log?patient=P005&from=2026-03-31&to=2026-04-01", "<td><time"},
		{"log-user", "/t/tokyo/access/log?user=D001&from=2026-03-31&to=2026-04-01", "<td><time"},
	})
}

// BenchmarkAccessLogLarge: the access log page searched by patient and by user over an
// archive of 50,000 access decisions (2,000 staff, 5,000 patients, 30 days): the archive's
// bloom filters narrow a search by user, not by patient, so the patient search reads every
// block of the range.
func BenchmarkAccessLogLarge(b *testing.B) {
	f := newFixture(b, false)
	ctx := b.Context()
	keys, err := keyring.New(keyring.Generate())
	if err != nil {
		b.Fatal(err)
	}
	a, err := archive.Open(ctx, archive.Options{Dir: b.TempDir(), Keys: keys, CheckpointEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	const n = 50_000
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, JST)
	batch := make([]event.Event, 0, 1000)
	for i := range n {
		d := access.Decision{Schema: access.DecisionSchema, ID: fmt.Sprintf("d-%d", i), Tenant: "tokyo",
			Time: start.Add(time.Duration(i) * 30 * 24 * time.Hour / n), Subject: access.Subject{ID: fmt.Sprintf("S%04d", i%2000), Role: "nurse"},
			Action: "view", Patient: fmt.Sprintf("P%06d", (i*7)%5000), Resource: access.Resource{DataType: "chart"},
			Decision: "allow", Policies: []string{"assigned-care"}, Obligations: []string{"log"}, Reason: "assigned"}
		d.Resource.Patient = d.Patient
		e, err := d.Event()
		if err != nil {
			b.Fatal(err)
		}
		if batch = append(batch, e); len(batch) == cap(batch) {
			if err := a.Append(ctx, "tokyo", 0, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := a.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	srv, err := New(Options{Store: f.store, Accounts: f.accounts, Archive: a})
	if err != nil {
		b.Fatal(err)
	}
	benchPages(b, f, srv, []struct{ name, path, want string }{
		{"patient", "/t/tokyo/access/log?patient=P000007&from=2026-03-01&to=2026-03-31", "<td><time"},
		{"user", "/t/tokyo/access/log?user=S0001&from=2026-03-01&to=2026-03-31", "<td><time"},
	})
}

func benchPages(b *testing.B, f *fixture, srv *Server, pages []struct{ name, path, want string }) {
	c := f.signIn(b, "sato")
	u, _ := url.Parse(f.ts.URL)
	cookies := c.Jar.Cookies(u)
	for _, pg := range pages {
		b.Run(pg.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", pg.path, nil)
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), pg.want) {
					b.Fatalf("%s: status %d, or no %s", pg.path, rec.Code, pg.want)
				}
			}
		})
	}
}
