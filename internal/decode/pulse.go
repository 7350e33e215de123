package decode

import (
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// Ivanti Connect Secure (formerly Pulse Connect Secure) sends its event, user access and
// admin access logs in its "Standard" syslog format: an RFC 5424 header whose APP-NAME is
// "PulseSecure:", then
//
//	2021-10-19 09:16:53 - ics01 - [198.51.100.77] dr.tanaka(Users)[Doctors] - Primary authentication failed for dr.tanaka/Users from 198.51.100.77
//
// the appliance's local time, its name, the client's address, the user, realm and roles, and
// the message (the messages of the Ivanti "Log Messages" reference). A relay may put a BSD
// header in front of the RFC 5424 one. The field map is in docs/field-maps.md.

const pulseApp = "PulseSecure:"

// pulseBody returns the standard-format part of a Pulse/Ivanti message, after the header(s);
// relayed, what came before it in the message ("1 2021-10-19T09:16:53+02:00 10.5.2.3 "); and
// whether it is one.
func pulseBody(e *event.Event) (body, relayed string, ok bool) {
	msg := e.Message
	if e.Process != pulseApp {
		if !strings.HasPrefix(msg, "1 ") {
			return "", "", false // the cheap test that spares other lines the search
		}
		i := strings.Index(msg, pulseApp+" - - - ")
		if i < 0 {
			return "", "", false
		}
		relayed, msg = msg[:i], msg[i+len(pulseApp)+len(" - - - "):]
	}
	// "YYYY-MM-DD hh:mm:ss - "
	if len(msg) < 24 || msg[4] != '-' || msg[7] != '-' || msg[10] != ' ' || msg[13] != ':' || msg[19] != ' ' || msg[20] != '-' {
		return "", "", false
	}
	return msg, relayed, true
}

var (
	pulseKeyRealm   = event.K("pulse_secure.realm")
	pulseKeyRole    = event.K("pulse_secure.role")
	pulseKeySession = event.K("pulse_secure.session.id")
)

// pulse decodes the standard-format message s into e; relayed is the RFC 5424 header that a
// relay's BSD header left in the message.
func (d *textDecoder) pulse(e *event.Event, s, relayed string) error {
	e.Format, e.Dataset = "pulse", "pulse_secure.log"
	observerIP := e.Host // the RFC 5424 HOSTNAME: the appliance's address or name
	e.Host, e.Process, e.PID = "", "", 0
	if v, rest, ok := strings.Cut(relayed, " "); ok && v == "1" {
		ts, rest := cutWord(rest)
		if t, n, ok := parseISOTime(ts, d.opts.location()); ok && n == len(ts) {
			e.Time = t // the appliance's, with its zone, not the relay's
		}
		observerIP, _ = cutWord(rest)
	}
	// The local time, unless the RFC 5424 header gave one with its zone.
	if e.Time.IsZero() {
		t, n, ok := parseISOTime(s[:19], d.opts.location())
		if !ok || n != 19 {
			return failAs("pulse", ReasonTimestamp, "bad time "+quoteShort(s[:19]))
		}
		e.Time = t
	}
	rest := s[22:] // after "YYYY-MM-DD hh:mm:ss - "
	name, rest, ok := strings.Cut(rest, " - [")
	if !ok {
		return failAs("pulse", ReasonSyntax, "no \" - [client]\" after the appliance's name")
	}
	client, rest, ok := strings.Cut(rest, "] ")
	if !ok {
		return failAs("pulse", ReasonSyntax, "unclosed [client address]")
	}
	who, msg, ok := strings.Cut(rest, " - ")
	if !ok {
		return failAs("pulse", ReasonSyntax, "no \" - \" before the message")
	}
	observer(e, "Ivanti", "Connect Secure", "vpn")
	if hostLike(name) {
		e.Host = name // the appliance: every one of its events happens on it
		e.Add(keyObserverHostname, name)
	}
	if _, ok := parseAddr(observerIP); ok {
		e.Add(keyObserverIP, observerIP)
	}
	setSrc(e, client, 0)
	// user(realm)[roles], the user after a "Default Network::" prefix in 22.x
	if i := strings.LastIndex(who, "::"); i >= 0 {
		who = who[i+2:]
	}
	if i := strings.IndexByte(who, '('); i >= 0 {
		if u := who[:i]; u != "" && u != "System" {
			setUser(e, u)
		}
		if j := strings.IndexByte(who[i:], ')'); j > 0 {
			if realm := who[i+1 : i+j]; realm != "" {
				e.Add(pulseKeyRealm, realm)
			}
			if roles, ok := textBetween(who[i+j:], "[", "]"); ok && roles != "" {
				e.Add(pulseKeyRole, roles)
			}
		}
	}
	msg = trimSpaceRight(msg)
	e.Message = msg
	if sid, ok := textBetween(msg, "(session:", ")"); ok {
		e.Add(pulseKeySession, strings.TrimSpace(sid))
	}
	pulseClassify(e, msg)
	return nil
}

// pulseClassify sets what happened from the message's wording.
func pulseClassify(e *event.Event, msg string) {
	realm, _ := e.Get(pulseKeyRealm)
	login := actVPNLogin
	if strings.Contains(realm, "Admin") {
		login = actAdminLogin
	}
	switch {
	// One attempt logs "Primary authentication failed", "Login failed. Reason: ..." and
	// "Login failed using auth server ...": only the first counts as the attempt; the others
	// say why and keep no outcome, so that a brute-force count sees one failure per try.
	case strings.HasPrefix(msg, "Primary authentication successful"), strings.HasPrefix(msg, "Secondary authentication successful"),
		strings.HasPrefix(msg, "Agent login succeeded"), strings.HasPrefix(msg, "Login succeeded"):
		e.Category, e.Action, e.Outcome = catAuthentication, login, event.OutcomeSuccess
		addTypes(e, typeStart, typeAllowed)
	case strings.HasPrefix(msg, "Primary authentication failed"), strings.HasPrefix(msg, "Secondary authentication failed"):
		e.Category, e.Action, e.Outcome = catAuthentication, login, event.OutcomeFailure
		addTypes(e, typeStart, typeDenied)
	case strings.HasPrefix(msg, "Login failed"):
		e.Category, e.Action = catAuthentication, "login_failure_reason"
		if r, ok := textBetween(msg, "Reason: ", ""); ok {
			e.Add(keyEventReason, strings.TrimSuffix(r, "."))
		}
		addTypes(e, typeInfo)
	case strings.HasPrefix(msg, "VPN Tunneling: Session started"):
		e.Category, e.Action, e.Outcome = catAuthentication, actVPNLogin, event.OutcomeSuccess
		pulseTunnel(e, msg)
		addTypes(e, typeConnection, typeStart, typeAllowed)
	case strings.HasPrefix(msg, "VPN Tunneling: Session ended"):
		e.Category, e.Action, e.Outcome = catSession, actVPNLogout, event.OutcomeSuccess
		pulseTunnel(e, msg)
		addTypes(e, typeConnection, typeEnd)
	case strings.HasPrefix(msg, "Logout from"), strings.HasPrefix(msg, "Session timed out"):
		e.Category, e.Action, e.Outcome = catSession, actVPNLogout, event.OutcomeSuccess
		if login == actAdminLogin {
			e.Action = actAdminLogout
		}
		addTypes(e, typeEnd)
	}
}

// pulseTunnel reads the tunnel's address from "... with IPv4 address 10.1.2.3[, hostname H]".
func pulseTunnel(e *event.Event, msg string) {
	for _, label := range [2]string{"IPv4 address ", "IPv6 address "} {
		if a, ok := textBetween(msg, label, ","); ok {
			a = strings.TrimSpace(a)
			if _, ok := parseAddr(a); ok {
				e.Add(event.KeyTunnelIP, a)
			}
			return
		}
	}
}
