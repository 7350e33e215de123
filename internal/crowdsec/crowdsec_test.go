package crowdsec

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdsecurity/crowdsec/pkg/models"
	csbouncer "github.com/crowdsecurity/go-cs-bouncer"
	"github.com/google/go-cmp/cmp"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const (
	tokyoKey = "tokyo-gw-key-0123456789abcdef"
	osakaKey = "osaka-gw-key-0123456789abcdef"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{"tokyo", "osaka"} {
		if _, err := st.CreateTenant(ctx, "test", store.Tenant{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func keys(t testing.TB) Keys {
	k, err := NewStaticKeys(map[string]Bouncer{
		tokyoKey: {Tenant: "tokyo", Name: "gw-tokyo"},
		osakaKey: {Tenant: "osaka", Name: "gw-osaka"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func block(value string, scope decision.Scope, ttl time.Duration, now time.Time) decision.Decision {
	return decision.Decision{Action: "block", Scope: scope, Value: value, TTL: ttl, Expires: now.Add(ttl), Reason: "test",
		Origin: decision.Origin{Kind: "rule", Name: "behavior.bruteforce"}, Status: "active", Created: now}
}

// seed stores the decisions every test starts from: two that bouncers enforce, and four that
// they must not see (a domain, a dry run, a held one, another tenant's).
func seed(t testing.TB, st *store.Store, now time.Time) map[string]int64 {
	ctx := context.Background()
	domain := block("evil.example", "domain", time.Hour, now)
	dry := block("203.0.113.66", "ip", time.Hour, now)
	dry.DryRun = true
	held := block("10.20.1.11", "ip", time.Hour, now)
	held.Action, held.Status = "isolate", "held"
	ds, err := st.Tenant("tokyo").CreateDecisions(ctx, "test", []decision.Decision{
		block("203.0.113.7", "ip", 4*time.Hour, now), block("198.51.100.0/24", "range", time.Hour, now), domain, dry, held,
	})
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.Tenant("osaka").CreateDecision(ctx, "test", block("192.0.2.1", "ip", time.Hour, now))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]int64{"ip": ds[0].ID, "range": ds[1].ID, "held": ds[4].ID, "osaka": other.ID}
}

func values(ds []*models.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, *d.Value)
	}
	slices.Sort(out)
	return out
}

// next waits for the bouncer's next pull that carries something.
func next(t *testing.T, b *csbouncer.StreamBouncer) *models.DecisionsStreamResponse {
	t.Helper()
	timeout := time.After(10 * time.Second) // a hang guard, not a performance threshold
	for {
		select {
		case r, ok := <-b.Stream:
			if !ok {
				t.Fatal("the bouncer closed its stream: it could not reach the API")
			}
			if len(r.New) > 0 || len(r.Deleted) > 0 {
				return r
			}
		case <-timeout:
			t.Fatal("no decisions reached the bouncer in 10s")
		}
	}
}

// The official CrowdSec Go bouncer library, pointed at omamori, receives new and deleted
// decisions.
func TestStreamBouncer(t *testing.T) {
	st := openStore(t)
	ids := seed(t, st, time.Now())
	srv := httptest.NewServer(NewHandler(st, Config{Keys: keys(t)}))
	defer srv.Close()

	b := &csbouncer.StreamBouncer{APIKey: tokyoKey, APIUrl: srv.URL, TickerInterval: "20ms", UserAgent: "omamori-test"}
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go b.Run(ctx)

	first := next(t, b)
	if got, want := values(first.New), []string{"198.51.100.0/24", "203.0.113.7"}; !cmp.Equal(got, want) || len(first.Deleted) != 0 {
		t.Fatalf("startup: new %v, deleted %d; want new %v (no domain, dry run, held or other tenant's), deleted 0", got, len(first.Deleted), want)
	}
	for _, d := range first.New {
		dur, err := time.ParseDuration(*d.Duration)
		if err != nil || dur <= 0 || *d.Type != "ban" || *d.Origin != "omamori" || *d.Scenario != "omamori/rule:behavior.bruteforce" {
			t.Errorf("decision %+v: want a positive duration, type ban, origin omamori, the rule as scenario", d)
		}
		if want := map[string]string{"203.0.113.7": "Ip", "198.51.100.0/24": "Range"}[*d.Value]; *d.Scope != want {
			t.Errorf("decision %s has scope %s, want %s", *d.Value, *d.Scope, want)
		}
	}

	// A responder revokes the block of the address, and a new decision is made.
	sc := st.Tenant("tokyo")
	if _, err := sc.UpdateDecision(ctx, "person:aiko", ids["ip"], "decision.revoke", func(d *decision.Decision) error {
		d.Status = "revoked"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.CreateDecision(ctx, "rule:x", block("203.0.113.99", "ip", time.Hour, time.Now())); err != nil {
		t.Fatal(err)
	}
	var gotNew, gotDeleted []string
	for len(gotNew) == 0 || len(gotDeleted) == 0 {
		r := next(t, b)
		gotNew = append(gotNew, values(r.New)...)
		gotDeleted = append(gotDeleted, values(r.Deleted)...)
	}
	if !cmp.Equal(gotNew, []string{"203.0.113.99"}) || !cmp.Equal(gotDeleted, []string{"203.0.113.7"}) {
		t.Errorf("after the changes: new %v, deleted %v; want new [203.0.113.99], deleted [203.0.113.7]", gotNew, gotDeleted)
	}

	// A held decision approved later reaches the bouncer then.
	if _, err := sc.UpdateDecision(ctx, "person:aiko", ids["held"], "decision.approve", func(d *decision.Decision) error {
		d.Status = "active"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if r := next(t, b); !cmp.Equal(values(r.New), []string{"10.20.1.11"}) {
		t.Errorf("after approval: new %v, want [10.20.1.11]", values(r.New))
	}
}

func TestLiveBouncer(t *testing.T) {
	st := openStore(t)
	seed(t, st, time.Now())
	srv := httptest.NewServer(NewHandler(st, Config{Keys: keys(t)}))
	defer srv.Close()

	tokyo := &csbouncer.LiveBouncer{APIKey: tokyoKey, APIUrl: srv.URL}
	osaka := &csbouncer.LiveBouncer{APIKey: osakaKey, APIUrl: srv.URL}
	wrong := &csbouncer.LiveBouncer{APIKey: "not-a-key-0123456789abcdef", APIUrl: srv.URL}
	for _, b := range []*csbouncer.LiveBouncer{tokyo, osaka, wrong} {
		if err := b.Init(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		b    *csbouncer.LiveBouncer
		ip   string
		want []string
	}{
		{tokyo, "203.0.113.7", []string{"203.0.113.7"}},
		{tokyo, "198.51.100.42", []string{"198.51.100.0/24"}}, // inside the blocked range
		{tokyo, "203.0.113.8", nil},
		{tokyo, "203.0.113.66", nil}, // dry run
		{tokyo, "10.20.1.11", nil},   // held
		{tokyo, "192.0.2.1", nil},    // osaka's
		{osaka, "192.0.2.1", []string{"192.0.2.1"}},
		{osaka, "203.0.113.7", nil}, // tokyo's
	}
	for _, tt := range tests {
		got, err := tt.b.Get(tt.ip)
		if err != nil {
			t.Errorf("Get(%s) = %v", tt.ip, err)
			continue
		}
		if v := values(*got); !cmp.Equal(v, tt.want) {
			t.Errorf("Get(%s) with %s's key = %v, want %v", tt.ip, tt.b.APIKey[:5], v, tt.want)
		}
	}
	if _, err := wrong.Get("203.0.113.7"); err == nil || !strings.Contains(err.Error(), "access forbidden") {
		t.Errorf("Get with an unknown key = %v, want the refusal (access forbidden)", err)
	}
}

func get(t *testing.T, h http.Handler, key, url string) (int, string) {
	t.Helper()
	r := httptest.NewRequest("GET", url, nil)
	if key != "" {
		r.Header.Set("X-Api-Key", key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

var t0 = time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC)

// TestGolden holds the JSON that bouncers read to CrowdSec's shape, for a fixed clock.
func TestGolden(t *testing.T) {
	st := openStore(t)
	seed(t, st, t0)
	now := t0.Add(time.Second + 300*time.Millisecond)
	h := NewHandler(st, Config{Keys: keys(t), Now: func() time.Time { return now }})
	tests := []struct{ name, url string }{
		{"stream_startup", "/v1/decisions/stream?startup=true"},
		{"stream_nothing_new", "/v1/decisions/stream"},
		{"decisions_ip", "/v1/decisions?ip=203.0.113.7"},
		{"decisions_none", "/v1/decisions?ip=203.0.113.8"},
		{"decisions_all", "/v1/decisions"},
		{"bad_filter", "/v1/decisions?ip=not-an-ip"},
		{"no_key", "/v1/decisions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tokyoKey
			if tt.name == "no_key" {
				key = ""
			}
			code, body := get(t, h, key, tt.url)
			got := fmt.Sprintf("GET %s\n%d\n%s", tt.url, code, body)
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("GET %s (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	st := openStore(t)
	seed(t, st, t0)
	h := NewHandler(st, Config{Keys: keys(t), Now: func() time.Time { return t0 }})
	tests := []struct {
		url  string
		want []string
	}{
		{"/v1/decisions?scope=ip", []string{"203.0.113.7"}},
		{"/v1/decisions?scopes=Range", []string{"198.51.100.0/24"}},
		{"/v1/decisions?range=198.51.100.0/25", []string{"198.51.100.0/24"}},
		{"/v1/decisions?range=198.51.0.0/16&contains=false", []string{"198.51.100.0/24"}},
		{"/v1/decisions?range=198.51.100.0/16&contains=true", nil},
		{"/v1/decisions?value=203.0.113.7", []string{"203.0.113.7"}},
		{"/v1/decisions?type=captcha", nil},
		{"/v1/decisions?ip=::ffff:203.0.113.7", []string{"203.0.113.7"}},
		{"/v1/decisions/stream?startup=true&origins=crowdsec,cscli", nil},
		{"/v1/decisions/stream?startup=true&origins=omamori&scopes=ip", []string{"203.0.113.7"}},
		{"/v1/decisions/stream?startup=true&scenarios_containing=bruteforce", []string{"198.51.100.0/24", "203.0.113.7"}},
		{"/v1/decisions/stream?startup=true&scenarios_not_containing=bruteforce", nil},
	}
	for _, tt := range tests {
		code, body := get(t, h, tokyoKey, tt.url)
		var ds []Decision
		if strings.Contains(tt.url, "stream") {
			var r StreamResponse
			json.Unmarshal([]byte(body), &r)
			ds = r.New
		} else {
			json.Unmarshal([]byte(body), &ds)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.Value)
		}
		slices.Sort(got)
		if code != 200 || !cmp.Equal(got, tt.want) {
			t.Errorf("GET %s = %d %v, want 200 %v", tt.url, code, got, tt.want)
		}
	}
}

// A bouncer's position survives a restart of omamori: a deletion made while it was away is
// still sent, even though it asks without startup.
func TestPositionSurvivesRestart(t *testing.T) {
	st := openStore(t)
	ids := seed(t, st, time.Now())
	h := NewHandler(st, Config{Keys: keys(t)})
	if code, _ := get(t, h, tokyoKey, "/v1/decisions/stream?startup=true"); code != 200 {
		t.Fatalf("startup pull = %d", code)
	}
	st.Tenant("tokyo").UpdateDecision(t.Context(), "person:aiko", ids["range"], "decision.revoke", func(d *decision.Decision) error {
		d.Status = "revoked"
		return nil
	})
	restarted := NewHandler(st, Config{Keys: keys(t)})
	_, body := get(t, restarted, tokyoKey, "/v1/decisions/stream")
	var r StreamResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.New) != 0 || len(r.Deleted) != 1 || r.Deleted[0].Value != "198.51.100.0/24" {
		t.Errorf("pull after restart = %s, want the revoked range deleted", body)
	}
	// The next pull has nothing: the position moved.
	_, body = get(t, restarted, tokyoKey, "/v1/decisions/stream")
	if body != `{"new":[],"deleted":[]}`+"\n" {
		t.Errorf("second pull = %s, want nothing", body)
	}
}

func TestHeadAndMetrics(t *testing.T) {
	st := openStore(t)
	h := NewHandler(st, Config{Keys: keys(t)})
	for _, tt := range []struct {
		method, url, key string
		want             int
	}{
		{"HEAD", "/v1/decisions/stream", tokyoKey, 200},
		{"HEAD", "/v1/decisions", "", 403},
		{"POST", "/v1/usage-metrics", tokyoKey, 201},
		{"DELETE", "/v1/decisions", tokyoKey, 405}, // watchers' endpoints are not served
	} {
		r := httptest.NewRequest(tt.method, tt.url, strings.NewReader("{}"))
		if tt.key != "" {
			r.Header.Set("X-Api-Key", tt.key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.url, w.Code, tt.want)
		}
	}
	if _, err := NewStaticKeys(map[string]Bouncer{"short": {Tenant: "t", Name: "b"}}); err == nil {
		t.Error("NewStaticKeys(short key) = nil, want an error")
	}
}

// BenchmarkStreamStartup measures a bouncer's startup pull of 100,000 live decisions
// (addresses and /24 ranges), from the cache to the JSON on the wire.
func BenchmarkStreamStartup(b *testing.B) {
	st := openStore(b)
	now := time.Now()
	ds := make([]decision.Decision, 0, 100000)
	for i := range 100000 {
		if i%10 == 0 {
			ds = append(ds, block(fmt.Sprintf("100.%d.%d.0/24", i>>16&255, i>>8&255), "range", 24*time.Hour, now))
		} else {
			ds = append(ds, block(fmt.Sprintf("100.%d.%d.%d", i>>16&255, i>>8&255, i&255), "ip", 24*time.Hour, now))
		}
	}
	if _, err := st.Tenant("tokyo").CreateDecisions(context.Background(), "bench", ds); err != nil {
		b.Fatal(err)
	}
	h := NewHandler(st, Config{Keys: keys(b)})
	pull := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/v1/decisions/stream?startup=true", nil)
		r.Header.Set("X-Api-Key", tokyoKey)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
		return w
	}
	// The first pull after omamori starts reads the decisions from the store into the cache;
	// it is reported apart from the pulls that follow.
	start := time.Now()
	size := pull().Body.Len()
	cold := time.Since(start)
	for b.Loop() {
		pull()
	}
	b.ReportMetric(cold.Seconds(), "s/first-pull")
	b.ReportMetric(float64(size), "bytes/response")
}

// BenchmarkStreamDelta measures a bouncer's regular pull when 100 of 100,000 decisions changed.
func BenchmarkStreamDelta(b *testing.B) {
	st := openStore(b)
	now := time.Now()
	sc := st.Tenant("tokyo")
	ds := make([]decision.Decision, 0, 100000)
	for i := range 100000 {
		ds = append(ds, block(fmt.Sprintf("100.%d.%d.%d", i>>16&255, i>>8&255, i&255), "ip", 24*time.Hour, now))
	}
	if _, err := sc.CreateDecisions(context.Background(), "bench", ds); err != nil {
		b.Fatal(err)
	}
	h := NewHandler(st, Config{Keys: keys(b)})
	pull := func(url string) {
		r := httptest.NewRequest("GET", url, nil)
		r.Header.Set("X-Api-Key", tokyoKey)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		io.Copy(io.Discard, w.Body)
	}
	pull("/v1/decisions/stream?startup=true")
	for b.Loop() {
		b.StopTimer()
		batch := ds[:100]
		if _, err := sc.CreateDecisions(context.Background(), "bench", batch); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		pull("/v1/decisions/stream")
	}
}

// An expired decision is sent as deleted once respond's sweeper marks it expired.
func TestExpiredDeleted(t *testing.T) {
	st := openStore(t)
	seed(t, st, t0)
	now := t0
	h := NewHandler(st, Config{Keys: keys(t), Now: func() time.Time { return now }})
	get(t, h, tokyoKey, "/v1/decisions/stream?startup=true")
	now = t0.Add(2 * time.Hour) // the range's hour is over
	if _, err := st.Tenant("tokyo").ExpireDecisions(t.Context(), "system", now); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, h, tokyoKey, "/v1/decisions/stream")
	var r StreamResponse
	json.Unmarshal([]byte(body), &r)
	if len(r.New) != 0 || len(r.Deleted) != 1 || r.Deleted[0].Value != "198.51.100.0/24" || r.Deleted[0].Duration != "-1h0m0s" {
		t.Errorf("pull after expiry = %s, want the range deleted (duration -1h0m0s, as CrowdSec shows it)", body)
	}
	if _, body := get(t, h, tokyoKey, "/v1/decisions?ip=198.51.100.1"); body != "null\n" {
		t.Errorf("GET /v1/decisions?ip=198.51.100.1 after expiry = %s, want null", body)
	}
}

// FuzzQuery checks that no query string a bouncer sends makes the handler fail other than
// with a 400, seeded from the golden requests.
func FuzzQuery(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.golden")
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/*.golden")
	}
	for _, g := range files {
		b, _ := os.ReadFile(g)
		line, _, _ := strings.Cut(string(b), "\n")
		if _, q, ok := strings.Cut(line, "?"); ok {
			f.Add(q)
		}
	}
	f.Add("ip=::ffff:1.2.3.4&contains=false&scopes=ip,range,RANGE,as")
	st := openStore(f)
	seed(f, st, t0)
	h := NewHandler(st, Config{Keys: keys(f), Now: func() time.Time { return t0 }})
	f.Fuzz(func(t *testing.T, q string) {
		for _, path := range []string{"/v1/decisions", "/v1/decisions/stream"} {
			r := httptest.NewRequest("GET", "/", nil)
			r.URL.Path, r.URL.RawQuery = path, q
			r.Header.Set("X-Api-Key", tokyoKey)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 && w.Code != 400 {
				t.Fatalf("GET %s?%s = %d %s", path, q, w.Code, w.Body)
			}
			if w.Code == 200 && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("GET %s?%s = invalid JSON %s", path, q, w.Body)
			}
		}
	})
}

// TestHeldNeverServed: what a guardrail holds — the ventilator's isolation, a block of its
// /24 or /16 — reaches a bouncer by no route, neither as new nor as deleted, at startup or
// after, nor once rejected; and no CrowdSec route that makes decisions (a watcher's alerts,
// a machine's login, deleting decisions) is served, so a bouncer key changes nothing.
func TestHeldNeverServed(t *testing.T) {
	st := openStore(t)
	ids := seed(t, st, time.Now())
	h := NewHandler(st, Config{Keys: keys(t)})
	if code, _ := get(t, h, tokyoKey, "/v1/decisions/stream?startup=true"); code != 200 {
		t.Fatalf("startup pull = %d", code)
	}
	ctx := t.Context()
	sc := st.Tenant("tokyo")
	var held []decision.Decision
	for _, v := range []string{"10.20.1.0/24", "10.20.0.0/16"} {
		d := block(v, "range", time.Hour, time.Now())
		d.Status, d.Guardrail = "held", "life-support: ICU ventilator bed 1"
		got, err := sc.CreateDecision(ctx, "person:token:soar", d)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, got)
	}
	if _, err := sc.UpdateDecision(ctx, "person:mori", held[1].ID, "decision.reject", func(d *decision.Decision) error {
		d.Status = "rejected"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	never := []string{"10.20.1.11", "10.20.1.0/24", "10.20.0.0/16"}
	for _, url := range []string{"/v1/decisions/stream", "/v1/decisions/stream?startup=true", "/v1/decisions",
		"/v1/decisions?ip=10.20.1.11", "/v1/decisions?range=10.20.0.0/16&contains=false", "/v1/decisions?range=10.20.1.0/24"} {
		code, body := get(t, h, tokyoKey, url)
		if code != 200 {
			t.Errorf("GET %s = %d %s", url, code, body)
		}
		for _, v := range never {
			if strings.Contains(body, `"value":"`+v+`"`) {
				t.Errorf("GET %s = %s; it carries %s, which a guardrail holds or rejected", url, body, v)
			}
		}
	}
	if code, body := get(t, h, tokyoKey, "/v1/decisions?ip=10.20.1.11"); code != 200 || body != "null\n" {
		t.Errorf("GET /v1/decisions?ip=10.20.1.11 = %d %s, want null: nothing is live on the ventilator", code, body)
	}

	before, err := sc.DecisionSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ban := `[{"scenario":"x","source":{"scope":"Ip","value":"10.20.1.11"},"decisions":[{"type":"ban","scope":"Ip","value":"10.20.1.11","duration":"4h","origin":"cscli"}]}]`
	for _, tt := range []struct{ method, url string }{
		{"POST", "/v1/alerts"},
		{"POST", "/v1/decisions"},
		{"PUT", "/v1/decisions"},
		{"DELETE", "/v1/decisions"},
		{"DELETE", fmt.Sprintf("/v1/decisions/%d", ids["held"])},
		{"POST", "/v1/watchers"},
		{"POST", "/v1/watchers/login"},
	} {
		r := httptest.NewRequest(tt.method, tt.url, strings.NewReader(ban))
		r.Header.Set("X-Api-Key", tokyoKey)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code/100 == 2 {
			t.Errorf("%s %s with a bouncer key = %d, want refused: bouncers only read", tt.method, tt.url, w.Code)
		}
	}
	after, err := sc.DecisionSeq(ctx)
	if err != nil || after != before {
		t.Errorf("decision changes after the writes: %d, %v; want still %d", after, err, before)
	}
	if d, err := sc.Decision(ctx, ids["held"]); err != nil || d.Status != "held" {
		t.Errorf("the ventilator's isolation after the writes: %+v, %v; want still held", d, err)
	}
}

// TestRevokedWhileHeldNeverServed: a held decision that a responder revokes before anyone
// approved it — the ventilator's isolation, a block of its /24 — was never enforced, so no
// pull lists it, not even under deleted; one approved and then revoked is listed new, then
// deleted.
func TestRevokedWhileHeldNeverServed(t *testing.T) {
	st := openStore(t)
	ids := seed(t, st, time.Now())
	h := NewHandler(st, Config{Keys: keys(t)})
	ctx := t.Context()
	sc := st.Tenant("tokyo")
	pull := func(url string) StreamResponse {
		t.Helper()
		code, body := get(t, h, tokyoKey, url)
		var r StreamResponse
		if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil {
			t.Fatalf("GET %s = %d %s (%v)", url, code, body, err)
		}
		return r
	}
	change := func(id int64, status decision.Status) {
		t.Helper()
		if _, err := sc.UpdateDecision(ctx, "person:aiko", id, "decision."+string(status), func(d *decision.Decision) error {
			d.Status = status
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	values := func(ds []Decision) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.Value)
		}
		return out
	}
	pull("/v1/decisions/stream?startup=true")

	held := block("10.20.1.0/24", "range", time.Hour, time.Now())
	held.Status, held.Guardrail = "held", "life-support: ICU ventilator bed 1"
	approved := block("10.30.0.9", "ip", time.Hour, time.Now())
	approved.Status, approved.Guardrail = "held", "protected: PACS-01"
	ds, err := sc.CreateDecisions(ctx, "person:token:soar", []decision.Decision{held, approved})
	if err != nil {
		t.Fatal(err)
	}
	change(ds[1].ID, "active")
	if r := pull("/v1/decisions/stream"); !cmp.Equal(values(r.New), []string{"10.30.0.9"}) || len(r.Deleted) != 0 {
		t.Errorf("after the approval: new %v, deleted %v; want only the approved block new", values(r.New), values(r.Deleted))
	}
	change(ids["held"], "revoked") // the ventilator's isolation, from seed
	change(ds[0].ID, "revoked")
	change(ds[1].ID, "revoked")
	if r := pull("/v1/decisions/stream"); len(r.New) != 0 || !cmp.Equal(values(r.Deleted), []string{"10.30.0.9"}) {
		t.Errorf("after the revocations: new %v, deleted %v; want only the approved block deleted, nothing held", values(r.New), values(r.Deleted))
	}
	if r := pull("/v1/decisions/stream?startup=true"); fmt.Sprint(values(r.New), values(r.Deleted)) != "[203.0.113.7 198.51.100.0/24] []" {
		t.Errorf("a startup pull: new %v, deleted %v; want the two seeded blocks new and nothing deleted", values(r.New), values(r.Deleted))
	}
	if r := pull("/v1/decisions/stream"); len(r.New)+len(r.Deleted) != 0 {
		t.Errorf("the pull after: new %v, deleted %v; want nothing", values(r.New), values(r.Deleted))
	}
}
