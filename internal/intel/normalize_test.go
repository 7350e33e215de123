package intel

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		kind     Kind
		in, want string
		wantErr  bool
	}{
		{KindIP, " 2001:DB8::1 ", "2001:db8::1", false},
		{KindIP, "::ffff:192.0.2.1", "192.0.2.1", false},
		{KindIP, "fe80::1%eth0", "", true},
		{KindCIDR, "::ffff:192.0.2.0/120", "192.0.2.0/24", false},
		{KindCIDR, "192.0.2.77/24", "192.0.2.0/24", false},
		{KindCIDR, "192.0.2.7", "192.0.2.7/32", false},
		{KindCIDR, "::ffff:0:0/64", "", true},
		{KindDomain, "xn--80ak6aa92e.com", "xn--80ak6aa92e.com", false},
		{KindDomain, "_dmarc.Example.COM.", "_dmarc.example.com", false},
		{KindDomain, "192.0.2.1", "", true},
		{KindDomain, "a..example", "", true},
		{KindDomain, "domain autuo.xicp.net", "", true},
		{KindURL, "hxxp://evil.example/", "evil.example/", false}, // any scheme goes, a defanged one too
		{KindURL, "http://user:pw@Evil.Example:443/a?b#c", "evil.example/a?b", false},
		{KindURL, "https://[2001:db8::1]:8443/x", "[2001:db8::1]:8443/x", false},
		{KindURL, "evil.example/path", "evil.example/path", false},
		{KindURL, "http://evil.example/a b", "", true},
		{KindURL, "http://evil.example:99999/", "", true},
		{KindSHA1, "EF4A07DC91CCC67F0BA7D7C42B5A02344C39AD73", "ef4a07dc91ccc67f0ba7d7c42b5a02344c39ad73", false},
		{KindSHA256, "ef4a07dc91ccc67f0ba7d7c42b5a02344c39ad73", "", true},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.kind, tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q, error %v", tt.kind, tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// FuzzNormalize checks that a normalized value is a fixed point, and that the event side of
// URL matching (appendURLKey with a host and a path, as web logs give them) agrees with the
// indicator side.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "2001:db8::/32", "Evil.Example.", "http://evil.example:80/a?b#c",
		"https://[2001:db8::1]:8443/x", "ff9d1ed3795b9ad94f2390d5e5da5905", "evil.example/path"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for k := Kind(1); k < numKinds; k++ {
			n, err := Normalize(k, v)
			if err != nil {
				continue
			}
			again, err := Normalize(k, n)
			if err != nil || again != n {
				t.Errorf("Normalize(%s, %q) = %q, but Normalize(%s, %q) = %q, %v", k, v, n, k, n, again, err)
			}
		}
		if n, err := Normalize(KindURL, "http://"+v); err == nil {
			host, path := n, "/"
			for i := 0; i < len(n); i++ {
				if n[i] == '/' {
					host, path = n[:i], n[i:]
					break
				}
			}
			if b, ok := appendURLKey(nil, path, host); !ok || string(b) != n {
				t.Errorf("appendURLKey(%q, %q) = %q, %v; want %q as Normalize gives", path, host, b, ok, n)
			}
		}
	})
}

// TestSetConcurrent runs Match from several goroutines on one Set (run with -race).
func TestSetConcurrent(t *testing.T) {
	s, _ := NewSet(mustList(t, "219.90.112.0/24\nevil.example\n"), SetOptions{Allow: loadAllow(t)})
	e := &event.Event{SrcIP: netip.MustParseAddr("219.90.112.203"), DstIP: netip.MustParseAddr("8.8.8.8")}
	e.Add(event.K("dns.question.name"), "a.evil.example")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hits []Hit
			for range 1000 {
				if hits = s.Match(e, hits[:0]); len(hits) != 2 {
					t.Errorf("Match = %d hits, want 2", len(hits))
					return
				}
			}
		}()
	}
	wg.Wait()
}
