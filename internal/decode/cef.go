package decode

import (
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// CEF, ArcSight's Common Event Format (Micro Focus, "Implementing ArcSight CEF", revision 25):
//
//	CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|Extension
//
// In the header a pipe or backslash in a value is escaped with a backslash. The extension is
// key=value pairs separated by spaces, where a value may itself hold spaces and runs until the
// next " key="; in it "=", "\" and line ends are escaped (\=, \\, \n, \r).

// Keys of the CEF header fields.
var (
	cefKeyVersion  = event.K("cef.version")
	cefKeyVendor   = event.K("observer.vendor")
	cefKeyProduct  = event.K("observer.product")
	cefKeyDevVer   = event.K("observer.version")
	cefKeyClassID  = event.K("event.code")
	cefKeyName     = event.K("cef.name")
	cefKeySeverity = event.K("cef.severity")
	cefKeyEnd      = event.K("event.end")
	cefKeyShost    = event.K("source.domain")
	cefKeyDhost    = event.K("destination.domain")
)

// cef decodes the CEF record s, which starts with "CEF:", into e.
func (d *textDecoder) cef(e *event.Event, s string) error {
	e.Format = "cef"
	e.Dataset = "cef"
	s = s[len("CEF:"):]
	var hdr [7]string
	for i := range hdr {
		end, escaped := indexUnescaped(s, '|')
		if end < 0 {
			return failAs("cef", ReasonSyntax, "CEF header has fewer than 7 fields")
		}
		v := s[:end]
		if escaped {
			v = cefUnescape(v, false)
		}
		hdr[i] = v
		s = s[end+1:]
	}
	if _, ok := parseUint(strings.TrimSpace(hdr[0])); !ok {
		return failAs("cef", ReasonSyntax, "CEF version is not a number: "+quoteShort(hdr[0]))
	}
	e.Add(cefKeyVersion, hdr[0])
	e.Add(cefKeyVendor, hdr[1])
	e.Add(cefKeyProduct, hdr[2])
	e.Add(cefKeyDevVer, hdr[3])
	e.Add(cefKeyClassID, hdr[4])
	e.Add(cefKeyName, hdr[5])
	e.Add(cefKeySeverity, hdr[6])
	e.Message = hdr[5]
	return d.cefExtension(e, s)
}

// cefExtension decodes the key=value pairs of a CEF extension.
func (d *textDecoder) cefExtension(e *event.Event, s string) error {
	var suser, duser string
	s = trimSpaceLeft(s)
	for s != "" {
		i := 0
		for i < len(s) && keyByte(s[i]) {
			i++
		}
		if i == 0 || i == len(s) || s[i] != '=' {
			return failAs("cef", ReasonSyntax, "want key=value in CEF extension at "+quoteShort(s))
		}
		key := s[:i]
		// The value runs to the space before the next key=: scan once, remembering the last
		// space and whether only key bytes followed it.
		vs := s[i+1:]
		end, next := len(vs), len(vs)
		lastSpace, keyOK, escaped := -1, false, false
		for j := 0; j < len(vs); j++ {
			c := vs[j]
			switch {
			case c == '\\':
				escaped, keyOK = true, false
				j++
			case c == ' ':
				lastSpace, keyOK = j, true
			case c == '=':
				if keyOK && lastSpace >= 0 && j > lastSpace+1 {
					end, next = lastSpace, lastSpace+1
					j = len(vs)
				}
				keyOK = false
			case !keyByte(c):
				keyOK = false
			}
		}
		v := trimSpaceRight(vs[:end])
		if next < len(vs) {
			s = vs[next:]
		} else {
			s = ""
		}
		if escaped {
			v = cefUnescape(v, true)
		}
		switch key {
		case "suser":
			suser = v
			e.Add(d.cefKeys.key(key, ""), v)
			continue
		case "duser":
			duser = v
			e.Add(d.cefKeys.key(key, ""), v)
			continue
		}
		if !d.cefCommon(e, key, v) {
			e.Add(d.cefKeys.key(key, ""), v)
		}
	}
	// The source user acts; a destination user alone is the account acted on, as in a logon.
	if suser != "" {
		e.User = suser
	} else {
		e.User = duser
	}
	return nil
}

// cefCommon fills a typed field from the extension key=v and reports whether it did.
func (d *textDecoder) cefCommon(e *event.Event, key, v string) bool {
	switch key {
	case "src", "c6a2":
		ip, ok := parseAddr(v)
		e.SrcIP = ip
		return ok
	case "dst", "c6a3":
		ip, ok := parseAddr(v)
		e.DstIP = ip
		return ok
	case "spt":
		p, ok := parsePort(v)
		e.SrcPort = p
		return ok
	case "dpt":
		p, ok := parsePort(v)
		e.DstPort = p
		return ok
	case "proto":
		e.Protocol = cefProto(v)
		return true
	case "act":
		e.Action = v
		return true
	case "outcome":
		switch strings.ToLower(strings.TrimPrefix(v, "/")) {
		case "success":
			e.Outcome = event.OutcomeSuccess
		case "failure":
			e.Outcome = event.OutcomeFailure
		default:
			return false
		}
		return true
	case "rt":
		t, ok := d.cefTime(v, e.Received)
		if ok {
			e.Time = t
		}
		return ok
	case "start":
		t, ok := d.cefTime(v, e.Received)
		if ok && e.Time.IsZero() {
			e.Time = t
		}
		return false // kept as cef.start too: rt, when it comes later, wins the @timestamp
	case "end":
		if _, ok := d.cefTime(v, e.Received); ok {
			e.Add(cefKeyEnd, v)
			return true
		}
		return false
	case "in":
		n, ok := parseUint(v)
		e.BytesIn = n
		return ok
	case "out":
		n, ok := parseUint(v)
		e.BytesOut = n
		return ok
	case "dvchost":
		if !hostLike(v) {
			return false // kept as cef.dvchost
		}
		e.Host = v
		return true
	case "shost":
		e.Add(cefKeyShost, v)
		return true
	case "dhost":
		e.Add(cefKeyDhost, v)
		return true
	}
	return false
}

// cefProto names the transport for network.transport: CEF gives a name (TCP) or a number.
func cefProto(v string) string {
	switch {
	case asciiEqualFold(v, "tcp"):
		return "tcp"
	case asciiEqualFold(v, "udp"):
		return "udp"
	case asciiEqualFold(v, "icmp"):
		return "icmp"
	}
	return protoName(v)
}

// cefTime reads a CEF timestamp: milliseconds since 1970, "MMM dd yyyy HH:mm:ss[.SSS] [zone]",
// "MMM dd HH:mm:ss[.SSS] [zone]", or RFC 3339.
func (d *textDecoder) cefTime(v string, received time.Time) (time.Time, bool) {
	if n, ok := parseUint(v); ok {
		if len(v) <= 10 {
			return time.Unix(int64(n), 0), true
		}
		return time.UnixMilli(int64(n)), true
	}
	loc := d.opts.location()
	if t, n, ok := parseISOTime(v, loc); ok && n == len(v) {
		return t, true
	}
	ts, n, ok := parseBSDTime(v)
	if !ok {
		return time.Time{}, false
	}
	zone := trimSpaceLeft(v[n:])
	if zone == "" {
		return ts.time(d.opts, received)
	}
	off, ok := parseOffset(zone)
	if !ok {
		return time.Time{}, false
	}
	opts := d.opts
	opts.Location = time.UTC
	t, ok := ts.time(opts, received)
	return t.Add(-off), ok
}

// cefUnescape undoes CEF escaping: \| \\ in the header; \= \\ \n \r in the extension.
func cefUnescape(v string, ext bool) string {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			c = v[i]
			if ext {
				switch c {
				case 'n':
					c = '\n'
				case 'r':
					c = '\r'
				}
			}
		}
		b = append(b, c)
	}
	return string(b)
}
