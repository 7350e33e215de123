package main

import (
	"bytes"
	"context"
	"encoding/json"
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
