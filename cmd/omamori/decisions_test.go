package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

var updateGolden = flag.Bool("update", false, "rewrite cmd/omamori/testdata/*.golden")

// What changes from run to run in the CLI's tables is masked before comparing: times and
// dates, incident IDs, how long is left or has been waited.
var goldenMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}`), "YYYY-MM-DD hh:mm"},
	{regexp.MustCompile(`INC-\d{8}-\w{6}`), "INC-YYYYMMDD-xxxxxx"},
	{regexp.MustCompile(`held \d+s`), "held Ns"},
	{regexp.MustCompile(`(?m)(\d+d \d+h|\d+h \d+m|\d+m)$`), "<left>"},
}

// golden compares a command's output, masked, with testdata/name.golden.
func golden(t *testing.T, name, got string) {
	t.Helper()
	for _, m := range goldenMasks {
		got = m.re.ReplaceAllString(got, m.with)
	}
	file := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got; go test -update rewrites it):\n%s", file, diff)
	}
}

// apiServer is a server as 'omamori serve' mounts the decision and incident routes, over a
// real SQLite store with tenants tokyo (a ventilator in its inventory) and osaka. Tokens name
// the caller, as the API's authentication would.
type apiServer struct {
	srv       *httptest.Server
	decisions *respond.Service
	incidents *incident.Service
}

var testTokens = map[string]struct {
	tenant string
	who    respond.Person
}{
	"tok-aiko":  {"tokyo", signedIn("aiko", "tokyo", auth.RoleAnalystL2)},
	"tok-kenji": {"tokyo", signedIn("kenji", "tokyo", auth.RoleViewer)},
	"tok-hana":  {"osaka", signedIn("hana", "osaka", auth.RoleIncidentLead)},
}

// signedIn is a person holding roles in tenant, signed in with TOTP, as the server would
// make them from their session.
func signedIn(name, tenant string, roles ...auth.Role) respond.Person {
	return respond.SignedIn(auth.Identity{UserID: name, Name: name, Roles: map[string][]auth.Role{tenant: roles}, SecondFactor: true}, tenant)
}

func newAPIServer(t *testing.T) *apiServer {
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
	ds, err := respond.New(st, respond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	assets, err := asset.ParseCSV(strings.NewReader("address,name,category,department,protected\n" +
		"10.20.1.11,ICU ventilator bed 1,life-support,ICU,true\n" +
		"10.40.0.10,EHR server,information,Medical records,true\n"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := asset.New(assets)
	if err != nil {
		t.Fatal(err)
	}
	ds.SetGuardrails("tokyo", &respond.Guardrails{Assets: inv})
	is, err := incident.NewService(st, incident.Config{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	caller := func(r *http.Request) (string, respond.Person, error) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		c, known := testTokens[tok]
		if !ok || !known {
			return "", respond.Person{}, errors.New("unknown token")
		}
		return c.tenant, c.who, nil
	}
	mux := http.NewServeMux()
	rh := &respond.HTTP{Service: ds, Principal: caller}
	for _, rt := range rh.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	ih := &incident.HTTP{Service: is, Principal: func(r *http.Request) (string, string, error) {
		tenant, who, err := caller(r)
		return tenant, "user:" + who.Name, err
	}}
	for _, rt := range ih.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &apiServer{srv: srv, decisions: ds, incidents: is}
}

// cli runs omamori against the server with the token in $OMAMORI_TOKEN.
func (a *apiServer) cli(t *testing.T, token string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("OMAMORI_TOKEN", token)
	args = append(append(args[:2:2], "-server", a.srv.URL), args[2:]...)
	return runCLI(t, args...)
}

func TestDecisionsCLI(t *testing.T) {
	a := newAPIServer(t)
	out, stderr, err := a.cli(t, "tok-aiko", "decisions", "add", "-ttl", "2h", "-reason", "SSH brute force on the VPN", "203.0.113.7")
	if err != nil || !strings.Contains(out, "decision 1: block ip 203.0.113.7, active until") {
		t.Fatalf("decisions add = %q, %q, %v; want decision 1 active", out, stderr, err)
	}
	// Flags after the target, an authority's request on a range.
	out, _, err = a.cli(t, "tok-aiko", "decisions", "add", "198.18.7.0/24", "-ttl", "168h", "-reason", "C2 server",
		"-authority", "警視庁", "-reference", "R-118")
	if err != nil || !strings.Contains(out, "decision 2: block range 198.18.7.0/24, active") {
		t.Fatalf("decisions add range = %q, %v", out, err)
	}
	out, _, err = a.cli(t, "tok-aiko", "decisions", "add", "-type", "isolate", "-reason", "beaconing", "10.20.1.11")
	if err != nil || !strings.Contains(out, "decision 3: isolate ip 10.20.1.11, held") ||
		!strings.Contains(out, "guardrail: life-support: isolating 10.20.1.11 would cut off ICU ventilator bed 1") ||
		!strings.Contains(out, "it waits for an approver, on the web UI's decisions page (decision 3)") {
		t.Fatalf("decisions add ventilator = %q, %v; want held by the life-support guardrail, with what to do", out, err)
	}

	out, _, err = a.cli(t, "tok-kenji", "decisions", "list")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "decisions-list", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID  STATUS") ||
		!strings.Contains(lines[2], "authority:警視庁 R-118") || !strings.Contains(lines[3], "held 0s") {
		t.Errorf("decisions list =\n%s\nwant a header and 3 rows, the authority's reference and the held one's wait", out)
	}
	out, _, _ = a.cli(t, "tok-kenji", "decisions", "list", "-status", "held", "-json")
	var page respond.DecisionPage
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Decisions) != 1 || page.Decisions[0].ID != 3 {
		t.Errorf("decisions list -status held -json = %s (%v), want decision 3 only", out, err)
	}
	out, stderr, _ = a.cli(t, "tok-kenji", "decisions", "list", "-limit", "2")
	if strings.Count(out, "\n") != 3 || !strings.Contains(stderr, "more: omamori decisions list -after 2") {
		t.Errorf("decisions list -limit 2 = %q, %q; want two rows and how to see more", out, stderr)
	}
	if _, stderr, _ := a.cli(t, "tok-hana", "decisions", "list"); !strings.Contains(stderr, "no decisions") {
		t.Errorf("osaka's decisions list: %q, want none of tokyo's", stderr)
	}

	for _, tc := range []struct {
		name     string
		token    string
		args     []string
		out      string // in stdout
		err      string // in the error
		hint     string // in its hint
		unchange bool
	}{
		{"approval is not for a token", "tok-hana", []string{"decisions", "approve", "3", "-note", "ok"}, "", "for a person, not an API token", "web UI", true},
		{"rejection is not for a token", "tok-aiko", []string{"decisions", "reject", "-note", "no", "3"}, "", "for a person, not an API token", "second factor", true},
		{"viewer's revocation refused", "tok-kenji", []string{"decisions", "delete", "-note", "x", "3"}, "", "403 Forbidden", "a viewer only sees decisions", true},
		{"other hospital's revocation refused", "tok-hana", []string{"decisions", "delete", "-note", "x", "1"}, "", "no such decision", "", true},
		{"delete needs a note", "tok-aiko", []string{"decisions", "delete", "3"}, "", "a note is needed", "note", true},
		{"extend needs a ttl", "tok-aiko", []string{"decisions", "extend", "1"}, "", "-ttl is required", "-ttl 24h", true},
		{"not a decision ID", "tok-aiko", []string{"decisions", "extend", "-ttl", "1h", "three"}, "", "not a decision ID", "decisions list", true},
		{"no reason", "tok-aiko", []string{"decisions", "add", "203.0.113.9"}, "", "needs a reason", "a reason is required", true},
		{"override is not for a token", "tok-aiko", []string{"decisions", "add", "-type", "isolate", "-override", "-reason", "beaconing", "10.20.1.11"},
			"", "an API token may not override a guardrail", "held, and an approver decides", true},
		{"unknown token", "tok-nobody", []string{"decisions", "list"}, "", "not signed in", "API token", true},
		{"no token", "", []string{"decisions", "list"}, "", "$OMAMORI_TOKEN is empty", "omamori token create", true},
		{"unknown command", "tok-aiko", []string{"decisions", "nuke"}, "", `unknown command "nuke"`, "list|add", true},
		{"extend", "tok-aiko", []string{"decisions", "extend", "-ttl", "24h", "1"}, "decision 1: block ip 203.0.113.7, active", "", "", false},
		{"delete", "tok-aiko", []string{"decisions", "delete", "2", "-note", "the police withdrew it"}, "decision 2: block range 198.18.7.0/24, revoked", "", "", false},
	} {
		out, _, err := a.cli(t, tc.token, tc.args...)
		var h hinted
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: omamori %v: %v", tc.name, tc.args, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: omamori %v = %v, want an error containing %q", tc.name, tc.args, err, tc.err)
		case tc.hint != "" && (!errors.As(err, &h) || !strings.Contains(h.hint, tc.hint)):
			t.Errorf("%s: omamori %v = %v with hint %q, want a hint containing %q", tc.name, tc.args, err, h.hint, tc.hint)
		case !strings.Contains(out, tc.out):
			t.Errorf("%s: omamori %v printed %q, want %q", tc.name, tc.args, out, tc.out)
		}
		if tc.unchange {
			if d, _ := a.decisions.Get(t.Context(), "tokyo", 3); d.Status != decision.StatusHeld {
				t.Errorf("%s: decision 3 is %s, want still held", tc.name, d.Status)
			}
		}
	}
	// -override is answered with why it is gone, not with the usage of a flag parse error.
	if _, stderr, err := a.cli(t, "tok-aiko", "decisions", "add", "-override", "-reason", "beaconing", "10.20.1.11"); err == nil ||
		strings.Contains(stderr, "flag provided but not defined") || strings.Contains(stderr, "-reason TEXT") {
		t.Errorf("decisions add -override = %v, stderr %q; want the hinted error alone", err, stderr)
	}
	// The ventilator's isolation still waits for a person, whatever the command line tried.
	if d, err := a.decisions.Get(t.Context(), "tokyo", 3); err != nil || d.Status != decision.StatusHeld {
		t.Errorf("decision 3 at the end = %+v, %v; want still held", d, err)
	}
	if d, _ := a.decisions.Get(t.Context(), "tokyo", 1); d.Expires.Sub(time.Now()) < 23*time.Hour {
		t.Errorf("decision 1 after extend -ttl 24h expires at %v, want about a day from now", d.Expires)
	}
}

func TestClientRefusesTokenInClear(t *testing.T) {
	t.Setenv("OMAMORI_TOKEN", "tok-aiko")
	for _, server := range []string{"http://192.0.2.10:8443", "ftp://127.0.0.1", "127.0.0.1:8443"} {
		_, _, err := runCLI(t, "decisions", "list", "-server", server)
		var h hinted
		if !errors.As(err, &h) {
			t.Errorf("decisions list -server %s = %v, want an error with a hint", server, err)
		}
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		note string
		pos  string
	}{
		{[]string{"12"}, "", "[12]"},
		{[]string{"-note", "ok", "12"}, "ok", "[12]"},
		{[]string{"12", "-note", "ok"}, "ok", "[12]"},
		{[]string{"INC-1", "called", "-note", "x", "the", "ward"}, "x", "[INC-1 called the ward]"},
		{[]string{"INC-1", "--", "-5", "degrees", "-note"}, "", "[INC-1 -5 degrees -note]"},
	} {
		fs := newFlagSet(decisionsCommand, env{stderr: new(strings.Builder)})
		note := fs.String("note", "", "")
		pos, err := parseArgs(fs, tc.args)
		if err != nil || *note != tc.note || strings.Join(pos, " ") != strings.Trim(tc.pos, "[]") {
			t.Errorf("parseArgs(%q) = %q, note %q, %v; want %s, note %q", tc.args, pos, *note, err, tc.pos, tc.note)
		}
	}
}

// ingestAlert opens an incident in tokyo from one alert, as the alert stream would.
func (a *apiServer) ingestAlert(t *testing.T, id, rule, level string, ents detect.Entities) string {
	t.Helper()
	now := time.Now()
	out, err := a.incidents.Ingest(t.Context(), detect.Alert{ID: id, Tenant: "tokyo", Detector: "sigma", RuleID: rule,
		Title: rule, Level: severity.Level(level), Entities: ents, First: now, Last: now, Count: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return out.Incident
}
