package intel

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gaissmai/bart"
)

// Allowlist is a set of MISP warning lists: values known to be benign (public DNS resolvers,
// private and multicast networks, Office 365, the most visited sites). Feeds list such values
// by mistake or as context, and an alert on them would send a hospital's staff after its own
// resolver. An indicator a list covers is left out when a Set is built and reported with the
// list's name; a hit of a broader indicator (a network, a parent domain) on an event value a
// list covers is suppressed at match time and counted.
//
// Each list applies to the kinds its matching_attributes name, as in MISP: tranco10k
// (hostname, domain, url) covers a URL by its host, microsoft-office365 (string; domain,
// hostname) covers only domains equal to its entries.
//
// The zero value is an empty allowlist. It is read-only once built and safe for concurrent
// use.
type Allowlist struct {
	nets       bart.Table[*allowList] // cidr lists
	hosts      map[string]*allowList  // hostname lists: the name and its subdomains
	strs       map[string]*allowList  // string lists: exact values
	substrings []allowPattern
	regexps    []allowRegexp
	lists      []*allowList
}

// allowList is one warning list as an Allowlist keeps it.
type allowList struct {
	name  string
	kinds uint16 // bit k set: applies to indicators of Kind k
	size  int
}

type allowPattern struct {
	s    string
	list *allowList
}

type allowRegexp struct {
	re   *regexp.Regexp
	list *allowList
}

// WarningList is the part of a MISP warning list (list.json) that Allowlist uses.
type WarningList struct {
	Name               string   `json:"name"`
	Type               string   `json:"type"` // cidr, hostname, string, substring, regex
	List               []string `json:"list"`
	MatchingAttributes []string `json:"matching_attributes"`
}

// LoadWarningLists reads every <dir>/*/list.json, the layout of the misp-warninglists
// repository's lists folder.
func LoadWarningLists(dir string) (*Allowlist, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "list.json"))
	if err != nil {
		return nil, fmt.Errorf("load warning lists %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("load warning lists %s: no */list.json in it", dir)
	}
	a := &Allowlist{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load warning list: %w", err)
		}
		var wl WarningList
		if err := json.Unmarshal(data, &wl); err != nil {
			return nil, fmt.Errorf("decode warning list %s: %w", f, err)
		}
		if wl.Name == "" {
			wl.Name = filepath.Base(filepath.Dir(f))
		}
		if err := a.Add(&wl); err != nil {
			return nil, fmt.Errorf("add warning list %s: %w", f, err)
		}
	}
	return a, nil
}

// mispKinds maps MISP attribute types to the kinds they hold.
var mispKinds = map[string][]Kind{
	"ip-src": {KindIP, KindCIDR}, "ip-dst": {KindIP, KindCIDR},
	"ip-src|port": {KindIP}, "ip-dst|port": {KindIP},
	"domain|ip": {KindDomain, KindIP},
	"domain":    {KindDomain}, "hostname": {KindDomain},
	"url": {KindURL},
	"md5": {KindMD5}, "sha1": {KindSHA1}, "sha256": {KindSHA256},
	"filename|md5": {KindMD5}, "filename|sha1": {KindSHA1}, "filename|sha256": {KindSHA256},
}

// Add puts the entries of wl into a. An entry that does not fit the list's type (a cidr
// list entry that is no address) is an error naming it.
func (a *Allowlist) Add(wl *WarningList) error {
	if a.hosts == nil {
		a.hosts, a.strs = map[string]*allowList{}, map[string]*allowList{}
	}
	l := &allowList{name: wl.Name}
	for _, t := range wl.MatchingAttributes {
		for _, k := range mispKinds[t] {
			l.kinds |= 1 << k
		}
	}
	if wl.Type == "cidr" {
		l.kinds |= 1<<KindIP | 1<<KindCIDR // a network list is about addresses, whatever it says
	}
	if l.kinds == 0 {
		l.kinds = ^uint16(0)
	}
	for _, v := range wl.List {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		l.size++
		switch wl.Type {
		case "cidr":
			p, err := parsePrefix(v)
			if err != nil {
				return fmt.Errorf("entry %q: %w", v, err)
			}
			if _, ok := a.nets.Get(p); !ok { // the first list to name a network names it
				a.nets.Insert(p, l)
			}
		case "hostname":
			h := strings.ToLower(strings.Trim(v, "."))
			if _, ok := a.hosts[h]; !ok {
				a.hosts[h] = l
			}
		case "string":
			if _, ok := a.strs[strings.ToLower(v)]; !ok {
				a.strs[strings.ToLower(v)] = l
			}
		case "substring":
			a.substrings = append(a.substrings, allowPattern{strings.ToLower(v), l})
		case "regex":
			re, err := regexp.Compile(strings.Trim(v, "/"))
			if err != nil {
				return fmt.Errorf("entry %q: %w", v, err)
			}
			a.regexps = append(a.regexps, allowRegexp{re, l})
		default:
			return fmt.Errorf("unknown warning list type %q", wl.Type)
		}
	}
	a.lists = append(a.lists, l)
	return nil
}

