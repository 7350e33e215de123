package ingest

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
)

// The promises of the package doc's Limits, kept by the listeners on real sockets, with the
// dead letters read back from the real DEADLETTER stream.

// sshdMessage returns line i of sshdLine and its message as the decoder sees it.
func sshdMessage(i int) (line, msg string) {
	line = fmt.Sprintf(sshdLine, i%60, 100+i, i, i%10)
	return line, line[strings.Index(line, "]: ")+3:]
}

func TestTCPTooLong(t *testing.T) {
	const max = 128
	long := "<13>May  1 10:00:00 gw app: " + strings.Repeat("0123456789", 50)
	next, nextMsg := sshdMessage(1)
	tests := []struct{ name, send string }{
		{"newline", long + "\n" + next + "\n"},
		{"octet-counted", fmt.Sprintf("%d %s%d %s", len(long), long, len(next), next)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := newTestBus(t)
			p := newTestPipeline(t, mb, Config{MaxRecord: max})
			addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a"}, nil)
			defer stop()
			if err := sendAndHalfClose(dial(t, addr), []byte(tt.send)); err != nil {
				t.Fatalf("after a too-long message, read = %v, want EOF", err)
			}
			// The listener goes on serving other connections too.
			if err := sendAndHalfClose(dial(t, addr), []byte(next+"\n")); err != nil {
				t.Fatalf("second connection: read = %v, want EOF", err)
			}
			if msgs, _ := mb.messages(); !slices.Equal(msgs, []string{nextMsg, nextMsg}) {
				t.Errorf("messages = %q, want the one after the long one and the second connection's", msgs)
			}
			dead := mb.deadLetters()
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dead))
			}
			if d := dead[0]; d.Reason != decode.ReasonTooLong || string(d.Raw) != long[:max] || d.Source != "syslog-tcp" || d.Detail == "" {
				t.Errorf("dead letter = %s %q %q %q, want too_long syslog-tcp, the first %d bytes and a detail", d.Reason, d.Source, d.Raw, d.Detail, max)
			}
		})
	}
}

// badText are records that are not text a decoder can read, and why.
var badText = []struct {
	raw    string
	reason decode.Reason
}{
	{"<13>May  1 10:00:00 gw app: caf\xe9 \xff\xfe", decode.ReasonInvalidUTF8}, // neither UTF-8 nor Shift_JIS
	{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a", decode.ReasonBinary},  // a TLS ClientHello sent to the plain port
}

// checkBadText checks that mb holds the badText records as dead letters, and the events of
// the messages msgs.
func checkBadText(t *testing.T, mb *testBus, source string, msgs []string) {
	t.Helper()
	if got, _ := mb.messages(); !slices.Equal(got, msgs) {
		t.Errorf("messages = %q, want %q: the listener must go on after bad input", got, msgs)
	}
	dead := mb.deadLetters()
	if len(dead) != len(badText) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(badText))
	}
	for i, want := range badText {
		d := dead[i] // one sender, in order
		if string(d.Raw) != want.raw || d.Reason != want.reason || d.Source != source || d.Format != "syslog" {
			t.Errorf("dead letter %d = %s %q %s %q, want %s %q syslog %q", i, d.Source, d.Format, d.Reason, d.Raw, source, want.reason, want.raw)
		}
	}
}

func TestTCPBadText(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{})
	addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a"}, nil)
	defer stop()
	var send strings.Builder
	for _, b := range badText {
		send.WriteString(b.raw + "\n")
	}
	line, msg := sshdMessage(1)
	send.WriteString(line + "\n")
	if err := sendAndHalfClose(dial(t, addr), []byte(send.String())); err != nil {
		t.Fatalf("after bad text, read = %v, want EOF", err)
	}
	checkBadText(t, mb, "syslog-tcp", []string{msg})
}

