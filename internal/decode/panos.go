package decode

import (
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// PAN-OS sends each log as one line of comma-separated values in a fixed order per log type,
// after a syslog header:
//
//	1,2021/03/02 10:00:01,012801096514,GLOBALPROTECT,0,2305,2021/03/02 10:00:01,vsys1,gateway-auth,login,LDAP,...
//
// The positions are those of "Syslog Field Descriptions" in the PAN-OS Administrator's Guide
// (9.1 to 11.x; later versions only append fields). Values with commas are quoted. The types
// decoded are TRAFFIC, THREAT, GLOBALPROTECT and SYSTEM; the others keep their type, time,
// serial number and message. The field map is in docs/field-maps.md.

// panLooksLike reports whether s is a PAN-OS CSV log: "<n>,YYYY/MM/DD hh:mm:ss,serial,TYPE,".
func panLooksLike(s string) bool {
	i := 0
	for i < len(s) && i < 4 && isDigit(s[i]) {
		i++
	}
	if i == 0 || len(s) < i+22 || s[i] != ',' {
		return false
	}
	t := s[i+1:]
	if !(t[4] == '/' && t[7] == '/' && t[10] == ' ' && t[13] == ':' && t[16] == ':' && t[19] == ',' &&
		isDigit(t[0]) && isDigit(t[5]) && isDigit(t[8]) && isDigit(t[11])) {
		return false
	}
	// The serial number, then the log type in capitals.
	t = t[20:]
	j := strings.IndexByte(t, ',')
	if j < 0 {
		return false
	}
	t = t[j+1:]
	k := 0
	for k < len(t) && (t[k] >= 'A' && t[k] <= 'Z' || t[k] == '-' || t[k] == '_') {
		k++
	}
	return k >= 3 && k < len(t) && t[k] == ','
}

// The PAN-OS field positions (0-based) that the decoder reads.
const (
	panReceiveTime = 1
	panSerial      = 2
	panType        = 3
	panSubtype     = 4
	panGenerated   = 6

	// TRAFFIC and THREAT
	panSrc, panDst, panNATSrc, panNATDst         = 7, 8, 9, 10
	panRule, panSrcUser, panDstUser, panApp      = 11, 12, 13, 14
	panSrcZone, panDstZone, panInIf, panOutIf    = 16, 17, 18, 19
	panSessionID                                 = 22
	panSport, panDport, panNATSport, panNATDport = 24, 25, 26, 27
	panProto, panAction                          = 29, 30
	// TRAFFIC
	panBytes, panBytesSent, panBytesRcvd = 31, 32, 33
	panElapsed                           = 36
	panTrafficCategory                   = 37
	panEndReason                         = 46
	panTrafficDevice                     = 52
	// THREAT
	panURL, panThreatID, panThreatCategory, panSeverity, panDirection = 31, 32, 33, 34, 35
	panThreatDevice                                                   = 59

	// GLOBALPROTECT
	panGPEventID, panGPStage, panGPAuthMethod, panGPTunnel = 8, 9, 10, 11
	panGPUser, panGPMachine, panGPPublicIP, panGPPublicIP6 = 12, 14, 15, 16
	panGPPrivateIP, panGPPrivateIP6                        = 17, 18
	panGPClientOS, panGPReason, panGPError, panGPDesc      = 22, 25, 26, 27
	panGPStatus, panGPLoginDuration, panGPPortal           = 28, 30, 33
	panGPHighRes, panGPGateway, panGPDevice                = 36, 41, 47

	// SYSTEM
	panSysEventID, panSysObject, panSysModule, panSysSeverity, panSysDesc = 8, 9, 12, 13, 14
	panSysDevice                                                          = 22
)

// panMaxFields bounds the fields read; later ones (PAN-OS 11 has about 120) are not used.
const panMaxFields = 64

var (
	panKeyType      = event.K("panw.panos.type")
	panKeySubtype   = event.K("panw.panos.sub_type")
	panKeySessionID = event.K("panw.panos.session_id")
	panKeyAction    = event.K("panw.panos.action")
	panKeyThreatID  = event.K("panw.panos.threat.id")
	panKeyCategory  = event.K("panw.panos.url.category")
	panKeySeverity  = event.K("panw.panos.severity")
	panKeyStage     = event.K("panw.panos.globalprotect.stage")
	panKeyAuth      = event.K("panw.panos.globalprotect.auth_method")
	panKeyTunnel    = event.K("panw.panos.globalprotect.tunnel_type")
	panKeyMachine   = event.K("panw.panos.globalprotect.machine_name")
	panKeyClientOS  = event.K("panw.panos.globalprotect.client_os")
	panKeyGateway   = event.K("panw.panos.globalprotect.gateway")
	panKeyPortal    = event.K("panw.panos.globalprotect.portal")
	panKeyError     = event.K("panw.panos.globalprotect.error")
	panKeyModule    = event.K("panw.panos.system.module")
	panKeyObject    = event.K("panw.panos.system.object")
)

// panos decodes the PAN-OS CSV log s into e.
func (d *textDecoder) panos(e *event.Event, s string) error {
	var f panFields
	if err := f.split(s); err != nil {
		return err
	}
	typ := f.get(panType)
	e.Format, e.Dataset = "panos", "panos."+strings.ToLower(typ)
	observer(e, "Palo Alto Networks", "PAN-OS", "firewall")
	if v := f.get(panSerial); v != "" {
		e.Add(keyObserverSerial, v)
	}
	e.Add(panKeyType, typ)
	if v := f.get(panSubtype); v != "" && v != "0" {
		e.Add(panKeySubtype, v)
	}
	// The firewall's own name, unless the header named it already.
	device := ""
	switch typ {
	case "TRAFFIC":
		device = f.get(panTrafficDevice)
	case "THREAT":
		device = f.get(panThreatDevice)
	case "GLOBALPROTECT":
		device = f.get(panGPDevice)
	case "SYSTEM":
		device = f.get(panSysDevice)
	}
	if !hostLike(device) {
		device = e.Host
	}
	e.Host = ""
	if device != "" {
		e.Add(keyObserverHostname, device)
	}
	if err := d.panTime(e, f.get(panGenerated), f.get(panGPHighRes), typ == "GLOBALPROTECT"); err != nil {
		return err
	}
	e.Process, e.PID = "", 0
	switch typ {
	case "TRAFFIC", "THREAT":
		panSession(e, &f)
		if typ == "TRAFFIC" {
			panTraffic(e, &f)
		} else {
			panThreat(e, &f)
		}
	case "GLOBALPROTECT":
		panGlobalProtect(e, &f)
		e.Host = device
	case "SYSTEM":
		panSystem(e, &f)
		e.Host = device
	}
	return nil
}

// panFields are the values of one record, by position.
type panFields struct {
	f [panMaxFields]string
	n int
}

// get returns the value at position i, or "" when the record is shorter.
func (f *panFields) get(i int) string {
	if i < f.n {
		return f.f[i]
	}
	return ""
}

// split splits the CSV record s into f. A quoted value may hold commas; a doubled quote inside
// it is one quote.
func (f *panFields) split(s string) error {
	n := 0
	for n < panMaxFields {
		var v string
		if s != "" && s[0] == '"' {
			end := -1
			escaped := false
			for i := 1; i < len(s); i++ {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						escaped = true
						i++
						continue
					}
					end = i
					break
				}
			}
			if end < 0 {
				return failAs("panos", ReasonSyntax, "unclosed quote in field "+strconv.Itoa(n+1))
			}
			v = s[1:end]
			if escaped {
				v = strings.ReplaceAll(v, `""`, `"`)
			}
			s = s[end+1:]
			if s != "" && s[0] != ',' {
				return failAs("panos", ReasonSyntax, "no comma after quoted field "+strconv.Itoa(n+1))
			}
		} else {
			i := strings.IndexByte(s, ',')
			if i < 0 {
				i = len(s)
			}
			v, s = s[:i], s[i:]
		}
		f.f[n] = v
		n++
		if s == "" {
			break
		}
		s = s[1:] // the comma
	}
	f.n = n
	return nil
}

