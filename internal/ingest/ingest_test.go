package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/selfsigned"
)

// testBus is the real embedded bus on a temporary directory, with ways to read back what
// reached its streams. Tests of what arrives use it rather than a fake, so that they also
// prove the batches survive the trip through JetStream and decode on the other side.
type testBus struct {
	*bus.Bus
	t *testing.T
}

func newTestBus(t *testing.T) *testBus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return &testBus{Bus: b, t: t}
}

// downBus is a real bus that has been closed, so every publish fails as it does when the
// connection to JetStream is lost.
func downBus(t *testing.T) *testBus {
	b := newTestBus(t)
	b.Close()
	return b
}

// events returns every event in EVENTS, checking that each batch holds only the tenant of its
// subject.
func (b *testBus) events() []*event.Event {
	b.t.Helper()
	var out []*event.Event
	err := b.ReadEvents(b.t.Context(), func(m bus.Msg) error {
		return event.DecodeBatch(m.Data, func(e *event.Event) error {
			if e.Tenant != m.Tenant {
				return fmt.Errorf("event of tenant %q in a batch on %s", e.Tenant, m.Subject)
			}
			out = append(out, e.Clone()) // m.Data is ours to keep, so its strings are too
			return nil
		})
	})
	if err != nil {
		b.t.Fatalf("read events: %v", err)
	}
	return out
}

// deadLetters returns every record in DEADLETTER.
func (b *testBus) deadLetters() []deadletter.Record {
	b.t.Helper()
	var out []deadletter.Record
	err := b.ReadDeadLetters(b.t.Context(), func(m bus.Msg) error {
		return deadletter.DecodeBatch(m.Data, func(r *deadletter.Record) error {
			if r.Tenant != m.Tenant {
				return fmt.Errorf("dead letter of tenant %q in a batch on %s", r.Tenant, m.Subject)
			}
			out = append(out, *r)
			return nil
		})
	})
	if err != nil {
		b.t.Fatalf("read dead letters: %v", err)
	}
	return out
}

// messages returns the sorted messages of the events and reasons of the dead letters.
func (b *testBus) messages() (msgs []string, reasons []string) {
	b.t.Helper()
	for _, e := range b.events() {
		msgs = append(msgs, e.Message)
	}
	for _, r := range b.deadLetters() {
		reasons = append(reasons, string(r.Reason))
	}
	slices.Sort(msgs)
	slices.Sort(reasons)
	return msgs, reasons
}

func newTestPipeline(t *testing.T, pub Publisher, cfg Config) *Pipeline {
	t.Helper()
	if _, err := decode.Lookup("syslog"); err != nil {
		t.Skipf("decode has no syslog format yet: %v", err)
	}
	p, err := NewPipeline(pub, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// serveTCP starts a TCP syslog listener and returns its address and a func that stops it.
func serveTCP(t *testing.T, p *Pipeline, l Listener, tlsCfg *tls.Config) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			done <- p.ServeTLS(ctx, ln, tlsCfg, l)
			return
		}
		done <- p.ServeTCP(ctx, ln, l)
	}()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTCP: %v", err)
		}
	}
	t.Cleanup(func() { cancel() })
	return ln.Addr().String(), stop
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serveUDP starts a UDP syslog listener and returns its address and a func that stops it,
// which publishes what it read.
func serveUDP(t *testing.T, p *Pipeline, l Listener) (string, func()) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.ServeUDP(ctx, pc, l) }()
	t.Cleanup(cancel)
	return pc.LocalAddr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeUDP: %v", err)
		}
	}
}

// waitFor polls cond until it holds, and fails the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("no %s after 10s", what)
}

