package vuln

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden")

// inputs are every data file under testdata: the fixtures and the real NVD records.
func inputs(t testing.TB) []string {
	var files []string
	for _, g := range []string{"testdata/*.json", "testdata/*.xml", "testdata/nvd/*.json"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("found %d files under testdata, want the fixtures and the 14 NVD records", len(files))
	}
	return files
}

// render writes a parse result as a person checking it would read it: each record's
// identity and exploitation, then its configurations one match a line.
func render(recs []Record, format Format, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "format %s, %d records\n", format, len(recs))
	for _, r := range recs {
		fmt.Fprintf(&b, "\n%s %s %q cvss=%v %s published=%s modified=%s\n", r.CVE, r.Key(), r.Title, r.CVSS, r.Severity, r.Published, r.Modified)
		if e := r.Exploited; e != nil {
			fmt.Fprintf(&b, "  exploited added=%s due=%s ransomware=%v vendor=%q product=%q\n", e.Added, e.Due, e.Ransomware, e.Vendor, e.Product)
		}
		for ci, c := range r.Configurations {
			fmt.Fprintf(&b, "  configuration %d %s negate=%v\n", ci+1, c.Operator, c.Negate)
			for _, n := range c.Nodes {
				fmt.Fprintf(&b, "    node %s negate=%v\n", n.Operator, n.Negate)
				for _, m := range n.Matches {
					fmt.Fprintf(&b, "      vulnerable=%v %s %s\n", m.Vulnerable, m.Criteria, m.Range())
				}
			}
		}
	}
	return b.String()
}

func TestParseGolden(t *testing.T) {
	for _, f := range inputs(t) {
		t.Run(f, func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			recs, format, err := Parse(bytes.NewReader(in))
			got := render(recs, format, err)
			golden := filepath.Join("testdata", "golden", strings.ReplaceAll(strings.TrimPrefix(f, "testdata/"), "/", "_")+".golden")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("Parse(%s) differs from %s:\n%s", f, golden, got)
			}
		})
	}
}

func TestParseFormats(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		err  error
	}{
		{"", "", ErrFormat},
		{"   \n", "", ErrFormat},
		{"[1,2]", "", ErrFormat},
		{`{"hello":"world"}`, "", ErrFormat},
		{"\ufeff" + `{"catalogVersion":"1","vulnerabilities":[]}`, FormatKEV, nil},
		{`{"catalogVersion":"1","vulnerabilities":[{"cveID":"CVE-1"}]}`, FormatKEV, nil}, // bad ID: an error, not ErrFormat
		{`{"id":"CVE-2020-0001"}`, FormatNVD, nil},
		{`<VULDEF-Document/>`, FormatJVN, nil},
	}
	for _, tt := range tests {
		_, f, err := Parse(strings.NewReader(tt.in))
		if f != tt.want || (tt.err != nil && !errors.Is(err, tt.err)) || (tt.err == nil && tt.want == FormatKEV && strings.Contains(tt.in, "CVE-1\"") != (err != nil)) {
			t.Errorf("Parse(%q) = %q, %v; want %q, %v", tt.in, f, err, tt.want, tt.err)
		}
	}
}

// FuzzParse checks that no input panics, that every record Parse returns has a CVE ID, and
// that its configurations' criteria parse (matching relies on it).
func FuzzParse(f *testing.F) {
	for _, p := range inputs(f) {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, _, err := Parse(bytes.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range recs {
			if !validCVE(r.CVE) {
				t.Fatalf("record with CVE %q", r.CVE)
			}
			for _, c := range r.Configurations {
				for _, n := range c.Nodes {
					for _, m := range n.Matches {
						if _, err := ParseCPE(m.Criteria); err != nil {
							t.Fatalf("record %s: criteria %q: %v", r.CVE, m.Criteria, err)
						}
						m.Range()
					}
				}
			}
		}
		NewCatalog(recs)
	})
}
