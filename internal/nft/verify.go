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
	ss := e.kinds[k].sets
	e.mu.Unlock()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: e.cfg.NetNS})
	if err != nil {
		return 0, fmt.Errorf("open netlink connection: %w", err)
	}
	defer c.Close()
	if err := bigBuffers(c); err != nil {
		return 0, err
	}
	bySet := map[string][]netip.Prefix{}
	for _, p := range prefixes {
		name := ss.forPrefix(p).Name
		bySet[name] = append(bySet[name], p)
	}
	n := 0
	for name, ps := range bySet {
		g := struct {
			set string
			ps  []netip.Prefix
		}{name, ps}
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
