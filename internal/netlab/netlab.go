// Package netlab builds a small hospital network in Linux network namespaces
// for end-to-end tests of omamori's enforcement, as net/http/httptest builds
// servers for HTTP tests. It is imported by tests only.
//
// A Lab is four namespaces: an attacker, a hospital server and a ventilator,
// each on its own /24 behind a gateway that forwards between them, where the
// enforcer under test puts its nftables rules:
//
//	attacker   P.1.2 ── P.1.1 ┐
//	                          gateway (forwards; the enforcer's nftables go here)
//	hospital   P.2.2 ── P.2.1 ┤
//	ventilator P.3.2 ── P.3.1 ┘
//
// P is the two-octet prefix given to New, such as "10.99". Each host routes
// only P.0.0/16, through the gateway, so nothing a test sends leaves the lab.
//
// Building a Lab needs root, iproute2's ip and nf_tables; New skips the test
// where any is missing.
package netlab

import (
	"crypto/rand"
	"encoding/hex"
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

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// ipCmd is iproute2's ip, which builds the namespaces and their links.
const ipCmd = "/usr/sbin/ip"

// NS is a named network namespace of a Lab.
type NS struct {
	Name string // the name ip netns knows it by
	Path string // its file under /run/netns, for configurations that name a namespace
	FD   int    // an open descriptor to enter it; closed when the test ends
}

// Lab is the network of the package comment. Its namespaces are deleted when
// the test ends.
type Lab struct {
	Attacker, Gateway, Hospital, Ventilator NS
}

// New builds a Lab whose addresses are in prefix.0.0/16, where prefix is two
// octets such as "10.99" or "198.18". It skips t when the machine cannot
// build one, and fails t when building it goes wrong after that.
func New(t testing.TB, prefix string) *Lab {
	t.Helper()
	if a, err := netip.ParseAddr(prefix + ".0.0"); err != nil || !a.Is4() {
		t.Fatalf("netlab.New: prefix %q, want two octets of an IPv4 address such as \"10.99\"", prefix)
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: the network namespaces of this test need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	if _, err := os.Stat(ipCmd); err != nil {
		t.Skipf("skipping: %s (iproute2) builds the test network: %v", ipCmd, err)
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// A random name, so that tests of several packages, which go test runs
	// at once, and namespaces left by a killed test do not collide.
	b := make([]byte, 3)
	rand.Read(b)
	id := "omlab" + hex.EncodeToString(b)
	mk := func(role string) NS {
		t.Helper()
		name := id + role
		if out, err := exec.Command(ipCmd, "netns", "add", name).CombinedOutput(); err != nil {
			t.Skipf("skipping: cannot create a network namespace: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command(ipCmd, "netns", "del", name).Run() })
		path := "/run/netns/" + name
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open namespace %s: %v", name, err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		ip("-n", name, "link", "set", "lo", "up")
		return NS{Name: name, Path: path, FD: fd}
	}
	l := &Lab{Attacker: mk("a"), Gateway: mk("g"), Hospital: mk("h"), Ventilator: mk("v")}

	// nf_tables may be missing (a kernel without it, a container that hides it).
	c, err := nftables.New(nftables.WithNetNSFd(l.Gateway.FD))
	if err != nil {
		t.Skipf("skipping: no nftables netlink in a namespace: %v", err)
	}
	if _, err := c.ListTables(); err != nil {
		t.Skipf("skipping: nf_tables does not answer in a namespace: %v", err)
	}

	link := func(n NS, dev, gwDev, subnet string) {
		ip("-n", n.Name, "link", "add", dev, "type", "veth", "peer", "name", gwDev, "netns", l.Gateway.Name)
		ip("-n", n.Name, "addr", "add", prefix+"."+subnet+".2/24", "dev", dev)
		ip("-n", n.Name, "link", "set", dev, "up")
		ip("-n", l.Gateway.Name, "addr", "add", prefix+"."+subnet+".1/24", "dev", gwDev)
		ip("-n", l.Gateway.Name, "link", "set", gwDev, "up")
		// Only the lab's own range is routed, and only through the gateway:
		// nothing leaves it.
		ip("-n", n.Name, "route", "add", prefix+".0.0/16", "via", prefix+"."+subnet+".1")
	}
	link(l.Attacker, "a0", "ga", "1")
	link(l.Hospital, "h0", "gh", "2")
	link(l.Ventilator, "v0", "gv", "3")
	l.Gateway.run(t, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	})
	return l
}

// Do runs fn on a thread switched into n, then switches back; sockets made in
// fn stay in n. It returns fn's error, or why the thread could not switch. It
// may be called from any goroutine.
func (n NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// If this goroutine's thread cannot switch back it stays locked, so
		// the runtime discards the thread rather than reuse it in n.
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(n.FD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leave %s: %w", n.Name, err) // the thread stays locked and is discarded
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// run is Do for the test's own goroutine: it fails t on an error.
func (n NS) run(t testing.TB, fn func() error) {
	t.Helper()
	if err := n.Do(fn); err != nil {
		t.Fatalf("in namespace %s: %v", n.Name, err)
	}
}

// Serve listens on the TCP address addr inside n until the test ends, and
// answers every connection with "ok".
func (n NS) Serve(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	n.run(t, func() (err error) {
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

// Dial connects from n to addr, where Serve listens, and reads the greeting;
// the error says why it did not work. It may be called from any goroutine.
func (n NS) Dial(addr string, timeout time.Duration) error {
	var c net.Conn
	var derr error
	if err := n.Do(func() error {
		c, derr = net.DialTimeout("tcp4", addr, timeout)
		return nil
	}); err != nil {
		return err
	}
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