// panTime sets e.Time from the generated time "2021/03/02 10:00:01" (in the firewall's
// zone, the Location option), or from GlobalProtect's high resolution timestamp, which has
// its zone.
func (d *textDecoder) panTime(e *event.Event, generated, highRes string, gp bool) error {
	if gp && highRes != "" {
		if t, n, ok := parseISOTime(highRes, d.opts.location()); ok && n == len(highRes) {
			e.Time = t
			return nil
		}
	}
	if len(generated) != 19 || generated[4] != '/' || generated[7] != '/' || generated[10] != ' ' {
		return failAs("panos", ReasonTimestamp, "bad generated time "+quoteShort(generated))
	}
	y, ok1 := atoiN(generated, 4)
	mo, ok2 := atoiN(generated[5:], 2)
	dd, ok3 := atoiN(generated[8:], 2)
	var h, mi, sc, ns int
	n, ok4 := parseClock(generated[11:], &h, &mi, &sc, &ns)
	if !ok1 || !ok2 || !ok3 || !ok4 || n != 8 || mo < 1 || mo > 12 || dd < 1 ||
		dd != time.Date(y, time.Month(mo), dd, 0, 0, 0, 0, time.UTC).Day() {
		return failAs("panos", ReasonTimestamp, "bad generated time "+quoteShort(generated))
	}
	e.Time = time.Date(y, time.Month(mo), dd, h, mi, sc, 0, d.opts.location())
	return nil
}

