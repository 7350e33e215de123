// Package asset is omamori's minimum inventory of a hospital's devices and services: enough to
// protect care. It sits beside the response stage: before a decision blocks or isolates an
// address, package respond asks the inventory what lives there (a ventilator, a CT scanner, the
// EHR) and whether cutting it would stop a protected clinical service.
//
// An inventory is imported from CSV (see ParseCSV for the columns) and looked up by address
// with a longest-prefix match, so an entry may be one address or a whole network such as an
// ICU device VLAN.
package asset

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/gaissmai/bart"
)

// Category says what kind of thing an asset is, which decides how carefully omamori acts on it.
type Category string

const (
	// LifeSupport keeps a patient alive: ventilators, heart-lung machines, dialysis, infusion
	// pumps. Never blocked or isolated automatically.
	LifeSupport Category = "life-support"
	// Diagnostic produces findings: CT, MRI, ultrasound, laboratory analysers.
	Diagnostic Category = "diagnostic"
	// Information serves clinical information: EHR terminals and servers, PACS.
	Information Category = "information"
	// Infrastructure carries everything else: switches, gateways, DNS, directory servers.
	Infrastructure Category = "infrastructure"
)

// Categories returns every category, in a fixed order.
func Categories() []Category { return []Category{LifeSupport, Diagnostic, Information, Infrastructure} }

// ParseCategory returns the category named s (case-insensitive, surrounding space ignored).
func ParseCategory(s string) (Category, error) {
	c := Category(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Categories(), c) {
		names := make([]string, 0, 4)
		for _, k := range Categories() {
			names = append(names, string(k))
		}
		return "", fmt.Errorf("unknown category %q (want one of %s)", s, strings.Join(names, ", "))
	}
	return c, nil
}

// Asset is one device, server or network of the hospital.
type Asset struct {
	Prefix     netip.Prefix `json:"address"` // where it is: one address is a /32 (IPv4) or /128 (IPv6)
	Name       string       `json:"name"`    // for people, such as "ICU ventilator bed 3" or "ehr.hospital.example"
	Category   Category     `json:"category"`
	Department string       `json:"department,omitempty"` // such as "ICU", "Radiology"
	// Protected marks a protected clinical service: automatic decisions that would cut it off
	// are held for a person's approval.
	Protected bool `json:"protected"`

	// CPE is the product the asset runs, as a CPE 2.3 name (cpe:2.3:o:fortinet:fortios:...),
	// for matching it against vulnerability data (package vuln). Empty: not known.
	CPE string `json:"cpe,omitempty"`
	// Version is the product's version as the vendor writes it ("6.0.4", "9.1R11.4"). It
	// takes the place of the CPE's version field, so that a log can report it without
	// anyone editing a CPE. Empty: the CPE's own version, if it has one.
	Version string `json:"version,omitempty"`
	// Exposure is who can reach the asset, which ranks its vulnerabilities.
	Exposure Exposure `json:"exposure,omitempty"`
	// Hostname is its DNS name, such as "vent-01.icu.hospital.example", when Name is for
	// people: a block of that domain, or of one above it, touches the device.
	Hostname string `json:"hostname,omitempty"`
}

// Exposure says who can reach an asset over the network. The inventory states it (the
// exposure column); omamori does not guess it from addresses, since a NATed VPN portal has a
// private address.
type Exposure string

const (
	// Internet: reachable from anywhere, such as a VPN portal or a firewall's SSL-VPN.
	Internet Exposure = "internet"
	// Vendor: reachable by a contractor's remote-maintenance line (checklist 2-②), not the
	// whole internet.
	Vendor Exposure = "vendor"
	// Internal: reachable only from the hospital's own networks.
	Internal Exposure = "internal"
	// Isolated: on a segment of its own (a closed device VLAN).
	Isolated Exposure = "isolated"
)

// Exposures returns every exposure, most exposed first.
func Exposures() []Exposure { return []Exposure{Internet, Vendor, Internal, Isolated} }

// ParseExposure returns the exposure named s (case-insensitive); empty is "not stated".
func ParseExposure(s string) (Exposure, error) {
	e := Exposure(strings.ToLower(strings.TrimSpace(s)))
	if e == "" || slices.Contains(Exposures(), e) {
		return e, nil
	}
	return "", fmt.Errorf("unknown exposure %q (want internet, vendor, internal, isolated or empty)", s)
}

// Addr returns the asset's address when it is a single host, or the first address of its
// network.
func (a Asset) Addr() netip.Addr { return a.Prefix.Addr() }

// Inventory is a hospital's assets, indexed by address. Build it with New; it is read-only
// afterwards and safe for concurrent use. The zero value and a nil *Inventory are empty.
type Inventory struct {
	all         []Asset
	byAddr      bart.Table[int] // prefix → index into all
	lifeSupport bart.Table[int]
	protected   bart.Table[int]
}

