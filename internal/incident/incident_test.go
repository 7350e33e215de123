package incident

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/behavior"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/rules"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/store"
)

const tenant = "handa"

// fakeClock is the controllable clock the service is given.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// scenarioStart is when the replayed attack begins: the night of the Handa hospital attack.
var scenarioStart = time.Date(2021, 10, 31, 0, 30, 0, 0, jst)

var (
	alertsOnce sync.Once
	alertsMemo []detect.Alert
)

// scenarioAlerts runs the ransomware scenario (VPN brute force and exploitation, RDP from the
// VPN pool, lateral movement, backups deleted, mass encryption) through the real decoders,
// the shipped rules and the behavioural detectors, and returns the alerts detection raises.
func scenarioAlerts(t testing.TB) []detect.Alert {
	t.Helper()
	alertsOnce.Do(func() {
		rs, rep, err := rules.Load()
		if err != nil || len(rep.Failed) > 0 {
			panic(fmt.Sprintf("rules.Load: %v %v", err, rep.Failed))
		}
		bc := behavior.DefaultConfig()
		st, err := detect.New(rs, detect.Config{Behavior: &bc}, nil, nil)
		if err != nil {
			panic(err)
		}
		for i, r := range scenario.Ransomware(scenarioStart) {
			d, err := decode.New(r.Format, decode.Options{Location: jst})
			if err != nil {
				panic(err)
			}
			e := event.Event{Raw: r.Data, Received: r.At}
			if err := d.Decode(&e); err != nil {
				panic(err)
			}
			e.Tenant = tenant
			st.Observe(uint64(i/50+1), i%50, &e)
		}
		alertsMemo = st.Take()
	})
	if len(alertsMemo) < 10 {
		t.Fatalf("the scenario raised %d alerts, want at least 10", len(alertsMemo))
	}
	return slices.Clone(alertsMemo)
}

type env struct {
	st     *store.Store
	svc    *Service
	clock  *fakeClock
	rec    *Recorder
	driver string
	path   string
	cfg    Config
}

