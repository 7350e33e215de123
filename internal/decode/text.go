package decode

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"

	"github.com/omamori-project/omamori/internal/event"
)

// This file holds what the line-of-text decoders (syslog, sshd, FortiGate, CEF) share:
// checking that a record is text, and small allocation-free scanners.

// textOf returns the record b as a string to parse. Valid UTF-8 is returned as is, sharing b's
// memory (b is an event's immutable Raw). Records with control bytes are binary. Bytes that are
// not UTF-8 but are valid Shift_JIS, which Japanese medical devices still send, are converted
// to a new UTF-8 string; anything else is invalid.
func textOf(b []byte) (string, Reason) {
	// Eight bytes at a time while all are printable ASCII, which most records are throughout;
	// from the first word that holds anything else, byte by byte.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		del := w ^ 0x7f*ones
		if w&highs|(w-0x20*ones)&^w&highs|(del-ones)&^del&highs != 0 { // a byte >= 0x80, < 0x20, or 0x7f
			break
		}
	}
	high := false
	for _, c := range b[i:] {
		if c < 0x20 {
			// Tabs are common; CR and LF appear inside octet-counted syslog messages.
			if c != '\t' && c != '\n' && c != '\r' {
				return "", ReasonBinary
			}
		} else if c >= 0x7f {
			if c == 0x7f {
				return "", ReasonBinary
			}
			high = true
		}
	}
	if !high || utf8.Valid(b) {
		return event.String(b), ""
	}
	if s, ok := shiftJIS(b); ok {
		return s, ""
	}
	return "", ReasonInvalidUTF8
}

// shiftJIS decodes b from Shift_JIS. It reports false when b holds byte sequences that are not
// Shift_JIS, which the decoder would otherwise turn into U+FFFD.
func shiftJIS(b []byte) (string, bool) {
	out, err := japanese.ShiftJIS.NewDecoder().Bytes(b)
	if err != nil || !utf8.Valid(out) {
		return "", false
	}
	if bytes.ContainsRune(out, utf8.RuneError) {
		return "", false
	}
	return string(out), true
}

// trimRecord cuts white space and line ends from the ends of a record, and the one NUL some
// senders append.
func trimRecord(b []byte) []byte {
	b = trimSpaceBytes(b)
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = trimSpaceBytes(b[:len(b)-1])
	}
	return b
}

