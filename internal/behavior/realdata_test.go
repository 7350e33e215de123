package behavior

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// runScenario decodes the ransomware scenario's records and returns every finding.
func runScenario(t testing.TB, en *Engine) []Finding {
	t.Helper()
	var out []Finding
	var e event.Event
	for _, r := range scenario.Ransomware(time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC)) {
		rd, _, err := decode.NewReader(bytes.NewReader(r.Data), r.Format, decode.Options{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := rd.Next(&e); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
		out = en.Observe(out, &e)
	}
	return out
}

func findingsOf(fs []Finding, detector string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Detector == detector {
			out = append(out, f)
		}
	}
	return out
}

// TestScenarioRansomware runs the Handa/Osaka-style attack through the default thresholds.
func TestScenarioRansomware(t *testing.T) {
	en, err := New(DefaultConfig(), Shard{})
	if err != nil {
		t.Fatal(err)
	}
	fs := runScenario(t, en)
	for _, f := range fs {
		t.Logf("%s %s %s: %s", f.Severity, f.Detector, f.Technique, f.Title)
	}
	attacker := netip.MustParseAddr(scenario.Attacker)

	login := findingsOf(fs, DetectorLoginAfter)
	if len(login) != 1 || login[0].Source != attacker || login[0].User != scenario.VPNAccount || login[0].Count != 24 {
		t.Errorf("login after failures = %+v, want one from %s as %s after 24 failures", login, attacker, scenario.VPNAccount)
	}
	brute := findingsOf(fs, DetectorBruteForce)
	if len(brute) != 1 || brute[0].Source != attacker {
		t.Errorf("brute force = %+v, want one from %s", brute, attacker)
	}
	spray := findingsOf(fs, DetectorSpraying)
	if len(spray) != 1 || spray[0].Source != attacker {
		t.Errorf("spraying = %+v, want one from %s (7 user names)", spray, attacker)
	}
	lat := findingsOf(fs, DetectorLateral)
	if len(lat) != 1 || lat[0].Source != netip.MustParseAddr(scenario.CateringSrv) || lat[0].Count != len(scenario.EHRServers) {
		t.Errorf("lateral = %+v, want one from %s to %d EHR servers", lat, scenario.CateringSrv, len(scenario.EHRServers))
	}
	shadow := findingsOf(fs, DetectorShadowCopy)
	if len(shadow) != 1 || shadow[0].Host != "EHR-DB01" {
		t.Errorf("shadow copy = %+v, want one on EHR-DB01", shadow)
	}
	rw := findingsOf(fs, DetectorRansomware)
	if len(rw) != 1 || rw[0].Host != "FS01" {
		t.Errorf("ransomware burst = %+v, want one on FS01", rw)
	}
	for _, d := range []string{DetectorPortScan, DetectorExfiltration} {
		if got := findingsOf(fs, d); len(got) != 0 {
			t.Errorf("%s = %+v, want none: the scenario has no scan and no outbound volume", d, got)
		}
	}
}

// TestScenarioPartitioned splits the scenario over three nodes: together they find exactly what
// one node finds, and no finding is made twice.
func TestScenarioPartitioned(t *testing.T) {
	one, _ := New(DefaultConfig(), Shard{})
	want := runScenario(t, one)
	var got []Finding
	for p := range 3 {
		en, err := New(DefaultConfig(), Shard{N: 3, Owned: []int{p}})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, runScenario(t, en)...)
	}
	key := func(f Finding) string { return f.Detector + " " + f.Key }
	var w, g []string
	for _, f := range want {
		w = append(w, key(f))
	}
	for _, f := range got {
		g = append(g, key(f))
	}
	sort.Strings(w)
	sort.Strings(g)
	if !slices.Equal(w, g) {
		t.Errorf("findings over 3 partitions = %v, want %v", g, w)
	}
}

// TestOpenSSHBruteForce holds the brute-force detector to an independent count of the
// "Failed password" lines of Loghub's OpenSSH sample: every source with at least Failures
// failures within Window (counted here with a regular expression and a sliding window over
// the raw lines) is found, and nothing else.
func TestOpenSSHBruteForce(t *testing.T) {
	name := shareddata.Path(t, "syslog", "loghub", "OpenSSH", "OpenSSH_2k.log")
	cfg := DefaultConfig()

	// The independent count.
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^(\w{3} +\d+ \d\d:\d\d:\d\d) \S+ sshd\[\d+\]: Failed (?:password|none|publickey) for (?:invalid user )?.* from (\S+) port \d+`)
	fails := map[string][]time.Time{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ts, err := time.Parse("Jan _2 15:04:05 2006", m[1]+" 2015")
		if err != nil {
			t.Fatalf("time %q: %v", m[1], err)
		}
		fails[m[2]] = append(fails[m[2]], ts)
	}
	var want []string
	for ip, ts := range fails {
		for i := range ts {
			j := i
			for j < len(ts) && ts[j].Sub(ts[i]) <= cfg.Auth.Window {
				j++
			}
			if j-i >= cfg.Auth.Failures {
				want = append(want, ip)
				break
			}
		}
	}
	sort.Strings(want)
	if len(want) == 0 {
		t.Fatal("the independent count found no brute force: the sample is not what this test expects")
	}

	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, _, err := decode.NewReader(f, "auto", decode.Options{Year: 2015, Location: time.UTC}, 0)
	if err != nil {
		t.Fatal(err)
	}
	en, _ := New(cfg, Shard{})
	var fs []Finding
	var e event.Event
	for {
		err := rd.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			continue
		}
		fs = en.Observe(fs, &e)
	}
	// A source that comes back after a quiet spell is a second attack and reported again
	// (103.99.0.122 tries at 09:11 and again at 11:0x); one burst is reported once.
	var got []string
	last := map[netip.Addr]time.Time{}
	for _, f := range findingsOf(fs, DetectorBruteForce) {
		if prev, ok := last[f.Source]; ok && f.First.Sub(prev) <= cfg.Auth.Window {
			t.Errorf("%s reported twice for one burst: at %v and %v", f.Source, prev, f.First)
		}
		last[f.Source] = f.Last
		got = append(got, f.Source.String())
	}
	sort.Strings(got)
	got = slices.Compact(got)
	if !slices.Equal(got, want) {
		t.Errorf("brute-forcing sources = %v, want %v", got, want)
	}
	t.Logf("brute-forcing sources: %v", got)
}

// TestOutOfOrder: a sender's batches can overtake each other on the bus, so a detector sees
// events out of order. Failures 250 s apart are no brute force in any order: twenty of them
// in four batches delivered last batch first raise nothing, as they raise nothing in order.
func TestOutOfOrder(t *testing.T) {
	src := netip.MustParseAddr("203.0.113.7")
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var events []event.Event
	for i := range 20 {
		events = append(events, event.Event{Time: t0.Add(time.Duration(i) * 250 * time.Second), Category: "authentication",
			Dataset: "fortigate.vpn", Action: "vpn_login", Outcome: event.OutcomeFailure, SrcIP: src, User: fmt.Sprintf("user%d", i)})
	}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}} {
		en, _ := New(DefaultConfig(), Shard{})
		var fs []Finding
		for _, b := range order {
			for i := range 5 {
				fs = en.Observe(fs, &events[b*5+i])
			}
		}
		if len(fs) != 0 {
			t.Errorf("batches in order %v: %d findings (%s: %s), want none", order, len(fs), fs[0].Detector, fs[0].Title)
		}
	}
}
