package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
)

// TestMain lets a test run `omamori serve` in a child process: this test binary, re-executed
// with OMAMORI_TEST_SERVE holding the arguments, one per line.
func TestMain(m *testing.M) {
	if args := os.Getenv("OMAMORI_TEST_SERVE"); args != "" {
		if err := run(context.Background(), strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// server is `omamori serve` running in a child process on loopback ports chosen by the kernel.
type server struct {
	cmd     *exec.Cmd
	http    string // host:port of the API
	syslog  string // host:port of the TCP syslog listener
	stopped bool
}

// startServer runs `omamori serve` on dir and waits until the API and syslog listen.
func startServer(t *testing.T, dir string) *server {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "-data-dir", dir, "-set", "log.format=json", "-set", "http.listen=127.0.0.1:0",
		"-set", "ingest.syslog.0.listen=127.0.0.1:0", "-set", "ingest.syslog.1.listen=127.0.0.1:0",
		"-set", "ingest.syslog.2.listen=127.0.0.1:0", "-set", "ingest.batch_size=200"}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "OMAMORI_TEST_SERVE="+strings.Join(args, "\n"))
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd}
	t.Cleanup(func() { s.kill() })

	sc := bufio.NewScanner(logs)
	for s.http == "" || s.syslog == "" {
		if !sc.Scan() {
			t.Fatalf("omamori serve stopped before it listened: %v", sc.Err())
		}
		var l struct{ Msg, Source, Listener, HTTP string }
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case l.Msg == "omamori is running":
			s.http = l.HTTP
		case l.Msg == "listening for syslog" && l.Source == "syslog-tcp":
			s.syslog = l.Listener
		}
	}
	go io.Copy(io.Discard, logs)
	return s
}

func (s *server) kill() {
	if !s.stopped {
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
		s.stopped = true
	}
}

var crashID = regexp.MustCompile(`crash-(?:tcp|http)-\d+-\d+`)

// TestServeCrashLosesNothingAcknowledged sends syslog over TCP and NDJSON over HTTP to a
// running `omamori serve`, kills it with SIGKILL while the senders are still sending, and
// proves that every event it acknowledged is in JetStream when the bus opens again.
func TestServeCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	token, stderr, err := runCLI(t, "token", "create", "-data-dir", dir, "-name", "crash-test", "-scope", "ingest")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, stderr)
	}
	token = strings.TrimSpace(token)
	srv := startServer(t, dir)

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
						fmt.Fprintf(&buf, "%d %s", len(line), line) // RFC 6587 octet counting
					} else {
						buf.WriteString(line + "\n") // and newline framing, on one connection
					}
				}
				c, err := net.Dial("tcp", srv.syslog)
				if err != nil {
					return // the server is gone
				}
				// The server closes its side only once everything it read is on the bus.
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
			for n := 0; !stop.Load(); n++ {
				var buf bytes.Buffer
				ids := make([]string, 300)
				for i := range ids {
					ids[i] = fmt.Sprintf("crash-http-%d-%d", w*1_000_000+n, i)
					fmt.Fprintf(&buf, `{"@timestamp":"2024-05-01T10:00:00Z","message":"login %s","user.name":"u%d"}`+"\n", ids[i], i)
				}
				req, _ := http.NewRequest("POST", "http://"+srv.http+"/api/v1/ingest", &buf)
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				var counts struct{ Accepted int }
				err = json.NewDecoder(resp.Body).Decode(&counts)
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("the ingest token was refused")
					return
				}
				if err == nil && resp.StatusCode == http.StatusOK && counts.Accepted == len(ids) {
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
	srv.kill() // in the middle of the stream: the senders are still sending
	stop.Store(true)
	wg.Wait()

	// Open the bus again on the same data directory, as the next start would, and read it all.
	b, err := bus.Open(t.Context(), bus.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("reopen the bus after SIGKILL: %v", err)
	}
	defer b.Close()
	stored := map[string]bool{}
	err = b.ReadEvents(t.Context(), func(m bus.Msg) error {
		return event.DecodeBatch(m.Data, func(e *event.Event) error {
			if e.Tenant != "default" {
				return fmt.Errorf("event of tenant %q, want default", e.Tenant)
			}
			if id := crashID.Find(e.Raw); id != nil {
				stored[string(id)] = true
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("read EVENTS after the crash: %v", err)
	}
	missing := 0
	for _, id := range acked {
		if !stored[id] {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged event %s is not in EVENTS after the crash", id)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events lost", missing, len(acked))
	}
	t.Logf("%d TCP connections and %d HTTP requests acknowledged (%d events); %d events stored",
		tcpAcks.Load(), httpAcks.Load(), len(acked), len(stored))
}

// sendAndHalfClose sends data, closes the sending side, and waits for the server to close
// its side: the acknowledgement of a syslog TCP sender.
func sendAndHalfClose(c net.Conn, data []byte) error {
	if _, err := c.Write(data); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	return err
}
