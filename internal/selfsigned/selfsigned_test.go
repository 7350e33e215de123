package selfsigned_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/omamori-project/omamori/internal/selfsigned"
)

func TestEnsureKeepsCertificate(t *testing.T) {
	dir := t.TempDir()
	first, err := selfsigned.Ensure(dir, []string{"syslog.hospital.example", "192.0.2.7"})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	again, err := selfsigned.Ensure(dir, nil)
	if err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	if a, b := selfsigned.Fingerprint(first), selfsigned.Fingerprint(again); a != b || a == "" {
		t.Errorf("Ensure made a new certificate on the second call: fingerprints %s and %s", a, b)
	}
	leaf, err := x509.ParseCertificate(first.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("syslog.hospital.example"); err != nil {
		t.Errorf("VerifyHostname(DNS name) = %v", err)
	}
	if err := leaf.VerifyHostname("192.0.2.7"); err != nil {
		t.Errorf("VerifyHostname(IP) = %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, selfsigned.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
}

func TestEnsureBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, selfsigned.CertFile), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, selfsigned.KeyFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := selfsigned.Ensure(dir, nil); err == nil {
		t.Error("Ensure with broken files = nil error, want one (never overwrite a key silently)")
	}
}
