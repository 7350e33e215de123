package nft

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// ipCmd is iproute2's ip, used to build the test network.
const ipCmd = "/usr/sbin/ip"

// netnsHandle is a named network namespace the test made.
type netnsHandle struct {
	name string
	fd   int
}

// lab is a small hospital network in namespaces, every address in 10.99/16:
//
//	attacker 10.99.1.2 ─┐                 ┌─ hospital 10.99.2.2 (TCP server)
//	                    gateway (enforcer)
//	ventilator 10.99.3.2┘  .1.1 .2.1 .3.1
type lab struct {
	attacker, gateway, hospital, ventilator netnsHandle
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(ipCmd, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if _, err := os.Stat(ipCmd); err != nil {
		t.Skipf("skipping: %s not found, needed to build the test network: %v", ipCmd, err)
	}
	if ns, err := NewNetNS(); err != nil {
		t.Skipf("skipping: cannot create network namespaces (run as root): %v", err)
	} else {
		unix.Close(ns)
	}
	b := make([]byte, 3)
	rand.Read(b)
	id := "omt" + hex.EncodeToString(b)
	mk := func(role string) netnsHandle {
		name := id + role
		run(t, "netns", "add", name)
		t.Cleanup(func() { exec.Command(ipCmd, "netns", "del", name).Run() })
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open namespace %s: %v", name, err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		run(t, "-n", name, "link", "set", "lo", "up")
		return netnsHandle{name, fd}
	}
	l := &lab{attacker: mk("a"), gateway: mk("g"), hospital: mk("h"), ventilator: mk("v")}
	link := func(n netnsHandle, dev, gwDev, subnet string) {
		run(t, "-n", n.name, "link", "add", dev, "type", "veth", "peer", "name", gwDev, "netns", l.gateway.name)
		run(t, "-n", n.name, "addr", "add", "10.99."+subnet+".2/24", "dev", dev)
		run(t, "-n", n.name, "link", "set", dev, "up")
		run(t, "-n", l.gateway.name, "addr", "add", "10.99."+subnet+".1/24", "dev", gwDev)
		run(t, "-n", l.gateway.name, "link", "set", gwDev, "up")
		// Only the lab's own range is routed: nothing can leave it.
		run(t, "-n", n.name, "route", "add", "10.99.0.0/16", "via", "10.99."+subnet+".1")
	}
	link(l.attacker, "a0", "ga", "1")
	link(l.hospital, "h0", "gh", "2")
	link(l.ventilator, "v0", "gv", "3")
	inNS(t, l.gateway, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	})
	return l
}

// inNS runs fn on a thread switched into n, then switches back. Sockets made
// in fn stay in n.
func inNS(t testing.TB, n netnsHandle, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", n.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leave %s: %w", n.name, err) // the thread stays locked and is discarded
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in namespace %s: %v", n.name, err)
	}
}

