// Package intel holds threat intelligence: indicators of compromise (addresses, networks,
// domains, URLs, file hashes) read from STIX 2.1 bundles, TAXII 2.1 collections, MISP JSON
// and plain lists, filtered through MISP warning lists, and indexed in an immutable Set.
//
// It sits in the detection stage, beside the Sigma engine: for every decoded event the
// detector calls Set.Match, which looks the event's addresses, domains, URLs and file hashes
// up in the Set and returns a Hit per indicator they match; a Hit becomes an alert. Feeds are
// loaded and refreshed off the hot path, a new Set is built, and the detector swaps it in
// atomically, so matching never waits for a feed.
package intel

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kind is what an indicator's value is.
type Kind uint8

const (
	KindIP     Kind = iota + 1 // one IPv4 or IPv6 address
	KindCIDR                   // a network
	KindDomain                 // a domain name; it also matches its subdomains
	KindURL                    // a URL, compared without scheme, default port and fragment
	KindMD5                    // file hashes, lowercase hex
	KindSHA1
	KindSHA256
	numKinds
)

var kindNames = [numKinds]string{"", "ip", "cidr", "domain", "url", "md5", "sha1", "sha256"}

func (k Kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ParseKind returns the Kind named by s ("ip", "cidr", "domain", "url", "md5", "sha1",
// "sha256").
func ParseKind(s string) (Kind, error) {
	for k := Kind(1); k < numKinds; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("intel: unknown indicator kind %q", s)
}

// Indicator is one known-bad value with where it came from and when it holds. A STIX
// indicator whose pattern names several values becomes one Indicator per value, all with the
// same ID.
type Indicator struct {
	Kind  Kind
	Value string // normalized by Normalize: the form a Set compares
	// ID points back to the intelligence: a STIX indicator id, a MISP attribute uuid, a
	// file and line.
	ID string
	// Name is the indicator's name (STIX name, MISP event info), often empty.
	Name string
	// Source names the feed: a file, a TAXII collection, a MISP instance.
	Source string
	// Confidence is 0 to 100 as STIX defines it, or -1 when the source does not say.
	Confidence int
	// ValidFrom and ValidUntil bound when the indicator matches; a zero time leaves that side
	// open. ValidUntil is exclusive, as in STIX.
	ValidFrom, ValidUntil time.Time
	// Labels are STIX indicator_types and labels, or MISP category and tags.
	Labels []string
	// KillChain holds STIX kill_chain_phases as "kill_chain_name:phase_name".
	KillChain []string
}

// ValidAt reports whether the indicator holds at t.
func (in *Indicator) ValidAt(t time.Time) bool {
	if !in.ValidFrom.IsZero() && t.Before(in.ValidFrom) {
		return false
	}
	return in.ValidUntil.IsZero() || t.Before(in.ValidUntil)
}

func (in *Indicator) String() string { return in.Kind.String() + ":" + in.Value }

// Reason says why an input did not become an indicator.
type Reason uint8

const (
	// ReasonUnsupported: a STIX pattern or MISP attribute type a Set cannot evaluate (AND,
	// FOLLOWEDBY, MATCHES, x509 or e-mail objects, ...). It is valid intelligence this node
	// does not use; operators should see how much of a feed that is.
	ReasonUnsupported Reason = iota + 1
	// ReasonInvalid: a value that is not what its type says (a domain with a space).
	ReasonInvalid
	// ReasonRevoked: a STIX indicator its producer revoked.
	ReasonRevoked
	// ReasonContext: a MISP attribute that is deleted or not meant for detection (to_ids off).
	ReasonContext
	numReasons
)

var reasonNames = [numReasons]string{"", "unsupported", "invalid", "revoked", "context"}

func (r Reason) String() string {
	if r > 0 && r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", r)
}

// Rejected is an input that did not become an indicator, with the reason. Loaders return
// every one of them: nothing is skipped silently.
type Rejected struct {
	Source string
	ID     string // STIX id, MISP attribute, file:line
	Input  string // the pattern, attribute or line as given (cut to 200 bytes)
	Reason Reason
	Detail string // what exactly, for the operator
}

func (r Rejected) String() string {
	return fmt.Sprintf("%s %s: %s: %s (%q)", r.Source, r.ID, r.Reason, r.Detail, r.Input)
}

// CountReasons returns how many of rej there are for each reason, for a load report.
func CountReasons(rej []Rejected) map[Reason]int {
	m := make(map[Reason]int)
	for i := range rej {
		m[rej[i].Reason]++
	}
	return m
}

func reject(source, id, input string, reason Reason, detail string) Rejected {
	if len(input) > 200 {
		input = input[:200] + "…"
	}
	return Rejected{Source: source, ID: id, Input: input, Reason: reason, Detail: detail}
}

// ErrInvalidValue is wrapped by Normalize's errors, so loaders can tell a bad value
// (ReasonInvalid) from a construct they do not support.
var ErrInvalidValue = errors.New("intel: invalid indicator value")

// Normalize checks value as an indicator of kind k and returns the form a Set compares:
// canonical addresses and masked prefixes, lowercase domains without a trailing dot, URLs
// as host[:port]/path?query (see Kind), lowercase hex hashes.
func Normalize(k Kind, value string) (string, error) {
	value = strings.TrimSpace(value)
	switch k {
	case KindIP:
		a, err := netip.ParseAddr(value)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("%w: %q is not an IP address", ErrInvalidValue, value)
		}
		return a.Unmap().String(), nil
	case KindCIDR:
		p, err := parsePrefix(value)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not a network: %v", ErrInvalidValue, value, err)
		}
		return p.String(), nil
	case KindDomain:
		d := strings.TrimSuffix(value, ".")
		if !validDomain(d) {
			return "", fmt.Errorf("%w: %q is not a domain name", ErrInvalidValue, value)
		}
		return strings.ToLower(d), nil
	case KindURL:
		b, ok := appendURLKey(nil, value, "")
		if !ok {
			return "", fmt.Errorf("%w: %q is not a URL", ErrInvalidValue, value)
		}
		return string(b), nil
	case KindMD5, KindSHA1, KindSHA256:
		want := hashLen(k)
		if len(value) != want || !isHex(value) {
			return "", fmt.Errorf("%w: %q is not a %s hash: want %d hex digits", ErrInvalidValue, value, k, want)
		}
		return strings.ToLower(value), nil
	}
	return "", fmt.Errorf("intel: unknown indicator kind %d", k)
}

