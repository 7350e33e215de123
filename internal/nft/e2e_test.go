package nft

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables/expr"

	"github.com/omamori-project/omamori/internal/netlab"
)

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

// The lab netlab.New builds here has every address in 10.99/16:
//
//	attacker 10.99.1.2 ─┐                 ┌─ hospital 10.99.2.2 (TCP server)
//	                    gateway (enforcer)
//	ventilator 10.99.3.2┘  .1.1 .2.1 .3.1
const server = "10.99.2.2:8080"

func TestEndToEndBlockInNamespaces(t *testing.T) {
	l := netlab.New(t, "10.99")
	l.Hospital.Serve(t, server)
	e, err := New(Config{NetNS: l.Gateway.FD})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if err := e.Setup(ctx); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	for _, who := range []netlab.NS{l.Attacker, l.Ventilator} {
		if err := who.Dial(server, 2*time.Second); err != nil {
			t.Fatalf("before the block, %s cannot reach the server through the gateway: %v", who.Name, err)
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
	err = l.Attacker.Dial(server, 300*time.Millisecond)
	if err == nil {
		t.Fatalf("the attacker connected right after Block returned")
	}
	if after := dropCount(t, e, tag); after <= before {
		t.Fatalf("drop counter %d -> %d: the attacker's SYN was not dropped by omamori's rule (dial error: %v)", before, after, err)
	}
	t.Logf("Block call took %v; the first connection attempt, started %v after it returned, was dropped at the gateway (dial: %v)",
		blocked.Sub(start), firstTry, err)

	// Care goes on: the ventilator still reaches the server.
	if err := l.Ventilator.Dial(server, 2*time.Second); err != nil {
		t.Fatalf("while the attacker is blocked, the ventilator cannot reach the server: %v", err)
	}

	// When the TTL runs out, the attacker connects again.
	for {
		if err := l.Attacker.Dial(server, 200*time.Millisecond); err == nil {
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
	l := netlab.New(t, "10.99")
	l.Hospital.Serve(t, server)
	l.Ventilator.Serve(t, "10.99.3.2:8080")
	// The hospital server is the management console here: an isolated host
	// may still talk to it.
	e, err := New(Config{NetNS: l.Gateway.FD, Management: []netip.Prefix{netip.MustParsePrefix("10.99.2.2/32")}})
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
		from  netlab.NS
		to    string
		works bool
	}{
		{l.Attacker, "10.99.3.2:8080", false}, // isolated host to another host
		{l.Attacker, server, true},            // isolated host to management
		{l.Ventilator, server, true},          // others are not affected
	}
	for _, c := range cases {
		err := c.from.Dial(c.to, 500*time.Millisecond)
		if (err == nil) != c.works {
			t.Errorf("isolated: dial from %s to %s: err = %v, want works=%v", c.from.Name, c.to, err, c.works)
		}
	}
	if err := e.Release(ctx, []netip.Prefix{infected}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := l.Attacker.Dial("10.99.3.2:8080", 2*time.Second); err != nil {
		t.Errorf("after Release, dial from the workstation: %v", err)
	}
	if !errors.Is(e.Isolate(ctx, []Entry{{Prefix: infected, TTL: -time.Second}}), ErrInvalidEntry) {
		t.Errorf("Isolate with a negative TTL did not fail with ErrInvalidEntry")
	}
}
