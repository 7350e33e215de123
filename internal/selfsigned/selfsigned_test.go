package selfsigned_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"testing"

	"github.com/omamori-project/omamori/internal/selfsigned"
)

func TestEnsureKeepsCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := selfsigned.Ensure(dir, "syslog", []string{"syslog.hospital.example", "192.0.2.7"})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	first, err := selfsigned.Fingerprint(certFile)
	if err != nil {
		t.Fatal(err)
	}
	certFile2, _, err := selfsigned.Ensure(dir, "syslog", nil)
	if err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	if again, _ := selfsigned.Fingerprint(certFile2); again != first || first == "" {
		t.Errorf("Ensure made a new certificate on the second call: fingerprints %s and %s", first, again)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"syslog.hospital.example", "192.0.2.7"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("VerifyHostname(%s) = %v", h, err)
		}
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
}

func TestEnsureBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := selfsigned.Ensure(dir, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := selfsigned.Ensure(dir, "x", nil); err == nil {
		t.Errorf("Ensure with a broken key next to %s = nil error, want one (never replace a key silently)", certFile)
	}
}

func TestHosts(t *testing.T) {
	tests := []struct {
		listen string
		want   string
	}{
		{"syslog.example:6514", "syslog.example"},
		{"192.0.2.7:6514", "192.0.2.7"},
		{":6514", "localhost"},
	}
	for _, tt := range tests {
		got, err := selfsigned.Hosts(tt.listen)
		if err != nil || !slices.Contains(got, tt.want) {
			t.Errorf("Hosts(%q) = %q, %v; want it to contain %q", tt.listen, got, err, tt.want)
		}
	}
	if _, err := selfsigned.Hosts("no port"); err == nil {
		t.Error("Hosts(no port) = nil error, want one")
	}
}
