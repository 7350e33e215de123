package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
	"github.com/omamori-project/omamori/internal/node"
	"github.com/omamori-project/omamori/internal/shareddata"
	"github.com/omamori-project/omamori/internal/store"
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
	appendArchive(t, dataDir, sshEvents(t))
}

// sshEvents returns the OpenSSH sample's 2,000 events, of tenant default.
func sshEvents(t *testing.T) []event.Event {
	t.Helper()
	f, err := os.Open(shareddata.Path(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log"))
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
	return evs
}

// appendArchive archives evs under dataDir as serve would: each checkpoint is also kept in
// the store of dataDir, by its witness.
func appendArchive(t *testing.T, dataDir string, evs []event.Event) {
	t.Helper()
	ctx := context.Background()
	keys, _, err := keyring.LoadOrCreate(filepath.Join(dataDir, "keys", "archive-master.keys"), "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite", filepath.Join(dataDir, "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := archive.Open(ctx, archive.Options{Dir: filepath.Join(dataDir, "archive"), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	a.AddWitness(ctx, archive.NewStoreWitness(st, a.PublicKey()))
	if err := a.Append(ctx, "default", a.Mark("default")+1, evs); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Checkpoint(ctx, "default"); err != nil { // as serve does every minute
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

// TestArchiveVerifyRollback puts an archive back to an earlier backup, whole and consistent
// in itself, as an intruder would to hide what was logged after it: verify finds it against
// the store's checkpoint, and against a checkpoint an authority kept, and says when it was
// checked against neither.
func TestArchiveVerifyRollback(t *testing.T) {
	dd := t.TempDir()
	evs := sshEvents(t)
	appendArchive(t, dd, evs[:1000])
	backup := filepath.Join(t.TempDir(), "archive")
	if err := os.CopyFS(backup, os.DirFS(filepath.Join(dd, "archive"))); err != nil {
		t.Fatal(err)
	}
	appendArchive(t, dd, evs[1000:])
	kept := filepath.Join(t.TempDir(), "authority.checkpoint")
	cp, _, err := runArchiveCLI(t, "checkpoint", "-data-dir", dd, "-tenant", "default")
	if err != nil || !strings.Contains(cp, "\n2000\n") {
		t.Fatalf("archive checkpoint = %q, %v; want one of 2000 records", cp, err)
	}
	os.WriteFile(kept, []byte(cp), 0o600)
	out, _, err := runArchiveCLI(t, "verify", "-data-dir", dd, "-checkpoint", kept)
	if err != nil || !strings.Contains(out, "checked against 2 checkpoints kept apart") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("archive verify (untouched) = %q, %v; want ok against 2 checkpoints", out, err)
	}

	os.RemoveAll(filepath.Join(dd, "archive"))
	if err := os.CopyFS(filepath.Join(dd, "archive"), os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // "" for ok
	}{
		{"against the store", nil, "FAIL tenant default: the store's checkpoint covers 2000 records, but the segments hold only 1000: the archive was rolled back"},
		{"against the authority's checkpoint", []string{"-no-store", "-checkpoint", kept}, "FAIL tenant default: the checkpoint in " + kept + " covers 2000 records"},
		{"against nothing", []string{"-no-store"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runArchiveCLI(t, append([]string{"verify", "-data-dir", dd}, tt.args...)...)
			if tt.want == "" {
				if err != nil || !strings.Contains(out, "not checked against the store's checkpoints") {
					t.Errorf("archive verify %v = %q, %v; want ok, saying it was not checked against the store", tt.args, out, err)
				}
				return
			}
			if err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("archive verify %v = %q, %v; want a failure saying %q", tt.args, out, err, tt.want)
			}
		})
	}
	// The store is needed unless -no-store says it is not.
	os.Remove(filepath.Join(dd, "omamori.db"))
	if _, _, err := runArchiveCLI(t, "verify", "-data-dir", dd); err == nil || !strings.Contains(err.Error(), "the store's checkpoints") {
		t.Errorf("archive verify without its store = %v, want an error about the store's checkpoints", err)
	}
}

// TestArchiveExportBesideServer exports beside a running server whose last checkpoint does
// not cover the newest matching records: without a way to ask the server, export refuses and
// says how many it would miss, or with -partial writes what is covered and says so; with a
// token it asks the server for a checkpoint and misses nothing.
func TestArchiveExportBesideServer(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	cfg, err := config.Load(config.Sources{Set: []string{"data_dir=" + dir, "http.listen=127.0.0.1:0", "ingest.syslog=",
		"ingest.batch_wait=10ms", "archive.checkpoint_interval=1h"}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(ctx)
	tenant := cfg.Ingest.DefaultTenant
	_, token, err := auth.Issue(ctx, n.Store.Tenant(tenant), "test", auth.Request{Name: "liaison", Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	server := "http://" + n.HTTPAddr.String()
	ingest := func(lines ...string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", server+"/api/v1/ingest", strings.NewReader(strings.Join(lines, "\n")+"\n"))
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("ingest: %s", resp.Status)
		}
	}
	line := func(user string, i int) string {
		return fmt.Sprintf(`{"@timestamp":"2026-05-01T10:00:%02dZ","message":"login %d","user.name":%q}`, i, i, user)
	}
	ingest(line("alice", 1), line("bob", 2), line("alice", 3))
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := n.Archive.WaitSynced(wctx, tenant, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Archive.Checkpoint(ctx, tenant); err != nil { // the server's last
		t.Fatal(err)
	}
	ingest(line("alice", 4), line("alice", 5), line("bob", 6))
	if err := n.Archive.WaitSynced(wctx, tenant, 6); err != nil {
		t.Fatal(err)
	}
	search, _, err := runArchiveCLI(t, "search", "-data-dir", dir, "-tenant", tenant, "-user", "alice")
	if err != nil || strings.Count(search, "\n") != 4 {
		t.Fatalf("archive search = %q, %v; want alice's 4 records", search, err)
	}
	bundle := func() string { return filepath.Join(t.TempDir(), "bundle.tar") }
	pub := n.Archive.PublicKey()

	t.Setenv("OMAMORI_TOKEN", "")
	out := bundle()
	_, stderr, err := runArchiveCLI(t, "export", "-data-dir", dir, "-server", server, "-tenant", tenant, "-user", "alice", "-out", out)
	var inc *archive.IncompleteError
	if !errors.As(err, &inc) || inc.Newer != 2 || !strings.Contains(stderr, "could not ask the server") {
		t.Errorf("archive export without a token = %v (%s); want a refusal naming 2 newer records", err, stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused export left %s: %v", out, err)
	}

	out = bundle()
	stdout, _, err := runArchiveCLI(t, "export", "-data-dir", dir, "-server", server, "-tenant", tenant, "-user", "alice", "-partial", "-out", out)
	if err != nil || !strings.Contains(stdout, ": 2 records") || !strings.Contains(stdout, "partial: 2 matching records") {
		t.Errorf("archive export -partial = %q, %v; want 2 records and 2 left out", stdout, err)
	}
	if v, _, _ := runArchiveCLI(t, "verify-bundle", "-key", pub, out); !strings.Contains(v, "partial: the export left out 2") {
		t.Errorf("verify-bundle of the partial export = %q, want it to say 2 were left out", v)
	}

	t.Setenv("OMAMORI_TOKEN", token.Reveal())
	out = bundle()
	stdout, stderr, err = runArchiveCLI(t, "export", "-data-dir", dir, "-server", server, "-tenant", tenant, "-user", "alice", "-out", out)
	if err != nil || !strings.Contains(stdout, ": 4 records") || !strings.Contains(stderr, "the server signed a checkpoint") {
		t.Fatalf("archive export with a token = %q, %v (%s); want all 4 records under a fresh checkpoint", stdout, err, stderr)
	}
	if v, _, err := runArchiveCLI(t, "verify-bundle", "-key", pub, out); err != nil || !strings.Contains(v, "proven: 4 records") {
		t.Errorf("verify-bundle of the export = %q, %v; want 4 records proven", v, err)
	}
}
