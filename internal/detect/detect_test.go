package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/behavior"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/intel"
	"github.com/omamori-project/omamori/internal/rules"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/severity"
)

var jst = time.FixedZone("JST", 9*3600)

// scenarioEvents decodes the ransomware scenario as the ingest pipeline would, for tenant.
func scenarioEvents(t testing.TB, tenant string, start time.Time) []event.Event {
	t.Helper()
	var out []event.Event
	for _, r := range scenario.Ransomware(start) {
		d, err := decode.New(r.Format, decode.Options{Location: jst})
		if err != nil {
			t.Fatal(err)
		}
		e := event.Event{Raw: r.Data, Received: r.At}
		if err := d.Decode(&e); err != nil {
			t.Fatal(err)
		}
		e.Tenant = tenant
		out = append(out, e)
	}
	return out
}

func newStage(t testing.TB, cfg Config) *Stage {
	t.Helper()
	rs, rep, err := rules.Load()
	if err != nil || len(rep.Failed) > 0 {
		t.Fatalf("rules.Load: %v %v", err, rep.Failed)
	}
	s, err := New(rs, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStageOnTheBus publishes the scenario's events to a real embedded bus and finds the
// alerts the stage publishes on ALERTS, with the entities a responder needs.
func TestStageOnTheBus(t *testing.T) {
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	events := scenarioEvents(t, "handa", time.Date(2021, 10, 31, 0, 30, 0, 0, jst))
	for i := 0; i < len(events); i += 50 {
		batch := event.AppendBatch(nil, events[i:min(i+50, len(events))])
		if err := b.PublishEvents(t.Context(), "handa", batch); err != nil {
			t.Fatal(err)
		}
	}
	s := newStage(t, Config{Alerts: b})
	runCtx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- b.ConsumeEvents(runCtx, bus.ConsumeConfig{Durable: ConsumerName}, s) }()

	// The last of the attack's alerts (the mass encryption) marks that all are published.
	byTitle := map[string]Alert{}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, ok := byTitle["Mass Encryption of Files"]; ok {
			break
		}
		byTitle = map[string]Alert{}
		err := b.ReadAlerts(t.Context(), func(m bus.Msg) error {
			var a Alert
			if err := json.Unmarshal(m.Data, &a); err != nil {
				return err
			}
			if a.Tenant != "handa" || m.Tenant != "handa" {
				t.Errorf("alert of tenant %q on subject of %q, want handa", a.Tenant, m.Tenant)
			}
			if _, dup := byTitle[a.Title]; dup {
				t.Errorf("alert %q raised twice within the de-duplication window", a.Title)
			}
			byTitle[a.Title] = a
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if err := <-done; err != nil && runCtx.Err() == nil {
		t.Errorf("Run: %v", err)
	}

	want := []struct {
		title string
		level severity.Level
		en    Entities
	}{
		{"FortiOS SSL-VPN Path Traversal Exploitation (CVE-2018-13379)", "critical", Entities{Source: scenario.Attacker, Destination: scenario.VPNPortal}}, // the appliance is the observer (observer.name), not a host
		{"Brute Force on the SSL-VPN", "high", Entities{Source: scenario.Attacker}},
		{"Password Spraying on the SSL-VPN", "high", Entities{Source: scenario.Attacker}},
		{"SSL-VPN Login After a Brute Force From the Same Address", "critical", Entities{Source: scenario.Attacker}},
		{"RDP Logon to a Server From the SSL-VPN Address Pool", "high", Entities{Source: scenario.VPNTunnelIP, User: scenario.SharedAccount, Host: "KYUSHOKU-SV01"}},
		{"Mass Encryption of Files", "critical", Entities{Host: "FS01"}},
	}
	for _, w := range want {
		a, ok := byTitle[w.title]
		if !ok {
			t.Errorf("no alert %q; alerts: %v", w.title, slices.Sorted(maps.Keys(byTitle)))
			continue
		}
		if a.Level != w.level || a.Entities != w.en {
			t.Errorf("alert %q: level %s entities %+v, want %s %+v", w.title, a.Level, a.Entities, w.level, w.en)
		}
		if len(a.Evidence) == 0 || a.Evidence[0].Seq == 0 {
			t.Errorf("alert %q has no evidence on the bus: %+v", w.title, a.Evidence)
		}
	}
	// The RDP came from the VPN tunnel address the attacker's login was given.
	if rdp := byTitle["RDP Logon to a Server From the SSL-VPN Address Pool"]; !slices.Equal(rdp.Related, []string{scenario.Attacker}) {
		t.Errorf("RDP alert related = %v, want the attacker %s behind the tunnel address", rdp.Related, scenario.Attacker)
	}
	if _, ok := byTitle["FortiGate SSL-VPN Login Failure"]; ok {
		t.Error("an informational rule raised an alert")
	}
}

// TestRepeatsAreHeldBack replays the attack twice within the window, then once after it: the
// second time raises nothing, the third says how many were held back.
func TestRepeatsAreHeldBack(t *testing.T) {
	s := newStage(t, Config{Window: time.Hour})
	start := time.Date(2021, 10, 31, 0, 30, 0, 0, jst)
	run := func(at time.Time) []Alert {
		for i, e := range scenarioEvents(t, "handa", at) {
			s.Observe(1, i, &e)
		}
		return s.Take()
	}
	first := run(start)
	if len(first) == 0 {
		t.Fatal("the scenario raised no alert")
	}
	if again := run(start.Add(20 * time.Minute)); len(again) != 0 {
		t.Errorf("the same attack 20 minutes later raised %d alerts within the hour's window", len(again))
	}
	later := run(start.Add(3 * time.Hour))
	var cve *Alert
	for i := range later {
		if later[i].RuleID == first[0].RuleID {
			cve = &later[i]
		}
	}
	if cve == nil || cve.Suppressed != 1 {
		t.Errorf("alert after the window = %+v, want the first rule again with 1 held back", cve)
	}
}

// BenchmarkObserve runs the hospital rules over the ransomware scenario and a gateway's routine
// logs, as the stage does for every event on the bus.
func BenchmarkObserve(b *testing.B) {
	events := scenarioEvents(b, "handa", time.Date(2021, 10, 31, 0, 30, 0, 0, jst))
	s := newStage(b, Config{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Observe(1, i, &events[i%len(events)])
		i++
		if i%len(events) == 0 {
			s.Take()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func behaviorConfig() Config {
	bc := behavior.DefaultConfig()
	return Config{Behavior: &bc}
}

// TestBehaviorAlerts runs the scenario through the behavioural detectors as well as the rules:
// what no single line shows (a burst of failures, one server fanning out to the EHR servers,
// a burst of encrypted files) becomes alerts with the entities a responder acts on.
func TestBehaviorAlerts(t *testing.T) {
	s := newStage(t, behaviorConfig())
	for i, e := range scenarioEvents(t, "handa", time.Date(2021, 10, 31, 0, 30, 0, 0, jst)) {
		s.Observe(uint64(i+1), 0, &e)
	}
	got := map[string]Alert{}
	for _, a := range s.Take() {
		if a.Detector == "behavior" {
			got[a.RuleID] = a
		}
	}
	want := map[string]Entities{
		"behavior.brute_force":          {Source: scenario.Attacker},
		"behavior.password_spraying":    {Source: scenario.Attacker},
		"behavior.login_after_failures": {Source: scenario.Attacker, User: scenario.VPNAccount},
		"behavior.lateral_movement":     {Source: scenario.CateringSrv},
		"behavior.shadow_copy_deletion": {Host: "EHR-DB01"},
		"behavior.ransomware_burst":     {Host: "FS01"},
	}
	for id, en := range want {
		a, ok := got[id]
		if !ok {
			t.Errorf("no alert %s; behaviour alerts: %v", id, slices.Sorted(maps.Keys(got)))
			continue
		}
		if a.Tenant != "handa" || len(a.Techniques) == 0 || len(a.Evidence) == 0 {
			t.Errorf("alert %s: tenant %q techniques %v evidence %v", id, a.Tenant, a.Techniques, a.Evidence)
		}
		// Entities the detector does not name are left to the test: compare what it must name.
		if en.Source != "" && a.Entities.Source != en.Source || en.User != "" && a.Entities.User != en.User || en.Host != "" && a.Entities.Host != en.Host {
			t.Errorf("alert %s entities %+v, want %+v", id, a.Entities, en)
		}
	}
}

// TestBehaviorTenantsApart sends the same attacker's failed logins to two hospitals, below the
// brute-force threshold in each: the detectors keep each hospital's state apart, so neither
// raises an alert, while the same failures at one hospital do.
func TestBehaviorTenantsApart(t *testing.T) {
	var fails []event.Event
	for _, e := range scenarioEvents(t, "", time.Date(2021, 10, 31, 0, 30, 0, 0, jst)) {
		if e.Outcome == event.OutcomeFailure && e.SrcIP.String() == scenario.Attacker {
			fails = append(fails, e)
		}
	}
	threshold := behavior.DefaultConfig().Auth.Failures
	if len(fails) < 2*(threshold-1) {
		t.Fatalf("the scenario has %d failed logins, want at least %d", len(fails), 2*(threshold-1))
	}
	fails = fails[:2*(threshold-1)]
	bruteForces := func(tenantOf func(i int) string) int {
		s := newStage(t, behaviorConfig())
		for i := range fails {
			e := fails[i]
			e.Tenant = tenantOf(i)
			s.Observe(uint64(i+1), 0, &e)
		}
		n := 0
		for _, a := range s.Take() {
			if a.RuleID == "behavior.brute_force" {
				n++
			}
		}
		return n
	}
	if n := bruteForces(func(i int) string { return []string{"handa", "tsurugi"}[i%2] }); n != 0 {
		t.Errorf("%d failures split over two hospitals raised %d brute-force alerts, want 0", len(fails), n)
	}
	if n := bruteForces(func(int) string { return "handa" }); n != 1 {
		t.Errorf("%d failures at one hospital raised %d brute-force alerts, want 1", len(fails), n)
	}
}

// BenchmarkStageRoutine is the stage as serve runs it (hospital rules and the behavioural
// detectors) on the gateway's routine log.
func BenchmarkStageRoutine(b *testing.B) {
	d, err := decode.New("syslog", decode.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	var events []event.Event
	for l := range bytes.Lines(scenario.Routine(100_000)) {
		e := event.Event{Raw: bytes.TrimSuffix(l, []byte("\n")), Received: time.Now(), Tenant: "bench"}
		if err := d.Decode(&e); err != nil {
			b.Fatal(err)
		}
		events = append(events, e)
	}
	s := newStage(b, behaviorConfig())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Observe(uint64(i), 0, &events[i%len(events)])
		if i%1000 == 0 {
			s.Take()
		}
	}
}

// TestIntelAlerts checks the scenario against a feed naming the attacker's address: the events
// from it raise intel alerts (held back to one per window), and swapping the feed out stops them.
func TestIntelAlerts(t *testing.T) {
	inds, rej, err := intel.LoadList(strings.NewReader("# a CSIRT's block list\n"+scenario.Attacker+"\n"), "jpcert-test")
	if err != nil || len(rej) > 0 {
		t.Fatalf("LoadList: %v %v", err, rej)
	}
	set, _ := intel.NewSet(inds, intel.SetOptions{})
	s := newStage(t, Config{})
	s.SetIntel(set)
	events := scenarioEvents(t, "handa", time.Date(2021, 10, 31, 0, 30, 0, 0, jst))
	for i, e := range events {
		s.Observe(uint64(i+1), 0, &e)
	}
	var hits []Alert
	for _, a := range s.Take() {
		if a.Detector == "intel" {
			hits = append(hits, a)
		}
	}
	if len(hits) == 0 {
		t.Fatal("no intel alert for the attacker's address")
	}
	for _, a := range hits {
		if a.Entities.Source != scenario.Attacker || a.Level != "medium" || !strings.Contains(a.Title, "jpcert-test") {
			t.Errorf("intel alert %+v: want the attacker as source, level medium (confidence unknown), the feed named", a)
		}
	}

	s = newStage(t, Config{})
	s.SetIntel(set)
	s.SetIntel(nil)
	for i, e := range events {
		s.Observe(uint64(i+1), 0, &e)
	}
	for _, a := range s.Take() {
		if a.Detector == "intel" {
			t.Errorf("intel alert after the feed was removed: %+v", a)
		}
	}
}

func TestParseAlert(t *testing.T) {
	tests := []struct {
		name, subject string
		data          string
		wantID        string // "" when it must be refused
	}{
		{"the subject's tenant", "handa", `{"id":"a1","tenant":"handa","rule_id":"r"}`, "a1"},
		{"another tenant's body", "handa", `{"id":"a2","tenant":"other-hospital","rule_id":"r"}`, ""},
		{"no tenant in the body", "handa", `{"id":"a3","rule_id":"r"}`, ""},
		{"not JSON", "handa", `not json`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAlert(bus.Msg{Seq: 7, Subject: "alerts." + tt.subject, Tenant: tt.subject, Data: []byte(tt.data)})
			if tt.wantID == "" {
				if err == nil {
					t.Errorf("ParseAlert(%s) = %+v, want an error", tt.data, a)
				}
				return
			}
			if err != nil || a.ID != tt.wantID || a.Tenant != tt.subject {
				t.Errorf("ParseAlert(%s) = %+v, %v, want alert %s of %s", tt.data, a, err, tt.wantID, tt.subject)
			}
		})
	}
}
