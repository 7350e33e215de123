package intel

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const stixDir = "../../../shared/data/stix/examples"

func TestParsePattern(t *testing.T) {
	tests := []struct {
		pattern string
		want    []Term
		errs    []error // what each error wraps, in order
	}{
		{"[ipv4-addr:value = '198.51.100.7']", []Term{{KindIP, "198.51.100.7"}}, nil},
		{"[ ipv4-addr:value = '10.0.0.0' ]", []Term{{KindIP, "10.0.0.0"}}, nil},
		{"[ipv4-addr:value ISSUBSET '198.51.100.0/24']", []Term{{KindCIDR, "198.51.100.0/24"}}, nil},
		{"[ipv4-addr:value = '58.246.0.0/15']", []Term{{KindCIDR, "58.246.0.0/15"}}, nil},
		{"[ipv4-addr:value = '58.247.1.2/15']", []Term{{KindCIDR, "58.246.0.0/15"}}, nil},
		{"[ipv6-addr:value = '2001:DB8::1']", []Term{{KindIP, "2001:db8::1"}}, nil},
		{"[ipv6-addr:value ISSUBSET '2001:db8::/32']", []Term{{KindCIDR, "2001:db8::/32"}}, nil},
		{"[domain-name:value = 'Evil.Example.']", []Term{{KindDomain, "evil.example"}}, nil},
		{"[url:value = 'HTTP://Evil.Example:80/a/B.php?x=1#top']", []Term{{KindURL, "evil.example/a/B.php?x=1"}}, nil},
		{"[url:value = 'https://evil.example']", []Term{{KindURL, "evil.example/"}}, nil},
		{"[url:value = 'http://198.51.100.7:8080/gate']", []Term{{KindURL, "198.51.100.7:8080/gate"}}, nil},
		{"[file:hashes.md5 = '00DBB9E1C09DBDAFB360F3163BA5A3DE']", []Term{{KindMD5, "00dbb9e1c09dbdafb360f3163ba5a3de"}}, nil},
		{"[file:hashes.'SHA-1' = 'ef4a07dc91ccc67f0ba7d7c42b5a02344c39ad73']", []Term{{KindSHA1, "ef4a07dc91ccc67f0ba7d7c42b5a02344c39ad73"}}, nil},
		{"[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']",
			[]Term{{KindSHA256, "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"}}, nil},
		{"[file:hashes.MD5 IN ('00dbb9e1c09dbdafb360f3163ba5a3de', '002325a0a67fded0381b5648d7fe9b8e')]",
			[]Term{{KindMD5, "00dbb9e1c09dbdafb360f3163ba5a3de"}, {KindMD5, "002325a0a67fded0381b5648d7fe9b8e"}}, nil},
		{"[domain-name:value = 'a.example' OR ipv4-addr:value = '192.0.2.1'] OR ([domain-name:value = 'b.example'])",
			[]Term{{KindDomain, "a.example"}, {KindIP, "192.0.2.1"}, {KindDomain, "b.example"}}, nil},
		// One bad branch of an OR does not spoil the others (apt1.json has this one).
		{"[domain-name:value = 'domain autuo.xicp.net' OR ipv4-addr:value = '60.10.1.115']",
			[]Term{{KindIP, "60.10.1.115"}}, []error{ErrInvalidValue}},
		{"[ipv4-addr:value = '2001:db8::1']", nil, []error{ErrInvalidValue}},
		{"[ipv6-addr:value = '192.0.2.1']", nil, []error{ErrInvalidValue}},
		{"[ipv4-addr:value = 42]", nil, []error{ErrInvalidValue}},
		// Valid STIX a Set cannot evaluate on its own.
		{"[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b']", nil, []error{ErrUnsupported}},
		{"[file:name = 'CBricksDoc']", nil, []error{ErrUnsupported}},
		{"[ipv4-addr:value = '192.0.2.1'] AND [domain-name:value = 'a.example']", nil, []error{ErrUnsupported}},
		{"[ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [domain-name:value = 'a.example']", nil, []error{ErrUnsupported}},
		{"[ipv4-addr:value = '192.0.2.1'] WITHIN 300 SECONDS", nil, []error{ErrUnsupported}},
		{"[ipv4-addr:value = '192.0.2.1'] REPEATS 5 TIMES OR [domain-name:value = 'a.example']",
			[]Term{{KindDomain, "a.example"}}, []error{ErrUnsupported}},
		{"[ipv4-addr:value = '192.0.2.1'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'", nil, []error{ErrUnsupported}},
		{"[ipv4-addr:value != '192.0.2.1']", nil, []error{ErrUnsupported}},
		{"[ipv4-addr:value NOT = '192.0.2.1']", nil, []error{ErrUnsupported}},
		{"[domain-name:value LIKE '%.example']", nil, []error{ErrUnsupported}},
		{"[email-message:subject MATCHES '^[IMPORTANT] Please Review Before']", nil, []error{ErrUnsupported}},
		{"[email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\\\.exe$']", nil, []error{ErrUnsupported}},
		{"[domain-name:value = 'a.example' OR domain-name:value = 'b.example' AND domain-name:value = 'c.example']",
			[]Term{{KindDomain, "a.example"}}, []error{ErrUnsupported}},
		{"[EXISTS file:hashes.MD5]", nil, []error{ErrUnsupported}},
		{"[file:size > 1000]", nil, []error{ErrUnsupported}},
		// Not STIX at all.
		{"", nil, []error{ErrPatternSyntax}},
		{"ipv4-addr:value = '192.0.2.1'", nil, []error{ErrPatternSyntax}},
		{"[ipv4-addr:value = '192.0.2.1'", nil, []error{ErrPatternSyntax}},
		{"[ipv4-addr:value = '192.0.2.1]", nil, []error{ErrPatternSyntax}},
		{"[ipv4-addr:value '192.0.2.1']", nil, []error{ErrPatternSyntax}},
		{"[ipv4-addr:value IN ('192.0.2.1',)]", nil, []error{ErrPatternSyntax}},
		{"[ipv4-addr:value = '192.0.2.1'] OR", nil, []error{ErrPatternSyntax}},
		{strings.Repeat("(", 100) + "[ipv4-addr:value = '192.0.2.1']" + strings.Repeat(")", 100), nil, []error{ErrPatternSyntax}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			got, errs := ParsePattern(tt.pattern)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParsePattern(%q) terms (-want +got):\n%s", tt.pattern, diff)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("ParsePattern(%q) errors = %v, want %d wrapping %v", tt.pattern, errs, len(tt.errs), tt.errs)
			}
			for i, err := range errs {
				if !errors.Is(err, tt.errs[i]) {
					t.Errorf("ParsePattern(%q) error %d = %v, want one wrapping %v", tt.pattern, i, err, tt.errs[i])
				}
			}
		})
	}
}

