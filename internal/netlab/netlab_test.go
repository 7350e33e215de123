package netlab

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLab(t *testing.T) {
	l := New(t, "10.98")
	l.Hospital.Serve(t, "10.98.2.2:8080")
	l.Ventilator.Serve(t, "10.98.3.2:8080")

	// Every host reaches the others through the gateway.
	cases := []struct {
		from NS
		to   string
	}{
		{l.Attacker, "10.98.2.2:8080"},
		{l.Ventilator, "10.98.2.2:8080"},
		{l.Hospital, "10.98.3.2:8080"},
	}
	for _, c := range cases {
		if err := c.from.Dial(c.to, 2*time.Second); err != nil {
			t.Errorf("Dial from %s to %s: %v, want it to work", c.from.Name, c.to, err)
		}
	}

	// Nothing is routed out of the lab: every route of every host is within it.
	lab := netip.MustParsePrefix("10.98.0.0/16")
	for _, n := range []NS{l.Attacker, l.Hospital, l.Ventilator} {
		out, err := exec.Command(ipCmd, "-n", n.Name, "-4", "route", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("routes of %s: %v: %s", n.Name, err, out)
		}
		for line := range strings.Lines(strings.TrimSpace(string(out))) {
			dst, _, _ := strings.Cut(line, " ")
			if p, err := netip.ParsePrefix(dst); err != nil || !lab.Contains(p.Addr()) || p.Bits() < lab.Bits() {
				t.Errorf("%s has the route %q, want only routes within %v", n.Name, strings.TrimSpace(line), lab)
			}
		}
	}
	const outside = "192.0.2.1:80" // TEST-NET-1
	if err := l.Attacker.Dial(outside, 2*time.Second); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("Dial from %s to %s: %v, want %v", l.Attacker.Name, outside, err, syscall.ENETUNREACH)
	}
}

func TestDo(t *testing.T) {
	l := New(t, "10.98")
	var inside []string
	errFn := errors.New("fn's error")
	err := l.Attacker.Do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, i := range ifs {
			inside = append(inside, i.Name)
		}
		return errFn
	})
	if !errors.Is(err, errFn) {
		t.Fatalf("Do = %v, want fn's error %v", err, errFn)
	}
	slices.Sort(inside)
	if want := []string{"a0", "lo"}; !slices.Equal(inside, want) {
		t.Errorf("interfaces inside %s: %q, want %q", l.Attacker.Name, inside, want)
	}
}

func TestCleanup(t *testing.T) {
	var l *Lab
	t.Run("build", func(t *testing.T) {
		l = New(t, "10.98")
	})
	if l == nil {
		t.Skip("skipping: the lab was not built")
	}
	for _, n := range []NS{l.Attacker, l.Gateway, l.Hospital, l.Ventilator} {
		if _, err := os.Stat(n.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after its test ended, namespace %s: %v, want it deleted", n.Path, err)
		}
	}
}
