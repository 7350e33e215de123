package decode

import (
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// Sophos firewalls write key=value logs in two families:
//
//	device="SFW" date=2024-05-01 time=10:20:30 timezone="JST" device_name="XG230" log_id=010101600001 log_type="Firewall" ...
//	device_name="SFW" timestamp="2024-05-01T10:20:30+0900" device_serial_id="..." log_id="010101600001" log_type="Firewall" ...
//
// Sophos Firewall (XG, SFOS up to 18.5, and from 19 on), per the "Sophos Firewall log
// reference" (docs.sophos.com); and
//
//	2023:04:28-00:50:54 utm ulogd[5180]: id="2001" severity="info" sys="SecureNet" sub="packetfilter" name="Packet dropped" ...
//
// Sophos UTM 9, whose lines carry a timestamp of their own form and a syslog tag (ulogd, aua,
// openvpn, httpproxy), then key="value" pairs. Every pair is kept as sophos.<key>; the field
// map is in docs/field-maps.md.

// sophosXGLooksLike reports whether s is a Sophos Firewall log.
func sophosXGLooksLike(s string) bool {
	return (strings.HasPrefix(s, `device="SFW"`) || strings.HasPrefix(s, "device_name=")) &&
		strings.Contains(s, "log_type=") && strings.Contains(s, "log_id=")
}

// sophosUTMLooksLike reports whether a message of the process tag is a Sophos UTM log.
func sophosUTMLooksLike(process, msg string) bool {
	if !strings.HasPrefix(msg, `id="`) || !strings.Contains(msg, ` sys="`) {
		return false
	}
	switch process {
	case "ulogd", "aua", "openvpn", "httpproxy", "pluto", "afcd", "confd", "snort":
		return true
	}
	return false
}

// sophosRecord holds the values that fill an event's typed fields, under either family's
// key.
type sophosRecord struct {
	date, time, tz, timestamp                       string
	serial, logType, component, subtype             string
	status, user, msg, reason, name, action, caller string
	src, dst, sport, dport, proto                   string
	natSrc, natSport, natDst, natDport              string
	sent, rcvd, ruleID, ruleName, inIf, outIf       string
	srcZone, dstZone, url, domain, sys, sub, event  string
	virtualIP                                       string
}

func (r *sophosRecord) set(key, v string) {
	switch key {
	case "date":
		r.date = v
	case "time":
		r.time = v
	case "timezone":
		r.tz = v
	case "timestamp":
		r.timestamp = v
	case "device_id", "device_serial_id":
		r.serial = v
	case "log_type":
		r.logType = v
	case "log_component":
		r.component = v
	case "log_subtype":
		r.subtype = v
	case "status":
		r.status = v
	case "user_name", "user", "username":
		r.user = v
	case "message":
		r.msg = v
	case "reason":
		r.reason = v
	case "name":
		r.name = v
	case "action":
		r.action = v
	case "caller":
		r.caller = v
	case "src_ip", "srcip":
		r.src = v
	case "dst_ip", "dstip":
		r.dst = v
	case "src_port", "srcport":
		r.sport = v
	case "dst_port", "dstport":
		r.dport = v
	case "protocol", "proto":
		r.proto = v
	case "tran_src_ip", "src_trans_ip":
		r.natSrc = v
	case "tran_src_port", "src_trans_port":
		r.natSport = v
	case "tran_dst_ip", "dst_trans_ip":
		r.natDst = v
	case "tran_dst_port", "dst_trans_port":
		r.natDport = v
	case "sent_bytes", "bytes_sent":
		r.sent = v
	case "recv_bytes", "bytes_received":
		r.rcvd = v
	case "fw_rule_id", "fwrule":
		r.ruleID = v
	case "fw_rule_name":
		r.ruleName = v
	case "in_interface", "initf":
		r.inIf = v
	case "out_interface", "outitf":
		r.outIf = v
	case "srczone", "src_zone":
		r.srcZone = v
	case "dstzone", "dst_zone":
		r.dstZone = v
	case "url":
		r.url = v
	case "domain":
		r.domain = v
	case "sys":
		r.sys = v
	case "sub":
		r.sub = v
	case "event":
		r.event = v
	case "virtual_ip":
		r.virtualIP = v
	}
}

// sophos decodes the Sophos key=value body s into e; utm says it is a UTM 9 line, whose
// header gave its time and tag.
func (d *textDecoder) sophos(e *event.Event, s string, utm bool) error {
	var r sophosRecord
	kv := kvScanner{s: s, format: "sophos"}
	for {
		key, v, ok, err := kv.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		e.Add(d.sophosKeys.key(key, ""), v)
		r.set(key, v)
	}
	hostname := e.Host
	e.Host = ""
	e.Format = "sophos"
	if utm {
		e.Dataset = "sophos.utm"
		observer(e, "Sophos", "UTM", "firewall")
		// ulogd, aua: the UTM's daemons that wrote the line, not what it is about (its
		// subsystem is sophos.sys and sophos.sub)
		e.Process, e.PID = "", 0
	} else {
		e.Dataset = "sophos.xg"
		observer(e, "Sophos", "XG", "firewall")
		// device_name is the appliance's model (XG230) or the constant SFW, not its name:
		// the host name is the syslog header's, kept as sophos.device_name otherwise.
		if err := d.sophosTime(e, &r); err != nil {
			return err
		}
	}
	if hostname != "" {
		e.Add(keyObserverHostname, hostname)
	}
	if r.serial != "" {
		e.Add(keyObserverSerial, r.serial)
	}
	sport, _ := parsePort(r.sport)
	dport, _ := parsePort(r.dport)
	setSrc(e, r.src, sport)
	setDst(e, r.dst, dport)
	if r.natSrc != "" {
		p, _ := parsePort(r.natSport)
		addNAT(e, keySrcNATIP, keySrcNATPort, r.src, r.natSrc, sport, p)
	}
	if r.natDst != "" {
		p, _ := parsePort(r.natDport)
		addNAT(e, keyDstNATIP, keyDstNATPort, r.dst, r.natDst, dport, p)
	}
	if r.proto != "" {
		p := r.proto
		if allDigits(p) {
			p = protoName(p)
		}
		e.Protocol = asciiLower(p)
	}
	e.BytesOut, _ = parseUint(r.sent)
	e.BytesIn, _ = parseUint(r.rcvd)
	addIf := func(k event.Key, v string) {
		if v != "" {
			e.Add(k, v)
		}
	}
	addIf(keyRuleID, r.ruleID)
	addIf(keyRuleName, r.ruleName)
	addIf(keyIngressInterface, r.inIf)
	addIf(keyEgressInterface, r.outIf)
	addIf(keyIngressZone, r.srcZone)
	addIf(keyEgressZone, r.dstZone)
	addIf(keyEventReason, r.reason)
	if r.url != "" {
		e.Add(keyURLOriginal, r.url)
	}
	switch {
	case r.domain != "":
		e.Add(keyURLDomain, r.domain)
	case r.url != "":
		if host := urlHost(r.url); host != "" {
			e.Add(keyURLDomain, host)
		}
	}
	if ip, ok := parseAddr(r.virtualIP); ok && ip.IsValid() {
		e.Add(event.KeyTunnelIP, r.virtualIP)
	}
	switch {
	case r.msg != "":
		e.Message = r.msg
	case r.name != "":
		e.Message = r.name
	case r.event != "":
		e.Message = r.event
	default:
		e.Message = ""
	}
	if r.user != "" && r.user != "N/A" {
		setUser(e, r.user)
	}
	if utm {
		if sophosUTMClassify(e, &r) {
			e.Host = hostname
		}
	} else if sophosXGClassify(e, &r) {
		e.Host = hostname
	}
	return nil
}

// urlHost returns the host of a URL, with or without its scheme.
func urlHost(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?:#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	return u
}

// asciiLower lower-cases s, copying only when it has capitals.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// sophosTime sets e.Time from timestamp= (SFOS 19 on, with its offset) or date= time= and
// timezone= (earlier; a zone name parseOffset does not know means the Location option).
func (d *textDecoder) sophosTime(e *event.Event, r *sophosRecord) error {
	if r.timestamp != "" {
		t, n, ok := parseISOTime(r.timestamp, d.opts.location())
		if !ok || n != len(r.timestamp) {
			return failAs("sophos", ReasonTimestamp, "bad timestamp="+quoteShort(r.timestamp))
		}
		e.Time = t
		return nil
	}
	if r.date == "" && r.time == "" {
		return nil
	}
	t, n, ok := parseISOTime(r.date+" "+r.time, d.opts.location())
	if !ok || n != len(r.date)+1+len(r.time) {
		return failAs("sophos", ReasonTimestamp, "bad date="+quoteShort(r.date)+" time="+quoteShort(r.time))
	}
	if off, ok := parseOffset(r.tz); ok {
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).Add(-off)
	}
	e.Time = t
	return nil
}