// newEnv opens a store in a temporary directory with tenant handa, and a service over it
// whose clock starts at start.
//
// With OMAMORI_TEST_POSTGRES_DSN set, the store is PostgreSQL instead (a fresh schema per
// test, dropped afterwards), so the workflow runs against both databases.
func newEnv(t testing.TB, start time.Time, cfg Config) *env {
	t.Helper()
	driver, path := "sqlite", filepath.Join(t.TempDir(), "omamori.db")
	if base := os.Getenv("OMAMORI_TEST_POSTGRES_DSN"); base != "" {
		driver, path = "postgres", postgresSchema(t, base)
	}
	st, err := store.Open(t.Context(), driver, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateTenant(t.Context(), "test", store.Tenant{ID: tenant, Name: "半田病院"}); err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, clock: &fakeClock{t: start}, rec: &Recorder{}, driver: driver, path: path, cfg: cfg}
	e.svc, err = NewService(st, cfg, e.clock.Now, e.rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// reopen closes the store and opens service and store again on the same file, as a restart.
func (e *env) reopen(t testing.TB) {
	t.Helper()
	e.st.Close()
	st, err := store.Open(t.Context(), e.driver, e.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	e.svc, err = NewService(st, e.cfg, e.clock.Now, e.rec, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) ingestAll(t testing.TB, alerts []detect.Alert) map[string][]string {
	t.Helper()
	byIncident := map[string][]string{}
	for i, a := range alerts {
		out, err := e.svc.Ingest(t.Context(), a, uint64(i+1))
		if err != nil {
			t.Fatalf("Ingest(%s %q) = %v", a.ID, a.Title, err)
		}
		if !out.Repeat {
			byIncident[out.Incident] = append(byIncident[out.Incident], a.Title)
		}
		for _, m := range out.Merged {
			byIncident[out.Incident] = append(byIncident[out.Incident], byIncident[m]...)
			delete(byIncident, m)
		}
	}
	return byIncident
}

// postgresSchema makes a schema for one test in the database at base and returns a DSN that
// uses it.
func postgresSchema(t testing.TB, base string) string {
	t.Helper()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := "omamori_incident_" + strings.ToLower(rand.Text()[:12])
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// The inventory knows the catering contractor's server by name and address.
var inventory = map[string]string{"KYUSHOKU-SV01": scenario.CateringSrv}

// TestScenarioIncidents replays the attack: thirteen alerts become two incidents, the VPN
// compromise and the intrusion that followed through the VPN pool (nothing in the logs ties
// the pool address to the attacker's session), and a person merges them into one.
func TestScenarioIncidents(t *testing.T) {
	e := newEnv(t, scenarioStart.Add(20*time.Minute), Config{Hosts: inventory})
	alerts := scenarioAlerts(t)
	groups := e.ingestAll(t, alerts)
	// One incident, not one per alert: the VPN break-in and what the attacker did inside join
	// through the VPN tunnel address the attacker's login was given (detect's Related).
	if len(groups) != 1 {
		t.Fatalf("%d alerts made %d incidents, want 1:\n%v", len(alerts), len(groups), groups)
	}
	list, err := e.svc.List(t.Context(), tenant, New)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("List(new) = %d incidents, want 1", len(list))
	}
	attack := list[0]
	if diff := cmp.Diff([]string{"vpn-compromise", "ransomware"}, attack.Kinds); diff != "" {
		t.Errorf("incident kinds (-want +got):\n%s", diff)
	}
	if attack.Severity != severity.Critical || attack.Title != "FortiOS SSL-VPN Path Traversal Exploitation (CVE-2018-13379)" || attack.Alerts != len(alerts) {
		t.Errorf("incident = %s %q with %d alerts, want critical, the exploit, %d alerts", attack.Severity, attack.Title, attack.Alerts, len(alerts))
	}
	rec, err := e.svc.Show(t.Context(), tenant, attack.ID)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, st := range rec.Checklist {
		if st.Playbook == "ransomware" {
			steps = append(steps, st.ID)
		}
	}
	if !slices.Contains(steps, "isolate") || !slices.Contains(steps, "paper-charts") || !slices.Contains(steps, "notify-authorities") {
		t.Errorf("ransomware checklist = %v, want isolate, paper-charts, notify-authorities among them", steps)
	}
	var ents []string
	for _, en := range rec.Incident.Entities {
		ents = append(ents, en.Kind+"="+en.Value)
	}
	for _, want := range []string{"addr=" + scenario.Attacker, "user=maint-vendor", "user=administrator", "host=fs01", "host=ehr-db01", "addr=" + scenario.CateringSrv} {
		if !slices.Contains(ents, want) {
			t.Errorf("incident entities %v lack %s", ents, want)
		}
	}

	// Redelivery changes nothing, and neither does detection publishing the same alerts
	// again under new IDs after a restart.
	again := scenarioAlerts(t)
	for i := range again {
		again[i].ID += "-republished"
	}
	for _, a := range append(scenarioAlerts(t), again...) {
		out, err := e.svc.Ingest(t.Context(), a, 1)
		if err != nil || !out.Repeat {
			t.Errorf("Ingest(%s again) = %+v, %v; want a repeat", a.ID, out, err)
		}
	}
	if list, _ := e.svc.List(t.Context(), tenant); len(list) != 1 {
		t.Errorf("after redelivery List() = %d incidents, want 1", len(list))
	}

	// The analyst splits the lateral movement off as a separate matter: a new incident with
	// that alert alone.
	e.clock.Add(10 * time.Minute)
	var lateral string
	for _, a := range rec.Alerts {
		if a.RuleID == "behavior.lateral_movement" {
			lateral = a.ID
		}
	}
	split, err := e.svc.Split(t.Context(), tenant, attack.ID, "user:sato", []string{lateral}, "a separate contractor issue")
	if err != nil {
		t.Fatal(err)
	}
	if split.Alerts != 1 || split.Severity != severity.High || split.State != New {
		t.Errorf("Split() = %+v, want one high alert in state new", split)
	}
	if got, _ := e.svc.Get(t.Context(), tenant, attack.ID); got.Alerts != len(alerts)-1 {
		t.Errorf("after split the incident has %d alerts, want %d", got.Alerts, len(alerts)-1)
	}
	if _, err := e.svc.Split(t.Context(), tenant, attack.ID, "u", []string{"nope"}, "x"); err == nil {
		t.Error("Split(unknown alert) = nil error, want refusal")
	}

	// And merges it back on second thought: one incident, every alert, both timelines kept.
	merged, err := e.svc.Merge(t.Context(), tenant, attack.ID, split.ID, "user:sato", "the contractor's server was the attacker's foothold after all")
	if err != nil {
		t.Fatal(err)
	}
	if merged.Alerts != len(alerts) {
		t.Errorf("Merge() = %d alerts, want %d", merged.Alerts, len(alerts))
	}
	open, _ := e.svc.List(t.Context(), tenant, New)
	if len(open) != 1 || open[0].ID != attack.ID {
		t.Errorf("open incidents after merge = %v, want only %s", open, attack.ID)
	}
	gone, _ := e.svc.Get(t.Context(), tenant, split.ID)
	if gone.State != Closed || gone.MergedInto != attack.ID {
		t.Errorf("merged incident = %s into %q, want closed into %s", gone.State, gone.MergedInto, attack.ID)
	}
	rec, _ = e.svc.Show(t.Context(), tenant, attack.ID)
	if len(rec.Alerts) != len(alerts) {
		t.Errorf("Show(merged).Alerts = %d, want %d", len(rec.Alerts), len(alerts))
	}
	if last := rec.Timeline[len(rec.Timeline)-1]; last.Kind != "merged" || last.Actor != "user:sato" || !strings.Contains(last.Detail, split.ID) {
		t.Errorf("last timeline entry = %+v, want the merge by user:sato", last)
	}
	if n := countKind(rec.Timeline, "split"); n != 1 {
		t.Errorf("the incident's timeline keeps %d split entries, want 1", n)
	}
	goneRec, _ := e.svc.Show(t.Context(), tenant, split.ID)
	if countKind(goneRec.Timeline, "split") != 1 || countKind(goneRec.Timeline, "merged") != 1 {
		t.Errorf("the merged incident's own timeline = %+v, want its split and its merge", goneRec.Timeline)
	}
	if _, err := e.svc.Merge(t.Context(), tenant, attack.ID, split.ID, "u", "again"); err == nil {
		t.Error("Merge(closed incident) = nil error, want refusal")
	}
}

func countKind(tl []TimelineEntry, kind string) int {
	n := 0
	for _, e := range tl {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// alert makes an alert of rule at time at about the given entities.
func alert(id, rule, level string, at time.Time, ents detect.Entities) detect.Alert {
	return detect.Alert{ID: id, Tenant: tenant, Detector: "sigma", RuleID: rule, Title: rule, Level: severity.Level(level), Entities: ents,
		First: at, Last: at, Count: 1}
}

func TestGrouping(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, jst)
	attacker := detect.Entities{Source: "198.51.100.77"}
	for _, tc := range []struct {
		name   string
		cfg    Config
		alerts []detect.Alert
		want   int // incidents open at the end
	}{
		{"same attacker within the window", Config{}, []detect.Alert{
			alert("a1", "r1", "high", t0, attacker), alert("a2", "r2", "medium", t0.Add(3*time.Hour), attacker)}, 1},
		{"same attacker after the window", Config{Window: time.Hour}, []detect.Alert{
			alert("a1", "r1", "high", t0, attacker), alert("a2", "r2", "medium", t0.Add(3*time.Hour), attacker)}, 2},
		{"victim of one is the source of the next", Config{}, []detect.Alert{
			alert("a1", "r1", "high", t0, detect.Entities{Source: "10.0.0.1", Destination: "10.0.0.2"}),
			alert("a2", "r2", "high", t0, detect.Entities{Source: "10.0.0.2", Destination: "10.0.0.3"})}, 1},
		{"domain and case of a user", Config{}, []detect.Alert{
			alert("a1", "r1", "high", t0, detect.Entities{User: "HOSPITAL\\Nurse01"}),
			alert("a2", "r2", "high", t0, detect.Entities{User: "nurse01@hospital.example"})}, 1},
		{"nothing shared", Config{}, []detect.Alert{
			alert("a1", "r1", "high", t0, attacker), alert("a2", "r2", "high", t0, detect.Entities{Host: "pc-7"})}, 2},
		{"ignored entity does not group", Config{Ignore: []string{"10.0.0.254"}}, []detect.Alert{
			alert("a1", "r1", "high", t0, detect.Entities{Source: "10.0.0.1", Destination: "10.0.0.254"}),
			alert("a2", "r2", "high", t0, detect.Entities{Source: "10.0.0.9", Destination: "10.0.0.254"})}, 2},
		{"group by source only", Config{GroupBy: []string{EntitySource}}, []detect.Alert{
			alert("a1", "r1", "high", t0, detect.Entities{Source: "10.0.0.1", User: "x"}),
			alert("a2", "r2", "high", t0, detect.Entities{Source: "10.0.0.9", User: "x"})}, 2},
		{"an alert linking two new incidents merges them", Config{}, []detect.Alert{
			alert("a1", "r1", "high", t0, detect.Entities{Source: "10.0.0.1"}),
			alert("a2", "r2", "high", t0, detect.Entities{User: "x"}),
			alert("a3", "r3", "high", t0, detect.Entities{Source: "10.0.0.1", User: "x"})}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, t0, tc.cfg)
			e.ingestAll(t, tc.alerts)
			list, err := e.svc.List(t.Context(), tenant, New)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != tc.want {
				t.Errorf("%d alerts made %d open incidents, want %d", len(tc.alerts), len(list), tc.want)
			}
		})
	}
}

// TestIncidentOf finds the incident an alert is on, as the decisions page shows it, and
// nothing for an alert no incident holds or one of another tenant.
func TestIncidentOf(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{})
	out, err := e.svc.Ingest(t.Context(), alert("a1", "r1", "high", t0, detect.Entities{Source: "198.51.100.77"}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateTenant(t.Context(), "test", store.Tenant{ID: "other"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tenant, alert string
		want          string // "": store.ErrNotFound
	}{
		{tenant, "a1", out.Incident},
		{tenant, "a2", ""},
		{"other", "a1", ""},
	} {
		got, err := e.svc.IncidentOf(t.Context(), tc.tenant, tc.alert)
		if got != tc.want || (tc.want == "" && !errors.Is(err, store.ErrNotFound)) || (tc.want != "" && err != nil) {
			t.Errorf("IncidentOf(%s, %s) = %q, %v; want %q", tc.tenant, tc.alert, got, err, tc.want)
		}
	}
}

func TestSeverity(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{Protected: []string{"10.1.0.50"}})
	src := detect.Entities{Source: "10.0.0.1"}
	out, _ := e.svc.Ingest(t.Context(), alert("a1", "r1", "informational", t0, src), 1)
	for _, step := range []struct {
		level string
		want  severity.Level
	}{{"informational", severity.Low}, {"medium", severity.Medium}, {"low", severity.Medium}, {"critical", severity.Critical}, {"high", severity.Critical}} {
		if step.level != "informational" {
			if _, err := e.svc.Ingest(t.Context(), alert("a-"+step.level, "r-"+step.level, step.level, t0, src), 2); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := e.svc.Get(t.Context(), tenant, out.Incident)
		if got.Severity != step.want {
			t.Errorf("after a %s alert severity = %s, want %s (the worst alert's)", step.level, got.Severity, step.want)
		}
	}
	// A low alert touching a life-support device opens a critical incident, listed first.
	prot, _ := e.svc.Ingest(t.Context(), alert("p1", "r", "low", t0, detect.Entities{Source: "10.9.9.9", Destination: "10.1.0.50"}), 3)
	e.svc.Ingest(t.Context(), alert("m1", "r", "medium", t0.Add(time.Minute), detect.Entities{Host: "pc-3"}), 4)
	list, _ := e.svc.List(t.Context(), tenant)
	if len(list) != 3 || list[0].Severity != severity.Critical || list[2].Severity != severity.Medium {
		t.Errorf("List() severities = %v, want critical ones first", severitiesOf(list))
	}
	if got, _ := e.svc.Get(t.Context(), tenant, prot.Incident); got.Severity != severity.Critical {
		t.Errorf("incident touching a protected device = %s, want critical", got.Severity)
	}
	if _, err := e.svc.SetSeverity(t.Context(), tenant, out.Incident, "user:sato", "urgent", ""); err == nil {
		t.Error("SetSeverity(urgent) = nil error, want refusal")
	}
}

func severitiesOf(list []Incident) []severity.Level {
	var out []severity.Level
	for _, i := range list {
		out = append(out, i.Severity)
	}
	return out
}

func TestCheckTransition(t *testing.T) {
	allowed := map[[2]State]bool{
		{New, Triaged}: true, {Triaged, Contained}: true, {Contained, Eradicated}: true, {Eradicated, Recovered}: true,
		{Recovered, Closed}: true, {New, Closed}: true, {Triaged, Closed}: true, {Contained, Closed}: true,
		{Eradicated, Closed}: true, {Closed, Triaged}: true,
	}
	for _, from := range States {
		for _, to := range States {
			err := CheckTransition(from, to)
			if want := allowed[[2]State{from, to}]; (err == nil) != want {
				t.Errorf("CheckTransition(%s, %s) = %v, want allowed=%v", from, to, err, want)
			}
			if err != nil && !errors.Is(err, ErrTransition) {
				t.Errorf("CheckTransition(%s, %s) = %v, want it to wrap ErrTransition", from, to, err)
			}
		}
	}
	err := CheckTransition(New, Eradicated)
	if want := "cannot move an incident from new to eradicated: from new it can go to triaged or closed"; err == nil || err.Error() != want {
		t.Errorf("CheckTransition(new, eradicated) = %q, want %q", err, want)
	}
}

// TestLifecycle walks an incident through every state, reopens it, and finds each change in
// the timeline with who made it.
func TestLifecycle(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{})
	ctx := t.Context()
	out, err := e.svc.Ingest(ctx, alert("a1", "r1", "high", t0, detect.Entities{Source: "10.0.0.1"}), 1)
	if err != nil {
		t.Fatal(err)
	}
	id := out.Incident
	step := func(f func() (Incident, error)) {
		t.Helper()
		e.clock.Add(time.Minute)
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	step(func() (Incident, error) { return e.svc.Assign(ctx, tenant, id, "user:lead", "user:sato") })
	step(func() (Incident, error) { return e.svc.Transition(ctx, tenant, id, "user:sato", Triaged, "") })
	step(func() (Incident, error) { return e.svc.Note(ctx, tenant, id, "user:sato", "VPN account disabled") })
	step(func() (Incident, error) { return e.svc.Transition(ctx, tenant, id, "user:sato", Contained, "") })
	if _, err := e.svc.Transition(ctx, tenant, id, "user:sato", Recovered, ""); !errors.Is(err, ErrTransition) {
		t.Errorf("Transition(contained → recovered) = %v, want ErrTransition", err)
	}
	step(func() (Incident, error) { return e.svc.Transition(ctx, tenant, id, "user:sato", Eradicated, "") })
	step(func() (Incident, error) { return e.svc.Transition(ctx, tenant, id, "user:sato", Recovered, "") })
	if _, err := e.svc.Transition(ctx, tenant, id, "user:sato", Closed, " "); err == nil {
		t.Error("Transition(closed) without a reason = nil error, want refusal")
	}
	step(func() (Incident, error) { return e.svc.Transition(ctx, tenant, id, "user:sato", Closed, "resolved") })
	step(func() (Incident, error) {
		return e.svc.Transition(ctx, tenant, id, "user:suzuki", Triaged, "the attacker came back")
	})
	if _, err := e.svc.Note(ctx, tenant, id, "user:sato", ""); err == nil {
		t.Error("Note(empty) = nil error, want refusal")
	}
	if _, err := e.svc.Transition(ctx, tenant, "INC-nope", "u", Triaged, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Transition(unknown incident) = %v, want ErrNotFound", err)
	}

	rec, err := e.svc.Show(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	type line struct{ Actor, Kind, Detail string }
	var got []line
	for _, en := range rec.Timeline {
		if en.Kind == "playbook" {
			continue
		}
		got = append(got, line{en.Actor, en.Kind, en.Detail})
	}
	want := []line{
		{"system", "opened", "high from alert a1"},
		{"system", "alert", "a1 [high] r1"},
		{"user:lead", "assign", "- → user:sato"},
		{"user:sato", "state", "new → triaged"},
		{"user:sato", "note", "VPN account disabled"},
		{"user:sato", "state", "triaged → contained"},
		{"user:sato", "state", "contained → eradicated"},
		{"user:sato", "state", "eradicated → recovered"},
		{"user:sato", "state", "recovered → closed resolved"},
		{"user:suzuki", "state", "closed → triaged the attacker came back"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	for i := 1; i < len(rec.Timeline); i++ {
		if rec.Timeline[i].Time.Before(rec.Timeline[i-1].Time) {
			t.Errorf("timeline out of order at %d: %v before %v", i, rec.Timeline[i].Time, rec.Timeline[i-1].Time)
		}
	}
	if rec.Incident.State != Triaged || !rec.Incident.Closed.IsZero() {
		t.Errorf("reopened incident = %s closed %v, want triaged and not closed", rec.Incident.State, rec.Incident.Closed)
	}
	// Reopening started contain and report afresh; a person reopened it, so it stays acknowledged.
	for _, c := range rec.Clocks {
		if c.Name == ClockAcknowledge && c.Stopped.IsZero() {
			t.Errorf("acknowledge clock after reopening = %+v, want it stopped", c)
		}
		if c.Name == ClockContain && (!c.Stopped.IsZero() || !c.Started.Equal(e.clock.Now().Truncate(time.Microsecond))) {
			t.Errorf("contain clock after reopening = %+v, want running from %v", c, e.clock.Now())
		}
	}
	// Every change is in the audit log too.
	log, _ := e.st.Tenant(tenant).AuditLog(ctx, 100)
	if len(log) < 9 || log[0].Action != "incident.state" || log[0].Actor != "user:suzuki" {
		t.Errorf("audit log = %d entries, first %+v; want the reopen by user:suzuki first", len(log), log[0])
	}
}

func TestChecklist(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{})
	ctx := t.Context()
	out, _ := e.svc.Ingest(ctx, detect.Alert{ID: "r1", Tenant: tenant, RuleID: "behavior.ransomware_burst", Title: "ransomware on fs01",
		Level: "critical", Techniques: []string{"T1486"}, Entities: detect.Entities{Host: "FS01"}, First: t0, Last: t0, Count: 25}, 1)
	e.clock.Add(7 * time.Minute)
	if _, err := e.svc.CheckStep(ctx, tenant, out.Incident, "user:sato", "ransomware", "isolate", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CheckStep(ctx, tenant, out.Incident, "user:sato", "ransomware", "isolate", true); err == nil {
		t.Error("CheckStep(done twice) = nil error, want refusal")
	}
	if _, err := e.svc.CheckStep(ctx, tenant, out.Incident, "user:sato", "ransomware", "pray", true); !errors.Is(err, ErrStep) {
		t.Errorf("CheckStep(unknown step) = %v, want ErrStep", err)
	}
	rec, _ := e.svc.Show(ctx, tenant, out.Incident)
	i := slices.IndexFunc(rec.Checklist, func(s Step) bool { return s.ID == "isolate" })
	if got := rec.Checklist[i]; got.Done.Sub(rec.Incident.Opened) != 7*time.Minute || got.DoneBy != "user:sato" {
		t.Errorf("isolate step = %+v, want done by user:sato 7 minutes after opening", got)
	}
	if _, err := e.svc.AddKind(ctx, tenant, out.Incident, "user:sato", "patient-data-leak"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddKind(ctx, tenant, out.Incident, "user:sato", "astrology"); err == nil {
		t.Error("AddKind(unknown) = nil error, want refusal")
	}
	rec, _ = e.svc.Show(ctx, tenant, out.Incident)
	if !slices.ContainsFunc(rec.Checklist, func(s Step) bool { return s.Playbook == "patient-data-leak" && s.ID == "ppc-preliminary" }) {
		t.Errorf("checklist after AddKind lacks the patient-data-leak steps: %+v", rec.Checklist)
	}
}
