package nft

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// recorder answers every netlink request with an acknowledgement and keeps
// the set-element messages, so the batching can be checked without root.
type recorder struct {
	mu   sync.Mutex
	msgs []netlink.Message
}

func (r *recorder) dial(req []netlink.Message) ([]netlink.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var acks []netlink.Message
	for _, m := range req {
		if m.Header.Type == netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWSETELEM) ||
			m.Header.Type == netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_DELSETELEM) {
			r.msgs = append(r.msgs, m)
		}
		if m.Header.Flags&netlink.Acknowledge != 0 {
			acks = append(acks, netlink.Message{
				Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
				Data:   make([]byte, 4), // error 0: success
			})
		}
	}
	return acks, nil
}

// elementList decodes one NEWSETELEM message: the set it names, how many
// elements its list holds, and whether the list attribute's 16-bit length
// field matches the bytes actually sent.
func elementList(t *testing.T, m netlink.Message) (set string, n int, lengthOK bool) {
	t.Helper()
	b := m.Data[4:] // after the nfgenmsg header
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ unix.NLA_F_NESTED
		aligned := (l + 3) &^ 3
		switch typ {
		case unix.NFTA_SET_ELEM_LIST_SET:
			set = string(b[4 : l-1])
		case unix.NFTA_SET_ELEM_LIST_ELEMENTS:
			// The list is the last attribute: it should span the rest.
			lengthOK = l == len(b)
			ad, err := netlink.NewAttributeDecoder(b[4:min(l, len(b))])
			if err != nil {
				t.Fatalf("decode element list: %v", err)
			}
			for ad.Next() {
				n++
			}
			return set, n, lengthOK
		}
		if aligned == 0 || aligned > len(b) {
			break
		}
		b = b[aligned:]
	}
	return set, n, lengthOK
}

func TestBlockSplitsLargeBatches(t *testing.T) {
	rec := &recorder{}
	e, err := newEnforcer(Config{BatchSize: 3000}, nftables.WithTestDial(rec.dial))
	if err != nil {
		t.Fatal(err)
	}
	e.ready = true
	for k := range e.kinds {
		e.kinds[k].sets = e.genSets(kind(k), 1)
	}
	// 5,000 IPv6 networks (two elements each) and 5,000 IPv6 addresses.
	var entries []Entry
	for i := range 5000 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i), 15: 1})
		entries = append(entries,
			Entry{Prefix: netip.PrefixFrom(a, 64).Masked(), TTL: time.Hour},
			Entry{Prefix: netip.PrefixFrom(a, 128), TTL: time.Hour})
	}
	if err := e.Block(context.Background(), entries); err != nil {
		t.Fatalf("Block: %v", err)
	}
	count := map[string]int{}
	for i, m := range rec.msgs {
		set, n, ok := elementList(t, m)
		if !ok {
			t.Errorf("message %d: element list length field does not match its %d elements", i, n)
		}
		if n > maxElemsPerMsg {
			t.Errorf("message %d carries %d elements, want at most %d", i, n, maxElemsPerMsg)
		}
		count[set] += n
	}
	if got, want := count["blocknet6_g1"], 10000; got != want {
		t.Errorf("elements sent to blocknet6_g1 = %d, want %d (a start and an end per network)", got, want)
	}
	if got, want := count["block6_g1"], 5000; got != want {
		t.Errorf("elements sent to block6_g1 = %d, want %d", got, want)
	}
}

// TestLibraryTruncatesLargeElementLists documents why Block splits: when
// google/nftables gets more elements in one call than fit in 64 KiB, the
// list attribute's length wraps around and the kernel reads only part of
// it, without an error. If this test fails after an upgrade, the library
// has fixed it, and maxElemsPerMsg is a choice rather than a necessity.
func TestLibraryTruncatesLargeElementLists(t *testing.T) {
	rec := &recorder{}
	c, err := nftables.New(nftables.WithTestDial(rec.dial))
	if err != nil {
		t.Fatal(err)
	}
	set := &nftables.Set{Table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}, Name: "s", KeyType: nftables.TypeIP6Addr}
	els := make([]nftables.SetElement, 5000) // about 120 KB
	for i := range els {
		els[i] = nftables.SetElement{Key: netip.AddrFrom16([16]byte{0x20, 0x01, 14: byte(i >> 8), 15: byte(i)}).AsSlice()}
	}
	if err := c.SetAddElements(set, els); err != nil {
		t.Fatalf("SetAddElements: %v", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if len(rec.msgs) != 1 {
		t.Fatalf("got %d element messages, want 1", len(rec.msgs))
	}
	if _, n, ok := elementList(t, rec.msgs[0]); ok || n >= len(els) {
		t.Errorf("one call of %d elements: length field ok=%v, %d elements readable; want the length to wrap and elements to be lost", len(els), ok, n)
	}
}
