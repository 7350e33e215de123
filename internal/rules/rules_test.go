package rules

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/scenario"
)

// fired runs records through the hospital rules, as the detection stage does, and returns
// the titles of the rules that fired, with how often.
func fired(t *testing.T, recs []scenario.Record) map[string]int {
	t.Helper()
	rs, rep, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) > 0 || rep.Compiled != rep.Rules || rep.Rules == 0 {
		t.Fatalf("hospital rules: %d of %d compiled, failed: %v", rep.Compiled, rep.Rules, rep.Failed)
	}
	m, c := rs.NewMatcher(), rs.NewCorrelator()
	out := map[string]int{}
	jst := time.FixedZone("JST", 9*3600)
	for _, r := range recs {
		d, err := decode.New(r.Format, decode.Options{Location: jst})
		if err != nil {
			t.Fatal(err)
		}
		e := &event.Event{Raw: r.Data, Received: r.At}
		if err := d.Decode(e); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
		matches := m.Match(e, nil)
		for _, mt := range matches {
			out[mt.Rule.Title]++
		}
		for _, cm := range c.Observe(matches, rs) {
			out[cm.Rule.Title]++
		}
	}
	return out
}

func TestHospitalRulesCatchTheRansomwareScenario(t *testing.T) {
	got := fired(t, scenario.Ransomware(time.Date(2021, 10, 31, 0, 30, 0, 0, time.UTC)))
	for _, title := range []string{
		"FortiOS SSL-VPN Path Traversal Exploitation (CVE-2018-13379)",
		"Brute Force on the SSL-VPN",
		"Password Spraying on the SSL-VPN",
		"SSL-VPN Login After a Brute Force From the Same Address",
		"RDP Logon to a Server From the SSL-VPN Address Pool",
		"Mass Encryption of Files",
	} {
		if got[title] == 0 {
			t.Errorf("%q did not fire on the ransomware scenario; fired: %v", title, got)
		}
	}
	// The catering server's logon came from the VPN pool; the EHR servers' came from the
	// catering server, which is not.
	if n := got["RDP Logon to a Server From the SSL-VPN Address Pool"]; n != 1 {
		t.Errorf("RDP from the VPN pool fired %d times, want 1", n)
	}
}

func TestHospitalRulesQuietOnRoutineLogs(t *testing.T) {
	var recs []scenario.Record
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for line := range bytes.Lines(scenario.Routine(5000)) {
		recs = append(recs, scenario.Record{At: start, Format: "syslog", Data: bytes.TrimSuffix(line, []byte("\n"))})
	}
	got := fired(t, recs)
	for title, n := range got {
		if !slices.Contains([]string{"FortiGate SSL-VPN Login Failure"}, title) {
			t.Errorf("%q fired %d times on a gateway's routine logs", title, n)
		}
	}
	if got["FortiGate SSL-VPN Login Failure"] != 500 {
		t.Errorf("SSL-VPN login failures seen: %d, want the 500 in the routine mix", got["FortiGate SSL-VPN Login Failure"])
	}
}
