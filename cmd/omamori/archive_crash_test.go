package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/keyring"
)

// TestArchiveCrashLosesNothingAcknowledged runs `omamori serve` with small archive segments and
// frequent checkpoints, sends syslog over TCP until the archive has rolled over a few segments,
// and SIGKILLs it while the senders are still sending and the archive is still appending. It
// then opens the bus and the archive again, as the next start would: the archive recovers
// (cutting off any torn tail), its consumer takes the rest of the bus, `archive verify` finds
// nothing wrong, and every event a sender was acknowledged for is an archived record.
func TestArchiveCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	// Small segments, so that the kill may land in a segment roll too, and a checkpoint at
	// nearly every sync, so that recovery must stay consistent with what was signed.
	t.Setenv("OMAMORI_ARCHIVE_SEGMENT_SIZE", "262144")
	t.Setenv("OMAMORI_ARCHIVE_CHECKPOINT_INTERVAL", "50ms")
	srv := startServer(t, dir)
	archDir := filepath.Join(dir, "archive")
	tenantDir := filepath.Join(archDir, "default")

	var (
		mu    sync.Mutex
		acked []string
		conns atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 3 {
		wg.Go(func() {
			for conn := 0; !stop.Load(); conn++ {
				var buf bytes.Buffer
				ids := make([]string, 500)
				for i := range ids {
					ids[i] = fmt.Sprintf("crash-tcp-%d-%d", w*1_000_000+conn, i)
					fmt.Fprintf(&buf, "<38>May  1 10:00:00 gw sshd[%d]: Failed password for invalid user u%d from 198.51.100.%d port %d ssh2 %s\n",
						conn, i, i%250+1, 1024+i, ids[i])
				}
				c, err := net.Dial("tcp", srv.syslog)
				if err != nil {
					return // the server is gone
				}
				// The server closes its side only once everything it read is on the bus.
				if sendAndHalfClose(c, buf.Bytes()) == nil {
					conns.Add(1)
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
				}
				c.Close()
			}
		})
	}

	// Kill once the archive has rolled over to its fourth segment: it is then appending under load.
	deadline := time.Now().Add(5 * time.Minute)
	for segments(tenantDir) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 minutes the archive has %d segments (%d connections acknowledged)", segments(tenantDir), conns.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.kill()
	stop.Store(true)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no connection was acknowledged before the kill")
	}

	// Start again as serve would: the bus, then the archive (recovering), then its consumer.
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("reopen the bus after SIGKILL: %v", err)
	}
	defer b.Close()
	keys, err := keyring.Load(filepath.Join(dir, "keys", "archive-master.keys"), "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(ctx, archive.Options{Dir: archDir, Keys: keys, SegmentBytes: 262144, CheckpointEvery: -1})
	if err != nil {
		t.Fatalf("reopen the archive after SIGKILL: %v", err)
	}
	for _, d := range a.Discarded {
		t.Logf("recovery: %v", d)
	}
	_, before := a.Size("default")
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.ConsumeEvents(cctx, bus.ConsumeConfig{Durable: archive.ConsumerName}, a) }()
	for {
		n, err := b.ConsumerPending(ctx, archive.ConsumerName)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the archive consumer stopped with %d messages pending: %v", n, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("archive consumer: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("close the archive: %v", err)
	}

	out, stderr, err := runArchiveCLI(t, "verify", "-data-dir", dir)
	if err != nil {
		t.Fatalf("omamori archive verify after the crash: %v\n%s%s", err, out, stderr)
	}

	// Every acknowledged event is a record.
	a, err = archive.Open(ctx, archive.Options{Dir: archDir, Keys: keys, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	size, _ := a.Size("default")
	seen := map[string]int{}
	err = a.Records(ctx, "default", 0, size, func(r *archive.Record) error {
		if id := crashID.Find(r.Event.Raw); id != nil {
			seen[string(id)]++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read the archive back: %v", err)
	}
	missing := 0
	for _, id := range acked {
		if seen[id] == 0 {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged event %s is not in the archive after the crash", id)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events lost", missing, len(acked))
	}
	doubled := 0
	for _, n := range seen {
		doubled += n - 1
	}
	t.Logf("%d connections acknowledged (%d events); %d records durable at the kill, %d after the rest of the bus; %d distinct events archived, %d twice; %d segments",
		conns.Load(), len(acked), before, size, len(seen), doubled, segments(tenantDir))
}

// segments counts the segment files in a tenant's directory.
func segments(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "seg-") {
			n++
		}
	}
	return n
}