// sophosLogin classifies a login by where it was made: the VPN, the administration console,
// or the firewall's user authentication.
func sophosLogin(where string) string {
	w := strings.ToLower(where)
	switch {
	case strings.Contains(w, "vpn") || strings.Contains(w, "l2tp") || strings.Contains(w, "pptp") || strings.Contains(w, "ipsec"):
		return actVPNLogin
	case strings.Contains(w, "admin") || strings.Contains(w, "gui") || strings.Contains(w, "ssh") || strings.Contains(w, "console") || strings.Contains(w, "cli"):
		return actAdminLogin
	}
	return actUserLogin
}

// sophosXGClassify sets what happened from log_type, log_component, log_subtype and status,
// and reports whether it happened on the firewall itself.
func sophosXGClassify(e *event.Event, r *sophosRecord) (own bool) {
	switch {
	case r.logType == "Firewall":
		e.Category, e.Action = catNetwork, actTraffic
		switch r.subtype {
		case "Allowed":
			setVerdict(e, true, typeConnection)
		case "Denied", "Dropped":
			setVerdict(e, false, typeConnection)
		}
	case r.subtype == "Authentication" || strings.Contains(r.component, "Authentication"):
		e.Category, e.Action = catAuthentication, sophosLogin(r.component+" "+r.msg)
		switch r.status {
		case "Successful", "Success":
			setVerdict(e, true, typeStart)
		case "Failed", "Failure":
			setVerdict(e, false, typeStart)
		}
		return true
	case r.logType == "Content Filtering":
		e.Category, e.Action = catWeb, "web_filtering"
		switch r.subtype {
		case "Allowed":
			setVerdict(e, true, "")
		case "Denied", "Blocked":
			setVerdict(e, false, "")
		}
	case r.logType == "IDP":
		e.Category, e.Action = catIntrusion, "ips"
		switch r.subtype {
		case "Drop", "Dropped", "Denied":
			setVerdict(e, false, "")
		case "Alert", "Detect":
			setVerdict(e, true, "")
		}
	}
	return false
}

