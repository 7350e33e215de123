package decode

import (
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// Yamaha RTX routers log their IP filters' verdicts and stateful inspection so:
//
//	PP[01] Rejected at IN(1011) filter: TCP 198.51.100.7:51234 > 203.0.113.1:23
//	[INSPECT] PP[01][out][101099] TCP 192.168.100.2:50000 > 198.51.100.5:443 (2015/04/24 12:01:34)
//
// after their own timestamp (2015/04/24 12:01:34:) or a syslog header. The interface is
// PP[nn], LAN<n> or TUNNEL[n]; the number in parentheses is the filter's. No Yamaha message
// reference was at hand: the shapes are those the router writes and public log parsers read,
// and only these two are decoded (docs/field-maps.md).

// yamahaLooksLike reports whether s is a filter or inspection line.
func yamahaLooksLike(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '[':
		return strings.HasPrefix(s, "[INSPECT] ")
	case 'P', 'L', 'T':
		w, rest := cutWord(s)
		return yamahaInterface(w) && (strings.HasPrefix(rest, "Rejected at ") || strings.HasPrefix(rest, "Passed at "))
	}
	return false
}

// yamahaInterface reports whether w names an RTX interface: PP[01], TUNNEL[1], LAN2.
func yamahaInterface(w string) bool {
	switch {
	case strings.HasPrefix(w, "PP[") || strings.HasPrefix(w, "TUNNEL["):
		return strings.HasSuffix(w, "]")
	case strings.HasPrefix(w, "LAN"):
		return len(w) > 3 && allDigits(w[3:])
	}
	return false
}

var yamahaKeyFilter = event.K("yamaha.filter")

// yamaha decodes the RTX filter or inspection line s into e.
func (d *textDecoder) yamaha(e *event.Event, s string) error {
	e.Format, e.Dataset = "yamaha", "yamaha.rtx"
	hostname := e.Host
	e.Host, e.Process, e.PID = "", "", 0
	observer(e, "Yamaha", "RTX", "router")
	if hostname != "" {
		e.Add(keyObserverHostname, hostname)
	}
	e.Message = s
	var iface, dir, filter, flow string
	allowed := false
	if rest, ok := strings.CutPrefix(s, "[INSPECT] "); ok {
		// PP[01][out][101099] TCP A:P > B:P (time)
		w, r := cutWord(rest)
		i := strings.IndexByte(w, '[')
		if strings.HasPrefix(w, "PP[") || strings.HasPrefix(w, "TUNNEL[") {
			i = strings.IndexByte(w, ']') + 1
		}
		if i <= 0 {
			return failAs("yamaha", ReasonSyntax, "want IF[dir][filter] in "+quoteShort(s))
		}
		parts := strings.Split(strings.Trim(w[i:], "[]"), "][")
		if len(parts) != 2 {
			return failAs("yamaha", ReasonSyntax, "want IF[dir][filter] in "+quoteShort(s))
		}
		iface, dir, filter = w[:i], parts[0], parts[1]
		flow, allowed = r, true // inspection logs a session the filters let through
	} else {
		// IF Rejected|Passed at IN|OUT(filter) filter: PROTO A:P > B:P
		w, r := cutWord(s)
		verdict, r := cutWord(r)
		iface, allowed = w, verdict == "Passed"
		at, ok := strings.CutPrefix(r, "at ")
		if !ok {
			return failAs("yamaha", ReasonSyntax, "want \"at IN(n) filter:\" in "+quoteShort(s))
		}
		where, r, ok := strings.Cut(at, " filter: ")
		if !ok {
			return failAs("yamaha", ReasonSyntax, "want \"filter:\" in "+quoteShort(s))
		}
		dir, filter, _ = strings.Cut(strings.TrimSuffix(where, ")"), "(")
		dir = asciiLower(dir)
		flow = r
	}
	proto, flow := cutWord(flow)
	src, flow := cutWord(flow)
	arrow, flow := cutWord(flow)
	dst, _ := cutWord(flow)
	if arrow != ">" {
		return failAs("yamaha", ReasonSyntax, "want \"SRC > DST\" in "+quoteShort(s))
	}
	sa, sp := yamahaAddrPort(src)
	da, dp := yamahaAddrPort(dst)
	setSrc(e, sa, sp)
	setDst(e, da, dp)
	e.Protocol = asciiLower(proto)
	if dir == "in" {
		e.Add(keyIngressInterface, iface)
	} else {
		e.Add(keyEgressInterface, iface)
	}
	if filter != "" {
		e.Add(yamahaKeyFilter, filter)
		e.Add(keyRuleID, filter)
	}
	e.Category, e.Action = catNetwork, actTraffic
	if allowed {
		setVerdict(e, true, typeConnection)
	} else {
		setVerdict(e, false, typeConnection)
	}
	return nil
}

// yamahaAddrPort reads "198.51.100.7:51234", or an address alone (ICMP).
func yamahaAddrPort(s string) (string, uint16) {
	if _, ok := parseAddr(s); ok {
		return s, 0
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		p, _ := parsePort(s[i+1:])
		return s[:i], p
	}
	return s, 0
}
