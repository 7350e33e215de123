package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// countPresent asks the kernel, element by element, whether each prefix is
// in k's sets, and returns how many are. Reading a large interval set back
// with a dump is quadratic in the kernel (each dump chunk walks the tree from
// its start), so a million-element check uses point queries instead
// (NFT_MSG_GETSETELEM without NLM_F_DUMP, which google/nftables v0.3.0 does
// not offer), 1024 per request. The kernel answers each element or stops at
// the first missing one with ENOENT.
func (e *Enforcer) countPresent(k kind, prefixes []netip.Prefix) (int, error) {
	e.mu.Lock()
	v4, v6 := e.kinds[k].v4.Name, e.kinds[k].v6.Name
	e.mu.Unlock()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: e.cfg.NetNS})
	if err != nil {
		return 0, fmt.Errorf("open netlink connection: %w", err)
	}
	defer c.Close()
	if err := bigBuffers(c); err != nil {
		return 0, err
	}
	var by4, by6 []netip.Prefix
	for _, p := range prefixes {
		if p.Addr().Is4() {
			by4 = append(by4, p)
		} else {
			by6 = append(by6, p)
		}
	}
	n := 0
	for _, g := range []struct {
		set string
		ps  []netip.Prefix
	}{{v4, by4}, {v6, by6}} {
		for chunk := range slices.Chunk(g.ps, maxElemsPerMsg) {
			found, err := getElements(c, g.set, chunk)
			n += found
			if errors.Is(err, unix.ENOENT) {
				return n, fmt.Errorf("set %s lacks %v (and maybe more after it): %w", g.set, chunk[found], err)
			}
			if err != nil {
				return n, fmt.Errorf("query set %s: %w", g.set, err)
			}
		}
	}
	return n, nil
}

func getElements(c *netlink.Conn, set string, ps []netip.Prefix) (int, error) {
	var list []netlink.Attribute
	for i, p := range ps {
		key, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: p.Addr().AsSlice()}})
		if err != nil {
			return 0, err
		}
		el, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_SET_ELEM_KEY | unix.NLA_F_NESTED, Data: key}})
		if err != nil {
			return 0, err
		}
		list = append(list, netlink.Attribute{Type: uint16(i+1) | unix.NLA_F_NESTED, Data: el})
	}
	elems, err := netlink.MarshalAttributes(list)
	if err != nil {
		return 0, err
	}
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(TableName + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(set + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_ELEMENTS | unix.NLA_F_NESTED, Data: elems},
	})
	if err != nil {
		return 0, err
	}
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	sent, err := c.Send(req)
	if err != nil {
		return 0, err
	}
	found := 0
	for {
		msgs, err := c.Receive()
		for _, m := range msgs {
			if m.Header.Sequence != sent.Header.Sequence {
				continue
			}
			if m.Header.Type == netlink.Error {
				return found, nil // the acknowledgement: all answered
			}
			found++
		}
		if err != nil {
			return found, err
		}
	}
}