// parsePrefix reads a network, or an address as the network of only itself; an IPv4-mapped
// IPv6 network becomes the IPv4 one.
func parsePrefix(v string) (netip.Prefix, error) {
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zone not allowed")
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, errors.New("IPv4-mapped network shorter than /96")
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func hashLen(k Kind) int {
	switch k {
	case KindMD5:
		return 32
	case KindSHA1:
		return 40
	case KindSHA256:
		return 64
	}
	return 0
}

func hashKind(n int) Kind {
	switch n {
	case 32:
		return KindMD5
	case 40:
		return KindSHA1
	case 64:
		return KindSHA256
	}
	return 0
}

// Guess returns the kind a bare value most likely is, for plain lists: a URL (it has "://"),
// a network (it has "/"), a hash (32, 40 or 64 hex digits), an address, else a domain; and
// the value normalized.
func Guess(value string) (Kind, string, error) {
	value = strings.TrimSpace(value)
	var k Kind
	switch {
	case strings.Contains(value, "://"):
		k = KindURL
	case strings.Contains(value, "/"):
		k = KindCIDR
	case isHex(value) && hashKind(len(value)) != 0:
		k = hashKind(len(value))
	default:
		k = KindDomain
		if _, err := netip.ParseAddr(value); err == nil {
			k = KindIP
		}
	}
	v, err := Normalize(k, value)
	return k, v, err
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return len(s) > 0
}

// validDomain reports whether d is a domain name: labels of 1 to 63 letters, digits, hyphens
// and underscores (seen in real DNS), IDNs in punycode, at most 253 bytes, and not an
// address. It does not allocate: the hot path calls it on event values.
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	label, digitsAndDots := 0, true
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case '0' <= c && c <= '9':
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-', c == '_':
			digitsAndDots = false
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	// "10.0.0.1" is an address, not a name; a name needs a letter somewhere.
	return label > 0 && !digitsAndDots
}

// appendURLKey appends to dst the form URLs are compared in: host[:port]/path?query, with
// the host lowercased, user info, a default port (80, 443), the scheme and the fragment gone,
// and "/" for an empty path. Feeds list the same payload as http and https, and web logs
// carry no scheme, so the scheme is not part of the key. raw is a URL with or without
// scheme; or, when host is given and raw starts with "/", the path and query of a request to
// host, as Zeek's and Suricata's http logs write them. It allocates only when dst is too
// small: the hot path passes a stack buffer.
func appendURLKey(dst []byte, raw, host string) ([]byte, bool) {
	if i := strings.Index(raw, "://"); i >= 0 {
		raw, host = raw[i+3:], ""
	} else if host != "" && !strings.HasPrefix(raw, "/") {
		host = ""
	}
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	rest := raw
	if host == "" {
		end := strings.IndexAny(raw, "/?")
		if end < 0 {
			end = len(raw)
		}
		host, rest = raw[:end], raw[end:]
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	name, port := host, ""
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return dst, false
		}
		if a, err := netip.ParseAddr(host[1:end]); err != nil || !a.Is6() || a.Zone() != "" {
			return dst, false
		}
		name, port = host[:end+1], host[end+1:]
		if port != "" && port[0] != ':' {
			return dst, false
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		name, port = host[:i], host[i:]
	}
	if port != "" {
		if len(port) == 1 || len(port) > 6 || !isDigits(port[1:]) {
			return dst, false
		}
		if n, _ := strconv.Atoi(port[1:]); n > 65535 {
			return dst, false
		}
		if port == ":80" || port == ":443" {
			port = ""
		}
	}
	if !strings.HasPrefix(name, "[") && !validDomain(name) {
		if a, err := netip.ParseAddr(name); err != nil || !a.Is4() {
			return dst, false
		}
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] <= ' ' || rest[i] == 0x7f {
			return dst, false
		}
	}
	dst = appendLower(dst, strings.TrimSuffix(name, "."))
	dst = append(dst, port...)
	if rest == "" || rest[0] == '?' {
		dst = append(dst, '/')
	}
	return append(dst, rest...), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
