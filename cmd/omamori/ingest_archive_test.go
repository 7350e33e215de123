package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/keyring"
	"github.com/omamori-project/omamori/internal/store"
)

var ingestID = regexp.MustCompile(`ingest-id-\d+`)

// TestIngestThenServeArchivesEveryEventOnce is the path of the report in which the archive
// skipped bus batches 1-7: `omamori ingest` of a file into a fresh data directory, then
// `omamori serve` until the archive holds the whole bus. Twenty times, each on a fresh
// directory, with the real commands in this process: every event must be archived exactly
// once, and `archive verify` (which compares the archive with the bus) must say so.
func TestIngestThenServeArchivesEveryEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("20 ingest-and-serve runs skipped in -short mode")
	}
	const runs, events = 20, 3000
	for n := range runs {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			file := writeAuthLog(t, dir, events)
			// Small batches, so that the bus holds many and the archive's groups cut across them.
			out, stderr, err := runCLI(t, "ingest", "-data-dir", dir, "-set", "ingest.batch_size=50", file)
			if err != nil {
				t.Fatalf("omamori ingest: %v\n%s", err, stderr)
			}
			if want := fmt.Sprintf("%d events and 0 dead letters are on the bus", events); !strings.Contains(out, want) {
				t.Fatalf("omamori ingest said %q, want %q", out, want)
			}
			last := busLast(t, dir)

			ctx, stop := context.WithCancel(t.Context())
			var serveErr error
			served := make(chan struct{})
			go func() {
				defer close(served)
				serveErr = run(ctx, []string{"serve", "-data-dir", dir, "-set", "http.listen=127.0.0.1:0",
					"-set", "ingest.syslog.0.listen=127.0.0.1:0", "-set", "ingest.syslog.1.listen=127.0.0.1:0",
					"-set", "ingest.syslog.2.listen=127.0.0.1:0"}, strings.NewReader(""), io.Discard, io.Discard)
			}()
			t.Cleanup(func() { stop(); <-served })
			keys := filepath.Join(dir, "keys", "archive-master.keys")
			for archivedUpTo(t, dir, keys) < last {
				select {
				case <-served:
					t.Fatalf("omamori serve stopped before the archive held bus message %d: %v", last, serveErr)
				case <-time.After(50 * time.Millisecond):
				}
			}
			stop()
			<-served
			if serveErr != nil {
				t.Fatalf("omamori serve: %v", serveErr)
			}

			k, err := keyring.Load(keys, "")
			if err != nil {
				t.Fatal(err)
			}
			a, err := archive.Open(t.Context(), archive.Options{Dir: filepath.Join(dir, "archive"), Keys: k, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			size, _ := a.Size("default")
			// Besides the file's events the archive holds serve's own (its journal goes by the bus too).
			seen := map[string]int{}
			ingested := 0
			if err := a.Records(t.Context(), "default", 0, size, func(r *archive.Record) error {
				if id := ingestID.Find(r.Event.Raw); id != nil {
					seen[string(id)]++
					ingested++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for i := range events {
				if id := fmt.Sprintf("ingest-id-%d", i); seen[id] != 1 {
					t.Errorf("event %s is in the archive %d times, want once", id, seen[id])
				}
			}
			if ingested != events {
				t.Errorf("the archive holds %d records of the file, want %d", ingested, events)
			}
			out, stderr, err = runArchiveCLI(t, "verify", "-data-dir", dir)
			if err != nil || !strings.Contains(out, "complete") {
				t.Errorf("omamori archive verify = %v\n%s%s", err, out, stderr)
			}
		})
	}
}

// writeAuthLog writes n sshd syslog lines to dir/auth.log, line i naming itself ingest-id-i,
// and returns the file's name.
func writeAuthLog(t *testing.T, dir string, n int) string {
	t.Helper()
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "<38>May  1 10:00:%02d gw sshd[%d]: Failed password for invalid user u%d from 198.51.100.%d port %d ssh2 ingest-id-%d\n",
			i%60, 1000+i, i, i%250+1, 1024+i, i)
	}
	file := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(file, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// busLast returns the sequence of the last message on the EVENTS stream of dataDir.
func busLast(t *testing.T, dataDir string) uint64 {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := b.EventsState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st.Last
}

// archivedUpTo returns the last bus sequence the archive of dataDir holds on disk (0 while it
// does not exist yet), read beside the running server.
func archivedUpTo(t *testing.T, dataDir, keyFile string) uint64 {
	t.Helper()
	dir := filepath.Join(dataDir, "archive")
	if _, err := os.Stat(filepath.Join(dir, "signing.pub")); err != nil {
		return 0
	}
	k, err := keyring.Load(keyFile, "")
	if err != nil {
		return 0 // being written
	}
	a, err := archive.Open(t.Context(), archive.Options{Dir: dir, Keys: k, ReadOnly: true})
	if err != nil {
		// A segment the server has only begun to write (its header not yet all there) fails a
		// read-only open; the next look sees it whole.
		t.Logf("open the archive beside the server: %v", err)
		return 0
	}
	defer a.Close()
	return a.Position()
}

// TestArchiveVerifyReportsBusGaps makes the archive of the report: bus batches 1-7 of an
// ingest never archived, everything after them archived. `archive verify` used to say ok; it
// must name the missing bus messages and fail.
func TestArchiveVerifyReportsBusGaps(t *testing.T) {
	dir := t.TempDir()
	file := writeAuthLog(t, dir, 1000)
	if _, stderr, err := runCLI(t, "ingest", "-data-dir", dir, "-set", "ingest.batch_size=50", file); err != nil {
		t.Fatalf("omamori ingest: %v\n%s", err, stderr)
	}
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := keyring.LoadOrCreate(filepath.Join(dir, "keys", "archive-master.keys"), "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := archive.Open(ctx, archive.Options{Dir: filepath.Join(dir, "archive"), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	a.AddStoreWitness(st)
	err = b.ReadEvents(ctx, func(m bus.Msg) error {
		if m.Seq <= 7 {
			return nil
		}
		return a.AppendBatch(ctx, m.Tenant, m.Seq, m.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Checkpoint(ctx, "default"); err != nil { // as serve does every minute
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close()

	out, stderr, err := runArchiveCLI(t, "verify", "-data-dir", dir)
	if err == nil {
		t.Fatalf("omamori archive verify of an archive without bus batches 1-7 succeeded:\n%s%s", out, stderr)
	}
	if want := "FAIL tenant default: bus messages 1-7 (7 batches, 350 records) are on EVENTS but not in the archive"; !strings.Contains(out, want) {
		t.Errorf("omamori archive verify said\n%s\nwant a line %q", out, want)
	}
	if strings.Count(out, "FAIL") != 1 {
		t.Errorf("omamori archive verify found more than the gap:\n%s", out)
	}
}

// TestIngestSaysWhatTheBusDropped: a bus bounded by bytes drops its oldest messages to take
// an import larger than it, before any archive has read them; ingest must say so and fail.
func TestIngestSaysWhatTheBusDropped(t *testing.T) {
	dir := t.TempDir()
	file := writeAuthLog(t, dir, 1000)
	_, stderr, err := runCLI(t, "ingest", "-data-dir", dir, "-set", "ingest.batch_size=50", "-set", "bus.max_bytes=20000", file)
	if err == nil || !strings.Contains(err.Error(), "the bus dropped") {
		t.Fatalf("omamori ingest into a bus smaller than the import = %v, want the dropped messages named\n%s", err, stderr)
	}
	// Within bounds, nothing is said.
	if _, stderr, err := runCLI(t, "ingest", "-data-dir", t.TempDir(), "-set", "ingest.batch_size=50", file); err != nil {
		t.Fatalf("omamori ingest: %v\n%s", err, stderr)
	}
}