// panUser sets a user named "domain\user" or "user@domain".
func panUser(e *event.Event, u string) {
	if u == "" {
		return
	}
	if i := strings.IndexByte(u, '\\'); i > 0 {
		e.Add(keyUserDomain, u[:i])
		u = u[i+1:]
	} else if i := strings.IndexByte(u, '@'); i > 0 {
		e.Add(keyUserDomain, u[i+1:])
	}
	e.User = u
}

// panSession fills what TRAFFIC and THREAT share: the session's ends, NAT, rule, zones.
func panSession(e *event.Event, f *panFields) {
	sport, _ := parsePort(f.get(panSport))
	dport, _ := parsePort(f.get(panDport))
	setSrc(e, f.get(panSrc), sport)
	setDst(e, f.get(panDst), dport)
	natSport, _ := parsePort(f.get(panNATSport))
	natDport, _ := parsePort(f.get(panNATDport))
	if natSrc := f.get(panNATSrc); natSrc != "0.0.0.0" {
		addNAT(e, keySrcNATIP, keySrcNATPort, f.get(panSrc), natSrc, sport, natSport)
	}
	if natDst := f.get(panNATDst); natDst != "0.0.0.0" {
		addNAT(e, keyDstNATIP, keyDstNATPort, f.get(panDst), natDst, dport, natDport)
	}
	addIf := func(k event.Key, v string) {
		if v != "" {
			e.Add(k, v)
		}
	}
	addIf(keyRuleName, f.get(panRule))
	panUser(e, f.get(panSrcUser))
	addIf(keyDstUser, f.get(panDstUser))
	addIf(keyNetworkApp, f.get(panApp))
	addIf(keyIngressZone, f.get(panSrcZone))
	addIf(keyEgressZone, f.get(panDstZone))
	addIf(keyIngressInterface, f.get(panInIf))
	addIf(keyEgressInterface, f.get(panOutIf))
	addIf(panKeySessionID, f.get(panSessionID))
	e.Protocol = f.get(panProto)
	addIf(panKeyAction, f.get(panAction))
}

// panVerdict reports whether a PAN-OS action let the session through.
func panVerdict(action string) (allowed, known bool) {
	switch action {
	case "allow", "alert", "continue", "override":
		return true, true
	case "deny", "drop", "drop-icmp", "drop-all-packets", "reset-client", "reset-server", "reset-both",
		"block", "block-url", "block-continue", "block-override", "override-lockout", "sinkhole", "drop-all":
		return false, true
	}
	return false, false
}

func panTraffic(e *event.Event, f *panFields) {
	e.BytesOut, _ = parseUint(f.get(panBytesSent))
	e.BytesIn, _ = parseUint(f.get(panBytesRcvd))
	if b := f.get(panBytes); b != "" {
		e.Add(keyNetworkBytes, b)
	}
	if s, ok := parseUint(f.get(panElapsed)); ok {
		e.Add(keyEventDuration, formatNanos(time.Duration(s)*time.Second))
	}
	if r := f.get(panEndReason); r != "" && r != "n/a" {
		e.Add(keyEventReason, r)
	}
	e.Category, e.Action = catNetwork, actTraffic
	e.Message = ""
	if allowed, ok := panVerdict(f.get(panAction)); ok {
		if allowed {
			setVerdict(e, true, typeConnection)
		} else {
			setVerdict(e, false, typeConnection)
		}
	}
	switch f.get(panSubtype) {
	case "start":
		addTypes(e, typeStart)
	case "end":
		addTypes(e, typeEnd)
	}
}

func panThreat(e *event.Event, f *panFields) {
	sub := f.get(panSubtype)
	misc := f.get(panURL)
	threat := f.get(panThreatID)
	if threat != "" {
		// "Name(12345)", or for URL logs the URL category "(9999)"
		if i := strings.LastIndexByte(threat, '('); i >= 0 && strings.HasSuffix(threat, ")") {
			e.Add(panKeyThreatID, threat[i+1:len(threat)-1])
			if name := strings.TrimSpace(threat[:i]); name != "" {
				e.Add(keyThreatName, name)
			}
		} else {
			e.Add(keyThreatName, threat)
		}
	}
	if c := f.get(panThreatCategory); c != "" {
		e.Add(panKeyCategory, c)
	}
	if s := f.get(panSeverity); s != "" {
		e.Add(panKeySeverity, s)
	}
	if dir := f.get(panDirection); dir != "" {
		e.Add(keyDirection, dir)
	}
	e.Message = ""
	if sub == "url" {
		e.Dataset = "panos.url"
		e.Category, e.Action = catWeb, "url_filtering"
		if misc != "" {
			e.Add(keyURLOriginal, misc)
			host := misc
			if i := strings.Index(host, "://"); i >= 0 {
				host = host[i+3:]
			}
			if i := strings.IndexAny(host, "/?:"); i >= 0 {
				host = host[:i]
			}
			if host != "" {
				e.Add(keyURLDomain, host)
			}
		}
	} else {
		e.Category, e.Action = catIntrusion, "threat"
		if misc != "" {
			e.Add(keyFileName, misc)
		}
	}
	if allowed, ok := panVerdict(f.get(panAction)); ok {
		if allowed {
			setVerdict(e, true, "")
		} else {
			setVerdict(e, false, "")
		}
	}
}

