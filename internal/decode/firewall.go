package decode

import (
	"strconv"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// What the firewall and VPN decoders (FortiGate, Cisco, PAN-OS) share: the ECS fields that
// Elastic's integrations for them set beyond Event's typed ones, under the same names, so
// that a rule, a detector or an analyst who also runs Elastic reads them alike. Which vendor
// field becomes which is written down per vendor in docs/field-maps.md.
var (
	keyObserverVendor   = event.K("observer.vendor")
	keyObserverProduct  = event.K("observer.product")
	keyObserverType     = event.K("observer.type")
	keyObserverHostname = event.K("observer.hostname")
	keyObserverSerial   = event.K("observer.serial_number")
	keyObserverIP       = event.K("observer.ip")
	keyIngressInterface = event.K("observer.ingress.interface.name")
	keyEgressInterface  = event.K("observer.egress.interface.name")
	keyIngressZone      = event.K("observer.ingress.zone")
	keyEgressZone       = event.K("observer.egress.zone")
	keyEventType        = event.K("event.type")
	keyEventCode        = event.K("event.code")
	keyEventReason      = event.K("event.reason")
	keyEventSequence    = event.K("event.sequence")
	keyEventDuration    = event.K("event.duration") // nanoseconds, as ECS has it
	keyRuleName         = event.K("rule.name")
	keySrcNATIP         = event.K("source.nat.ip")
	keySrcNATPort       = event.K("source.nat.port")
	keyDstNATIP         = event.K("destination.nat.ip")
	keyDstNATPort       = event.K("destination.nat.port")
	keyNetworkBytes     = event.K("network.bytes")
	keyNetworkProtocol  = event.K("network.protocol")
	keyNetworkApp       = event.K("network.application")
	keyURLDomain        = event.K("url.domain")
	keyURLOriginal      = event.K("url.original")
	keyUserDomain       = event.K("user.domain")
	keyUserGroup        = event.K("user.group.name")
	keyDstUser          = event.K("destination.user.name")
	keyThreatName       = event.K("threat.indicator.name")
	keyDirection        = event.K("network.direction")
	keyURLPath          = event.K("url.path")
	keyFileName         = event.K("file.name")
	keyRuleID           = event.K("rule.id")
	keyDstDomain        = event.K("destination.domain")
)

// ECS event.type values the firewall decoders give.
const (
	typeConnection = "connection"
	typeStart      = "start"
	typeEnd        = "end"
	typeAllowed    = "allowed"
	typeDenied     = "denied"
	typeInfo       = "info"
	typeChange     = "change"
)

// Categories beyond those of auth.go.
const (
	catConfiguration = "configuration"
	catWeb           = "web"
)

// Actions (event.action) that every VPN and firewall decoder gives in the same words as
// FortiGate's, so that brute force, spraying, login-after-failures and the VPN tunnel mapping
// read them alike whatever the vendor.
const (
	actVPNLogin     = "vpn_login"
	actVPNLogout    = "vpn_logout"
	actAdminLogin   = "admin_login"
	actAdminLogout  = "admin_logout"
	actUserLogin    = "user_login"
	actUserLogout   = "user_logout"
	actTraffic      = "traffic"
	actConfigChange = "configuration_change"
)

// addTypes adds the ECS event.type values ts.
func addTypes(e *event.Event, ts ...string) {
	for _, t := range ts {
		e.Add(keyEventType, t)
	}
}

// setVerdict sets e's outcome and adds its event types: kind (connection, start; none when
// empty) and then allowed or denied, as the reference mappings give a verdict.
func setVerdict(e *event.Event, allowed bool, kind string) {
	if kind != "" {
		e.Add(keyEventType, kind)
	}
	if allowed {
		e.Outcome = event.OutcomeSuccess
		e.Add(keyEventType, typeAllowed)
	} else {
		e.Outcome = event.OutcomeFailure
		e.Add(keyEventType, typeDenied)
	}
}

// observer names the appliance that wrote e.
func observer(e *event.Event, vendor, product, typ string) {
	e.Add(keyObserverVendor, vendor)
	e.Add(keyObserverProduct, product)
	if typ != "" {
		e.Add(keyObserverType, typ)
	}
}

// addNAT adds the translated address and port of one side of a connection when they differ
// from the real ones, as Elastic's integrations do: the firewall logs a mapped address even
// where it translated nothing.
func addNAT(e *event.Event, ipKey, portKey event.Key, real, mapped string, realPort, mappedPort uint16) {
	ip, ok := parseAddr(mapped)
	if !ok {
		return
	}
	if r, ok := parseAddr(real); !ok || r != ip {
		e.Add(ipKey, mapped)
	}
	if mappedPort != 0 && mappedPort != realPort {
		e.Add(portKey, strconv.Itoa(int(mappedPort)))
	}
}

// hmsDuration reads a duration written "h:mm:ss" (Cisco) as nanoseconds, for event.duration.
func hmsDuration(s string) (string, bool) {
	var parts [3]uint64
	n := 0
	for n < 3 {
		i := 0
		for i < len(s) && s[i] != ':' {
			i++
		}
		v, ok := parseUint(s[:i])
		if !ok {
			return "", false
		}
		parts[n] = v
		n++
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	if n != 3 || parts[1] > 59 || parts[2] > 59 || parts[0] > 1<<20 {
		return "", false
	}
	d := time.Duration(parts[0])*time.Hour + time.Duration(parts[1])*time.Minute + time.Duration(parts[2])*time.Second
	return strconv.FormatInt(int64(d), 10), true
}
