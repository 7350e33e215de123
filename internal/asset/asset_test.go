package asset

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// render is how a parse result is written to a golden file: one asset per line, or the error
// with one line per bad CSV line, as a person importing the file would read it.
func render(assets []Asset, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "error:\n%v\n", err)
		return b.String()
	}
	for _, a := range assets {
		fmt.Fprintf(&b, "%s\t%q\t%s\t%q\tprotected=%v", a.Prefix, a.Name, a.Category, a.Department, a.Protected)
		if a.CPE != "" || a.Version != "" || a.Exposure != "" {
			fmt.Fprintf(&b, "\tcpe=%s\tversion=%q\texposure=%s", a.CPE, a.Version, a.Exposure)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestParseCSVGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.csv")
	if len(files) == 0 {
		t.Fatal("no testdata/*.csv")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := render(ParseCSV(bytes.NewReader(in)))
			golden := strings.TrimSuffix(f, ".csv") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("ParseCSV(%s) mismatch (-want +got):\n%s", f, diff)
			}
		})
	}
}

func TestParseCSVLineErrors(t *testing.T) {
	in, _ := os.ReadFile("testdata/bad.csv")
	_, err := ParseCSV(bytes.NewReader(in))
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 {
		t.Fatalf("ParseCSV(bad.csv) = %v, want a *LineError for line 3 first", err)
	}
	if !errors.Is(err, ErrDuplicate) {
		t.Errorf("ParseCSV(bad.csv) = %v, want it to report the duplicate address (ErrDuplicate)", err)
	}
	lines := map[int]bool{}
	for _, e := range err.(interface{ Unwrap() error }).Unwrap().(interface{ Unwrap() []error }).Unwrap() {
		if errors.As(e, &le) {
			lines[le.Line] = true
		}
	}
	for _, want := range []int{3, 4, 5, 6, 7, 8, 9, 10} {
		if !lines[want] {
			t.Errorf("ParseCSV(bad.csv): no error for line %d (got lines %v)", want, lines)
		}
	}
}

func mustInventory(t testing.TB) *Inventory {
	t.Helper()
	f, err := os.Open("testdata/hospital.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	assets, err := ParseCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := New(assets)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestLookup(t *testing.T) {
	inv := mustInventory(t)
	tests := []struct {
		ip   string
		want string // asset name, "" for none
	}{
		{"10.20.1.11", "ICU ventilator bed 1"},
		{"::ffff:10.20.1.11", "ICU ventilator bed 1"}, // mapped form of the same host
		{"10.20.2.77", "Dialysis unit VLAN"},          // inside a listed network
		{"10.20.1.99", ""},
		{"2001:db8:20::11", "ICU ventilator bed 1 (IPv6)"},
		{"203.0.113.9", ""},
	}
	for _, tt := range tests {
		a, ok := inv.Lookup(netip.MustParseAddr(tt.ip))
		if a.Name != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%s) = %q, %v; want %q", tt.ip, a.Name, ok, tt.want)
		}
	}
}

func TestOverlap(t *testing.T) {
	inv := mustInventory(t)
	tests := []struct {
		prefix          string
		life, protected string
	}{
		{"10.20.1.11/32", "ICU ventilator bed 1", "ICU ventilator bed 1"},
		{"10.20.0.0/16", "ICU ventilator bed 1", "ICU ventilator bed 1"}, // a range over the ICU
		{"10.20.2.5/32", "Dialysis unit VLAN", ""},                       // inside the dialysis VLAN
		{"10.40.0.0/24", "", "ehr.tokyo-general.example"},
		{"10.30.0.5/32", "", ""},
		{"203.0.113.0/24", "", ""},
		{"0.0.0.0/0", "ICU ventilator bed 1", "ICU ventilator bed 1"},
		// IPv6 networks that hold the IPv4-mapped form of every address: blocking them blocks
		// ::ffff:10.20.1.11, the ventilator.
		{"::/64", "ICU ventilator bed 1", "ICU ventilator bed 1"},
		{"::/80", "ICU ventilator bed 1", "ICU ventilator bed 1"},
		{"::ffff:0:0/95", "ICU ventilator bed 1", "ICU ventilator bed 1"},
		{"::ffff:0:0/96", "ICU ventilator bed 1", "ICU ventilator bed 1"},
		{"::ffff:10.20.0.0/112", "ICU ventilator bed 1", "ICU ventilator bed 1"},
		{"::/97", "", ""}, // ::0.0.0.0/1 is not mapped: nothing of IPv4
		{"2001:db8:99::/48", "", ""},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		if a, _ := inv.LifeSupportIn(p); a.Name != tt.life && !(tt.life != "" && a.Category == LifeSupport) {
			t.Errorf("LifeSupportIn(%s) = %q, want %q", p, a.Name, tt.life)
		} else if tt.life == "" && a.Name != "" {
			t.Errorf("LifeSupportIn(%s) = %q, want none", p, a.Name)
		}
		if a, _ := inv.ProtectedIn(p); a.Name != tt.protected && !(tt.protected != "" && a.Protected) {
			t.Errorf("ProtectedIn(%s) = %q, want %q", p, a.Name, tt.protected)
		} else if tt.protected == "" && a.Name != "" {
			t.Errorf("ProtectedIn(%s) = %q, want none", p, a.Name)
		}
	}
}

