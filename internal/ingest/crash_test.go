package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/event"
)

// The crash test runs a server in a child process: this test binary, re-executed with
// OMAMORI_CRASH_SERVER set to a data directory.
func TestMain(m *testing.M) {
	if dir := os.Getenv("OMAMORI_CRASH_SERVER"); dir != "" {
		if err := crashServer(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash server:", err)
			os.Exit(2)
		}
		return
	}
	os.Exit(m.Run())
}

// crashServer runs an embedded bus, a TCP syslog listener and the HTTP ingest handler, prints
// their addresses, and serves until it is killed.
func crashServer(dir string) error {
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir})
	if err != nil {
		return err
	}
	p, err := NewPipeline(b, Config{MaxEvents: 200}, nil, nil)
	if err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	h := &Handler{Pipeline: p, Tenant: func(*http.Request) (string, string, error) { return "hospital-a", "crash-http", nil }}
	go http.Serve(web, h)
	fmt.Printf("READY %s %s\n", tcp.Addr(), web.Addr())
	return p.ServeTCP(ctx, tcp, Listener{Tenant: "hospital-a", Source: "crash-tcp"})
}

var crashID = regexp.MustCompile(`crash-(?:tcp|http)-\d+-\d+`)

func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "OMAMORI_CRASH_SERVER="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	ready, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("crash server did not start: %v", err)
	}
	var tcpAddr, httpAddr string
	if _, err := fmt.Sscanf(ready, "READY %s %s", &tcpAddr, &httpAddr); err != nil {
		t.Fatalf("crash server said %q: %v", ready, err)
	}

	var (
		mu         sync.Mutex
		acked      []string // ids the server acknowledged
		tcpAcks    atomic.Int64
		httpAcks   atomic.Int64
		stop       atomic.Bool
		wg         sync.WaitGroup
		enough     = make(chan struct{})
		enoughOnce sync.Once
	)
	ack := func(ids []string) {
		mu.Lock()
		acked = append(acked, ids...)
		mu.Unlock()
		if tcpAcks.Load() >= 20 && httpAcks.Load() >= 20 {
			enoughOnce.Do(func() { close(enough) })
		}
	}
	for w := range 3 {
		wg.Go(func() {
			for conn := 0; !stop.Load(); conn++ {
				var buf bytes.Buffer
				ids := make([]string, 300)
				for i := range ids {
					ids[i] = fmt.Sprintf("crash-tcp-%d-%d", w*1_000_000+conn, i)
					line := fmt.Sprintf("<38>May  1 10:00:00 gw sshd[%d]: Failed password for invalid user u%d from 198.51.100.7 port 4000 ssh2 %s", conn, i, ids[i])
					if i%2 == 0 {
						fmt.Fprintf(&buf, "%d %s", len(line), line)
					} else {
						buf.WriteString(line + "\n")
					}
				}
				c, err := net.Dial("tcp", tcpAddr)
				if err != nil {
					return // the server is gone
				}
				if sendAndHalfClose(c, buf.Bytes()) == nil {
					tcpAcks.Add(1)
					ack(ids)
				}
				c.Close()
			}
		})
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 2 {
		wg.Go(func() {
			for req := 0; !stop.Load(); req++ {
				var buf bytes.Buffer
				ids := make([]string, 300)
				for i := range ids {
					ids[i] = fmt.Sprintf("crash-http-%d-%d", w*1_000_000+req, i)
					fmt.Fprintf(&buf, `{"@timestamp":"2024-05-01T10:00:00Z","message":"login %s","user.name":"u%d"}`+"\n", ids[i], i)
				}
				resp, err := client.Post("http://"+httpAddr+"/api/v1/ingest", "application/x-ndjson", &buf)
				if err != nil {
					return
				}
				var counts Counts
				err = json.NewDecoder(resp.Body).Decode(&counts)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK && counts.Accepted == int64(len(ids)) {
					httpAcks.Add(1)
					ack(ids)
				}
			}
		})
	}

	select {
	case <-enough:
	case <-time.After(5 * time.Minute):
		t.Fatalf("after 5 minutes only %d TCP and %d HTTP acknowledgements", tcpAcks.Load(), httpAcks.Load())
	}
	// Kill it in the middle of the stream: the senders are still sending.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	stop.Store(true)
	wg.Wait()

	// Restart on the same data directory and read everything back.
	b, err := bus.Open(t.Context(), bus.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("reopen the bus after SIGKILL: %v", err)
	}
	defer b.Close()
	stored := map[string]bool{}
	err = b.ReadEvents(t.Context(), func(m bus.Msg) error {
		return event.DecodeBatch(m.Data, func(e *event.Event) error {
			if id := crashID.Find(e.Raw); id != nil {
				stored[string(id)] = true
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("read EVENTS after the crash: %v", err)
	}
	dead := 0
	err = b.ReadDeadLetters(t.Context(), func(m bus.Msg) error {
		return deadletter.DecodeBatch(m.Data, func(r *deadletter.Record) error {
			dead++
			t.Logf("dead letter: %s %s %q", r.Reason, r.Detail, r.Raw[:min(len(r.Raw), 80)])
			return nil
		})
	})
	if err != nil {
		t.Fatalf("read DEADLETTER after the crash: %v", err)
	}
	missing := 0
	for pos, id := range acked {
		if !stored[id] {
			if missing < 3 || missing%100 == 0 {
				t.Logf("lost %s at ack position %d of %d", id, pos, len(acked))
			}
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged event %s is not in EVENTS after the crash", id)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events lost", missing, len(acked))
	}
	t.Logf("%d TCP connections and %d HTTP requests acknowledged (%d events); %d events stored (more when unacknowledged batches were in flight); %d dead letters",
		tcpAcks.Load(), httpAcks.Load(), len(acked), len(stored), dead)
}
