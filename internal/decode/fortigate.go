package decode

import (
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// FortiGate logs are key=value pairs, values quoted when they may hold spaces:
//
//	date=2024-05-01 time=10:20:30 devname="FGT60F" logid="0000000013" type="traffic" ...
//
// as described in the FortiOS Log Message Reference (docs.fortinet.com, FortiOS 7.x). They
// come over syslog with a PRI and often no other header. Every pair is kept as a field
// "fortigate.<key>"; the common ones also fill the event's typed fields, and type, subtype,
// logid and action say what happened: a session (traffic), an SSL-VPN or administrator login
// (event), an attack (utm/ips).

// fgLooksLike reports whether s is a FortiGate log: it starts with key= and names a log id and
// a device or a date (date=2024-...). The first test is cheap, so syslog lines pay almost nothing for it.
func fgLooksLike(s string) bool {
	i := 0
	for i < len(s) && i < 32 && keyByte(s[i]) {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != '=' {
		return false
	}
	return strings.Contains(s, "logid=") &&
		(strings.Contains(s, "devid=") || strings.Contains(s, "devname=") ||
			strings.HasPrefix(s, "date=") && len(s) > 9 && isDigit(s[5]) && isDigit(s[8]) && s[9] == '-')
}

// fgRecord holds the values of the keys that fill an event's typed fields.
type fgRecord struct {
	date, time, tz, eventtime, devname string
	typ, subtype, level, logid, action string
	status, result, user, msg, logdesc string
	srcip, dstip, remip, tunnelip      string
	locip, remport, locport            string
	srcport, dstport, proto            string
	sentbyte, rcvdbyte                 string
	utmaction                          string
	// Keys that fill ECS fields as they are (fgECS).
	policyname, transip, transport, tranip, tranport string
	hostname, devid, srcintf, dstintf, app           string
}

func (r *fgRecord) set(key, v string) {
	switch key {
	case "date":
		r.date = v
	case "time":
		r.time = v
	case "tz":
		r.tz = v
	case "eventtime":
		r.eventtime = v
	case "devname":
		r.devname = v
	case "type":
		r.typ = v
	case "subtype":
		r.subtype = v
	case "level":
		r.level = v
	case "logid":
		r.logid = v
	case "action":
		r.action = v
	case "status":
		r.status = v
	case "result":
		r.result = v
	case "locip":
		r.locip = v
	case "remport":
		r.remport = v
	case "locport":
		r.locport = v
	case "utmaction":
		r.utmaction = v
	case "policyname":
		r.policyname = v
	case "transip":
		r.transip = v
	case "transport":
		r.transport = v
	case "tranip":
		r.tranip = v
	case "tranport":
		r.tranport = v
	case "hostname":
		r.hostname = v
	case "devid":
		r.devid = v
	case "srcintf":
		r.srcintf = v
	case "dstintf":
		r.dstintf = v
	case "app":
		r.app = v
	case "user":
		r.user = v
	case "msg":
		r.msg = v
	case "logdesc":
		r.logdesc = v
	case "srcip":
		r.srcip = v
	case "dstip":
		r.dstip = v
	case "remip":
		r.remip = v
	case "tunnelip":
		r.tunnelip = v
	case "srcport":
		r.srcport = v
	case "dstport":
		r.dstport = v
	case "proto":
		r.proto = v
	case "sentbyte":
		r.sentbyte = v
	case "rcvdbyte":
		r.rcvdbyte = v
	}
}

// fortigate decodes the FortiGate key=value body s into e.
func (d *textDecoder) fortigate(e *event.Event, s string) error {
	e.Format = "fortigate"
	var r fgRecord
	kv := kvScanner{s: s, format: "fortigate"}
	for {
		key, v, ok, err := kv.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		e.Add(d.fgKeys.key(key, ""), v)
		r.set(key, v)
	}
	if r.logid == "" && r.typ == "" {
		return failAs("fortigate", ReasonSyntax, "no logid= or type=")
	}
	observer(e, "Fortinet", "FortiGate", "firewall")
	fgECS(e, &r)
	if err := d.fgTime(e, &r); err != nil {
		return err
	}
	fgCommon(e, &r)
	fgClassify(e, &r)
	return nil
}

// failAs makes the error of a decoder for format that another decoder dispatched to.
func failAs(format string, reason Reason, detail string) error {
	return &Error{Format: format, Reason: reason, Detail: detail}
}

// fgTime sets e.Time from eventtime (epoch, in ns since FortiOS 6.2, s or µs before), or from
// date= time= tz=, in the options' location when tz is missing.
func (d *textDecoder) fgTime(e *event.Event, r *fgRecord) error {
	if r.eventtime != "" {
		if n, ok := parseUint(r.eventtime); ok {
			var t time.Time
			switch l := len(r.eventtime); {
			case l <= 10:
				t = time.Unix(int64(n), 0)
			case l <= 13:
				t = time.UnixMilli(int64(n))
			case l <= 16:
				t = time.UnixMicro(int64(n))
			default:
				t = time.Unix(0, int64(n))
			}
			e.Time = t
			return nil
		}
	}
	if r.date == "" && r.time == "" {
		return nil // the syslog header's time, if any, stands
	}
	var h, mi, sc, ns int
	if len(r.date) != 10 || r.date[4] != '-' || r.date[7] != '-' {
		return failAs("fortigate", ReasonTimestamp, "bad date="+quoteShort(r.date))
	}
	y, ok1 := atoiN(r.date, 4)
	mo, ok2 := atoiN(r.date[5:], 2)
	dd, ok3 := atoiN(r.date[8:], 2)
	n, ok4 := parseClock(r.time, &h, &mi, &sc, &ns)
	if !ok1 || !ok2 || !ok3 || !ok4 || n != len(r.time) || mo < 1 || mo > 12 || dd < 1 ||
		dd != time.Date(y, time.Month(mo), dd, 0, 0, 0, 0, time.UTC).Day() {
		return failAs("fortigate", ReasonTimestamp, "bad date="+quoteShort(r.date)+" time="+quoteShort(r.time))
	}
	if off, ok := parseOffset(r.tz); ok {
		e.Time = time.Date(y, time.Month(mo), dd, h, mi, sc, ns, time.UTC).Add(-off)
	} else {
		e.Time = time.Date(y, time.Month(mo), dd, h, mi, sc, ns, d.opts.location())
	}
	return nil
}

// parseOffset reads a UTC offset: "+0900", "-07:00", "+09", or the zone names UTC, GMT, Z
// and JST.
func parseOffset(s string) (time.Duration, bool) {
	switch s {
	case "UTC", "GMT", "Z", "utc", "gmt", "z":
		return 0, true
	case "JST":
		return 9 * time.Hour, true
	}
	if len(s) < 3 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	h, ok := atoiN(s[1:], 2)
	if !ok || h > 23 {
		return 0, false
	}
	m := 0
	rest := s[3:]
	rest = strings.TrimPrefix(rest, ":")
	if rest != "" {
		var ok bool
		if m, ok = atoiN(rest, 2); !ok || len(rest) != 2 || m > 59 {
			return 0, false
		}
	}
	off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

var fgObserver = event.K("observer.name")

// fgECS adds the ECS fields that keys give as they are, as Elastic's integration names them
// (docs/field-maps.md#fortigate): the log id, the policy's name, the translated addresses, the
// web host. The pairs are kept as fortigate.<key> as well.
func fgECS(e *event.Event, r *fgRecord) {
	add := func(k event.Key, v string) {
		if v != "" && v != "N/A" {
			e.Add(k, v)
		}
	}
	add(keyEventCode, r.logid)
	add(keyObserverSerial, r.devid)
	add(keyRuleName, r.policyname)
	if _, ok := parseAddr(r.transip); ok {
		e.Add(keySrcNATIP, r.transip)
	}
	if p, ok := parsePort(r.transport); ok && p != 0 {
		e.Add(keySrcNATPort, r.transport)
	}
	if _, ok := parseAddr(r.tranip); ok {
		e.Add(keyDstNATIP, r.tranip)
	}
	if p, ok := parsePort(r.tranport); ok && p != 0 {
		e.Add(keyDstNATPort, r.tranport)
	}
	add(keyIngressInterface, r.srcintf)
	add(keyEgressInterface, r.dstintf)
	add(keyNetworkApp, r.app)
	add(keyURLDomain, r.hostname)
}

// fgCommon fills the typed fields that the keys name.
func fgCommon(e *event.Event, r *fgRecord) {
	if r.devname != "" {
		// The appliance observes traffic through it; only its own events (logins to the
		// VPN or the admin console, system events) happen on it. Naming it the host of every
		// traffic log would make it the host of every alert, and group them all as one.
		e.Set(fgObserver, r.devname)
		if r.typ == "event" && hostLike(r.devname) {
			e.Host = r.devname
		}
	}
	if sev, ok := severityOf(r.level); ok {
		e.Severity = sev
	}
	switch {
	case r.msg != "":
		e.Message = r.msg
	case r.logdesc != "":
		e.Message = r.logdesc
	default:
		e.Message = ""
	}
	if ip, ok := parseAddr(r.srcip); ok {
		e.SrcIP = ip
	}
	if ip, ok := parseAddr(r.dstip); ok {
		e.DstIP = ip
	}
	e.SrcPort, _ = parsePort(r.srcport)
	e.DstPort, _ = parsePort(r.dstport)
	e.Protocol = protoName(r.proto)
	e.BytesOut, _ = parseUint(r.sentbyte)
	e.BytesIn, _ = parseUint(r.rcvdbyte)
	if r.user != "" && r.user != "N/A" {
		e.User = r.user
	}
}

// fgClassify sets the dataset, category, action and outcome from type, subtype, logid and
// action.
func fgClassify(e *event.Event, r *fgRecord) {
	// The log id is TTSSNNNNN: type, subtype, message; the message number says the most.
	msgID := r.logid
	if len(msgID) == 10 {
		msgID = msgID[5:]
	}
	switch r.typ {
	case "traffic":
		e.Dataset = "fortigate.traffic"
		e.Category, e.Action = catNetwork, actTraffic
		addTypes(e, typeConnection)
		switch r.action {
		case "":
		case "start":
			addTypes(e, typeStart)
		default:
			addTypes(e, typeEnd)
		}
		switch r.action {
		case "deny", "block", "blocked", "dropped", "ip-conn":
			setVerdict(e, false, "")
		case "":
		default: // accept, close, timeout, server-rst, client-rst, start
			e.Outcome = event.OutcomeSuccess
			if r.utmaction == "block" {
				addTypes(e, typeDenied) // a UTM profile ended the session
			} else {
				addTypes(e, typeAllowed)
			}
		}
	case "event":
		switch r.subtype {
		case "vpn":
			e.Dataset = "fortigate.vpn"
			fgVPN(e, r)
		case "system":
			e.Dataset = "fortigate.system"
			fgSystem(e, r, msgID)
		case "user":
			e.Dataset = "fortigate.user"
			fgUser(e, r)
		default:
			e.Dataset = "fortigate.event"
		}
	case "utm", "ips", "anomaly", "virus", "webfilter", "app-ctrl":
		sub := r.subtype
		if r.typ != "utm" {
			sub = r.typ // FortiOS 5.x put the UTM kind in type
		}
		switch sub {
		case "ips":
			e.Dataset, e.Category, e.Action = "fortigate.ips", catIntrusion, "ips"
		case "anomaly":
			e.Dataset, e.Category, e.Action = "fortigate.anomaly", catIntrusion, "anomaly"
		case "virus":
			e.Dataset, e.Category, e.Action = "fortigate.virus", "malware", "virus"
		case "webfilter":
			e.Dataset, e.Category, e.Action = "fortigate.webfilter", "web", "webfilter"
		case "app-ctrl":
			e.Dataset, e.Category, e.Action = "fortigate.app-ctrl", catNetwork, "app_control"
		default:
			e.Dataset = "fortigate.utm"
		}
		fgUTMVerdict(e, r.action)
	default:
		e.Dataset = "fortigate"
	}
}

// fgUTMVerdict sets the outcome and event.type of a UTM log from its action: whether the
// profile let the traffic through.
func fgUTMVerdict(e *event.Event, action string) {
	switch action {
	case "blocked", "block", "dropped", "deny", "reset", "clear_session", "quarantine":
		setVerdict(e, false, "")
	case "passthrough", "pass", "allowed", "accept", "monitored", "detected", "exempt":
		setVerdict(e, true, "")
	}
}

// fgUser classifies user events: firewall authentication and FSSO logons (which report a
// logon that happened, hence success, as Elastic's integration has it) and their logoffs.
func fgUser(e *event.Event, r *fgRecord) {
	switch r.action {
	case "authentication", "auth-logon", "FSSO-logon", "auth-fail":
		e.Category, e.Action = catAuthentication, actUserLogin
		e.Outcome = fgStatus(r.status)
		if e.Outcome == event.OutcomeUnknown && r.action != "authentication" {
			e.Outcome = event.OutcomeSuccess
		}
		if r.action == "auth-fail" {
			e.Outcome = event.OutcomeFailure
		}
		addTypes(e, typeStart)
	case "auth-logout", "FSSO-logoff":
		e.Category, e.Action, e.Outcome = catSession, actUserLogout, event.OutcomeSuccess
		addTypes(e, typeEnd)
	}
	if e.Outcome == event.OutcomeSuccess {
		addTypes(e, typeAllowed)
	} else if e.Outcome == event.OutcomeFailure {
		addTypes(e, typeDenied)
	}
}

// fgVPN classifies IPsec and SSL-VPN events; an SSL-VPN login that worked shows as tunnel-up.
func fgVPN(e *event.Event, r *fgRecord) {
	// The remote end (remip, remport) is the source; the FortiGate's own end (locip,
	// locport) the destination, as Fortinet's "Understanding VPN related logs" and Elastic's
	// integration have it.
	if ip, ok := parseAddr(r.remip); ok {
		e.SrcIP = ip
	}
	if ip, ok := parseAddr(r.locip); ok {
		e.DstIP = ip
	}
	if p, ok := parsePort(r.remport); ok {
		e.SrcPort = p
	}
	if p, ok := parsePort(r.locport); ok {
		e.DstPort = p
	}
	addTypes(e, typeConnection)
	if ip, ok := parseAddr(r.tunnelip); ok {
		e.Add(event.KeyTunnelIP, ip.String())
	}
	switch r.action {
	case "ssl-login-fail":
		e.Category, e.Action, e.Outcome = catAuthentication, "vpn_login", event.OutcomeFailure
	case "tunnel-up", "ssl-login":
		e.Category, e.Action, e.Outcome = catAuthentication, "vpn_login", event.OutcomeSuccess
	case "tunnel-down", "ssl-logout":
		e.Category, e.Action, e.Outcome = catSession, "vpn_logout", event.OutcomeSuccess
	default:
		e.Category, e.Action = catNetwork, "vpn"
		e.Outcome = fgStatus(r.status)
		switch r.result {
		case "OK":
			e.Outcome = event.OutcomeSuccess
		case "ERROR":
			e.Outcome = event.OutcomeFailure
		}
	}
}

// fgSystem classifies system events; 32001 and 32002 are administrator logins that worked and
// failed, 32003 a logout.
func fgSystem(e *event.Event, r *fgRecord, msgID string) {
	switch {
	case msgID == "32001" || msgID == "32002" || r.action == "login":
		e.Category, e.Action = catAuthentication, "admin_login"
		e.Outcome = fgStatus(r.status)
		if msgID == "32002" {
			e.Outcome = event.OutcomeFailure
		}
	case msgID == "32003" || r.action == "logout":
		e.Category, e.Action, e.Outcome = catSession, "admin_logout", event.OutcomeSuccess
	default:
		e.Action = r.action
	}
}

func fgStatus(s string) event.Outcome {
	switch s {
	case "success", "succeeded":
		return event.OutcomeSuccess
	case "failed", "failure", "fail", "negotiate_error":
		return event.OutcomeFailure
	}
	return event.OutcomeUnknown
}

// severityOf maps a level name (FortiGate level=, which follows syslog) to a syslog severity.
func severityOf(level string) (uint8, bool) {
	switch level {
	case "emergency":
		return 0, true
	case "alert":
		return 1, true
	case "critical":
		return 2, true
	case "error":
		return 3, true
	case "warning":
		return 4, true
	case "notice", "notification":
		return 5, true
	case "information", "informational":
		return 6, true
	case "debug":
		return 7, true
	}
	return 0, false
}

// protoName names an IP protocol number for network.transport.
func protoName(p string) string {
	switch p {
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "1":
		return "icmp"
	case "58":
		return "ipv6-icmp"
	case "47":
		return "gre"
	case "50":
		return "esp"
	case "132":
		return "sctp"
	}
	return p
}
