package decode

import (
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// WatchGuard Fireboxes (Fireware 12) send syslog whose message starts with a message id of
// the Fireware Log Catalog, after the Firebox's serial number and its time in UTC when the
// syslog settings include them:
//
//	<142>May 10 15:19:05 fb01 FVE6035FD3AE3 (2024-05-10T09:49:05) firewall: msg_id="3000-0148" Deny 1-Trusted 0-External 52 tcp 20 128 10.0.1.2 203.0.113.80 52643 443 ... (Outgoing-00)
//
// Traffic lines give the disposition, the interfaces, optionally the packet length, protocol,
// header length and TTL, the addresses and ports, then key="value" details, and the policy in
// parentheses. The field map is in docs/field-maps.md.

// wgBody returns the part of e's message from msg_id= on, and the serial number and UTC time
// before it, when e's message is a WatchGuard one.
func wgBody(e *event.Event) (body, serial, stamp string, ok bool) {
	msg := e.Message
	if strings.HasPrefix(msg, `msg_id="`) {
		return msg, "", "", true // the tag (firewall[10]:) was read by the header
	}
	// SERIAL (YYYY-MM-DDThh:mm:ss) process[pid]: msg_id="...", which the header takes for no
	// tag; the serial is one word, which spares other messages any search.
	if e.Process != "" {
		return "", "", "", false
	}
	i := strings.IndexByte(msg, ' ')
	if i < 6 || i > 20 || len(msg) < i+23 || msg[i+1] != '(' {
		return "", "", "", false
	}
	rest := msg[i+2:]
	if rest[19] != ')' || rest[4] != '-' || rest[10] != 'T' {
		return "", "", "", false
	}
	serial, stamp, rest = msg[:i], rest[:19], rest[21:]
	j := strings.Index(rest, `: msg_id="`)
	if j < 0 || j > 32 {
		return "", "", "", false
	}
	return rest[j+2:], serial, stamp, true
}

var (
	wgKeyMsgID  = event.K("watchguard.msg_id")
	wgKeyPolicy = event.K("watchguard.policy")
	wgKeyAuth   = event.K("watchguard.auth_server")
)

// watchguard decodes the WatchGuard message body s (from msg_id= on) into e.
func (d *textDecoder) watchguard(e *event.Event, s, serial, stamp string) error {
	e.Format, e.Dataset = "watchguard", "watchguard.firebox"
	hostname := e.Host
	e.Host, e.Process, e.PID = "", "", 0
	observer(e, "WatchGuard", "Firebox", "firewall")
	if hostname != "" {
		e.Add(keyObserverHostname, hostname)
	}
	if serial != "" {
		e.Add(keyObserverSerial, serial)
	}
	if stamp != "" {
		// The Firebox's own time, in UTC, which the syslog header's local time only repeats.
		t, n, ok := parseISOTime(stamp+"Z", d.opts.location())
		if !ok || n != len(stamp)+1 {
			return failAs("watchguard", ReasonTimestamp, "bad time "+quoteShort(stamp))
		}
		e.Time = t
	}
	rest := s[len(`msg_id="`):]
	id, rest, ok := strings.Cut(rest, `"`)
	if !ok || len(id) != 9 || id[4] != '-' {
		return failAs("watchguard", ReasonSyntax, "bad msg_id in "+quoteShort(s))
	}
	e.Add(keyEventCode, id)
	e.Add(wgKeyMsgID, id)
	rest = trimSpaceLeft(rest)
	e.Message = rest
	verdict, _ := cutWord(rest)
	switch {
	case verdict == "Allow" || verdict == "Deny":
		wgTraffic(e, rest)
	case strings.HasPrefix(rest, "Authentication of "):
		wgAuth(e, rest)
		e.Host = hostname
	case strings.HasPrefix(rest, "Management user ") || strings.HasPrefix(rest, "WSM User "):
		wgAdmin(e, rest)
		e.Host = hostname
	}
	return nil
}

// wgTraffic reads "Allow|Deny SRCIF DSTIF [LEN] PROTO [HDRLEN TTL] SRC DST [SPORT DPORT] ... (POLICY)".
func wgTraffic(e *event.Event, s string) {
	verdict, s := cutWord(s)
	srcIf, s := cutWord(s)
	dstIf, s := cutWord(s)
	w, s := cutWord(s)
	proto := w
	if allDigits(w) { // the packet's length, then protocol, header length, TTL
		proto, s = cutWord(s)
		_, s = cutWord(s)
		_, s = cutWord(s)
	}
	src, s := cutWord(s)
	dst, s := cutWord(s)
	var sport, dport uint16
	// Ports for TCP and UDP; ICMP gives its type and code in their place.
	if p, ok := parsePort(firstWord(s)); ok && (proto == "tcp" || proto == "udp" || proto == "TCP" || proto == "UDP") {
		sport = p
		_, s = cutWord(s)
		if p, ok := parsePort(firstWord(s)); ok {
			dport = p
			_, s = cutWord(s)
		}
	}
	e.Add(keyIngressInterface, srcIf)
	e.Add(keyEgressInterface, dstIf)
	e.Protocol = asciiLower(proto)
	setSrc(e, src, sport)
	setDst(e, dst, dport)
	// Details: key="value" pairs among flags; the policy last, in parentheses.
	if i := strings.LastIndex(s, " ("); i >= 0 && strings.HasSuffix(s, ")") {
		e.Add(wgKeyPolicy, s[i+2:len(s)-1])
		e.Add(keyRuleName, s[i+2:len(s)-1])
	} else if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		e.Add(keyRuleName, s[1:len(s)-1])
	}
	if v, ok := textBetween(s, `src_user="`, `"`); ok {
		setUser(e, v)
	}
	if v, ok := textBetween(s, `dstname="`, `"`); ok {
		e.Add(keyURLDomain, v)
	} else if v, ok := textBetween(s, ` host="`, `"`); ok {
		e.Add(keyURLDomain, v)
	}
	if v, ok := textBetween(s, `sent_bytes="`, `"`); ok {
		e.BytesOut, _ = parseUint(v)
	}
	if v, ok := textBetween(s, `rcvd_bytes="`, `"`); ok {
		e.BytesIn, _ = parseUint(v)
	}
	if v, ok := textBetween(s, `msg="`, `"`); ok {
		e.Add(keyEventReason, v)
	}
	e.Category, e.Action = catNetwork, actTraffic
	if verdict == "Allow" {
		setVerdict(e, true, typeConnection)
	} else {
		setVerdict(e, false, typeConnection)
	}
}

