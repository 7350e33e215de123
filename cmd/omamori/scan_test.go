package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/scenario"
)

func TestScanRegressionCase(t *testing.T) {
	sigmaDir := filepath.Join("..", "..", "..", "shared", "data", "sigma")
	if _, err := os.Stat(filepath.Join(sigmaDir, "rules")); err != nil {
		t.Skipf("SigmaHQ rules not found at %s (the shared test data): %v", sigmaDir, err)
	}
	// Potential CVE-2026-33829 Exploitation: two Sysmon events, as EVTX.
	file := filepath.Join(sigmaDir, "regression_data", "rules-emerging-threats", "2026", "Exploits", "CVE-2026-33829",
		"proc_creation_win_exploit_cve_2026_33829", "7c3a5b1d-9e2f-4a8c-b5d7-1e0f3c6a9b2d.evtx")
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
	args := []string{"-rules", filepath.Join(sigmaDir, "rules"), "-rules", filepath.Join(sigmaDir, "rules-emerging-threats"), file}
	if err := scanCommand.run(context.Background(), e, newFlagSet(scanCommand, e), args); err != nil {
		t.Fatalf("scan %v = %v\n%s", args, err, stderr.String())
	}
	hits := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var m struct {
			Rule struct {
				ID, Level string
			}
			Event map[string]any
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("scan output line %q: %v", line, err)
		}
		if m.Rule.ID == "7c3a5b1d-9e2f-4a8c-b5d7-1e0f3c6a9b2d" {
			hits++
			if m.Event["host.name"] != "swachchhanda" {
				t.Errorf("match %q has not the host swachchhanda in its event", line)
			}
		}
	}
	if hits != 2 {
		t.Errorf("scan found the CVE-2026-33829 rule %d times, want 2\n%s", hits, stdout.String())
	}
	if !strings.Contains(stderr.String(), "SEVERITY") || !strings.Contains(stderr.String(), "Potential CVE-2026-33829") {
		t.Errorf("scan summary lacks the table or the rule:\n%s", stderr.String())
	}
}

func TestScanMisuse(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
	for _, args := range [][]string{{"x.evtx"}, {"-rules", "."}} {
		if err := scanCommand.run(context.Background(), e, newFlagSet(scanCommand, e), args); err == nil {
			t.Errorf("scan %v = nil, want an error", args)
		}
	}
}

// TestScanBuiltinRules sweeps a FortiGate log of the ransomware scenario with no rules given:
// omamori's own hospital rules find the exploit and the brute force.
func TestScanBuiltinRules(t *testing.T) {
	var log bytes.Buffer
	for _, r := range scenario.Ransomware(time.Date(2021, 10, 31, 0, 30, 0, 0, time.UTC)) {
		if r.Format == "syslog" {
			log.Write(r.Data)
			log.WriteByte('\n')
		}
	}
	file := filepath.Join(t.TempDir(), "fortigate.log")
	if err := os.WriteFile(file, log.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLI(t, "scan", file)
	if err != nil {
		t.Fatalf("omamori scan: %v\n%s", err, stderr)
	}
	for _, title := range []string{"CVE-2018-13379", "Brute Force on the SSL-VPN", "SSL-VPN Login After a Brute Force"} {
		if !strings.Contains(out, title) {
			t.Errorf("scan output lacks %q\nstderr:\n%s", title, stderr)
		}
	}
}

// TestScanReportsDeadLetters scans files with records that cannot be read: a real EVTX file
// with one record made corrupt, and JSON lines of which most are not JSON. Scan says, as
// decode does, which records it could not read and why, a count per file and reason, and the
// total in its summary.
func TestScanReportsDeadLetters(t *testing.T) {
	dir := t.TempDir()
	var lines strings.Builder
	lines.WriteString(`{"message":"ok 1"}` + "\n")
	for i := range 12 {
		fmt.Fprintf(&lines, "not json %d\n", i)
	}
	lines.WriteString(`{"message":"ok 2"}` + "\n")
	jsonFile := filepath.Join(dir, "app.json")
	if err := os.WriteFile(jsonFile, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{{
		name: "json lines",
		args: []string{"-format", "json", jsonFile},
		want: []string{
			jsonFile + ": decode json: line 2: syntax: invalid JSON",
			jsonFile + ": 2 events, 0 met a rule's log source, 12 dead letters (format json): 12 syntax (2 not shown)",
			"warning: " + jsonFile + ": none of its 2 events met a rule's log source",
			"2 events scanned, 0 of them met a rule's log source, 12 dead letters in 1 of 1 files",
		},
	}}
	// A real Windows log from SigmaHQ's regression data, its second record overwritten.
	evtx := filepath.Join("..", "..", "..", "shared", "data", "sigma", "regression_data", "rules-emerging-threats", "2025", "Malware", "Shai-Hulud",
		"proc_creation_win_mal_shai_hulud_malicious_node_bun_execution", "5299fadf-f228-4526-8274-251db1960be9.evtx")
	if b, err := os.ReadFile(evtx); err == nil {
		records := bytes.Split(b, []byte("\x2a\x2a\x00\x00")) // each record starts with its signature
		if len(records) < 3 {
			t.Fatalf("%s: %d record signatures, want at least 2", evtx, len(records)-1)
		}
		second := len(records[0]) + 4 + len(records[1])
		for i := second + 30; i < second+60; i++ {
			b[i] ^= 0xff
		}
		corrupt := filepath.Join(dir, "corrupt.evtx")
		if err := os.WriteFile(corrupt, b, 0o600); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name string
			args []string
			want []string
		}{
			name: "corrupt evtx and json lines",
			args: []string{corrupt, "-", jsonFile},
			want: []string{
				corrupt + ": decode evtx: syntax: chunk 1: record 2:",
				corrupt + ": 5 events, 0 met a rule's log source, 1 dead letters (format evtx): 1 syntax\n",
				"-: 0 events, 0 met a rule's log source, 0 dead letters",
				"7 events scanned, 0 of them met a rule's log source, 13 dead letters in 2 of 3 files",
			},
		})
	} else {
		t.Logf("the real EVTX case is skipped: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No rule is given, and omamori's own read neither Sysmon nor generic JSON: scan
			// says that no rule could see these files.
			_, stderr, err := runCLI(t, append([]string{"scan"}, tt.args...)...)
			if st, ok := errors.AsType[exitStatus](err); !ok || st.status != statusNoCoverage {
				t.Fatalf("omamori scan %v = %v, want exit status %d\n%s", tt.args, err, statusNoCoverage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("omamori scan %v: standard error lacks %q:\n%s", tt.args, w, stderr)
				}
			}
			if !strings.Contains(stderr, "hint: no rule saw the dead letters") {
				t.Errorf("omamori scan %v: no hint for the dead letters:\n%s", tt.args, stderr)
			}
		})
	}
}