func TestUDPBadText(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{MaxDelay: 10 * time.Millisecond})
	addr, stop := serveUDP(t, p, Listener{Tenant: "hospital-a"})
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range badText {
		c.Write([]byte(b.raw))
	}
	line, msg := sshdMessage(1)
	c.Write([]byte(line))
	// Loopback UDP loses nothing this small; the last datagram arriving means all did.
	waitFor(t, "event after the bad datagrams", func() bool { msgs, _ := mb.messages(); return len(msgs) == 1 })
	stop()
	checkBadText(t, mb, "syslog-udp", []string{msg})
}

// TestTCPSlowLoris checks that a client dribbling bytes that never make a message is cut
// after the idle timeout, while a client sending whole messages on a connection as old is
// served on, and that what the slow one sent is kept.
func TestTCPSlowLoris(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{MaxDelay: 10 * time.Millisecond})
	addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a", IdleTimeout: 400 * time.Millisecond}, nil)
	defer stop()
	loris, good := dial(t, addr), dial(t, addr)
	cut := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, loris)
		cut <- err
	}()
	// A byte comes far more often than the idle timeout: only "no complete message for
	// IdleTimeout" can end the slow one, not a timeout on each read.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var want []string
	send := func() {
		line, msg := sshdMessage(len(want))
		if _, err := good.Write([]byte(line + "\n")); err != nil {
			t.Fatalf("the good client's connection failed: %v", err)
		}
		want = append(want, msg)
	}
	timeout := time.After(10 * time.Second)
loop:
	for {
		select {
		case <-tick.C:
			loris.Write([]byte("<"))
			send()
		case <-cut:
			break loop
		case <-timeout:
			t.Fatal("a slow-loris connection was still open after 10s with an idle timeout of 400ms")
		}
	}
	// The good connection is older than the idle timeout by now, and still served.
	send()
	if err := sendAndHalfClose(good, nil); err != nil {
		t.Fatalf("the good client, after the slow one was cut: read = %v, want EOF", err)
	}
	slices.Sort(want)
	if msgs, _ := mb.messages(); !slices.Equal(msgs, want) {
		t.Errorf("messages = %q, want the good client's %q", msgs, want)
	}
	dead := mb.deadLetters()
	if len(dead) != 1 || dead[0].Reason != decode.ReasonSyntax || len(dead[0].Raw) == 0 || strings.Trim(string(dead[0].Raw), "<") != "" {
		t.Errorf("dead letters = %+v, want one of reason syntax holding the slow client's '<'s", dead)
	}
}

func TestTCPMaxConns(t *testing.T) {
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{MaxDelay: 10 * time.Millisecond})
	addr, stop := serveTCP(t, p, Listener{Tenant: "hospital-a", MaxConns: 2}, nil)
	defer stop()
	// Two connections take the two slots: their events reaching the bus shows both are served.
	var held []net.Conn
	for i := range 2 {
		c := dial(t, addr)
		line, _ := sshdMessage(i)
		c.Write([]byte(line + "\n"))
		held = append(held, c)
	}
	waitFor(t, "events of the two first connections", func() bool { msgs, _ := mb.messages(); return len(msgs) == 2 })

	if extra, err := net.Dial("tcp", addr); err == nil { // else reset before the dial returned: closed, as it should be
		defer extra.Close()
		extra.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := extra.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("third connection over MaxConns 2: read = %v, want it closed by the server", err)
		}
	}

	// A connection that ends frees its slot for the next.
	if err := sendAndHalfClose(held[0], nil); err != nil {
		t.Fatalf("first connection: read = %v, want EOF", err)
	}
	line, _ := sshdMessage(2)
	// The slot is released just after the first connection is closed: retry until it is.
	waitFor(t, "connection served after one ended", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		return sendAndHalfClose(c, []byte(line+"\n")) == nil
	})
	if msgs, _ := mb.messages(); len(msgs) != 3 {
		t.Errorf("%d events, want 3: two from the first connections and one after a slot was freed", len(msgs))
	}
}