// ErrDuplicate means two assets claim the same address or network.
var ErrDuplicate = errors.New("asset: duplicate address")

// New builds an inventory. Addresses are normalised (an IPv4-mapped IPv6 address becomes
// IPv4, a network loses its host bits); two assets at the same prefix are an error, since
// the lookup could return only one of them.
func New(assets []Asset) (*Inventory, error) {
	inv := &Inventory{all: make([]Asset, 0, len(assets))}
	for _, a := range assets {
		if !a.Prefix.IsValid() {
			return nil, fmt.Errorf("add asset %q: no address", a.Name)
		}
		a.Prefix = normalize(a.Prefix)
		if _, ok := inv.byAddr.Get(a.Prefix); ok {
			return nil, fmt.Errorf("add asset %q at %s: %w", a.Name, a.Prefix, ErrDuplicate)
		}
		i := len(inv.all)
		inv.all = append(inv.all, a)
		inv.byAddr.Insert(a.Prefix, i)
		if a.Category == LifeSupport {
			inv.lifeSupport.Insert(a.Prefix, i)
		}
		if a.Protected {
			inv.protected.Insert(a.Prefix, i)
		}
	}
	return inv, nil
}

func normalize(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	return p.Masked()
}

// mapped is every IPv4-mapped IPv6 address, ::ffff:0.0.0.0 to ::ffff:255.255.255.255.
var mapped = netip.MustParsePrefix("::ffff:0:0/96")

// Touched returns the networks that blocking p blocks, as the inventory files them: p
// normalised (an IPv4-mapped network becomes IPv4), and besides it, when p is an IPv6 network
// wide enough to hold every IPv4-mapped address (::/64, ::ffff:0:0/95, ::/0), all of IPv4 —
// a firewall that matches p drops the mapped form of every IPv4 device, so a check of p alone
// would miss the ventilator at 10.20.1.11 that ::ffff:10.20.1.11 reaches.
func Touched(p netip.Prefix) []netip.Prefix {
	p = normalize(p)
	if p.Addr().Is6() && p.Bits() <= mapped.Bits() && p.Contains(mapped.Addr()) {
		return []netip.Prefix{p, netip.PrefixFrom(netip.IPv4Unspecified(), 0)}
	}
	return []netip.Prefix{p}
}

// Len returns the number of assets.
func (inv *Inventory) Len() int {
	if inv == nil {
		return 0
	}
	return len(inv.all)
}

// All returns the assets in the order they were added. The caller must not modify the slice.
func (inv *Inventory) All() []Asset {
	if inv == nil {
		return nil
	}
	return inv.all
}

// Lookup returns the most specific asset covering ip: the device itself if it is listed, or
// else the smallest listed network it is in.
func (inv *Inventory) Lookup(ip netip.Addr) (Asset, bool) {
	if inv == nil {
		return Asset{}, false
	}
	i, ok := inv.byAddr.Lookup(ip.Unmap())
	if !ok {
		return Asset{}, false
	}
	return inv.all[i], true
}

// LifeSupportIn returns a life-support asset that p covers or that covers p — one that a
// block of p would touch — if there is one.
func (inv *Inventory) LifeSupportIn(p netip.Prefix) (Asset, bool) {
	if inv == nil {
		return Asset{}, false
	}
	return inv.overlap(&inv.lifeSupport, p)
}

// ProtectedIn returns a protected clinical service that p covers or that covers p, if any.
func (inv *Inventory) ProtectedIn(p netip.Prefix) (Asset, bool) {
	if inv == nil {
		return Asset{}, false
	}
	return inv.overlap(&inv.protected, p)
}

// overlap finds an entry of t overlapping a network that blocking p touches (Touched):
// first one containing it (the common case, a single address inside a listed network), then
// one inside it (a range block over devices).
func (inv *Inventory) overlap(t *bart.Table[int], p netip.Prefix) (Asset, bool) {
	for _, p := range Touched(p) {
		if _, i, ok := t.LookupPrefixLPM(p); ok {
			return inv.all[i], true
		}
		for _, i := range t.Subnets(p) {
			return inv.all[i], true
		}
	}
	return Asset{}, false
}

// Named returns the assets whose name or hostname is host or a name under it
// (ward.hospital.example is under hospital.example), ignoring case and a trailing dot, for
// checking a block of a domain.
func (inv *Inventory) Named(host string) []Asset {
	if inv == nil {
		return nil
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	under := func(name string) bool {
		n := strings.TrimSuffix(strings.ToLower(name), ".")
		return n != "" && (n == host || strings.HasSuffix(n, "."+host))
	}
	var out []Asset
	for _, a := range inv.all {
		if under(a.Name) || under(a.Hostname) {
			out = append(out, a)
		}
	}
	return out
}
