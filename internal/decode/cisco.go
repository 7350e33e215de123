package decode

import (
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// Cisco devices write one message per line, with a mnemonic that says what it is:
//
//	%ASA-4-106023: Deny tcp src outside:198.51.100.10/4312 dst inside:192.0.2.5/80 by access-group "outside_access_in" [0x0, 0x0]
//	%SEC_LOGIN-4-LOGIN_FAILED: Login failed [user: admin] [Source: 192.0.2.7] [localport: 22] [Reason: Login Authentication Failed] at 10:20:30 UTC Mon May 1 2024
//
// ASA and FTD (Cisco Secure Firewall ASA Series Syslog Messages) write %ASA-<severity>-<id> or
// %FTD-..., with a six-digit message id; IOS and IOS XE (the System Message Guide) write
// %FACILITY-SEVERITY-MNEMONIC. Before the mnemonic may come, in any combination, the device's
// host name or address, a sequence number ("6705:"), and the device's own timestamp, marked
// "*" when its clock is not set ("*Mar  1 18:46:11.123 UTC:"). The syslog decoder hands the
// whole line from the first of these on to cisco, which reads them, the mnemonic, and for the
// messages of the field map (docs/field-maps.md) the text that follows.

// ciscoLooksLike reports whether s, a message body, is a Cisco message: it holds a mnemonic
// near its start, preceded only by what Cisco puts before one. Lines without a '%' in their
// first bytes (nearly all others) pay one IndexByte for the test.
func ciscoLooksLike(s string) bool {
	head := s[:min(len(s), 128)]
	i := strings.IndexByte(head, '%')
	if i < 0 {
		return false
	}
	if _, _, _, _, ok := ciscoMnemonic(s[i:]); !ok {
		return false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == ' ' || c == ':' || c == '.' || c == '*' || c == '-' || c == '_' || c == '+') {
			return false
		}
	}
	return true
}

// ciscoMnemonic reads "%FACILITY[-suffix]-SEVERITY-MNEMONIC:" at the start of s and returns
// its parts and the length read, with the colon.
func ciscoMnemonic(s string) (facility string, severity uint8, mnemonic string, n int, ok bool) {
	if len(s) < 6 || s[0] != '%' {
		return "", 0, "", 0, false
	}
	i := 1
	for i < len(s) && (s[i] >= 'A' && s[i] <= 'Z' || isDigit(s[i]) || s[i] == '_') {
		i++
	}
	if i == 1 || i >= len(s) || s[i] != '-' || isDigit(s[1]) {
		return "", 0, "", 0, false
	}
	facility = s[1:i]
	i++
	// FTD may name a kind between facility and severity: %FTD-session-6-...
	if j := i; j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
		for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] == '_') {
			j++
		}
		if j >= len(s) || s[j] != '-' {
			return "", 0, "", 0, false
		}
		i = j + 1
	}
	if i+2 >= len(s) || s[i] < '0' || s[i] > '7' || s[i+1] != '-' {
		return "", 0, "", 0, false
	}
	severity = s[i] - '0'
	i += 2
	start := i
	for i < len(s) && (s[i] >= 'A' && s[i] <= 'Z' || isDigit(s[i]) || s[i] == '_') {
		i++
	}
	if i == start || i >= len(s) || s[i] != ':' {
		return "", 0, "", 0, false
	}
	return facility, severity, s[start:i], i + 1, true
}

var (
	ciscoKeyFacility  = event.K("cisco.ios.facility")
	ciscoKeyUptime    = event.K("cisco.ios.uptime")
	ciscoKeyConnID    = event.K("cisco.asa.connection_id")
	ciscoKeyCommand   = event.K("cisco.ios.command")
	ciscoKeyClockNote = event.K("cisco.clock_unsynchronized")
)