// Lists returns the names of the lists added and their number of entries, in order.
func (a *Allowlist) Lists() map[string]int {
	m := make(map[string]int, len(a.lists))
	for _, l := range a.lists {
		m[l.name] += l.size
	}
	return m
}

// Check reports whether an indicator is allowlisted, and on which list: an address or a
// network inside a listed network, a domain equal to or under a listed host name (a URL by
// its host), or a value equal to a listed string, containing a listed substring or matching a
// listed pattern — each only for lists that apply to the indicator's kind.
func (a *Allowlist) Check(in *Indicator) (list string, ok bool) {
	if a == nil {
		return "", false
	}
	var l *allowList
	switch in.Kind {
	case KindIP, KindCIDR:
		p, err := parsePrefix(in.Value)
		if err != nil {
			return "", false
		}
		// Only a network the list wholly covers is benign: 8.0.0.0/8 holds 8.8.8.8 but is
		// not a resolver; its hit on 8.8.8.8 is suppressed at match time instead.
		l, ok = a.nets.LookupPrefix(p)
	case KindDomain:
		l, ok = a.host(in.Value, KindDomain)
	case KindURL:
		l, ok = a.host(urlHost(in.Value), KindURL)
	}
	if !ok {
		l, ok = a.value(in.Value, in.Kind)
	}
	if !ok {
		return "", false
	}
	return l.name, true
}

// addr reports whether an event address that a broader indicator matched is allowlisted.
func (a *Allowlist) addr(ip netip.Addr) (string, bool) {
	if a == nil {
		return "", false
	}
	if l, ok := a.nets.Lookup(ip); ok {
		return l.name, true
	}
	return "", false
}

// domain reports whether an event's domain (lowercase) that a parent-domain indicator
// matched is allowlisted.
func (a *Allowlist) domain(d string) (string, bool) {
	if a == nil {
		return "", false
	}
	if l, ok := a.host(d, KindDomain); ok {
		return l.name, true
	}
	if l, ok := a.value(d, KindDomain); ok {
		return l.name, true
	}
	return "", false
}

// host reports whether d or one of its parent domains is on a hostname list, or d on a string
// list, that applies to kind k.
func (a *Allowlist) host(d string, k Kind) (*allowList, bool) {
	for {
		if l, ok := a.hosts[d]; ok && l.kinds&(1<<k) != 0 {
			return l, true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return nil, false
		}
		d = d[i+1:]
	}
}

func (a *Allowlist) value(v string, k Kind) (*allowList, bool) {
	if l, ok := a.strs[v]; ok && l.kinds&(1<<k) != 0 {
		return l, true
	}
	for _, s := range a.substrings {
		if s.list.kinds&(1<<k) != 0 && strings.Contains(v, s.s) {
			return s.list, true
		}
	}
	for _, r := range a.regexps {
		if r.list.kinds&(1<<k) != 0 && r.re.MatchString(v) {
			return r.list, true
		}
	}
	return nil, false
}

// urlHost returns the host of a normalized URL, without port or brackets.
func urlHost(u string) string {
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	if strings.HasPrefix(u, "[") {
		if i := strings.IndexByte(u, ']'); i >= 0 {
			return u[1:i]
		}
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		u = u[:i]
	}
	return u
}
