package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDecodeExplain explains FortiGate, Sophos XG and SonicWall lines of the conformance
// corpus (internal/decode/testdata/conformance) field by field. Beyond the golden file, the
// links an engineer checks first are asserted on their own: the address from srcip=, the
// failed login's outcome from status="failure".
func TestDecodeExplain(t *testing.T) {
	out, stderr, err := runCLI(t, "decode", "-explain", "-tz", "UTC", "-year", "2024", filepath.Join("testdata", "explain.log"))
	if err != nil {
		t.Fatalf("omamori decode -explain: %v\n%s", err, stderr)
	}
	record := strings.Split(out, "\n\n")[0] // the failed firewall login
	for _, want := range [][]string{
		{"source.ip", "192.168.10.46", "←", "srcip=192.168.10.46"},
		{"event.outcome", "failure", "←", `status="failure"`},
	} {
		found := false
		for line := range strings.Lines(record) {
			f := strings.Fields(line)
			found = found || len(f) >= 3 && f[0] == want[0] && f[1] == want[1] && f[2] == want[2] && slices.Contains(f[3:], want[3])
		}
		if !found {
			t.Errorf("explanation of the first record has no line %q:\n%s", want, record)
		}
	}
	golden(t, "decode-explain", out)
}
