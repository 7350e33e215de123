package decode

import (
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// SonicWall firewalls (SonicOS 6.5 and 7) send key=value logs, the "enhanced syslog" format:
//
//	id=firewall sn=0040103CE114 time="2024-05-01 10:20:30" fw=203.0.113.1 pri=6 c=1024 m=537 msg="Connection Closed" src=192.168.10.21:50522:X0 dst=203.0.113.80:443:X1 proto=tcp/https ...
//
// m is the event's id in the SonicOS Log Events Reference Guide, which says what happened;
// src and dst are address:port:interface[:host]. Every pair is kept as sonicwall.<key>; the
// field map is in docs/field-maps.md.

// sonicwallLooksLike reports whether s is a SonicWall log.
func sonicwallLooksLike(s string) bool {
	return strings.HasPrefix(s, "id=") && strings.Contains(s, " sn=") && strings.Contains(s, " m=")
}

// SonicOS event ids (m=) by what they record, from the Log Events Reference Guide.
var (
	swLoginSuccess = []string{"29", "31", "199", "235", "236", "237", "238", "1080"}
	swLoginFailure = []string{"30", "32", "33", "34", "35", "200", "246", "329", "486", "549", "557", "583", "759",
		"986", "987", "1035", "1048", "1117", "1118", "1119", "1120", "1121", "1122", "1123", "1243", "1517", "1572", "1585"}
	swLogout     = []string{"24", "261", "262", "263", "264", "265", "520", "1008", "1124"}
	swAdminLogin = []string{"29", "30", "35", "199", "200", "235", "236", "261", "262", "520"}
	swVPNLogin   = []string{"237", "1080"}
	swDenied     = []string{"14", "173", "524", "712", "713", "760", "797", "798", "1198", "1199", "1474", "1475", // connection denied
		"28", "38", "41", "46", "48", "175", "181", "347", "428", "522", "523", "580", "590", "646", "647", "714",
		"735", "1254", "1257", "1304", "1433", "1436"} // packet dropped
	swAttackBlocked  = []string{"22", "23", "27", "81", "267", "606", "609", "790", "864", "898", "901", "1366", "1376", "1387"}
	swAttackDetected = []string{"25", "82", "83", "177", "178", "179", "608", "789", "860", "1213", "1214", "1369"}
)

func inList(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// sonicwall decodes the SonicWall key=value body s into e.
func (d *textDecoder) sonicwall(e *event.Event, s string) error {
	e.Format, e.Dataset = "sonicwall", "sonicwall.firewall"
	var m, tm, src, dst, natSrc, natDst, proto, user, fw, msg, note string
	var sent, rcvd, dur, cdur string
	kv := kvScanner{s: s, format: "sonicwall", single: true}
	for {
		key, v, ok, err := kv.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		e.Add(d.swKeys.key(key, ""), v)
		switch key {
		case "m":
			m = v
		case "time":
			tm = v
		case "src", "srcV6":
			if src == "" || key == "srcV6" {
				src = v
			}
		case "dst", "dstV6":
			if dst == "" || key == "dstV6" {
				dst = v
			}
		case "natSrc", "natSrcV6":
			natSrc = v
		case "natDst", "natDstV6":
			natDst = v
		case "proto":
			proto = v
		case "usr", "user":
			user = v
		case "fw":
			fw = v
		case "msg":
			msg = v
		case "note":
			note = v
		case "sent":
			sent = v
		case "rcvd":
			rcvd = v
		case "dur":
			dur = v
		case "cdur":
			cdur = v
		case "sn":
			e.Add(keyObserverSerial, v)
		case "n":
			e.Add(keyEventSequence, v)
		case "rule":
			e.Add(keyRuleID, v)
		case "srcZone":
			e.Add(keyIngressZone, v)
		case "dstZone":
			e.Add(keyEgressZone, v)
		case "dstname":
			e.Add(keyURLDomain, v)
		case "arg":
			e.Add(keyURLPath, v)
		case "pri":
			if len(v) == 1 && v[0] >= '0' && v[0] <= '7' {
				e.Severity = v[0] - '0'
			}
		}
	}
	if m == "" {
		return failAs("sonicwall", ReasonSyntax, "no m= (event id)")
	}
	e.Add(keyEventCode, m)
	observer(e, "SonicWall", "SonicOS", "firewall")
	hostname := e.Host
	e.Host = ""
	if hostname != "" {
		e.Add(keyObserverHostname, hostname)
	}
	if _, ok := parseAddr(fw); ok {
		e.Add(keyObserverIP, fw)
	}
	if err := d.swTime(e, tm); err != nil {
		return err
	}
	swEnd(e, src, true)
	swEnd(e, dst, false)
	if a, p := swAddrPort(natSrc); a != "" {
		addNAT(e, keySrcNATIP, keySrcNATPort, "", a, 0, p)
	}
	if a, p := swAddrPort(natDst); a != "" {
		addNAT(e, keyDstNATIP, keyDstNATPort, "", a, 0, p)
	}
	// proto=tcp/https, udp/53, icmp
	if proto != "" {
		t, app, _ := strings.Cut(proto, "/")
		e.Protocol = t
		if app != "" && !allDigits(app) {
			e.Add(keyNetworkProtocol, app)
		}
	}
	e.BytesOut, _ = parseUint(sent)
	e.BytesIn, _ = parseUint(rcvd)
	if n, ok := parseUint(dur); ok {
		e.Add(keyEventDuration, formatNanos(time.Duration(n)*time.Second))
	} else if n, ok := parseUint(cdur); ok {
		e.Add(keyEventDuration, formatNanos(time.Duration(n)*time.Millisecond))
	}
	if user != "" {
		setUser(e, user)
	}
	switch {
	case msg != "" && note != "":
		e.Message = msg + " (" + note + ")"
	case msg != "":
		e.Message = msg
	default:
		e.Message = note
	}
	if swClassify(e, m) {
		e.Host = hostname
	}
	return nil
}

// swEnd reads one end of a connection, "address[:port[:interface[:host]]]" (an IPv6 address
// comes in srcV6/dstV6 alone).
func swEnd(e *event.Event, v string, src bool) {
	if v == "" {
		return
	}
	var parts [4]string
	if _, ok := parseAddr(v); ok {
		parts[0] = v // IPv6, colons and all
	} else {
		for i := 0; i < 4 && v != ""; i++ {
			if i == 3 {
				parts[i] = v
				break
			}
			parts[i], v, _ = strings.Cut(v, ":")
		}
	}
	p, _ := parsePort(parts[1])
	if src {
		setSrc(e, parts[0], p)
		if parts[2] != "" {
			e.Add(keyIngressInterface, parts[2])
		}
		if parts[3] != "" {
			e.Add(authKeyDomain, parts[3])
		}
	} else {
		setDst(e, parts[0], p)
		if parts[2] != "" {
			e.Add(keyEgressInterface, parts[2])
		}
		if parts[3] != "" {
			e.Add(keyDstDomain, parts[3])
		}
	}
}

// swAddrPort reads a NAT address with an optional port ("198.51.100.2:40123").
func swAddrPort(v string) (string, uint16) {
	if _, ok := parseAddr(v); ok {
		return v, 0
	}
	a, p, _ := strings.Cut(v, ":")
	port, _ := parsePort(p)
	return a, port
}

// swTime sets e.Time from time="2024-05-01 10:20:30" (the firewall's zone, the Location
// option) or with a zone name after it ("... UTC").
func (d *textDecoder) swTime(e *event.Event, v string) error {
	if v == "" {
		return nil
	}
	stamp, zone := v, ""
	if len(v) > 20 && v[19] == ' ' {
		stamp, zone = v[:19], v[20:]
	}
	t, n, ok := parseISOTime(stamp, d.opts.location())
	if !ok || n != len(stamp) {
		return failAs("sonicwall", ReasonTimestamp, "bad time="+quoteShort(v))
	}
	if zone != "" {
		off, ok := parseOffset(zone)
		if !ok {
			return failAs("sonicwall", ReasonTimestamp, "unknown zone in time="+quoteShort(v))
		}
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).Add(-off)
	}
	e.Time = t
	return nil
}

// formatNanos writes d in nanoseconds, for event.duration.
func formatNanos(d time.Duration) string {
	return strconv.FormatInt(int64(d), 10)
}

// swClassify sets what happened from the event id m and reports whether it happened on the
// firewall itself (a login to it or through its VPN).
func swClassify(e *event.Event, m string) (own bool) {
	loginAct := func() string {
		switch {
		case inList(swAdminLogin, m):
			return actAdminLogin
		case inList(swVPNLogin, m):
			return actVPNLogin
		}
		return actUserLogin
	}
	switch {
	case inList(swLoginSuccess, m):
		e.Category, e.Action, e.Outcome = catAuthentication, loginAct(), event.OutcomeSuccess
		addTypes(e, typeStart, typeAllowed)
		return true
	case inList(swLoginFailure, m):
		e.Category, e.Action, e.Outcome = catAuthentication, loginAct(), event.OutcomeFailure
		addTypes(e, typeStart, typeDenied)
		return true
	case inList(swLogout, m):
		act := actUserLogout
		if inList(swAdminLogin, m) {
			act = actAdminLogout
		}
		e.Category, e.Action, e.Outcome = catSession, act, event.OutcomeSuccess
		addTypes(e, typeEnd)
		return true
	case m == "98":
		e.Category, e.Action, e.Outcome = catNetwork, actTraffic, event.OutcomeSuccess
		addTypes(e, typeConnection, typeStart, typeAllowed)
	case m == "537":
		// A connection that closed was let through, as FortiGate's action=close.
		e.Category, e.Action, e.Outcome = catNetwork, actTraffic, event.OutcomeSuccess
		addTypes(e, typeConnection, typeEnd, typeAllowed)
	case m == "36": // "TCP connection dropped"
		e.Category, e.Action, e.Outcome = catNetwork, actTraffic, event.OutcomeFailure
		addTypes(e, typeConnection, typeEnd, typeDenied)
	case m == "16":
		e.Category, e.Action, e.Outcome = catWeb, "web_filtering", event.OutcomeSuccess
		addTypes(e, typeAllowed)
	case m == "14":
		e.Category, e.Action, e.Outcome = catWeb, "web_filtering", event.OutcomeFailure
		addTypes(e, typeDenied)
	case inList(swDenied, m):
		e.Category, e.Action, e.Outcome = catNetwork, actTraffic, event.OutcomeFailure
		addTypes(e, typeConnection, typeDenied)
	case inList(swAttackBlocked, m):
		e.Category, e.Action, e.Outcome = catIntrusion, "ips", event.OutcomeFailure
		addTypes(e, typeDenied)
	case inList(swAttackDetected, m):
		e.Category, e.Action = catIntrusion, "ips"
		addTypes(e, typeInfo)
	}
	return false
}
