package vuln

import "testing"

func TestParseCPE(t *testing.T) {
	tests := []struct {
		in      string
		want    CPE
		release string
	}{
		{"cpe:2.3:o:fortinet:fortios:6.0.4:*:*:*:*:*:*:*", CPE{"o", "fortinet", "fortios", "6.0.4", "*", "*", "*", "*", "*", "*", "*"}, "6.0.4"},
		{"cpe:2.3:a:ivanti:connect_secure:9.1:r11.4:*:*:*:*:*:*", CPE{"a", "ivanti", "connect_secure", "9.1", "r11.4", "*", "*", "*", "*", "*", "*"}, "9.1-r11.4"},
		{"cpe:2.3:o:paloaltonetworks:pan-os:10.2.0:-:*:*:*:*:*:*", CPE{"o", "paloaltonetworks", "pan-os", "10.2.0", "-", "*", "*", "*", "*", "*", "*"}, "10.2.0"},
		{`CPE:2.3:a:Vendor:name\:with\:colons:1.0`, CPE{"a", "vendor", `name\:with\:colons`, "1.0", "*", "*", "*", "*", "*", "*", "*"}, "1.0"},
		{"cpe:2.3:h:sonicwall:sma_100:-:*:*:*:*:*:*:*", CPE{"h", "sonicwall", "sma_100", "-", "*", "*", "*", "*", "*", "*", "*"}, ""},
	}
	for _, tt := range tests {
		got, err := ParseCPE(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseCPE(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if r := got.release(); r != tt.release {
			t.Errorf("ParseCPE(%q).release() = %q, want %q", tt.in, r, tt.release)
		}
	}
	for _, bad := range []string{"", "cpe:/o:fortinet:fortios", "cpe:2.3:x:a:b", "cpe:2.3:o:a:b:1:2:3:4:5:6:7:8:9", "cpe:2.3:o::fortios"} {
		if c, err := ParseCPE(bad); err == nil {
			t.Errorf("ParseCPE(%q) = %+v, want an error", bad, c)
		}
	}
}

func TestParseCPE22(t *testing.T) {
	got, err := parseCPE22("cpe:/a:apache:xerces-c%2B%2B")
	want := CPE{"a", "apache", "xerces-c++", "*", "*", "*", "*", "*", "*", "*", "*"}
	if err != nil || got != want {
		t.Errorf("parseCPE22(xerces-c%%2B%%2B) = %+v, %v; want %+v", got, err, want)
	}
}

// FuzzParseCPE checks that what parses prints and parses back to itself.
func FuzzParseCPE(f *testing.F) {
	for _, s := range []string{"cpe:2.3:o:fortinet:fortios:6.0.4:*:*:*:*:*:*:*", `cpe:2.3:a:v:p\:q:1`, "cpe:2.3:a:ivanti:connect_secure:9.1:r1:*:*:*:*:*:*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCPE(s)
		if err != nil {
			return
		}
		again, err := ParseCPE(c.String())
		if err != nil || again != c {
			t.Fatalf("ParseCPE(%q).String() = %q, which parses as %+v, %v", s, c.String(), again, err)
		}
	})
}
