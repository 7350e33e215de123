package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedData returns the path of the project's shared test data, or skips.
func sharedData(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data not found at %s (../shared beside the repository): %v", p, err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func TestHelpListsEveryCommand(t *testing.T) {
	out, _, err := runCLI(t, "help")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if !strings.Contains(out, c.name) {
			t.Errorf("omamori help does not list %q", c.name)
		}
		if !strings.HasPrefix(c.usage, "usage: omamori "+c.name) {
			t.Errorf("usage of %q does not start with its synopsis: %q", c.name, c.usage[:min(40, len(c.usage))])
		}
	}
	if _, _, err := runCLI(t, "frobnicate"); err == nil {
		t.Error("omamori frobnicate succeeded, want an error")
	}
}

func TestDecodeOpenSSH(t *testing.T) {
	file := sharedData(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log")
	out, stderr, err := runCLI(t, "decode", "-year", "2015", file)
	if err != nil {
		t.Fatalf("omamori decode: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2000 {
		t.Errorf("omamori decode printed %d events, want 2000", len(lines))
	}
	if !strings.Contains(stderr, "2000 events, 2000 met a Sigma log source, 0 dead letters") {
		t.Errorf("summary = %q, want 2000 events, all of them sshd's, and 0 dead letters", stderr)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("first line is not JSON: %v", err)
	}
	// Dec 10 06:55:46 in Tokyo is 21:55:46 UTC the day before.
	for k, want := range map[string]any{
		"@timestamp": "2015-12-09T21:55:46Z", "host.name": "LabSZ", "process.pid": 24200.0,
		"source.ip": "173.234.31.186",
	} {
		if first[k] != want {
			t.Errorf("first event %s = %v, want %v", k, first[k], want)
		}
	}
}

func TestDecodeReportsDeadLetters(t *testing.T) {
	f := filepath.Join(t.TempDir(), "mixed.log")
	data := "Dec 10 06:55:46 LabSZ sshd[1]: Accepted password for root from 10.0.0.1 port 22 ssh2\n" +
		"\x00\x01\x02 binary garbage\n"
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLI(t, "decode", "-format", "syslog", f)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "\n"); n != 1 {
		t.Errorf("printed %d events, want 1", n)
	}
	if !strings.Contains(stderr, "line 2: binary") || !strings.Contains(stderr, "1 events, 1 met a Sigma log source, 1 dead letters") {
		t.Errorf("stderr = %q, want line 2 reported as binary and counted", stderr)
	}
}

// TestDemo runs the README's first command as a person would and checks that the attack
// arrived: every step of the scenario is counted in what the demo shows.
func TestDemo(t *testing.T) {
	out, stderr, err := runCLI(t, "demo", "-exit", "-listen", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("omamori demo: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"5125 events are durably on the bus",
		"24 failed SSL-VPN logins from 198.51.100.77",
		"5 RDP logons",
		"40 files renamed to .lockbit",
		"1 connection to the ventilator",
		"The archive holds all 5125",
		"critical  FortiOS SSL-VPN Path Traversal Exploitation (CVE-2018-13379)",
		"critical  SSL-VPN Login After a Brute Force From the Same Address",
		"RDP Logon to a Server From the SSL-VPN Address Pool",
		"10.212.134.200 Administrator KYUSHOKU-SV01",
		"critical  Mass Encryption of Files",
		"critical  Connection to the Life-Support Device Network From Another Network",
		"active    block 198.51.100.77",
		"active    isolate 192.168.20.15",
		"held      isolate 192.168.50.10  life-support:",
		"held      isolate 192.168.30.10  protected-service:",
		"Sign in at http://127.0.0.1:",
		"and the alerts became one incident:", // the RDP from the VPN pool joins the VPN break-in
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// Clinical safety: nothing about the ventilator is enforced.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "192.168.50.10") && strings.HasPrefix(strings.TrimSpace(line), "active") {
			t.Errorf("the demo enforced a decision about the ventilator: %s", line)
		}
	}
}
