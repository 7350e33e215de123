package intel

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadMISPGolden reads a MISP event export (the shape of /events/view and feed
// manifests' event files) and compares what became of each attribute with the golden file.
func TestLoadMISPGolden(t *testing.T) {
	f, err := os.Open("testdata/misp/event.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inds, rej, err := LoadMISP(f, "misp")
	if err != nil {
		t.Fatalf("LoadMISP = %v", err)
	}
	golden(t, "testdata/misp/event.golden", formatLoad(inds, rej))
}

func TestLoadMISPShapes(t *testing.T) {
	attr := `{"type": "domain", "value": "evil.example", "uuid": "u1", "event_id": "7", "to_ids": true}`
	tests := []struct {
		name, json string
		want       int
		wantErr    bool
	}{
		{"event", `{"Event": {"uuid": "e", "Attribute": [` + attr + `]}}`, 1, false},
		{"list of events", `[{"Event": {"uuid": "e", "Attribute": [` + attr + `]}}, {"Event": {"uuid": "f", "Attribute": [` + attr + `]}}]`, 2, false},
		{"restSearch events", `{"response": [{"Event": {"uuid": "e", "Attribute": [` + attr + `]}}]}`, 1, false},
		{"restSearch attributes", `{"response": {"Attribute": [` + attr + `, ` + attr + `]}}`, 2, false},
		{"bare attributes", `{"Attribute": [` + attr + `]}`, 1, false},
		{"not MISP", `{"hello": "world"}`, 0, true},
		{"not JSON", `{"Event": `, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inds, _, err := LoadMISP(strings.NewReader(tt.json), "misp")
			if (err != nil) != tt.wantErr || len(inds) != tt.want {
				t.Errorf("LoadMISP(%s) = %d indicators, %v; want %d, error %v", tt.name, len(inds), err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLoadList(t *testing.T) {
	in := `# a feed
219.90.112.203
58.246.0.0/15   # a network
Evil.Example.
http://evil.example/gate.php
ff9d1ed3795b9ad94f2390d5e5da5905

not a domain!
60.10.1.999/8
`
	inds, rej, err := LoadList(strings.NewReader(in), "list")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range inds {
		got = append(got, i.String()+" "+i.ID)
	}
	want := "ip:219.90.112.203 list:2 cidr:58.246.0.0/15 list:3 domain:evil.example list:4 url:evil.example/gate.php list:5 md5:ff9d1ed3795b9ad94f2390d5e5da5905 list:6"
	if strings.Join(got, " ") != want {
		t.Errorf("LoadList = %v, want %v", got, want)
	}
	if len(rej) != 2 || rej[0].ID != "list:8" || rej[1].ID != "list:9" || rej[0].Reason != ReasonInvalid {
		t.Errorf("LoadList rejected = %v, want lines 8 and 9 as invalid", rej)
	}
}

func TestWarningLists(t *testing.T) {
	a := loadAllow(t)
	lists := a.Lists()
	if len(lists) != 6 || lists["Top 10K most-used sites from Tranco"] != 10000 {
		t.Errorf("Lists() = %v, want the 6 lists of the data set, tranco with 10000 entries", lists)
	}
	tests := []struct {
		kind  Kind
		value string
		list  string
	}{
		{KindIP, "8.8.8.8", "List of known IPv4 public DNS resolvers"},
		{KindIP, "10.1.2.3", "List of RFC 1918 CIDR blocks"},
		{KindCIDR, "192.168.10.0/24", "List of RFC 1918 CIDR blocks"},
		{KindIP, "224.0.0.251", "List of RFC 5771 multicast CIDR blocks"},
		{KindIP, "127.0.0.1", "List of RFC 5735 CIDR blocks"},
		{KindCIDR, "8.0.0.0/8", ""}, // holds resolvers, is not one
		{KindIP, "219.90.112.203", ""},
		{KindDomain, "google.com", "Top 10K most-used sites from Tranco"},
		{KindDomain, "mail.google.com", "Top 10K most-used sites from Tranco"},
		{KindURL, "drive.google.com/file/d/x", "Top 10K most-used sites from Tranco"},
		{KindDomain, "google.com.evil.example", ""},
		{KindDomain, "assets-yammer.com", "List of known Office 365 URLs"},
		{KindDomain, "x.assets-yammer.com", ""}, // a string list: exact names only
		{KindMD5, "ff9d1ed3795b9ad94f2390d5e5da5905", ""},
	}
	for _, tt := range tests {
		list, ok := a.Check(&Indicator{Kind: tt.kind, Value: tt.value})
		if list != tt.list || ok != (tt.list != "") {
			t.Errorf("Check(%s:%s) = %q, %v; want %q", tt.kind, tt.value, list, ok, tt.list)
		}
	}
	if _, err := LoadWarningLists(t.TempDir()); err == nil {
		t.Errorf("LoadWarningLists(empty dir) = nil error, want one")
	}
}

func TestLoadFile(t *testing.T) {
	tests := []struct {
		path string
		want int
	}{
		{filepath.Join(stixDir, "threat-reports", "apt1.json"), 10},
		{"testdata/misp/event.json", 9},
		{"testdata/real.list", 7},
	}
	for _, tt := range tests {
		inds, _, err := LoadFile(tt.path)
		if err != nil || len(inds) != tt.want {
			t.Errorf("LoadFile(%s) = %d indicators, %v; want %d", tt.path, len(inds), err, tt.want)
		}
	}
	if _, _, err := LoadFile("testdata/does-not-exist"); err == nil {
		t.Errorf("LoadFile(missing) = nil error")
	}
}

// TestFeedsRefresh polls a TAXII collection and reads files, then sees a revoked indicator
// go and a file that broke keep its last good indicators.
func TestFeedsRefresh(t *testing.T) {
	ctx := context.Background()
	s := newTAXIIServer(t, "indicators-for-C2-with-COA.json")
	list := filepath.Join(t.TempDir(), "local.list")
	if err := os.WriteFile(list, []byte("evil.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &Feeds{
		Files: []string{list, filepath.Join(stixDir, "threat-reports", "apt1.json")},
		TAXII: []TAXIIFeed{{Name: "isac", Client: s.client(), APIRoot: s.srv.URL + "/api1/", Collection: s.collections[0].id}},
		Allow: loadAllow(t),
	}
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	set, r, err := f.Refresh(ctx, now)
	if err != nil {
		t.Fatalf("Refresh = %v", err)
	}
	// 1 list + 10 apt1 + the COA bundle's SHA-256 (its 10.0.0.0 is RFC 1918: allowlisted).
	if set.Len() != 12 || len(r.Allowlisted) != 1 {
		t.Fatalf("Refresh = %d indicators, %d allowlisted; want 12, 1", set.Len(), len(r.Allowlisted))
	}

	// The producer revokes the file-hash indicator; the next poll brings the new version.
	revoked := map[string]any{"type": "indicator", "spec_version": "2.1", "id": "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade",
		"created": "2014-05-08T09:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z", "revoked": true,
		"pattern":      "[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']",
		"pattern_type": "stix", "valid_from": "2014-05-08T09:00:00.000000Z"}
	raw, _ := json.Marshal(revoked)
	c := s.collections[0]
	c.objects = append(c.objects, raw)
	c.added = append(c.added, c.added[len(c.added)-1].Add(time.Hour))
	// The local list breaks (a half-written file); its indicator stays.
	if err := os.WriteFile(list, nil, 0o000); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		os.Remove(list) // root reads anything: make it fail by absence instead
	}
	set, _, err = f.Refresh(ctx, now)
	if err == nil {
		t.Errorf("Refresh with a broken file = nil error, want one naming it")
	}
	var values []string
	for _, in := range set.Indicators() {
		values = append(values, in.String())
	}
	if set.Len() != 11 || !strings.Contains(strings.Join(values, " "), "domain:evil.example") ||
		strings.Contains(strings.Join(values, " "), "sha256:") {
		t.Errorf("Refresh after revocation = %v, want the list's domain kept and the SHA-256 gone", values)
	}
}