// serve listens on addr inside n and answers every connection with "ok".
func serve(t *testing.T, n netnsHandle, addr string) {
	t.Helper()
	var ln net.Listener
	inNS(t, n, func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
}

// dial connects from n to addr and reads the greeting; the error says why a
// connection did not work.
func dial(t *testing.T, n netnsHandle, addr string, timeout time.Duration) error {
	t.Helper()
	var c net.Conn
	var derr error
	inNS(t, n, func() error {
		c, derr = net.DialTimeout("tcp4", addr, timeout)
		return nil
	})
	if derr != nil {
		return derr
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(b) != "ok" {
		return fmt.Errorf("greeting %q, want ok", b)
	}
	return nil
}

// dropCount reads the packet counter of the rule that drops k's matches on
// the forward chain for set name.
func dropCount(t *testing.T, e *Enforcer, tag string) uint64 {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	rules, err := e.conn.GetRules(e.table, e.forward)
	if err != nil {
		t.Fatalf("GetRules: %v", err)
	}
	for _, r := range rules {
		if strings.HasSuffix(string(r.UserData), tag) {
			for _, x := range r.Exprs {
				if c, ok := x.(*expr.Counter); ok {
					return c.Packets
				}
			}
		}
	}
	t.Fatalf("no rule tagged %q", tag)
	return 0
}

const server = "10.99.2.2:8080"

func TestEndToEndBlockInNamespaces(t *testing.T) {
	l := newLab(t)
	serve(t, l.hospital, server)
	e, err := New(Config{NetNS: l.gateway.fd})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if err := e.Setup(ctx); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	for _, who := range []netnsHandle{l.attacker, l.ventilator} {
		if err := dial(t, who, server, 2*time.Second); err != nil {
			t.Fatalf("before the block, %s cannot reach the server through the gateway: %v", who.name, err)
		}
	}

	attacker := netip.MustParsePrefix("10.99.1.2/32")
	const ttl = 2 * time.Second
	start := time.Now()
	if err := e.Block(ctx, []Entry{{Prefix: attacker, TTL: ttl}}); err != nil {
		t.Fatalf("Block: %v", err)
	}
	blocked := time.Now()
	tag := "block saddr " + e.kinds[kindBlock].sets.addr4.Name
	before := dropCount(t, e, tag)
	// The very first connection after Block returns must already be dropped.
	firstTry := time.Since(blocked)
	err = dial(t, l.attacker, server, 300*time.Millisecond)
	if err == nil {
		t.Fatalf("the attacker connected right after Block returned")
	}
	if after := dropCount(t, e, tag); after <= before {
		t.Fatalf("drop counter %d -> %d: the attacker's SYN was not dropped by omamori's rule (dial error: %v)", before, after, err)
	}
	t.Logf("Block call took %v; the first connection attempt, started %v after it returned, was dropped at the gateway (dial: %v)",
		blocked.Sub(start), firstTry, err)

	// Care goes on: the ventilator still reaches the server.
	if err := dial(t, l.ventilator, server, 2*time.Second); err != nil {
		t.Fatalf("while the attacker is blocked, the ventilator cannot reach the server: %v", err)
	}

	// When the TTL runs out, the attacker connects again.
	for {
		if err := dial(t, l.attacker, server, 200*time.Millisecond); err == nil {
			break
		}
		if time.Since(start) > ttl+20*time.Second {
			t.Fatalf("the attacker is still blocked %v after a %v block", time.Since(start), ttl)
		}
	}
	if since := time.Since(start); since < ttl {
		t.Fatalf("the attacker connected again %v after Block, before its TTL of %v", since, ttl)
	} else {
		t.Logf("the attacker connected again %v after Block (TTL %v)", since, ttl)
	}
}

func TestEndToEndIsolateInNamespaces(t *testing.T) {
	l := newLab(t)
	serve(t, l.hospital, server)
	serve(t, l.ventilator, "10.99.3.2:8080")
	// The hospital server is the management console here: an isolated host
	// may still talk to it.
	e, err := New(Config{NetNS: l.gateway.fd, Management: []netip.Prefix{netip.MustParsePrefix("10.99.2.2/32")}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if err := e.Setup(ctx); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	infected := netip.MustParsePrefix("10.99.1.0/24") // a whole workstation subnet
	if err := e.Isolate(ctx, []Entry{{Prefix: infected, TTL: time.Hour}}); err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	cases := []struct {
		from  netnsHandle
		to    string
		works bool
	}{
		{l.attacker, "10.99.3.2:8080", false}, // isolated host to another host
		{l.attacker, server, true},            // isolated host to management
		{l.ventilator, server, true},          // others are not affected
	}
	for _, c := range cases {
		err := dial(t, c.from, c.to, 500*time.Millisecond)
		if (err == nil) != c.works {
			t.Errorf("isolated: dial from %s to %s: err = %v, want works=%v", c.from.name, c.to, err, c.works)
		}
	}
	if err := e.Release(ctx, []netip.Prefix{infected}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := dial(t, l.attacker, "10.99.3.2:8080", 2*time.Second); err != nil {
		t.Errorf("after Release, dial from the workstation: %v", err)
	}
	if !errors.Is(e.Isolate(ctx, []Entry{{Prefix: infected, TTL: -time.Second}}), ErrInvalidEntry) {
		t.Errorf("Isolate with a negative TTL did not fail with ErrInvalidEntry")
	}
}