// sendAndHalfClose writes data, half-closes, and reads until the server closes: nil means it
// saw EOF, which is the server's acknowledgement.
func sendAndHalfClose(c net.Conn, data []byte) error {
	if _, err := c.Write(data); err != nil {
		return err
	}
	switch cc := c.(type) {
	case *net.TCPConn:
		cc.CloseWrite()
	case *tls.Conn:
		cc.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	return err
}

const sshdLine = "<38>May  1 10:00:%02d gw sshd[%d]: Failed password for invalid user u%d from 198.51.100.7 port 4000%d ssh2"

func TestTCPAcknowledgesAfterHalfClose(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{MaxEvents: 7, MaxRecord: 1024})
	addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a"}, nil)
	defer stop()

	var buf bytes.Buffer
	var want []string
	for i := range 50 {
		line := fmt.Sprintf(sshdLine, i%60, 100+i, i, i%10)
		if i%2 == 0 {
			fmt.Fprintf(&buf, "%d %s", len(line), line) // octet counting
		} else {
			buf.WriteString(line + "\n")
		}
		want = append(want, line[strings.Index(line, "]: ")+3:])
	}
	buf.WriteString("<13>" + strings.Repeat("x", 2000) + "\n") // too long
	buf.WriteString("\x00\x01\x02binary\n")                    // garbage
	c := dial(t, addr)
	if err := sendAndHalfClose(c, buf.Bytes()); err != nil {
		t.Fatalf("after half-close, read = %v, want EOF", err)
	}
	// EOF came: everything must be published by now, without waiting.
	msgs, reasons := mb.messages()
	slices.Sort(want)
	if !slices.Equal(msgs, want) {
		t.Errorf("published messages =\n%q\nwant\n%q", msgs, want)
	}
	if len(reasons) != 2 || reasons[1] != string(decode.ReasonTooLong) {
		t.Errorf("dead letter reasons = %q, want [<garbage reason> too_long]", reasons)
	}
	for _, e := range mb.events() {
		if e.Tenant != "hospital-a" || e.Source != "syslog-tcp" || e.Received.IsZero() {
			t.Fatalf("event tenant, source, received = %q, %q, %v; want hospital-a, syslog-tcp, set", e.Tenant, e.Source, e.Received)
		}
	}
}

func TestTCPResetsWhenBusFails(t *testing.T) {
	mb := downBus(t)
	p := newTestPipeline(t, mb, Config{})
	addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a"}, nil)
	defer stop()
	c := dial(t, addr)
	if err := sendAndHalfClose(c, fmt.Appendf(nil, sshdLine+"\n", 1, 1, 1, 1)); err == nil {
		t.Error("client read EOF although the bus failed: it would believe its events durable")
	}
}

func TestTCPFlushesByTime(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{MaxDelay: 20 * time.Millisecond})
	addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a"}, nil)
	defer stop()
	c := dial(t, addr)
	c.Write(fmt.Appendf(nil, sshdLine+"\n", 1, 1, 1, 1))
	// The connection stays open: the batch must leave by its age alone.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if msgs, _ := mb.messages(); len(msgs) == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("a batch of one event on an open connection was not published within 10s with MaxDelay 20ms")
}

// testTLS returns the TLS configurations of a syslog listener with a self-signed certificate
// for localhost and of a client that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	certFile, keyFile, err := selfsigned.Ensure(t.TempDir(), "syslog", nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func TestTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{})
	addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a"}, serverTLS)
	defer stop()
	c, err := tls.Dial("tcp", addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line := fmt.Sprintf(sshdLine, 1, 1, 1, 1)
	if err := sendAndHalfClose(c, fmt.Appendf(nil, "%d %s", len(line), line)); err != nil {
		t.Fatalf("TLS half-close: read = %v, want EOF", err)
	}
	evs := mb.events()
	if len(evs) != 1 {
		t.Fatalf("TLS: published %d events, want 1", len(evs))
	}
	if evs[0].Source != "syslog-tls" {
		t.Errorf("TLS: source = %q, want syslog-tls", evs[0].Source)
	}
}

func TestUDP(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{MaxRecord: 1024})
	addr, stop := serveUDP(t, p, Listener{Tenant: "hospital-a"})
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		c.Write(fmt.Appendf(nil, sshdLine+"\n", i, i, i, i))
	}
	long := "<13>" + strings.Repeat("y", 1100)
	c.Write([]byte(long))
	// Loopback UDP does not lose datagrams unless the buffer overflows, which 21 do not.
	waitFor(t, "20 events and a dead letter", func() bool {
		msgs, dead := mb.messages()
		return len(msgs) == 20 && len(dead) == 1
	})
	stop()
	if dead := mb.deadLetters(); len(dead) != 1 || dead[0].Reason != decode.ReasonTooLong || string(dead[0].Raw) != long[:1024] {
		t.Errorf("UDP dead letters = %+v, want one too_long with the datagram's first 1024 bytes", dead)
	}
}