func TestNamed(t *testing.T) {
	inv := mustInventory(t)
	if got := inv.Named("tokyo-general.example"); len(got) != 2 {
		t.Errorf("Named(tokyo-general.example) = %d assets, want 2 (ehr, pacs)", len(got))
	}
	if got := inv.Named("example"); len(got) != 2 {
		t.Errorf("Named(example) = %d assets, want 2", len(got))
	}
	if got := inv.Named("general.example"); len(got) != 0 {
		t.Errorf("Named(general.example) = %v, want none (not a label boundary)", got)
	}
}

// TestNamedHostname: a device named for people ("ICU ventilator bed 3") is found by its DNS
// name from the optional hostname column, its subdomains' parents, any case, a trailing dot.
func TestNamedHostname(t *testing.T) {
	assets, err := ParseCSV(strings.NewReader("address,name,category,hostname\n" +
		"10.20.1.13,ICU ventilator bed 3,life-support,Vent-03.ICU.tokyo-general.example.\n" +
		"10.30.0.5,CT scanner 1,diagnostic,\n"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := New(assets)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		domain string
		want   int
	}{
		{"vent-03.icu.tokyo-general.example", 1},
		{"VENT-03.icu.tokyo-general.example.", 1},
		{"icu.tokyo-general.example", 1},
		{"tokyo-general.example", 1},
		{"03.icu.tokyo-general.example", 0},
		{"ct.tokyo-general.example", 0},
	} {
		if got := inv.Named(tt.domain); len(got) != tt.want {
			t.Errorf("Named(%q) = %v, want %d asset(s)", tt.domain, got, tt.want)
		}
	}
}

func TestNewDuplicate(t *testing.T) {
	_, err := New([]Asset{
		{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Name: "a", Category: Diagnostic},
		{Prefix: netip.MustParsePrefix("::ffff:10.0.0.1/128"), Name: "b", Category: Diagnostic},
	})
	if !errors.Is(err, ErrDuplicate) {
		t.Errorf("New(same address twice) = %v, want ErrDuplicate", err)
	}
}

// FuzzParseCSV checks that no input panics, every error names its line, and what parses
// survives a round trip through WriteCSV unchanged.
func FuzzParseCSV(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.csv")
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/*.csv")
	}
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		assets, err := ParseCSV(bytes.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parse asset CSV: ") {
				t.Fatalf("error %q lacks the operation", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, assets); err != nil {
			t.Fatal(err)
		}
		again, err := ParseCSV(&buf)
		if err != nil {
			t.Fatalf("ParseCSV(WriteCSV(x)) = %v\n%s", err, buf.String())
		}
		if diff := cmp.Diff(assets, again, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
		if _, err := New(assets); err != nil {
			t.Fatalf("New(parsed assets) = %v", err)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	// A large hospital: 20,000 single devices and 500 networks.
	var assets []Asset
	for i := range 20000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		assets = append(assets, Asset{Prefix: netip.PrefixFrom(ip, 32), Name: fmt.Sprint("dev", i), Category: Diagnostic})
	}
	for i := range 500 {
		ip := netip.AddrFrom4([4]byte{172, 16, byte(i >> 6), byte(i << 2)})
		assets = append(assets, Asset{Prefix: netip.PrefixFrom(ip, 30).Masked(), Name: fmt.Sprint("net", i), Category: LifeSupport})
	}
	inv, err := New(assets)
	if err != nil {
		b.Fatal(err)
	}
	ips := []netip.Addr{netip.MustParseAddr("10.3.4.1"), netip.MustParseAddr("172.16.0.66"), netip.MustParseAddr("203.0.113.5")}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		inv.Lookup(ips[i%len(ips)])
	}
}

func TestLoadCSV(t *testing.T) {
	inv, err := LoadCSV("testdata/hospital.csv")
	if err != nil || inv.Len() != 9 {
		t.Fatalf("LoadCSV(hospital.csv) = %d assets, %v; want 9", inv.Len(), err)
	}
	_, err = LoadCSV("testdata/bad.csv")
	if err == nil || !strings.Contains(err.Error(), "load assets testdata/bad.csv: parse asset CSV: line 3:") {
		t.Errorf("LoadCSV(bad.csv) = %v, want the file and the first bad line named", err)
	}
	if _, err := LoadCSV("testdata/missing.csv"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadCSV(missing) = %v, want ErrNotExist", err)
	}
}
