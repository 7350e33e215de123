package vuln

import (
	"errors"
	"testing"
)

func TestVersionCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
		err  error
	}{
		{"6.0.4", "6.0.5", -1, nil}, // FortiOS: Handa's appliance against the fix
		{"6.0.5", "6.0.5", 0, nil},
		{"6.0.10", "6.0.9", 1, nil}, // numbers, not text
		{"6.0", "6.0.0", 0, nil},
		{"6.0.0.1", "6.0", 1, nil},
		{"v6.0.4,build0231 (GA)", "6.0.4", 0, nil}, // FortiOS firmware string
		{"v6.0.4 build0231", "6.0.5", -1, nil},
		{"9.1R11.4", "9.1-r11.4", 0, nil}, // Ivanti, as written and as NVD's version:update
		{"9.1R9", "9.1R11", -1, nil},      // R9 before R11
		{"9.1R1", "9.1.1", 0, ErrNotComparable},
		{"13.0-92.19", "13.0", 1, nil}, // Citrix build
		{"13.0-91.13", "13.0-92.19", -1, nil},
		{"10.2.0.5-d-29sv", "10.2.0.5-d-29sv", 0, nil},
		{"10.2.0.3-d-22sv", "10.2.0.5-d-29sv", -1, nil},
		{"10.2.0.5-d-29sv", "10.2.0.5-e-29sv", 0, ErrNotComparable},
		{"10.2.0-h1", "10.2.0", 1, nil}, // PAN-OS hotfix
		{"10.2.0-h1", "10.2.1", -1, nil},
		{"7.0.0-rc1", "7.0.0", -1, nil},
		{"007.01", "7.1", 0, nil},
		{"99999999999999999999999.1", "99999999999999999999998.9", 1, nil},
	}
	for _, tt := range tests {
		a, err := ParseVersion(tt.a)
		if err != nil {
			t.Fatalf("ParseVersion(%q) = %v", tt.a, err)
		}
		b, err := ParseVersion(tt.b)
		if err != nil {
			t.Fatalf("ParseVersion(%q) = %v", tt.b, err)
		}
		got, err := a.Compare(b)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Compare(%q, %q) = %d, %v; want %v", tt.a, tt.b, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
		if back, err := b.Compare(a); err != nil || back != -tt.want {
			t.Errorf("Compare(%q, %q) = %d, %v; want %d (antisymmetry)", tt.b, tt.a, back, err, -tt.want)
		}
	}
}

func TestParseVersionRefuses(t *testing.T) {
	for _, s := range []string{"", " ", "*", "-", "6.0.4!", "(GA)", "版"} {
		if v, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", s, v.parts)
		}
	}
}

// FuzzVersionCompare checks that Compare is antisymmetric and that a version equals itself.
func FuzzVersionCompare(f *testing.F) {
	for _, s := range [][2]string{{"6.0.4", "6.0.5"}, {"9.1R11.4", "9.1.1"}, {"13.0-92.19", "13.0"}, {"v6.0.4,build0231 (GA)", "7.0.0-rc1"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, err1 := ParseVersion(a)
		vb, err2 := ParseVersion(b)
		if err1 != nil || err2 != nil {
			return
		}
		if c, err := va.Compare(va); c != 0 || err != nil {
			t.Fatalf("Compare(%q, itself) = %d, %v", a, c, err)
		}
		x, errx := va.Compare(vb)
		y, erry := vb.Compare(va)
		if (errx == nil) != (erry == nil) || x != -y {
			t.Fatalf("Compare(%q, %q) = %d, %v but Compare(%q, %q) = %d, %v", a, b, x, errx, b, a, y, erry)
		}
	})
}