func firstWord(s string) string {
	w, _ := cutWord(s)
	return w
}

// wgAuth reads "Authentication of <kind> user [name@server] from ADDR was accepted" and
// "... was rejected, <reason>".
func wgAuth(e *event.Event, s string) {
	kind, _ := textBetween(s, "Authentication of ", " [")
	if who, ok := textBetween(s, "[", "]"); ok {
		name, server, _ := strings.Cut(who, "@")
		setUser(e, name)
		if server != "" {
			e.Add(wgKeyAuth, server)
		}
	}
	if a, ok := textBetween(s, "] from ", " "); ok {
		setSrc(e, a, 0)
	}
	act := actUserLogin
	if k := strings.ToLower(kind); strings.Contains(k, "vpn") || strings.Contains(k, "ikev2") || strings.Contains(k, "l2tp") {
		act = actVPNLogin
	}
	switch {
	case strings.Contains(s, " was accepted"):
		e.Category, e.Action, e.Outcome = catAuthentication, act, event.OutcomeSuccess
		addTypes(e, typeStart, typeAllowed)
	case strings.Contains(s, " was rejected"):
		e.Category, e.Action, e.Outcome = catAuthentication, act, event.OutcomeFailure
		if r, ok := textBetween(s, "was rejected, ", ""); ok {
			e.Add(keyEventReason, r)
		}
		addTypes(e, typeStart, typeDenied)
	}
}

// wgAdmin reads "Management user admin from ADDR logged in|logged out|log in attempt was
// rejected." and "WSM User admin@Firebox-DB from ADDR log in attempt was rejected - ...".
func wgAdmin(e *event.Event, s string) {
	rest := strings.TrimPrefix(strings.TrimPrefix(s, "Management user "), "WSM User ")
	who, rest := cutWord(rest)
	name, server, _ := strings.Cut(who, "@")
	setUser(e, name)
	if server != "" {
		e.Add(wgKeyAuth, server)
	}
	if a, ok := textBetween(rest, "from ", " "); ok {
		setSrc(e, a, 0)
	}
	switch {
	case strings.Contains(rest, "log in attempt was rejected"):
		e.Category, e.Action, e.Outcome = catAuthentication, actAdminLogin, event.OutcomeFailure
		addTypes(e, typeStart, typeDenied)
	case strings.HasSuffix(rest, "logged in"):
		e.Category, e.Action, e.Outcome = catAuthentication, actAdminLogin, event.OutcomeSuccess
		addTypes(e, typeStart, typeAllowed)
	case strings.HasSuffix(rest, "logged out"):
		e.Category, e.Action, e.Outcome = catSession, actAdminLogout, event.OutcomeSuccess
		addTypes(e, typeEnd)
	}
}
