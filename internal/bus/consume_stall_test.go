package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallProxy forwards NATS connections to a server and, once armed, holds back everything the
// server sends for a while after the client's first pull request: a congested link, or a client
// too busy to read, as a node starting under load is.
type stallProxy struct {
	ln     net.Listener
	target string
	stall  time.Duration
	armed  atomic.Bool
	until  atomic.Int64 // Unix nanoseconds until which server-to-client bytes wait
	wg     sync.WaitGroup
}

func newStallProxy(t *testing.T, target string, stall time.Duration) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, stall: stall}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *stallProxy) URL() string { return "nats://" + p.ln.Addr().String() }

func (p *stallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.upstream(c, s) }()
		go func() { defer p.wg.Done(); p.downstream(s, c) }()
	}
}

var pullRequest = []byte("CONSUMER.MSG.NEXT.")

// upstream copies client to server and starts the stall at the first pull request once armed.
func (p *stallProxy) upstream(c, s net.Conn) {
	defer s.Close()
	buf := make([]byte, 64<<10)
	var tail []byte
	for {
		n, err := c.Read(buf)
		if n > 0 {
			seen := append(tail, buf[:n]...)
			if p.armed.Load() && bytes.Contains(seen, pullRequest) && p.armed.CompareAndSwap(true, false) {
				p.until.Store(time.Now().Add(p.stall).UnixNano())
			}
			tail = append(tail[:0], seen[max(0, len(seen)-len(pullRequest)):]...)
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// downstream copies server to client, waiting out a stall before each write.
func (p *stallProxy) downstream(s, c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if d := time.Until(time.Unix(0, p.until.Load())); d > 0 {
				time.Sleep(d)
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.Close()
			}
			return
		}
	}
}

// TestConsumeEventsSurvivesAStalledLink: when the server's answer to a pull request is held up
// past the client's patience (nats.go gives up on a fetch one second after its wait), the
// client drops the fetch while the server counts its messages as delivered. Those messages
// must still reach fn, in order, before anything after them is acknowledged: this is how the
// archive lost bus batches 1-7 when omamori serve started under load.
func TestConsumeEventsSurvivesAStalledLink(t *testing.T) {
	srv := openTest(t, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	u, err := url.Parse(srv.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := newStallProxy(t, u.Host, 1600*time.Millisecond)
	b := openTest(t, Config{URL: proxy.URL()})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// Eight messages of 3 MiB: a group (16 MiB, twice the largest message) takes five, the next
	// the other three.
	const n = 8
	for i := range n {
		msg := bytes.Repeat([]byte{byte('a' + i)}, 3<<20)
		copy(msg, fmt.Sprintf("batch %d ", i))
		if err := b.PublishEvents(ctx, "clinic-a", msg); err != nil {
			t.Fatal(err)
		}
	}
	proxy.armed.Store(true)
	var got []string
	runCtx, stop := context.WithCancel(ctx)
	// Run until every message is acknowledged, whether fn saw it or not.
	go func() {
		defer stop()
		for runCtx.Err() == nil {
			p, err := b.ConsumerPending(runCtx, "archive")
			if err == nil && p == 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	err = b.ConsumeEvents(runCtx, ConsumeConfig{Durable: "archive", MaxBytes: 1}, HandlerFunc(func(ctx context.Context, msgs []Msg) error {
		for _, m := range msgs {
			got = append(got, string(m.Data[:len("batch 0")]))
		}
		return nil
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ConsumeEvents = %v, want %v", err, context.Canceled)
	}
	if proxy.armed.Load() {
		t.Fatal("the proxy never saw a pull request: the test did not stall anything")
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("batch %d", i))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fn was given %q, want %q", got, want)
	}
}