func FuzzParsePattern(f *testing.F) {
	// Seeds: every pattern of the real bundles, and a few shapes they do not show.
	files, _ := filepath.Glob(filepath.Join(stixDir, "*.json"))
	more, _ := filepath.Glob(filepath.Join(stixDir, "*", "*.json"))
	files = append(files, more...)
	seeds := 0
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if _, p, ok := strings.Cut(line, `"pattern": "`); ok {
				f.Add(strings.ReplaceAll(strings.TrimSuffix(strings.TrimSpace(p), `",`), `\\`, `\`))
				seeds++
			}
		}
	}
	if seeds == 0 {
		f.Fatalf("no seed patterns under %s", stixDir)
	}
	f.Add("[file:hashes.MD5 IN ('00dbb9e1c09dbdafb360f3163ba5a3de', '002325a0a67fded0381b5648d7fe9b8e')]")
	f.Add("([ipv4-addr:value ISSUBSET '198.51.100.0/24'] OR [url:value = 'http://x.example/a']) WITHIN 5 SECONDS")
	f.Add("[ipv4-addr:value = '192.0.2.1'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'")
	f.Fuzz(func(t *testing.T, pattern string) {
		terms, errs := ParsePattern(pattern)
		for _, err := range errs {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrPatternSyntax) && !errors.Is(err, ErrInvalidValue) {
				t.Errorf("ParsePattern(%q) error %v wraps none of the sentinels", pattern, err)
			}
			if errors.Is(err, ErrPatternSyntax) && len(terms) > 0 {
				t.Errorf("ParsePattern(%q) = %v with syntax error %v, want no terms", pattern, terms, err)
			}
		}
		for _, tm := range terms {
			// A term is normalized: normalizing it again changes nothing.
			again, err := Normalize(tm.Kind, tm.Value)
			if err != nil || again != tm.Value {
				t.Errorf("ParsePattern(%q) term %v: Normalize again = %q, %v", pattern, tm, again, err)
			}
		}
	})
}

// TestLoadSTIXGolden loads every bundle of the OASIS examples and compares what became of
// each indicator with testdata/stix/<bundle>.golden.
func TestLoadSTIXGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(stixDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(stixDir, "threat-reports", "*.json"))
	files = append(files, more...)
	if len(files) < 5 {
		t.Fatalf("found %d bundles under %s, want the OASIS examples", len(files), stixDir)
	}
	for _, name := range files {
		base := strings.TrimSuffix(filepath.Base(name), ".json")
		t.Run(base, func(t *testing.T) {
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			inds, rej, err := LoadSTIX(f, base)
			if err != nil {
				t.Fatalf("LoadSTIX(%s) = %v", name, err)
			}
			got := formatLoad(inds, rej)
			golden := filepath.Join("testdata", "stix", base+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("LoadSTIX(%s) differs from %s (-want +got):\n%s", name, golden, diff)
			}
		})
	}
}

// formatLoad writes indicators and rejections one a line, the form of the golden files.
func formatLoad(inds []Indicator, rej []Rejected) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d indicators, %d rejected %v\n", len(inds), len(rej), reasonCounts(rej))
	for _, in := range inds {
		fmt.Fprintf(&b, "%s %s id=%s conf=%d", in.Kind, in.Value, in.ID, in.Confidence)
		if in.Name != "" {
			fmt.Fprintf(&b, " name=%q", in.Name)
		}
		if !in.ValidFrom.IsZero() {
			fmt.Fprintf(&b, " from=%s", in.ValidFrom.Format(time.RFC3339))
		}
		if !in.ValidUntil.IsZero() {
			fmt.Fprintf(&b, " until=%s", in.ValidUntil.Format(time.RFC3339))
		}
		if len(in.Labels) > 0 {
			fmt.Fprintf(&b, " labels=%s", strings.Join(in.Labels, ","))
		}
		if len(in.KillChain) > 0 {
			fmt.Fprintf(&b, " killchain=%s", strings.Join(in.KillChain, ","))
		}
		b.WriteByte('\n')
	}
	for _, r := range rej {
		fmt.Fprintf(&b, "rejected %s id=%s: %s\n", r.Reason, r.ID, r.Detail)
	}
	return b.String()
}

func reasonCounts(rej []Rejected) string {
	m := CountReasons(rej)
	var parts []string
	for r, n := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", r, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
