package selfsigned

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestEnsureMakesUsablePair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	certFile, keyFile, err := Ensure(dir, "http", []string{"127.0.0.1", "omamori.example"})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadX509KeyPair: %v", err)
	}
	for _, h := range []string{"127.0.0.1", "omamori.example"} {
		if err := pair.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("VerifyHostname(%q) = %v, want nil", h, err)
		}
	}
	if err := pair.Leaf.VerifyHostname("other.example"); err == nil {
		t.Errorf("VerifyHostname(other.example) = nil, want error")
	}
}

// A client that trusts the certificate completes a handshake with a server using the pair.
func TestEnsureHandshake(t *testing.T) {
	certFile, keyFile, err := Ensure(t.TempDir(), "syslog", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("ok"))
		c.Close()
	}()
	pool := x509.NewCertPool()
	pool.AddCert(pair.Leaf)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("tls.Dial: %v", err)
	}
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
		t.Fatalf("Read = %q, %v; want ok", buf, err)
	}
}

func TestEnsureReusesOrRenews(t *testing.T) {
	now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		hosts   []string
		now     time.Time
		corrupt bool
		renew   bool
	}{
		{"same hosts", []string{"127.0.0.1"}, now, false, false},
		{"later, still valid", []string{"127.0.0.1"}, now.Add(validity - renewBefore - time.Hour), false, false},
		{"near its end", []string{"127.0.0.1"}, now.Add(validity - renewBefore + time.Hour), false, true},
		{"before its start", []string{"127.0.0.1"}, now.Add(-2 * time.Hour), false, true},
		{"new host", []string{"127.0.0.1", "10.0.0.5"}, now, false, true},
		{"corrupt key", []string{"127.0.0.1"}, now, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile, err := ensure(dir, "api", []string{"127.0.0.1"}, now)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(certFile)
			if tt.corrupt {
				os.WriteFile(keyFile, []byte("garbage"), 0o600)
			}
			if _, _, err := ensure(dir, "api", tt.hosts, tt.now); err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(certFile)
			if renewed := !bytes.Equal(before, after); renewed != tt.renew {
				t.Errorf("ensure(%v, %v) renewed = %v, want %v", tt.hosts, tt.now, renewed, tt.renew)
			}
			if !usable(certFile, keyFile, tt.hosts, tt.now) {
				t.Errorf("pair after ensure is not usable for %v at %v", tt.hosts, tt.now)
			}
		})
	}
}

func TestEnsureRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		hosts []string
	}{
		{"", []string{"localhost"}},
		{"../x", []string{"localhost"}},
		{"ok", nil},
	} {
		if _, _, err := Ensure(dir, tc.name, tc.hosts); err == nil {
			t.Errorf("Ensure(%q, %v) = nil error, want error", tc.name, tc.hosts)
		}
	}
}

func TestFingerprint(t *testing.T) {
	certFile, _, err := Ensure(t.TempDir(), "http", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := Fingerprint(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("Fingerprint = %q, want 32 colon-separated hex bytes", fp)
	}
	if _, err := Fingerprint(filepath.Join(t.TempDir(), "missing.crt")); err == nil {
		t.Error("Fingerprint(missing) = nil error, want error")
	}
}

func TestHosts(t *testing.T) {
	got, err := Hosts("192.0.2.10:8443")
	if err != nil || len(got) != 1 || got[0] != "192.0.2.10" {
		t.Errorf("Hosts(192.0.2.10:8443) = %v, %v; want [192.0.2.10]", got, err)
	}
	got, err = Hosts("0.0.0.0:8443")
	if err != nil {
		t.Fatal(err)
	}
	var sawLocal, sawLoopback bool
	for _, h := range got {
		sawLocal = sawLocal || h == "localhost"
		sawLoopback = sawLoopback || net.ParseIP(h).IsLoopback()
	}
	if !sawLocal || !sawLoopback {
		t.Errorf("Hosts(0.0.0.0:8443) = %v, want localhost and a loopback address among them", got)
	}
	if _, err := Hosts("no-port"); err == nil {
		t.Error("Hosts(no-port) = nil error, want error")
	}
}

func ExampleEnsure() {
	dir, _ := os.MkdirTemp("", "omamori")
	defer os.RemoveAll(dir)
	certFile, keyFile, err := Ensure(dir, "http", []string{"localhost", "192.0.2.10"})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(filepath.Base(certFile), filepath.Base(keyFile))
	// Output: http.crt http.key
}
