package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
)

func runArchiveCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	err := archiveCommand.run(context.Background(), e, newFlagSet(archiveCommand, e), args)
	return out.String(), errb.String(), err
}

// fillArchive archives the OpenSSH sample for tenant default under dataDir, as serve would.
func fillArchive(t *testing.T, dataDir string) {
	t.Helper()
	f, err := os.Open(sharedData(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := decode.NewReader(f, "auto", decode.Options{Location: time.UTC, Year: 2015}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for {
		var ev event.Event
		if err := r.Next(&ev); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ev.Tenant = "default"
		evs = append(evs, *ev.Clone())
	}
	keys, err := keyring.Create(filepath.Join(dataDir, "keys", "archive-master.keys"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(context.Background(), archive.Options{Dir: filepath.Join(dataDir, "archive"), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Append(context.Background(), "default", 1, evs); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestArchiveCommands(t *testing.T) {
	dd := t.TempDir()
	fillArchive(t, dd)

	pub, _, err := runArchiveCLI(t, "pubkey", "-data-dir", dd)
	if err != nil || !strings.HasPrefix(pub, "omamori.archive/") {
		t.Fatalf("archive pubkey = %q, %v; want a verifier key", pub, err)
	}
	out, _, err := runArchiveCLI(t, "verify", "-data-dir", dd)
	if err != nil || !strings.Contains(out, "2000 records") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("archive verify = %q, %v; want 2000 records and ok", out, err)
	}
	out, errOut, err := runArchiveCLI(t, "search", "-data-dir", dd, "-tenant", "default", "-ip", "183.62.140.253", "-where", "event.outcome=failure")
	if err != nil {
		t.Fatalf("archive search = %v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.Contains(lines[0], `"source.ip":"183.62.140.253"`) {
		t.Errorf("archive search printed %q, want ECS lines with source.ip 183.62.140.253", lines[0])
	}
	table, _, err := runArchiveCLI(t, "search", "-data-dir", dd, "-tenant", "default", "-user", "root", "-limit", "3", "-table")
	if err != nil || len(strings.Split(strings.TrimSpace(table), "\n")) != 4 {
		t.Errorf("archive search -table -limit 3 = %q, %v; want a header and 3 rows", table, err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.tar")
	if out, errOut, err := runArchiveCLI(t, "export", "-data-dir", dd, "-tenant", "default", "-ip", "183.62.140.253", "-out", bundle); err != nil {
		t.Fatalf("archive export = %v\n%s%s", err, out, errOut)
	}
	out, _, err = runArchiveCLI(t, "verify-bundle", "-key", strings.TrimSpace(pub), bundle)
	if err != nil || !strings.Contains(out, "\nok: ") {
		t.Errorf("archive verify-bundle = %q, %v; want ok", out, err)
	}
	fp, _, err := runArchiveCLI(t, "pubkey", "-data-dir", dd, "-fingerprint")
	if err != nil || len(strings.TrimSpace(fp)) != 64 {
		t.Fatalf("archive pubkey -fingerprint = %q, %v; want 64 hex digits", fp, err)
	}
	if out, _, err = runArchiveCLI(t, "verify-bundle", "-fingerprint", strings.TrimSpace(fp), bundle); err != nil || !strings.Contains(out, "\nok: ") {
		t.Errorf("archive verify-bundle -fingerprint = %q, %v; want ok", out, err)
	}
	// Without a key the bundle is whole but its signer unproven: a status of its own.
	out, _, err = runArchiveCLI(t, "verify-bundle", bundle)
	var st exitStatus
	if !errors.As(err, &st) || st.status != statusUntrustedKey || !strings.Contains(out, "NOT PROVEN: whose bundle this is") || strings.Contains(out, "\nok: ") {
		t.Errorf("archive verify-bundle without -key = %q, %v; want exit status %d and NOT PROVEN", out, err, statusUntrustedKey)
	}
	if _, _, err := runArchiveCLI(t, "verify-bundle", "-fingerprint", strings.Repeat("0", 64), bundle); !errors.Is(err, archive.ErrBundle) {
		t.Errorf("archive verify-bundle with another fingerprint = %v, want %v", err, archive.ErrBundle)
	}
	if _, _, err := runArchiveCLI(t, "verify-bundle", "-key", "other+12345678+AeBRhU3P9Ql/6xn7EknPOsj2TV2yRdbqnJ7I/vHmI8Ac", bundle); err == nil {
		t.Error("archive verify-bundle with another key succeeded")
	}
	if out, _, err := runArchiveCLI(t, "keys", "-data-dir", dd, "rotate"); err != nil || !strings.Contains(out, "added key") {
		t.Errorf("archive keys rotate = %q, %v", out, err)
	}
	if out, _, err := runArchiveCLI(t, "keys", "-data-dir", dd, "list"); err != nil || len(strings.Fields(out)) != 2 {
		t.Errorf("archive keys list = %q, %v; want two keys", out, err)
	}
	// The archive was just written: nothing is past ten years, and nothing past one second
	// either, since a segment expires only a full period after it was closed.
	for _, retention := range []string{"87672h", "1s"} {
		out, _, err = runArchiveCLI(t, "retain", "-data-dir", dd, "-set", "archive.retention="+retention)
		if err != nil || !strings.HasPrefix(out, "deleted 0 segments, 0 records") {
			t.Errorf("archive retain with retention %s = %q, %v; want nothing deleted", retention, out, err)
		}
	}
	if out, _, err = runArchiveCLI(t, "verify", "-data-dir", dd); err != nil || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("archive verify after retain = %q, %v", out, err)
	}
	// A wrong master key is a clear error with a hint.
	t.Setenv("OMAMORI_MASTER_KEY", keyring.Encode(keyring.Generate()))
	_, _, err = runArchiveCLI(t, "search", "-data-dir", dd, "-tenant", "default")
	var h hinted
	if !errors.As(err, &h) || !strings.Contains(err.Error(), "master key not found") {
		t.Errorf("archive search with a wrong key = %v, want 'master key not found' with a hint", err)
	}
}
