package decode

import (
	"fmt"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

// TestTextOfEveryPosition puts each kind of byte at every position of records around the
// word size, so that textOf's eight-bytes-at-a-time path and its byte-by-byte tail agree.
func TestTextOfEveryPosition(t *testing.T) {
	tests := []struct {
		ins  string
		want Reason
	}{
		{"\x00", ReasonBinary},
		{"\x01", ReasonBinary},
		{"\x1f", ReasonBinary},
		{"\x7f", ReasonBinary},
		{"\xff", ReasonInvalidUTF8},
		{"\xe9 ", ReasonInvalidUTF8}, // a Shift_JIS lead byte before a space: neither
		{"\t", ""},
		{"\r\n", ""},
		{" ", ""},
		{"~", ""},
		{"é", ""},
		{"日本", ""},
	}
	for n := 0; n <= 24; n++ {
		for _, tt := range tests {
			for at := 0; at <= n; at++ {
				rec := strings.Repeat("a", at) + tt.ins + strings.Repeat("b", n-at)
				s, reason := textOf([]byte(rec))
				if reason != tt.want {
					t.Fatalf("textOf(%q) reason = %q, want %q", rec, reason, tt.want)
				}
				if reason == "" && s != rec {
					t.Fatalf("textOf(%q) = %q, want it unchanged", rec, s)
				}
			}
		}
	}
}

func TestKeyCache(t *testing.T) {
	c := keyCache{prefix: "fortigate."}
	names := make([]string, 300) // more than the sets of the table, so that sets collide
	for i := range names {
		names[i] = fmt.Sprintf("k%d", i)
	}
	for round := range 3 {
		for _, n := range names {
			if got, want := c.key(n, ""), event.K("fortigate."+n); got != want {
				t.Fatalf("round %d: key(%q) = %q, want %q", round, n, got, want)
			}
		}
	}
	// A sub-key and a name with the same bytes are one key; a name that only starts the
	// same is another.
	sd := keyCache{prefix: "syslog.sd."}
	for _, tt := range []struct{ name, sub, want string }{
		{"origin", "ip", "syslog.sd.origin.ip"},
		{"origin.ip", "", "syslog.sd.origin.ip"},
		{"origin", "", "syslog.sd.origin"},
		{"origin", "i", "syslog.sd.origin.i"},
		{"origi", "nip", "syslog.sd.origi.nip"},
	} {
		if got := sd.key(tt.name, tt.sub); got.String() != tt.want {
			t.Errorf("key(%q, %q) = %q, want %q", tt.name, tt.sub, got, tt.want)
		}
	}
}

func BenchmarkTextOf(b *testing.B) {
	rec := []byte(`date=2024-05-01 time=10:20:30 devname="FGT60F-HOSP" devid="FGT60FTK2109AAAA" eventtime=1714526430123456789 tz="+0900" logid="0000000013" type="traffic" subtype="forward"`)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, r := textOf(rec); r != "" {
			b.Fatal(r)
		}
	}
}
