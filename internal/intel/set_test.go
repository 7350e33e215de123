package intel

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

const warningListDir = "../../../shared/data/intel/misp-warninglists/lists"

func loadAllow(t testing.TB) *Allowlist {
	t.Helper()
	a, err := LoadWarningLists(warningListDir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustList(t testing.TB, text string) []Indicator {
	t.Helper()
	inds, rej, err := LoadList(strings.NewReader(text), "test")
	if err != nil || len(rej) > 0 {
		t.Fatalf("LoadList = %v, %v", rej, err)
	}
	return inds
}

var (
	day0 = time.Date(2024, 4, 21, 12, 0, 0, 0, time.UTC)
	kDNS = event.K("dns.question.name")
)

func TestSetMatch(t *testing.T) {
	inds := mustList(t, `
219.90.112.203
58.246.0.0/15
2001:db8:bad::/48
8.0.0.0/8
evil.example
www.other.example
http://evil.example/gate.php
https://files.example/dl/x.exe?id=1
ff9d1ed3795b9ad94f2390d5e5da5905
58.247.10.0/24
58.247.10.20
`)
	// A STIX indicator with a validity window and metadata.
	windowed := Indicator{Kind: KindDomain, Value: "window.example", ID: "indicator--w", Name: "Windowed",
		Source: "stix", Confidence: 80, ValidFrom: day0, ValidUntil: day0.Add(24 * time.Hour),
		Labels: []string{"malicious-activity"}, KillChain: []string{"lockheed-martin-cyber-kill-chain:command-and-control"}}
	inds = append(inds, windowed)
	s, r := NewSet(inds, SetOptions{Allow: loadAllow(t)})
	if r.Indexed != len(inds) || len(r.Allowlisted) != 0 {
		t.Fatalf("NewSet report = %+v, want all %d indexed", r, len(inds))
	}

	type hit struct{ Value, Field, Matched string }
	ev := func(src, dst string, fields ...string) *event.Event {
		e := &event.Event{Time: day0.Add(time.Hour)}
		if src != "" {
			e.SrcIP = netip.MustParseAddr(src)
		}
		if dst != "" {
			e.DstIP = netip.MustParseAddr(dst)
		}
		for i := 0; i+1 < len(fields); i += 2 {
			e.Add(event.K(fields[i]), fields[i+1])
		}
		return e
	}
	tests := []struct {
		name string
		e    *event.Event
		want []hit
	}{
		{"no match", ev("192.0.2.1", "192.0.2.2", "dns.question.name", "example.org"), nil},
		{"source address", ev("219.90.112.203", "10.0.0.1"), []hit{{"219.90.112.203", "source.ip", "219.90.112.203"}}},
		{"destination in network", ev("10.0.0.1", "58.247.10.99"), []hit{{"58.246.0.0/15", "destination.ip", "58.247.10.99"}, {"58.247.10.0/24", "destination.ip", "58.247.10.99"}}},
		{"address in nested networks", ev("58.247.10.20", ""), []hit{
			{"58.246.0.0/15", "source.ip", "58.247.10.20"}, {"58.247.10.0/24", "source.ip", "58.247.10.20"}, {"58.247.10.20", "source.ip", "58.247.10.20"}}},
		{"outer network only", ev("58.246.1.1", ""), []hit{{"58.246.0.0/15", "source.ip", "58.246.1.1"}}},
		{"IPv4-mapped address", ev("10.0.0.1", "::ffff:219.90.112.203"), []hit{{"219.90.112.203", "destination.ip", "219.90.112.203"}}},
		{"IPv6 network", ev("2001:db8:bad:1::5", ""), []hit{{"2001:db8:bad::/48", "source.ip", "2001:db8:bad:1::5"}}},
		// 8.8.8.8 is a public resolver on a warning list: the /8 does not hit it.
		{"network hit on allowlisted address", ev("10.0.0.1", "8.8.8.8"), nil},
		{"network hit elsewhere", ev("10.0.0.1", "8.8.4.5"), []hit{{"8.0.0.0/8", "destination.ip", "8.8.4.5"}}},
		{"domain exact", ev("", "", "dns.question.name", "evil.example"), []hit{{"evil.example", "dns.question.name", "evil.example"}}},
		{"subdomain, case and dot", ev("", "", "tls.client.server_name", "A.B.Evil.Example."), []hit{{"evil.example", "tls.client.server_name", "A.B.Evil.Example."}}},
		{"suffix that is not a parent", ev("", "", "dns.question.name", "notevil.example"), nil},
		{"parent of an indicator", ev("", "", "dns.question.name", "other.example"), nil},
		{"Sysmon query name", ev("", "", "winlog.event_data.QueryName", "c2.evil.example"), []hit{{"evil.example", "winlog.event_data.QueryName", "c2.evil.example"}}},
		{"URL path joined to host", ev("", "", "url.domain", "Evil.Example", "url.original", "/gate.php"), []hit{
			{"evil.example", "url.domain", "Evil.Example"}, {"evil.example/gate.php", "url.original", "/gate.php"}}},
		{"URL path before host", ev("", "", "url.original", "/gate.php?id=7", "url.domain", "evil.example:80"), []hit{
			{"evil.example", "url.domain", "evil.example:80"}, {"evil.example/gate.php", "url.original", "/gate.php?id=7"}}},
		{"URL with other query", ev("", "", "url.full", "https://files.example/dl/x.exe?id=2"), nil},
		{"URL with same query", ev("", "", "url.full", "http://files.example/dl/x.exe?id=1#frag"), []hit{{"files.example/dl/x.exe?id=1", "url.full", "http://files.example/dl/x.exe?id=1#frag"}}},
		{"Sysmon hashes", ev("", "", "winlog.event_data.Hashes", "MD5=FF9D1ED3795B9AD94F2390D5E5DA5905,SHA256=A80CB394D251F781DBD5FFB889D38FDD2095ADE63110578CA62F62CF795B7538,IMPHASH=3D4392A18BB23C56D311A2D64B6E5BA0"),
			[]hit{{"ff9d1ed3795b9ad94f2390d5e5da5905", "winlog.event_data.Hashes", "FF9D1ED3795B9AD94F2390D5E5DA5905"}}},
		{"import hash is not a file hash", ev("", "", "winlog.event_data.Hashes", "IMPHASH=FF9D1ED3795B9AD94F2390D5E5DA5905"), nil},
		{"Zeek file hash", ev("", "", "zeek.files.md5", "ff9d1ed3795b9ad94f2390d5e5da5905"), []hit{{"ff9d1ed3795b9ad94f2390d5e5da5905", "zeek.files.md5", "ff9d1ed3795b9ad94f2390d5e5da5905"}}},
		{"DNS answers", ev("", "", "zeek.dns.answers", "cdn.evil.example,219.90.112.203"), []hit{
			{"evil.example", "zeek.dns.answers", "cdn.evil.example"}, {"219.90.112.203", "zeek.dns.answers", "219.90.112.203"}}},
		{"field not watched", ev("", "", "zeek.dns.qclass_name", "evil.example"), nil},
		{"inside validity window", ev("", "", "dns.question.name", "window.example"), []hit{{"window.example", "dns.question.name", "window.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []hit
			for _, h := range s.Match(tt.e, nil) {
				got = append(got, hit{h.Indicator.Value, h.Field, h.Value})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Match (-want +got):\n%s", diff)
			}
		})
	}
	if n := s.Suppressed(); n != 1 {
		t.Errorf("Suppressed() = %d, want 1 (8.8.8.8 in 8.0.0.0/8)", n)
	}

	// Validity is taken at the event's time; an event without one falls back to Received.
	for _, tc := range []struct {
		t, received time.Time
		want        int
	}{
		{day0.Add(-time.Second), time.Time{}, 0},
		{day0, time.Time{}, 1},
		{day0.Add(24 * time.Hour), time.Time{}, 0}, // ValidUntil is exclusive
		{time.Time{}, day0.Add(time.Minute), 1},
		{time.Time{}, day0.Add(48 * time.Hour), 0},
	} {
		e := &event.Event{Time: tc.t, Received: tc.received}
		e.Add(kDNS, "window.example")
		hits := s.Match(e, nil)
		if len(hits) != tc.want {
			t.Errorf("Match(window.example at %v, received %v) = %d hits, want %d", tc.t, tc.received, len(hits), tc.want)
		}
		if len(hits) == 1 {
			in := hits[0].Indicator
			if in.ID != "indicator--w" || in.Name != "Windowed" || in.Confidence != 80 || in.Source != "stix" ||
				!slices.Equal(in.KillChain, windowed.KillChain) || !slices.Equal(in.Labels, windowed.Labels) {
				t.Errorf("Match hit indicator = %+v, want %+v", *in, windowed)
			}
		}
	}

	// dst is appended to, and given back as it was when nothing matches.
	buf := make([]Hit, 0, 4)
	if got := s.Match(ev("192.0.2.1", ""), buf); len(got) != 0 || cap(got) != 4 {
		t.Errorf("Match with no hit = len %d cap %d, want dst unchanged", len(got), cap(got))
	}
}

func TestNewSetReport(t *testing.T) {
	inds := mustList(t, `
8.8.8.8
1.1.1.1
10.20.30.0/24
8.0.0.0/8
www.google.com
https://www.google.com/url?q=x
login.microsoftonline-p.com
x.assets-yammer.com
evil.example
evil.example
`)
	// The same value from two feeds is two indicators; the same from one feed twice is one.
	dup := inds[len(inds)-1]
	dup.Source = "other"
	inds = append(inds, dup)
	expired := Indicator{Kind: KindIP, Value: "192.0.2.1", ID: "old", Source: "stix", Confidence: -1, ValidUntil: day0}
	inds = append(inds, expired)
	// line numbers differ, so the plain-list duplicate has another ID: make it the same
	inds[9].ID = inds[8].ID

	s, r := NewSet(inds, SetOptions{Allow: loadAllow(t), Now: day0})
	var got []string
	for _, a := range r.Allowlisted {
		got = append(got, a.Indicator.String()+" "+a.List)
	}
	want := []string{
		"ip:8.8.8.8 List of known IPv4 public DNS resolvers",
		"ip:1.1.1.1 List of known IPv4 public DNS resolvers",
		"cidr:10.20.30.0/24 List of RFC 1918 CIDR blocks",
		"domain:www.google.com Top 10K most-used sites from Tranco",
		"url:www.google.com/url?q=x Top 10K most-used sites from Tranco",
		"domain:login.microsoftonline-p.com List of known Office 365 URLs",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewSet allowlisted (-want +got):\n%s", diff)
	}
	// office365 is a string list: assets-yammer.com is on it, its subdomains are not.
	if r.Indexed != 4 || r.Duplicates != 1 || r.Expired != 1 || s.Len() != 4 {
		t.Errorf("NewSet report = indexed %d, duplicates %d, expired %d, Len %d; want 4, 1, 1, 4", r.Indexed, r.Duplicates, r.Expired, s.Len())
	}
	if r.ByKind[KindDomain] != 3 || r.ByKind[KindCIDR] != 1 {
		t.Errorf("NewSet ByKind = %v, want domain 3 cidr 1", r.ByKind)
	}
}

// TestSetRealLogs decodes real Zeek logs (RITA's proxy capture) and Sysmon events (SigmaHQ
// regression data), matches them against the OASIS example bundles and a list of values
// seen in those logs, and compares the hits, counted by indicator and field, with
// testdata/match/real.golden.
func TestSetRealLogs(t *testing.T) {
	var inds []Indicator
	for _, name := range []string{"threat-reports/apt1.json", "threat-reports/poisonivy.json", "indicators-for-C2-with-COA.json"} {
		f, err := os.Open(filepath.Join(stixDir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := LoadSTIX(f, name)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		inds = append(inds, got...)
	}
	f, err := os.Open("testdata/real.list")
	if err != nil {
		t.Fatal(err)
	}
	got, rej, err := LoadList(f, "real.list")
	f.Close()
	if err != nil || len(rej) > 0 {
		t.Fatalf("LoadList(testdata/real.list) = %v, %v", rej, err)
	}
	inds = append(inds, got...)
	s, r := NewSet(inds, SetOptions{Allow: loadAllow(t)})

	var b strings.Builder
	fmt.Fprintf(&b, "# indexed %d, allowlisted:\n", r.Indexed)
	for _, a := range r.Allowlisted {
		fmt.Fprintf(&b, "#   %s (%s) on %s\n", a.Indicator.String(), a.Indicator.Source, a.List)
	}
	logs := []string{
		"../../../shared/data/zeek/rita/test_data/proxy/http.log",
		"../../../shared/data/zeek/rita/test_data/proxy/files.log",
		"../../../shared/data/zeek/rita/test_data/proxy/dns.log",
		"../../../shared/data/zeek/rita/test_data/proxy/ssl.log",
		"../../../shared/data/zeek/stratosphere/003-zeek-scenario-malicious/dns.log",
		"../../../shared/data/zeek/stratosphere/003-zeek-scenario-malicious/conn.log",
		"../../../shared/data/sigma/regression_data/rules-emerging-threats/2026/Exploits/CVE-2026-33829/proc_creation_win_exploit_cve_2026_33829/7c3a5b1d-9e2f-4a8c-b5d7-1e0f3c6a9b2d.json",
	}
	for _, name := range logs {
		counts := map[string]int{}
		events := 0
		matchFile(t, name, func(e *event.Event) {
			events++
			for _, h := range s.Match(e, nil) {
				counts[fmt.Sprintf("%s %s (%s) on %s", h.Indicator.Kind, h.Indicator.Value, h.Indicator.Source, h.Field)]++
			}
		})
		rel := strings.TrimPrefix(name, "../../../shared/data/")
		fmt.Fprintf(&b, "%s: %d events\n", rel, events)
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %5d %s\n", counts[k], k)
		}
	}
	fmt.Fprintf(&b, "suppressed by warning lists at match time: %d\n", s.Suppressed())
	golden(t, "testdata/match/real.golden", b.String())
}

func matchFile(t *testing.T, name string, fn func(*event.Event)) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, _, err := decode.NewReader(f, "", decode.Options{Location: time.UTC}, 0)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	var e event.Event
	for {
		err := rd.Next(&e)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			if decode.ReasonOf(err) != "" {
				continue
			}
			t.Fatalf("decode %s: %v", name, err)
		}
		fn(&e)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("differs from %s (-want +got):\n%s", path, diff)
	}
}