// cisco decodes the Cisco message s into e.
func (d *textDecoder) cisco(e *event.Event, s string) error {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return failAs("cisco", ReasonSyntax, "no %FACILITY-SEVERITY-MNEMONIC: in "+quoteShort(s))
	}
	if err := d.ciscoPrefix(e, s[:i]); err != nil {
		return err
	}
	facility, severity, mnemonic, n, ok := ciscoMnemonic(s[i:])
	if !ok {
		return failAs("cisco", ReasonSyntax, "bad mnemonic in "+quoteShort(s[i:]))
	}
	msg := trimSpaceRight(trimSpaceLeft(s[i+n:]))
	e.Message = msg
	e.Severity = severity
	e.Process, e.PID = "", 0 // what a syslog header took for a tag is the mnemonic, not a process
	e.Add(keyEventCode, mnemonic)
	// The device is the observer of the traffic it passes and the host of its own events
	// (logins to it, its configuration); see fgCommon for why the two differ.
	hostname := e.Host
	e.Host = ""
	if hostname != "" {
		e.Add(keyObserverHostname, hostname)
	}
	switch facility {
	case "ASA", "FTD", "PIX", "FWSM":
		product := facility
		if product == "FWSM" || product == "PIX" {
			product = "ASA"
		}
		e.Format, e.Dataset = "cisco", "cisco."+strings.ToLower(product)
		observer(e, "Cisco", product, "firewall")
		if own := asaMessage(e, mnemonic, msg); own {
			e.Host = hostname
		}
	default:
		e.Format, e.Dataset = "cisco", "cisco.ios"
		observer(e, "Cisco", "IOS", "")
		e.Add(ciscoKeyFacility, facility)
		if own := iosMessage(e, facility, mnemonic, msg); own {
			e.Host = hostname
		}
	}
	return nil
}

// ciscoPrefix reads what comes before the mnemonic: a host, a sequence number, an uptime or
// a timestamp, each at most once, in the orders IOS and ASA write them, and separators.
func (d *textDecoder) ciscoPrefix(e *event.Event, s string) error {
	var seq, stamp, host bool
	for {
		s = trimSpaceLeft(s)
		for s != "" && s[0] == ':' {
			s = trimSpaceLeft(s[1:])
		}
		if s == "" {
			return nil
		}
		w, rest := cutWord(s)
		switch {
		case !stamp && (s[0] == '*' || s[0] == '.' || monthOf0(s) != 0):
			unsynced := s[0] == '*' || s[0] == '.'
			t := s
			if unsynced {
				t = s[1:]
			}
			ts, n, ok := parseBSDTime(t)
			if !ok {
				return failAs("cisco", ReasonTimestamp, "unreadable timestamp "+quoteShort(t))
			}
			stamp = true
			s = t[n:]
			// A clock that was never set says 1993; the syslog header's time, taken when
			// the line was sent, is then the better one.
			if unsynced {
				e.Add(ciscoKeyClockNote, "true")
				if !e.Time.IsZero() {
					continue
				}
			}
			tt, ok := ts.time(d.opts, e.Received)
			if !ok {
				return failAs("cisco", ReasonTimestamp, "date out of range: "+quoteShort(t[:n]))
			}
			e.Time = tt
		case !seq && !stamp && len(w) > 1 && w[len(w)-1] == ':' && allDigits(w[:len(w)-1]):
			seq = true
			e.Add(keyEventSequence, w[:len(w)-1])
			s = rest
		case !stamp && uptimeLike(w):
			stamp = true
			e.Add(ciscoKeyUptime, strings.TrimSuffix(w, ":"))
			s = rest
		case !host && !seq && !stamp && hostLike(strings.TrimSuffix(w, ":")):
			host = true
			e.Host = strings.TrimSuffix(w, ":")
			s = rest
		default:
			return failAs("cisco", ReasonSyntax, "unexpected "+quoteShort(w)+" before the mnemonic")
		}
	}
}

// monthOf0 is monthOf for a switch: 0 when s does not start with a month followed by a space.
func monthOf0(s string) int {
	if m, ok := monthOf(s); ok && len(s) > 3 && s[3] == ' ' {
		return m
	}
	return 0
}