func trimSpaceBytes(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// atoiN parses the n ASCII digits at the start of s.
func atoiN(s string, n int) (int, bool) {
	if len(s) < n {
		return 0, false
	}
	v := 0
	for i := range n {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// parseUint parses a decimal number of at most 19 digits, so it cannot overflow.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// parsePort parses a TCP/UDP port number.
func parsePort(s string) (uint16, bool) {
	v, ok := parseUint(s)
	if !ok || v > 65535 {
		return 0, false
	}
	return uint16(v), true
}

// parsePID parses a process id.
func parsePID(s string) (int32, bool) {
	v, ok := parseUint(s)
	if !ok || v > 1<<31-1 {
		return 0, false
	}
	return int32(v), true
}

// parseAddr parses an IP address, without a zone: addresses with zones are link-local and
// would cost an allocation each.
func parseAddr(s string) (netip.Addr, bool) {
	if len(s) < 2 || len(s) > 45 || strings.IndexByte(s, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// cutWord returns s up to the first space, and what follows that space.
func cutWord(s string) (word, rest string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// trimSpaceRight cuts spaces and tabs from the end of s.
func trimSpaceRight(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// keyByte reports whether c may be part of a key of FortiGate's key=value logs or a CEF
// extension: letters, digits, '_', '-' and '.'.
func keyByte(c byte) bool { return keyBytes[c] }

// keyBytes is keyByte's table, since keys are most of a FortiGate line's bytes. It is never
// written after it is made.
var keyBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	return t
}()

// indexUnescaped returns the index of the first c in s that no backslash escapes, or -1, and
// whether a backslash escape came before it.
func indexUnescaped(s string, c byte) (int, bool) {
	escaped := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			escaped = true
			i++
		case c:
			return i, escaped
		}
	}
	return -1, escaped
}

// unescape removes the backslash before each byte of escapable in v; a backslash before any
// other byte stays.
func unescape(v, escapable string) string {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && strings.IndexByte(escapable, v[i+1]) >= 0 {
			i++
		}
		b = append(b, v[i])
	}
	return string(b)
}

// trimSpaceLeft cuts spaces and tabs from the start of s.
func trimSpaceLeft(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// asciiEqualFold reports whether s equals the lower-case ASCII word t, ignoring case.
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != t[i] {
			return false
		}
	}
	return true
}

// keyCache interns the keys of fields whose names a source chooses (FortiGate key=value,
// CEF extensions, RFC 5424 structured data), all under one prefix, so that a stream of records
// with the same few dozen names costs no allocation. It is per decoder, and so per stream; it
// stops growing at a bound, so a hostile stream cannot make it large.
//
// A small table in front of the map answers most lookups: it is indexed by a hash of a few
// bytes of the name and compares the key found there with the name, so a hit costs neither
// joining prefix and name nor hashing the whole key, which the map did for every field and
// which was most of the time of a FortiGate line.
type keyCache struct {
	prefix string
	hot    *[keyCacheHot]event.Key // nil until first used, so caches never used cost nothing
	m      map[string]event.Key
	buf    []byte
}

const (
	keyCacheMax     = 4096
	keyCacheHotBits = 10 // 1024 slots (8 KiB) in sets of two: many times the keys of one FortiGate line
	keyCacheHot     = 1 << keyCacheHotBits
)

// key returns the interned key prefix+name, or prefix+name+"."+sub when sub is not empty.
func (c *keyCache) key(name, sub string) event.Key {
	if c.hot == nil {
		c.hot = new([keyCacheHot]event.Key)
	}
	// Two ways per set, so that two names of a line that share a set do not evict each other.
	i := hotIndex(name, sub) &^ 1
	set := c.hot[i : i+2 : i+2]
	if c.is(set[0], name, sub) {
		return set[0]
	}
	if c.is(set[1], name, sub) {
		set[0], set[1] = set[1], set[0] // the most recent first
		return set[0]
	}
	k := c.slow(name, sub)
	set[0], set[1] = k, set[0]
	return k
}

// is reports whether k is the key of name and sub. Every key in the cache starts with its
// prefix, so only the rest is compared.
func (c *keyCache) is(k event.Key, name, sub string) bool {
	if k == (event.Key{}) {
		return false
	}
	s := k.String()[len(c.prefix):]
	if sub == "" {
		return s == name
	}
	return len(s) == len(name)+1+len(sub) && s[len(name)] == '.' && s[len(name)+1:] == sub && s[:len(name)] == name
}

// hotIndex hashes the lengths and the first, middle and last bytes of name and sub: enough to
// tell apart the names of one source, and far cheaper than hashing them whole. Collisions
// only cost a trip to the map.
func hotIndex(name, sub string) uint64 {
	h := uint64(len(name))<<16 ^ uint64(len(sub))<<24
	if n := len(name); n > 0 {
		h ^= uint64(name[0]) ^ uint64(name[n/2])<<8 ^ uint64(name[n-1])<<32
	}
	if n := len(sub); n > 0 {
		h ^= uint64(sub[0])<<40 ^ uint64(sub[n-1])<<48
	}
	h *= 0x9E3779B97F4A7C15 // Fibonacci hashing: spread the bits, and take the top ones
	return h >> (64 - keyCacheHotBits)
}

// slow looks the key up in the map, or interns it.
func (c *keyCache) slow(name, sub string) event.Key {
	c.buf = append(append(c.buf[:0], c.prefix...), name...)
	if sub != "" {
		c.buf = append(append(c.buf, '.'), sub...)
	}
	if k, ok := c.m[string(c.buf)]; ok {
		return k
	}
	s := string(c.buf)
	k := event.K(s)
	if c.m == nil {
		c.m = make(map[string]event.Key)
	}
	if len(c.m) < keyCacheMax {
		c.m[s] = k
	}
	return k
}