// sophosUTMClassify sets what happened from sys, sub, name and action, and reports whether
// it happened on the UTM itself.
func sophosUTMClassify(e *event.Event, r *sophosRecord) (own bool) {
	switch {
	case r.sub == "packetfilter":
		e.Category, e.Action = catNetwork, actTraffic
		switch r.action {
		case "drop", "reject":
			setVerdict(e, false, typeConnection)
		case "accept":
			setVerdict(e, true, typeConnection)
		}
	case r.sub == "auth":
		e.Category, e.Action = catAuthentication, sophosLogin(r.caller)
		switch {
		case strings.Contains(r.name, "successful"), strings.Contains(r.name, "logged in"):
			setVerdict(e, true, typeStart)
		case strings.Contains(r.name, "failed"):
			setVerdict(e, false, typeStart)
		}
		return true
	case r.sub == "vpn":
		switch r.event {
		case "Connection started", "Login successful":
			e.Category, e.Action, e.Outcome = catAuthentication, actVPNLogin, event.OutcomeSuccess
			addTypes(e, typeConnection, typeStart, typeAllowed)
		case "Connection terminated":
			e.Category, e.Action, e.Outcome = catSession, actVPNLogout, event.OutcomeSuccess
			addTypes(e, typeConnection, typeEnd)
		case "Login failed":
			e.Category, e.Action, e.Outcome = catAuthentication, actVPNLogin, event.OutcomeFailure
			addTypes(e, typeConnection, typeStart, typeDenied)
		}
		return true
	case r.sub == "http":
		e.Category, e.Action = catWeb, "web_filtering"
		switch r.action {
		case "pass":
			setVerdict(e, true, "")
		case "block":
			setVerdict(e, false, "")
		}
	}
	return false
}
