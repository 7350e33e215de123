package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestBenchDecode runs omamori bench decode as an operator would and reads its table: a row
// per decoder with a speed, and the syslog decoders allocating nothing per event, which the
// README's Speed section states.
func TestBenchDecode(t *testing.T) {
	out, stderr, err := runCLI(t, "bench", "decode")
	if err != nil {
		t.Fatalf("omamori bench decode: %v\n%s", err, stderr)
	}
	rows := map[string][]string{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		name := strings.Join(f[:len(f)-4], " ")
		rows[name] = f[len(f)-4:] // ns/event, events/s/core, allocs/event, MB/s
	}
	for _, tc := range []struct {
		name       string
		zeroAllocs bool
	}{
		{"syslog (sshd)", true},
		{"syslog (FortiGate)", true},
		{"winlogbeat", false},
	} {
		r, ok := rows[tc.name]
		if !ok {
			t.Errorf("omamori bench decode has no row %q:\n%s", tc.name, out)
			continue
		}
		if ns, err := strconv.ParseFloat(r[0], 64); err != nil || ns <= 0 {
			t.Errorf("%s: ns/event = %q, want a positive number", tc.name, r[0])
		}
		if tc.zeroAllocs && r[2] != "0.0" {
			t.Errorf("%s: allocs/event = %s, want 0.0", tc.name, r[2])
		}
	}
}