func panGlobalProtect(e *event.Event, f *panFields) {
	addIf := func(k event.Key, v string) {
		if v != "" {
			e.Add(k, v)
		}
	}
	id := f.get(panGPEventID)
	e.Add(keyEventCode, id)
	addIf(panKeyStage, f.get(panGPStage))
	addIf(panKeyAuth, f.get(panGPAuthMethod))
	addIf(panKeyTunnel, f.get(panGPTunnel))
	panUser(e, f.get(panGPUser))
	addIf(panKeyMachine, f.get(panGPMachine))
	pub := f.get(panGPPublicIP)
	if pub == "" || pub == "0.0.0.0" {
		pub = f.get(panGPPublicIP6)
	}
	setSrc(e, pub, 0)
	priv := f.get(panGPPrivateIP)
	if priv == "" || priv == "0.0.0.0" {
		priv = f.get(panGPPrivateIP6)
	}
	if ip, ok := parseAddr(priv); ok && !ip.IsUnspecified() {
		e.Add(event.KeyTunnelIP, priv)
	}
	addIf(panKeyClientOS, f.get(panGPClientOS))
	addIf(keyEventReason, f.get(panGPReason))
	addIf(panKeyError, f.get(panGPError))
	addIf(panKeyPortal, f.get(panGPPortal))
	addIf(panKeyGateway, f.get(panGPGateway))
	e.Message = f.get(panGPDesc)
	outcome := event.OutcomeUnknown
	switch f.get(panGPStatus) {
	case "success":
		outcome = event.OutcomeSuccess
	case "failure":
		outcome = event.OutcomeFailure
	}
	switch {
	case strings.HasSuffix(id, "-auth") || strings.HasSuffix(id, "-prelogin") || id == "gateway-connected" ||
		id == "portal-getconfig" || id == "gateway-getconfig":
		e.Category, e.Action, e.Outcome = catAuthentication, actVPNLogin, outcome
		if id == "gateway-connected" {
			addTypes(e, typeConnection, typeStart)
		} else {
			addTypes(e, typeStart)
		}
		if outcome == event.OutcomeSuccess {
			addTypes(e, typeAllowed)
		} else if outcome == event.OutcomeFailure {
			addTypes(e, typeDenied)
		}
	case strings.HasSuffix(id, "-logout") || id == "gateway-disconnected":
		e.Category, e.Action, e.Outcome = catSession, actVPNLogout, outcome
		addTypes(e, typeEnd)
	default:
		e.Category, e.Action, e.Outcome = catNetwork, id, outcome
		addTypes(e, typeInfo)
	}
}

func panSystem(e *event.Event, f *panFields) {
	id := f.get(panSysEventID)
	e.Add(keyEventCode, id)
	if v := f.get(panSysObject); v != "" {
		e.Add(panKeyObject, v)
	}
	if v := f.get(panSysModule); v != "" {
		e.Add(panKeyModule, v)
	}
	if v := f.get(panSysSeverity); v != "" {
		e.Add(panKeySeverity, v)
	}
	desc := f.get(panSysDesc)
	e.Message = desc
	e.Action = id
	// auth-success and auth-fail: "authenticated for user 'admin'.  From: 192.0.2.7." and
	// "failed authentication for user 'admin'.  Reason: Invalid username/password. From: 192.0.2.7."
	switch id {
	case "auth-success", "auth-fail":
		if u, ok := textBetween(desc, "user '", "'"); ok {
			panUser(e, u)
		}
		if a, ok := textBetween(desc, "From: ", ""); ok {
			setSrc(e, strings.TrimSuffix(strings.TrimSpace(a), "."), 0)
		}
		if r, ok := textBetween(desc, "Reason: ", "."); ok {
			e.Add(keyEventReason, r)
		}
		e.Category, e.Action = catAuthentication, actUserLogin
		if id == "auth-success" {
			setVerdict(e, true, typeStart)
		} else {
			setVerdict(e, false, typeStart)
		}
	default:
		addTypes(e, typeInfo)
	}
}
