package decode

import (
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// Check Point's Log Exporter, in its syslog format, writes an RFC 5424 header and then the
// log's fields where structured data would be, in a form of its own:
//
//	<134>1 2023-12-29T14:20:02Z gw-hq CheckPoint 10547 - [action:"Accept"; ifdir:"inbound"; src:"198.51.100.7"; ...]
//
// (Check Point R81 "Log Exporter" administration guide, sk122323). It is not RFC 5424 SD (no
// SD-ID, colons, semicolons), so the syslog decoder hands it here instead of refusing it.
// Every field is kept as checkpoint.<key>; the field map is in docs/field-maps.md.

// cpLooksLike reports whether s, what follows an RFC 5424 header's MSGID, is Check Point's
// field list: "[key:"".
func cpLooksLike(s string) bool {
	if len(s) < 4 || s[0] != '[' {
		return false
	}
	i := 1
	for i < len(s) && keyByte(s[i]) {
		i++
	}
	return i > 1 && i+1 < len(s) && s[i] == ':' && s[i+1] == '"'
}

// cpRecord holds the values that fill an event's typed fields.
type cpRecord struct {
	time, action, ruleAction, ifdir, ifname, product, origin string
	src, dst, sport, service, proto, clientIP                string
	xlatesrc, xlatedst, xlatesport, xlatedport               string
	user, admin, srcUser, operation, auditStatus             string
	authStatus, subject, ruleName, inzone, outzone           string
	additional, reason, tunnelIP                             string
}

// checkpoint decodes Check Point's field list s ("[k:"v"; ...]" and nothing after) into e.
func (d *textDecoder) checkpoint(e *event.Event, s string) error {
	e.Format, e.Dataset = "checkpoint", "checkpoint.firewall"
	if !strings.HasSuffix(s, "]") {
		return failAs("checkpoint", ReasonSyntax, "field list not closed with ]")
	}
	s = s[1 : len(s)-1]
	var r cpRecord
	for {
		s = trimSpaceLeft(s)
		if s == "" {
			break
		}
		i := 0
		for i < len(s) && keyByte(s[i]) {
			i++
		}
		if i == 0 || i+1 >= len(s) || s[i] != ':' || s[i+1] != '"' {
			return failAs("checkpoint", ReasonSyntax, "want key:\"value\" at "+quoteShort(s))
		}
		key := s[:i]
		s = s[i+2:]
		end, escaped := indexUnescaped(s, '"')
		if end < 0 {
			return failAs("checkpoint", ReasonSyntax, "unclosed quote in "+key+":")
		}
		v := s[:end]
		if escaped {
			v = unescape(v, `"\`)
		}
		s = s[end+1:]
		if s != "" {
			if s[0] != ';' {
				return failAs("checkpoint", ReasonSyntax, "no ; after "+key+":\"...\"")
			}
			s = s[1:]
		}
		e.Add(d.cpKeys.key(key, ""), v)
		r.set(key, v)
	}
	if err := d.cpTime(e, r.time); err != nil {
		return err
	}
	cpFill(e, &r)
	return nil
}

func (r *cpRecord) set(key, v string) {
	switch key {
	case "time":
		r.time = v
	case "action":
		r.action = v
	case "rule_action":
		r.ruleAction = v
	case "ifdir":
		r.ifdir = v
	case "ifname":
		r.ifname = v
	case "product":
		r.product = v
	case "origin":
		r.origin = v
	case "src":
		r.src = v
	case "dst":
		r.dst = v
	case "s_port":
		r.sport = v
	case "service":
		r.service = v
	case "proto":
		r.proto = v
	case "client_ip":
		r.clientIP = v
	case "xlatesrc":
		r.xlatesrc = v
	case "xlatedst":
		r.xlatedst = v
	case "xlatesport":
		r.xlatesport = v
	case "xlatedport":
		r.xlatedport = v
	case "user":
		r.user = v
	case "administrator":
		r.admin = v
	case "src_user_name":
		r.srcUser = v
	case "operation":
		r.operation = v
	case "audit_status":
		r.auditStatus = v
	case "auth_status":
		r.authStatus = v
	case "subject":
		r.subject = v
	case "rule_name":
		r.ruleName = v
	case "inzone":
		r.inzone = v
	case "outzone":
		r.outzone = v
	case "additional_info":
		r.additional = v
	case "reason":
		r.reason = v
	case "office_mode_ip", "om_ip":
		r.tunnelIP = v
	}
}

// cpTime sets e.Time from the log's own time (epoch seconds), which wins over the syslog
// header's: Log Exporter may send a log long after the gateway wrote it.
func (d *textDecoder) cpTime(e *event.Event, v string) error {
	if v == "" {
		return nil
	}
	n, ok := parseUint(v)
	if !ok || len(v) > 10 {
		return failAs("checkpoint", ReasonTimestamp, "bad time:"+quoteShort(v))
	}
	e.Time = time.Unix(int64(n), 0).UTC()
	return nil
}

func cpFill(e *event.Event, r *cpRecord) {
	hostname := e.Host
	e.Host = ""
	e.Process, e.PID = "", 0 // "CheckPoint" and its PROCID: the exporter, not what the log is about
	product := r.product
	if product == "" {
		product = "Check Point"
	}
	observer(e, "Check Point", product, "firewall")
	if hostname != "" {
		e.Add(keyObserverHostname, hostname)
	}
	if r.origin != "" {
		e.Add(keyObserverIP, r.origin)
	}
	sport, _ := parsePort(r.sport)
	dport, _ := parsePort(r.service)
	src := r.src
	if src == "" {
		src = r.clientIP
	}
	setSrc(e, src, sport)
	setDst(e, r.dst, dport)
	if r.xlatesrc != "" && r.xlatesrc != "0.0.0.0" {
		p, _ := parsePort(r.xlatesport)
		addNAT(e, keySrcNATIP, keySrcNATPort, "", r.xlatesrc, 0, p)
	}
	if r.xlatedst != "" && r.xlatedst != "0.0.0.0" {
		p, _ := parsePort(r.xlatedport)
		addNAT(e, keyDstNATIP, keyDstNATPort, "", r.xlatedst, 0, p)
	}
	if r.proto != "" {
		e.Protocol = protoName(r.proto)
	}
	if r.ruleName != "" {
		e.Add(keyRuleName, r.ruleName)
	}
	if r.inzone != "" {
		e.Add(keyIngressZone, r.inzone)
	}
	if r.outzone != "" {
		e.Add(keyEgressZone, r.outzone)
	}
	switch r.ifdir {
	case "inbound":
		e.Add(keyDirection, r.ifdir)
		if r.ifname != "" {
			e.Add(keyIngressInterface, r.ifname)
		}
	case "outbound":
		e.Add(keyDirection, r.ifdir)
		if r.ifname != "" {
			e.Add(keyEgressInterface, r.ifname)
		}
	}
	switch {
	case r.admin != "":
		setUser(e, r.admin)
	case r.srcUser != "":
		setUser(e, r.srcUser)
	case r.user != "":
		setUser(e, r.user)
	}
	if ip, ok := parseAddr(r.tunnelIP); ok && ip.IsValid() {
		e.Add(event.KeyTunnelIP, r.tunnelIP)
	}
	e.Message = r.additional
	if r.reason != "" {
		e.Add(keyEventReason, r.reason)
	}

	// A login: the management's audit log (operation "Log In", audit_status) or a gateway's
	// remote access login (action "Log In" / "Failed Log In", auth_status).
	login := r.operation == "Log In" || r.action == "Log In" || r.action == "Failed Log In"
	logout := r.operation == "Log Out" || r.action == "Log Out"
	switch {
	case login || logout:
		e.Host = hostname // a login to the gateway or the management happens on it
		outcome := event.OutcomeSuccess
		if r.auditStatus == "Failure" || r.action == "Failed Log In" || strings.HasPrefix(r.authStatus, "Failed") {
			outcome = event.OutcomeFailure
		}
		act := actUserLogin
		switch {
		case r.admin != "" || strings.HasPrefix(r.subject, "Administrator"):
			act = actAdminLogin
		case strings.Contains(r.product, "VPN") || strings.Contains(r.product, "Mobile Access") || strings.Contains(r.product, "Remote Access"):
			act = actVPNLogin
		}
		if logout {
			switch act {
			case actAdminLogin:
				act = actAdminLogout
			case actVPNLogin:
				act = actVPNLogout
			default:
				act = actUserLogout
			}
			e.Category, e.Action, e.Outcome = catSession, act, outcome
			addTypes(e, typeEnd)
			break
		}
		e.Category, e.Action, e.Outcome = catAuthentication, act, outcome
		if outcome == event.OutcomeSuccess {
			addTypes(e, typeStart, typeAllowed)
		} else {
			addTypes(e, typeStart, typeDenied)
		}
	default:
		verdict := r.ruleAction
		if verdict == "" {
			verdict = r.action
		}
		switch verdict {
		case "Accept", "Allow", "Encrypt", "Decrypt":
			e.Category, e.Action, e.Outcome = catNetwork, actTraffic, event.OutcomeSuccess
			addTypes(e, typeConnection, typeAllowed)
		case "Drop", "Reject", "Block":
			e.Category, e.Action, e.Outcome = catNetwork, actTraffic, event.OutcomeFailure
			addTypes(e, typeConnection, typeDenied)
		case "Prevent":
			e.Category, e.Action, e.Outcome = catIntrusion, "threat", event.OutcomeFailure
			addTypes(e, typeDenied)
		case "Detect":
			e.Category, e.Action, e.Outcome = catIntrusion, "threat", event.OutcomeSuccess
			addTypes(e, typeAllowed)
		}
	}
}