// uptimeLike reports whether w is the uptime IOS writes when it has no clock: "00:01:23:" or
// "1w2d:".
func uptimeLike(w string) bool {
	w = strings.TrimSuffix(w, ":")
	if len(w) < 2 || !isDigit(w[0]) {
		return false
	}
	colons, letters := 0, 0
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case isDigit(c):
		case c == ':':
			colons++
		case c == 'w' || c == 'd' || c == 'h' || c == 'y':
			letters++
		default:
			return false
		}
	}
	return colons == 2 && letters == 0 || colons == 0 && letters > 0
}

// iosAddrPort reads "address(port)" as IOS access-list logs write an end.
func iosAddrPort(s string) (string, uint16) {
	if i := strings.IndexByte(s, '('); i > 0 && strings.HasSuffix(s, ")") {
		p, _ := parsePort(s[i+1 : len(s)-1])
		return s[:i], p
	}
	return s, 0
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// ciscoEnds sets both ends of a connection, interface:address/port each, from the words
// after from (the source) and after to (the destination) in rest.
func ciscoEnds(e *event.Event, rest, from, to string) {
	if w, ok := textBetween(rest, from, " "); ok {
		if iface, a, p, ok := ciscoEndpoint(w); ok {
			e.Add(keyIngressInterface, iface)
			setSrc(e, a, p)
		}
	}
	if w, ok := textBetween(rest, to, " "); ok {
		if iface, a, p, ok := ciscoEndpoint(w); ok {
			e.Add(keyEgressInterface, iface)
			setDst(e, a, p)
		}
	}
}

// ciscoEndpoint reads "interface:address[/port]" as ASA writes each end of a connection.
func ciscoEndpoint(s string) (iface, addr string, port uint16, ok bool) {
	c := strings.LastIndexByte(s, ':')
	if c <= 0 {
		return "", "", 0, false
	}
	iface, rest := s[:c], s[c+1:]
	// An IPv6 address has colons of its own; the interface name ends at the first colon
	// that is followed by an address.
	if k := strings.IndexByte(s, ':'); k > 0 {
		if _, ok := parseAddr(cutPort(s[k+1:])); ok {
			iface, rest = s[:k], s[k+1:]
		}
	}
	addr = rest
	if k := strings.IndexByte(rest, '/'); k >= 0 {
		addr = rest[:k]
		p, ok := parsePort(rest[k+1:])
		if !ok {
			return "", "", 0, false
		}
		port = p
	}
	if addr == "" || iface == "" {
		return "", "", 0, false
	}
	return iface, addr, port, true
}

func cutPort(s string) string {
	if k := strings.IndexByte(s, '/'); k >= 0 {
		return s[:k]
	}
	return s
}

// ciscoAddrPort reads "address/port" (a mapped address in parentheses, without them).
func ciscoAddrPort(s string) (addr string, port uint16) {
	if k := strings.IndexByte(s, '/'); k >= 0 {
		p, _ := parsePort(s[k+1:])
		return s[:k], p
	}
	return s, 0
}

// setSrc and setDst fill one end of a connection; a name where an address would be is kept
// as source.domain or destination.domain.
func setSrc(e *event.Event, addr string, port uint16) {
	if ip, ok := parseAddr(addr); ok {
		e.SrcIP = ip
	} else if addr != "" {
		e.Add(authKeyDomain, addr)
	}
	e.SrcPort = port
}

func setDst(e *event.Event, addr string, port uint16) {
	if ip, ok := parseAddr(addr); ok {
		e.DstIP = ip
	} else if addr != "" {
		e.Add(keyDstDomain, addr)
	}
	e.DstPort = port
}

// setUser sets the user of an event from a name as firewalls write it: "LOCAL\jdoe",
// "EXAMPLE\jdoe" (the domain goes to user.domain), "jdoe@example.jp", or "*****" when the ASA
// hides a name that failed (so that a password typed as a name is not logged), which names no
// one. Every vendor decoder sets its user through it.
func setUser(e *event.Event, u string) {
	u = strings.TrimSpace(u)
	if u == "" || strings.Trim(u, "*") == "" {
		return
	}
	if i := strings.IndexByte(u, '\\'); i > 0 {
		if dom := u[:i]; dom != "LOCAL" {
			e.Add(keyUserDomain, dom)
		}
		u = u[i+1:]
	}
	e.User = u
}

// textBetween returns what lies in s between after and the next until (or the end of s when
// until is ""), and whether after was found.
func textBetween(s, after, until string) (string, bool) {
	i := strings.Index(s, after)
	if i < 0 {
		return "", false
	}
	s = s[i+len(after):]
	if until == "" {
		return s, true
	}
	if j := strings.Index(s, until); j >= 0 {
		return s[:j], true
	}
	return s, true
}

// asaGroupUserIP reads "Group <g> User <u> IP <a>" (brackets optional, spaces inside them
// allowed) at the start of s, as the VPN messages begin, and returns the rest.
func asaGroupUserIP(e *event.Event, s string) (string, bool) {
	var vals [3]string
	for i, label := range [3]string{"Group", "User", "IP"} {
		s = trimSpaceLeft(s)
		if !strings.HasPrefix(s, label+" ") {
			return s, false
		}
		s = trimSpaceLeft(s[len(label)+1:])
		if strings.HasPrefix(s, "<") {
			j := strings.IndexByte(s, '>')
			if j < 0 {
				return s, false
			}
			vals[i], s = strings.TrimSpace(s[1:j]), s[j+1:]
		} else {
			vals[i], s = cutWord(s)
			vals[i] = strings.TrimSuffix(vals[i], ",")
		}
	}
	if vals[0] != "" {
		e.Add(keyUserGroup, vals[0])
	}
	setUser(e, vals[1])
	setSrc(e, vals[2], 0)
	return trimSpaceLeft(s), true
}

// asaMessage decodes the text of the ASA and FTD messages of the field map, and reports
// whether the event happens on the firewall itself (a login to it or through its VPN) rather
// than to traffic through it.
func asaMessage(e *event.Event, id, msg string) (own bool) {
	switch id {
	case "106023":
		// Deny protocol src iface:addr[/port] [(user)] dst iface:addr[/port] [(user)]
		// [type N, code N] by access-group "acl" [0x..., 0x...]
		rest, ok := strings.CutPrefix(msg, "Deny ")
		if !ok {
			return false
		}
		proto, rest := cutWord(rest)
		if proto == "protocol" {
			proto, rest = cutWord(rest)
			proto = protoName(proto)
		}
		e.Protocol = strings.ToLower(proto)
		ciscoEnds(e, rest, "src ", " dst ")
		if acl, ok := textBetween(rest, `by access-group "`, `"`); ok {
			e.Add(keyRuleName, acl)
		}
		e.Category, e.Action, e.Outcome = catNetwork, actTraffic, event.OutcomeFailure
		addTypes(e, typeConnection, typeDenied)
	case "302013", "302015":
		asaBuilt(e, msg)
	case "302014", "302016":
		asaTeardown(e, msg)
	case "113004":
		// AAA user authentication Successful : server = 10.1.1.10 : user = jdoe
		// (authorization and accounting succeed in the same words)
		if srv, ok := textBetween(msg, "server = ", " "); ok {
			setDst(e, strings.TrimSuffix(srv, ","), 0)
		}
		if u, ok := textBetween(msg, "ser = ", ""); ok {
			setUser(e, u)
		}
		if strings.HasPrefix(msg, "AAA user authentication") {
			asaLogin(e, actUserLogin, true)
		} else {
			e.Category = catAuthentication
			addTypes(e, typeInfo)
		}
		return true
	case "113005":
		// AAA user authentication Rejected : reason = AAA failure : server = 10.1.1.10 :
		// user = ***** : user IP = 198.51.100.7
		if r, ok := textBetween(msg, "reason = ", " :"); ok {
			e.Add(keyEventReason, r)
		}
		if srv, ok := textBetween(msg, "server = ", " "); ok {
			setDst(e, srv, 0)
		}
		if u, ok := textBetween(msg, ": user = ", " :"); ok {
			setUser(e, u)
		}
		if a, ok := textBetween(msg, "user IP = ", ""); ok {
			setSrc(e, strings.TrimSpace(a), 0)
		}
		asaLogin(e, actUserLogin, false)
		return true
	case "113015":
		// AAA user authentication Rejected : reason = Invalid password : local database :
		// user = admin : user IP = 198.51.100.7
		if r, ok := textBetween(msg, "reason = ", " :"); ok {
			e.Add(keyEventReason, r)
		}
		if u, ok := textBetween(msg, "ser = ", " :"); ok {
			setUser(e, u)
		}
		if a, ok := textBetween(msg, "ser IP = ", ""); ok {
			setSrc(e, strings.TrimSpace(a), 0)
		}
		asaLogin(e, actUserLogin, false)
		return true
	case "605004", "605005":
		// Login denied from 198.51.100.7/51234 to outside:192.0.2.1/ssh for user "admin"
		if from, ok := textBetween(msg, "from ", " "); ok {
			a, p := ciscoAddrPort(from)
			setSrc(e, a, p)
		}
		if to, ok := textBetween(msg, " to ", " "); ok {
			if c := strings.IndexByte(to, ':'); c > 0 {
				e.Add(keyIngressInterface, to[:c])
				a, _ := ciscoAddrPort(to[c+1:])
				setDst(e, a, 0)
				if k := strings.IndexByte(to, '/'); k >= 0 {
					e.Add(keyNetworkProtocol, to[k+1:])
				}
			}
		}
		if u, ok := textBetween(msg, `for user "`, `"`); ok {
			setUser(e, u)
		}
		asaLogin(e, actAdminLogin, id != "605004")
		return true
	case "611101", "611102":
		// User authentication succeeded: IP address: 198.51.100.7, Uname: admin
		if a, ok := textBetween(msg, "IP address: ", ","); ok {
			setSrc(e, strings.TrimSpace(a), 0)
		}
		if u, ok := textBetween(msg, "Uname: ", ""); ok {
			setUser(e, u)
		}
		asaLogin(e, actUserLogin, id != "611102")
		return true
	case "716001", "722022":
		// Group <g> User <u> IP <a> WebVPN session started.
		// Group <g> User <u> IP <a> TCP SVC connection established without compression
		rest, ok := asaGroupUserIP(e, msg)
		if !ok {
			return false
		}
		if id == "722022" {
			if t, _ := cutWord(rest); t == "TCP" || t == "UDP" {
				e.Protocol = strings.ToLower(t)
			}
		}
		e.Category, e.Action, e.Outcome = catAuthentication, actVPNLogin, event.OutcomeSuccess
		addTypes(e, typeConnection, typeStart, typeAllowed)
		return true
	case "716002", "722023":
		// Group <g> User <u> IP <a> WebVPN session terminated: User Requested.
		// Group <g> User <u> IP <a> TCP SVC connection terminated without compression
		rest, ok := asaGroupUserIP(e, msg)
		if !ok {
			return false
		}
		if r, ok := textBetween(rest, "terminated: ", ""); ok {
			e.Add(keyEventReason, strings.TrimSuffix(r, "."))
		}
		if id == "722023" {
			if t, _ := cutWord(rest); t == "TCP" || t == "UDP" {
				e.Protocol = strings.ToLower(t)
			}
		}
		e.Category, e.Action, e.Outcome = catSession, actVPNLogout, event.OutcomeSuccess
		addTypes(e, typeConnection, typeEnd)
		return true
	}
	return false
}

// asaBuilt reads 302013 and 302015:
//
//	Built {inbound|outbound} TCP connection 1234 for outside:203.0.113.80/443 (203.0.113.80/443) to inside:192.168.10.21/50522 (198.51.100.2/50522)
//
// Inbound, the "for" end started the connection; outbound, the "to" end did (the Cisco
// message reference), and that end is the source.
func asaBuilt(e *event.Event, msg string) {
	rest, ok := strings.CutPrefix(msg, "Built ")
	if !ok {
		return
	}
	dir, rest := cutWord(rest)
	proto, rest := cutWord(rest)
	e.Protocol = strings.ToLower(proto)
	if w, r := cutWord(rest); w == "connection" {
		id, r := cutWord(r)
		e.Add(ciscoKeyConnID, id)
		rest = r
	}
	forEnd, ok1 := textBetween(rest, "for ", " to ")
	toEnd, ok2 := textBetween(rest, " to ", "")
	if !ok1 || !ok2 {
		return
	}
	fIface, fAddr, fPort, fMapped, fMPort, okF := asaSide(forEnd)
	tIface, tAddr, tPort, tMapped, tMPort, okT := asaSide(toEnd)
	if !okF || !okT {
		return
	}
	if dir == "outbound" {
		fIface, tIface = tIface, fIface
		fAddr, tAddr = tAddr, fAddr
		fPort, tPort = tPort, fPort
		fMapped, tMapped = tMapped, fMapped
		fMPort, tMPort = tMPort, fMPort
	}
	e.Add(keyIngressInterface, fIface)
	e.Add(keyEgressInterface, tIface)
	setSrc(e, fAddr, fPort)
	setDst(e, tAddr, tPort)
	addNAT(e, keySrcNATIP, keySrcNATPort, fAddr, fMapped, fPort, fMPort)
	addNAT(e, keyDstNATIP, keyDstNATPort, tAddr, tMapped, tPort, tMPort)
	if dir == "inbound" || dir == "outbound" {
		e.Add(keyDirection, dir)
	}
	e.Category, e.Action, e.Outcome = catNetwork, actTraffic, event.OutcomeSuccess
	addTypes(e, typeConnection, typeStart, typeAllowed)
}

// asaSide reads one end of a Built message: "iface:addr/port (mapped/port)[(user)]".
func asaSide(s string) (iface, addr string, port uint16, mapped string, mport uint16, ok bool) {
	w, rest := cutWord(trimSpaceLeft(s))
	iface, addr, port, ok = ciscoEndpoint(w)
	if !ok {
		return
	}
	rest = trimSpaceLeft(rest)
	if strings.HasPrefix(rest, "(") {
		if j := strings.IndexByte(rest, ')'); j > 0 {
			mapped, mport = ciscoAddrPort(rest[1:j])
		}
	}
	return iface, addr, port, mapped, mport, true
}

// asaTeardown reads 302014 and 302016:
//
//	Teardown TCP connection 1234 for outside:203.0.113.80/443 to inside:192.168.10.21/50522 duration 0:00:31 bytes 103530 TCP FINs
//
// A teardown does not say which end started the connection; like Elastic's integration, the
// "for" end is the source.
func asaTeardown(e *event.Event, msg string) {
	rest, ok := strings.CutPrefix(msg, "Teardown ")
	if !ok {
		return
	}
	proto, rest := cutWord(rest)
	e.Protocol = strings.ToLower(proto)
	if w, r := cutWord(rest); w == "connection" {
		id, r := cutWord(r)
		e.Add(ciscoKeyConnID, id)
		rest = r
	}
	ciscoEnds(e, rest, "for ", " to ")
	if dur, ok := textBetween(rest, " duration ", " "); ok {
		if ns, ok := hmsDuration(dur); ok {
			e.Add(keyEventDuration, ns)
		}
	}
	if b, ok := textBetween(rest, " bytes ", " "); ok && allDigits(b) {
		e.Add(keyNetworkBytes, b)
		if r, ok := textBetween(rest, " bytes "+b+" ", ""); ok && r != "" {
			if u := strings.LastIndex(r, " ("); u >= 0 && strings.HasSuffix(r, ")") {
				setUser(e, r[u+2:len(r)-1])
				r = r[:u]
			}
			if r != "" {
				e.Add(keyEventReason, r)
			}
		}
	}
	e.Category, e.Action = catNetwork, actTraffic
	if proto == "UDP" {
		e.Outcome = event.OutcomeSuccess // as Elastic's: a UDP teardown is a timeout, not a verdict
	}
	addTypes(e, typeConnection, typeEnd)
}

// iosMessage decodes the text of the IOS messages of the field map and reports whether the
// event happens on the device itself.
func iosMessage(e *event.Event, facility, mnemonic, msg string) (own bool) {
	switch {
	case facility == "SEC_LOGIN" && (mnemonic == "LOGIN_SUCCESS" || mnemonic == "LOGIN_FAILED"):
		// Login Success [user: admin] [Source: 192.0.2.7] [localport: 22] at 10:20:30 UTC Mon May 1 2024
		// Login failed [user: admin] [Source: 192.0.2.7] [localport: 22] [Reason: Login Authentication Failed] at ...
		if u, ok := textBetween(msg, "[user: ", "]"); ok {
			setUser(e, u)
		}
		if a, ok := textBetween(msg, "[Source: ", "]"); ok {
			setSrc(e, a, 0)
		}
		if p, ok := textBetween(msg, "[localport: ", "]"); ok {
			e.DstPort, _ = parsePort(p)
		}
		if r, ok := textBetween(msg, "[Reason: ", "]"); ok {
			e.Add(keyEventReason, r)
		}
		e.Category, e.Action = catAuthentication, actAdminLogin
		if mnemonic == "LOGIN_SUCCESS" {
			setVerdict(e, true, typeStart)
		} else {
			setVerdict(e, false, typeStart)
		}
		return true
	case facility == "PARSER" && mnemonic == "CFGLOG_LOGGEDCMD":
		// User:admin  logged command:no access-session port-control
		if u, ok := textBetween(msg, "User:", " "); ok {
			setUser(e, u)
		}
		if c, ok := textBetween(msg, "logged command:", ""); ok {
			e.Add(ciscoKeyCommand, c)
		}
		e.Category, e.Action, e.Outcome = catConfiguration, actConfigChange, event.OutcomeSuccess
		addTypes(e, typeChange)
		return true
	case facility == "SEC" && (mnemonic == "IPACCESSLOGP" || mnemonic == "IPACCESSLOGDP" || mnemonic == "IPACCESSLOGNP"):
		// list 101 denied tcp 198.51.100.7(51234) -> 192.168.1.10(23), 1 packet
		rest, ok := strings.CutPrefix(msg, "list ")
		if !ok {
			return false
		}
		acl, rest := cutWord(rest)
		verdict, rest := cutWord(rest)
		proto, rest := cutWord(rest)
		src, rest := cutWord(rest)
		if arrow, r := cutWord(rest); arrow == "->" {
			dst, _ := cutWord(r)
			a, p := iosAddrPort(strings.TrimSuffix(dst, ","))
			setDst(e, a, p)
		}
		a, p := iosAddrPort(src)
		setSrc(e, a, p)
		e.Add(keyRuleName, acl)
		if allDigits(proto) {
			proto = protoName(proto)
		}
		e.Protocol = strings.ToLower(proto)
		e.Category, e.Action = catNetwork, actTraffic
		switch verdict {
		case "denied":
			setVerdict(e, false, typeConnection)
		case "permitted":
			setVerdict(e, true, typeConnection)
		}
	case facility == "SYS" && (mnemonic == "CONFIG_I" || mnemonic == "RESTART" || mnemonic == "RELOAD"):
		if mnemonic == "CONFIG_I" {
			// Configured from console by admin on vty0 (192.0.2.7)
			if u, ok := textBetween(msg, " by ", " "); ok {
				setUser(e, u)
			}
			e.Category, e.Action = catConfiguration, actConfigChange
			addTypes(e, typeChange)
		}
		return true
	}
	return false
}

// asaLogin marks e as a login (action) that succeeded or was refused, with the event types
// Elastic's integration gives each.
func asaLogin(e *event.Event, action string, ok bool) {
	e.Category, e.Action = catAuthentication, action
	if ok {
		e.Outcome = event.OutcomeSuccess
		addTypes(e, typeAllowed, typeInfo)
	} else {
		e.Outcome = event.OutcomeFailure
		addTypes(e, typeDenied, typeInfo)
	}
}
