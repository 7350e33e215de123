package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// windowsShapes is the folder of the same four attack events in every shape Windows events
// are shipped in (see its README.md).
var windowsShapes = filepath.Join("..", "..", "internal", "decode", "testdata", "windows")

// sigmaWindowsRules returns SigmaHQ's Windows rules in the shared test data, or skips.
func sigmaWindowsRules(t *testing.T) string {
	dir := filepath.Join("..", "..", "..", "shared", "data", "sigma", "rules", "windows")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("SigmaHQ rules not found at %s (the shared test data): %v", dir, err)
	}
	return dir
}

// scanTitles runs scan with args and returns the titles of the rules it matched, by file,
// with scan's standard error and its error.
func scanTitles(t *testing.T, args ...string) (map[string][]string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
	err := scanCommand.run(context.Background(), e, newFlagSet(scanCommand, e), args)
	byFile := map[string][]string{}
	for line := range strings.Lines(stdout.String()) {
		var m struct {
			File string
			Rule struct{ Title string }
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("scan output line %q: %v", line, err)
		}
		byFile[filepath.Base(m.File)] = append(byFile[filepath.Base(m.File)], m.Rule.Title)
	}
	for _, titles := range byFile {
		slices.Sort(titles)
	}
	return byFile, stderr.String(), err
}

// TestScanWindowsShapes scans the same attack events in every shape: each raises the same
// SigmaHQ alerts as the evtx_dump JSON of SigmaHQ's own regression data, and so do they when
// the forwarder wrote the channel in lower case.
func TestScanWindowsShapes(t *testing.T) {
	rules := sigmaWindowsRules(t)
	files, _ := filepath.Glob(filepath.Join(windowsShapes, "*"))
	files = slices.DeleteFunc(files, func(p string) bool {
		return filepath.Ext(p) == ".golden" || filepath.Base(p) == "README.md" || filepath.Base(p) == "log-analytics-event.json"
	})
	if len(files) < 10 {
		t.Fatalf("%d samples in %s, want the 10 shapes", len(files), windowsShapes)
	}
	// NXLog's JSON with the channel in lower case, as some relays write it.
	data, err := os.ReadFile(filepath.Join(windowsShapes, "nxlog.json"))
	if err != nil {
		t.Fatal(err)
	}
	lower := filepath.Join(t.TempDir(), "nxlog-lowercase-channel.json")
	if err := os.WriteFile(lower, bytes.ReplaceAll(data, []byte(`"Channel":"Security"`), []byte(`"Channel":"security"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	files = append(files, lower)

	got, stderr, err := scanTitles(t, append([]string{"-rules", rules}, files...)...)
	if err != nil {
		t.Fatalf("scan = %v\n%s", err, stderr)
	}
	want := []string{
		"Account Tampering - Suspicious Failed Logon Reasons",      // 4625, status 0xc0000072
		"Security Eventlog Cleared",                                // 1102
		"Shadow Copies Deletion Using Operating Systems Utilities", // 4688 vssadmin
		"Windows Network Access Suspicious desktop.ini Action",     // 5145, %%4417 as WriteData
	}
	for _, f := range files {
		if titles := got[filepath.Base(f)]; !slices.Equal(titles, want) {
			t.Errorf("scan %s matched %q, want %q", filepath.Base(f), titles, want)
		}
	}
}

// TestScanNoCoverage scans NXLog's JSON read as generic JSON: the events are read, no rule's
// log source is met, and scan says so, names the format that fits, and exits with its own
// status.
func TestScanNoCoverage(t *testing.T) {
	rules := sigmaWindowsRules(t)
	file := filepath.Join(windowsShapes, "nxlog.json")
	got, stderr, err := scanTitles(t, "-rules", rules, "-format", "json", file)
	if len(got) != 0 {
		t.Errorf("scan -format json %s matched %v, want nothing", file, got)
	}
	var st exitStatus
	if !errors.As(err, &st) || st.status != statusNoCoverage {
		t.Fatalf("scan -format json %s = %v, want exit status %d", file, err, statusNoCoverage)
	}
	for _, want := range []string{
		"nxlog.json: 4 events, 0 met a rule's log source",
		"warning: " + file + ": none of its 4 events met a rule's log source",
		"read as format json",
		"-format nxlog",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("scan -format json %s: standard error lacks %q:\n%s", file, want, stderr)
		}
	}
	// The same file in the format it is in: no warning, status 0.
	if _, stderr, err := scanTitles(t, "-rules", rules, file); err != nil || strings.Contains(stderr, "warning:") {
		t.Errorf("scan %s = %v, want no error and no warning:\n%s", file, err, stderr)
	}
}

// TestDecodeCoverage checks decode's count of the events Sigma rules can see, and its warning.
func TestDecodeCoverage(t *testing.T) {
	file := filepath.Join(windowsShapes, "nxlog.json")
	for _, tt := range []struct {
		format, want string
		warn         bool
	}{
		{"auto", "4 events, 4 met a Sigma log source, 0 dead letters (format nxlog)", false},
		{"json", "4 events, 0 met a Sigma log source, 0 dead letters (format json)", true},
	} {
		var stdout, stderr bytes.Buffer
		e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
		if err := decodeCommand.run(context.Background(), e, newFlagSet(decodeCommand, e), []string{"-format", tt.format, file}); err != nil {
			t.Fatalf("decode -format %s %s = %v", tt.format, file, err)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("decode -format %s %s: standard error lacks %q:\n%s", tt.format, file, tt.want, stderr.String())
		}
		if warned := strings.Contains(stderr.String(), "warning:") && strings.Contains(stderr.String(), "-format nxlog"); warned != tt.warn {
			t.Errorf("decode -format %s %s: warned %v, want %v:\n%s", tt.format, file, warned, tt.warn, stderr.String())
		}
	}
}