// TestShutdownDrains checks that canceling the listener's context publishes what was read.
func TestShutdownDrains(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{MaxDelay: time.Hour})
	addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a"}, nil)
	c := dial(t, addr)
	for i := range 5 {
		c.Write(fmt.Appendf(nil, sshdLine+"\n", i, i, i, i))
	}
	time.Sleep(100 * time.Millisecond) // let the server read them; if it has not, they are not published, and the test fails
	stop()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := mb.messages(); len(msgs) != 5 {
		t.Errorf("after shutdown, %d events published, want the 5 read", len(msgs))
	}
	// The client did not half-close, so it must not see a clean EOF.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
		t.Error("client read EOF after a shutdown it did not ask for, want a reset")
	}
}

func postIngest(t *testing.T, h http.Handler, query string, body []byte, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest"+query, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response %q is not JSON: %v", rec.Body, err)
	}
	return rec.Code, out
}

func TestHTTP(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{MaxEvents: 3, MaxRecord: 512})
	h := &Handler{Pipeline: p, MaxBody: 4096, Tenant: func(r *http.Request) (string, string, error) {
		if r.Header.Get("Authorization") != "Bearer good" {
			return "", "", errors.New("invalid API token")
		}
		return "hospital-a", "token-1", nil
	}}
	auth := map[string]string{"Authorization": "Bearer good"}
	ndjson := []byte(`{"@timestamp":"2024-05-01T10:00:00Z","message":"one","source.ip":"10.0.0.1"}
{"@timestamp":"2024-05-01T10:00:01Z","message":"two"}

not json at all
{"@timestamp":"2024-05-01T10:00:02Z","message":"three"}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(ndjson)
	zw.Close()

	tests := []struct {
		name   string
		query  string
		body   []byte
		hdr    map[string]string
		status int
		want   map[string]any
	}{
		{"ndjson", "", ndjson, auth, 200, map[string]any{"accepted": 3.0, "dead_letters": 1.0}},
		{"gzip", "?format=json", gz.Bytes(), map[string]string{"Authorization": "Bearer good", "Content-Encoding": "gzip"}, 200, map[string]any{"accepted": 3.0, "dead_letters": 1.0}},
		{"unauthorized", "", ndjson, nil, 401, map[string]any{"error": "invalid API token"}},
		{"unknown format", "?format=nope", ndjson, auth, 400, nil},
		{"file format", "?format=evtx", ndjson, auth, 400, nil},
		{"not gzip", "", ndjson, map[string]string{"Authorization": "Bearer good", "Content-Encoding": "gzip"}, 400, nil},
		{"brotli", "", ndjson, map[string]string{"Authorization": "Bearer good", "Content-Encoding": "br"}, 415, nil},
		{"too large", "", bytes.Repeat([]byte("{}\n"), 2000), auth, 413, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := postIngest(t, h, tt.query, tt.body, tt.hdr)
			if status != tt.status {
				t.Errorf("POST %s = %d %v, want %d", tt.name, status, got, tt.status)
			}
			if _, ok := got["error"]; status != 200 && !ok {
				t.Errorf("POST %s = %d without an error message: %v", tt.name, status, got)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("POST %s: %s = %v, want %v", tt.name, k, got[k], v)
				}
			}
		})
	}
	req := httptest.NewRequest(http.MethodGet, "/api/v1/ingest", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET = %d, want 405", rec.Code)
	}
}

func TestHTTPBusFailure(t *testing.T) {
	p := newTestPipeline(t, downBus(t), Config{})
	h := &Handler{Pipeline: p, Tenant: func(*http.Request) (string, string, error) { return "hospital-a", "t", nil }}
	status, got := postIngest(t, h, "", []byte(`{"message":"x"}`+"\n"), nil)
	if status != http.StatusServiceUnavailable {
		t.Errorf("POST with the bus down = %d %v, want 503", status, got)
	}
}
