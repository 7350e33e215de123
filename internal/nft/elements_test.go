package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestEntryCheck(t *testing.T) {
	tests := []struct {
		in      Entry
		want    string
		wantErr bool
	}{
		{Entry{Prefix: netip.MustParsePrefix("10.1.2.3/32")}, "10.1.2.3/32", false},
		{Entry{Prefix: netip.MustParsePrefix("10.1.2.3/24"), TTL: time.Hour}, "10.1.2.0/24", false},
		{Entry{Prefix: netip.MustParsePrefix("::ffff:10.1.2.3/128")}, "10.1.2.3/32", false},
		{Entry{Prefix: netip.MustParsePrefix("::ffff:10.1.2.0/120")}, "10.1.2.0/24", false},
		{Entry{Prefix: netip.MustParsePrefix("2001:db8::1/48")}, "2001:db8::/48", false},
		{Entry{Prefix: netip.MustParsePrefix("::ffff:0.0.0.0/90")}, "", true}, // wider than the mapped range
		{Entry{}, "", true},
		{Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32"), TTL: -time.Second}, "", true},
		{Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32"), TTL: 11 * 365 * 24 * time.Hour}, "", true},
	}
	for _, tt := range tests {
		got, err := tt.in.check()
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidEntry) {
				t.Errorf("check(%v) error = %v, want ErrInvalidEntry", tt.in, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("check(%v) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestElementsFor(t *testing.T) {
	tests := []struct {
		prefix string
		ttl    time.Duration
		want   string
	}{
		{"192.0.2.7/32", time.Hour, "c0000207 1h0m0s"},
		{"192.0.2.0/24", time.Hour, "c0000200 1h0m0s | c0000300 end"},
		{"0.0.0.0/0", 0, "00000000 0s"},
		{"255.255.255.0/24", time.Minute, "ffffff00 1m0s"},
		{"2001:db8::/32", 500 * time.Microsecond, "20010db8000000000000000000000000 1ms | 20010db9000000000000000000000000 end"},
		{"2001:db8::1/128", 0, "20010db8000000000000000000000001 0s"},
	}
	for _, tt := range tests {
		var got string
		for i, el := range elementsFor(netip.MustParsePrefix(tt.prefix), tt.ttl) {
			if i > 0 {
				got += " | "
			}
			if el.IntervalEnd {
				got += fmt.Sprintf("%x end", el.Key)
			} else {
				got += fmt.Sprintf("%x %v", el.Key, el.Timeout)
			}
		}
		if got != tt.want {
			t.Errorf("elementsFor(%s, %v) = %q, want %q", tt.prefix, tt.ttl, got, tt.want)
		}
	}
}

// FuzzElementsFor checks that every prefix becomes an interval that starts at
// its first address and ends just past its last, in the right family.
func FuzzElementsFor(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1/32", "0.0.0.0/0", "2001:db8::/32", "::/0", "::ffff:10.0.0.0/104", "ffff::/16"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return
		}
		c, err := Entry{Prefix: p}.check()
		if err != nil {
			return
		}
		els := elementsFor(c, time.Second)
		start, ok := netip.AddrFromSlice(els[0].Key)
		if !ok || start != c.Addr() || start.Is4() != c.Addr().Is4() {
			t.Fatalf("elementsFor(%v) starts at %x, want %v", c, els[0].Key, c.Addr())
		}
		switch {
		case c.IsSingleIP():
			if len(els) != 1 {
				t.Fatalf("elementsFor(%v) = %d elements for an address, want 1", c, len(els))
			}
		case len(els) == 2:
			end, _ := netip.AddrFromSlice(els[1].Key)
			if !els[1].IntervalEnd || end.Prev() != lastAddr(c) || !c.Contains(end.Prev()) || c.Contains(end) {
				t.Fatalf("elementsFor(%v) ends at %v, want just past %v", c, end, lastAddr(c))
			}
		case len(els) == 1:
			if lastAddr(c).Next().IsValid() {
				t.Fatalf("elementsFor(%v) has no end though %v is not the last address", c, lastAddr(c))
			}
		default:
			t.Fatalf("elementsFor(%v) = %d elements", c, len(els))
		}
	})
}
