package event

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// A Common is one of Event's typed fields under its ECS name. One list of them is what
// rendering (AppendECS), searching (the archive's conditions, through Value) and matching
// (Sigma's mapped fields, through LookupCommon) read, so that a field is named and written
// the same way in all three.
type Common struct {
	Name   string // the ECS name: "source.ip"
	Key    Key    // Name, interned
	Number bool   // the value is a number (unquoted in JSON)
	// Append appends e's value of the field to dst as text and reports whether e has one:
	// an empty string, a zero port or count and an invalid address are none.
	Append func(dst []byte, e *Event) ([]byte, bool)
	// Text, for a field that is text in Event, returns it without a copy ("" for none); nil
	// for the others.
	Text func(e *Event) string
}

// text is the Common of a string field.
func text(name string, f func(e *Event) string) Common {
	return Common{Name: name, Text: f, Append: func(dst []byte, e *Event) ([]byte, bool) {
		v := f(e)
		return append(dst, v...), v != ""
	}}
}

func num(f func(e *Event) uint64) func([]byte, *Event) ([]byte, bool) {
	return func(dst []byte, e *Event) ([]byte, bool) {
		v := f(e)
		if v == 0 {
			return dst, false
		}
		return strconv.AppendUint(dst, v, 10), true
	}
}

func addr(f func(e *Event) netip.Addr) func([]byte, *Event) ([]byte, bool) {
	return func(dst []byte, e *Event) ([]byte, bool) {
		a := f(e)
		if !a.IsValid() {
			return dst, false
		}
		return a.AppendTo(dst), true
	}
}

func stamp(f func(e *Event) time.Time) func([]byte, *Event) ([]byte, bool) {
	return func(dst []byte, e *Event) ([]byte, bool) {
		t := f(e)
		if t.IsZero() {
			return dst, false
		}
		return t.UTC().AppendFormat(dst, time.RFC3339Nano), true
	}
}

// syslogCode is the severity or facility code, written whenever either is set (severity 0,
// emergency, is a real value when the facility says the record had a PRI).
func syslogCode(f func(e *Event) uint8) func([]byte, *Event) ([]byte, bool) {
	return func(dst []byte, e *Event) ([]byte, bool) {
		if e.Severity == 0 && e.Facility == 0 {
			return dst, false
		}
		return strconv.AppendUint(dst, uint64(f(e)), 10), true
	}
}

// commons are in the order AppendECS writes them; the raw record comes last, after the
// extra fields.
var commons = func() []Common {
	cs := []Common{
		{Name: "@timestamp", Append: stamp(func(e *Event) time.Time { return e.Time })},
		{Name: "event.ingested", Append: stamp(func(e *Event) time.Time { return e.Received })},
		text("organization.id", func(e *Event) string { return e.Tenant }),
		text("event.provider", func(e *Event) string { return e.Source }),
		text("event.module", func(e *Event) string { return e.Format }),
		text("event.dataset", func(e *Event) string { return e.Dataset }),
		text("event.category", func(e *Event) string { return e.Category }),
		text("event.action", func(e *Event) string { return e.Action }),
		{Name: "event.outcome", Append: func(dst []byte, e *Event) ([]byte, bool) {
			if e.Outcome == OutcomeUnknown {
				return dst, false
			}
			return append(dst, e.Outcome.String()...), true
		}},
		{Name: "log.syslog.severity.code", Number: true, Append: syslogCode(func(e *Event) uint8 { return e.Severity })},
		{Name: "log.syslog.facility.code", Number: true, Append: syslogCode(func(e *Event) uint8 { return e.Facility })},
		text("host.name", func(e *Event) string { return e.Host }),
		text("process.name", func(e *Event) string { return e.Process }),
		{Name: "process.pid", Number: true, Append: num(func(e *Event) uint64 { return uint64(max(e.PID, 0)) })},
		text("user.name", func(e *Event) string { return e.User }),
		{Name: "source.ip", Append: addr(func(e *Event) netip.Addr { return e.SrcIP })},
		{Name: "source.port", Number: true, Append: num(func(e *Event) uint64 { return uint64(e.SrcPort) })},
		{Name: "source.bytes", Number: true, Append: num(func(e *Event) uint64 { return e.BytesOut })},
		{Name: "destination.ip", Append: addr(func(e *Event) netip.Addr { return e.DstIP })},
		{Name: "destination.port", Number: true, Append: num(func(e *Event) uint64 { return uint64(e.DstPort) })},
		{Name: "destination.bytes", Number: true, Append: num(func(e *Event) uint64 { return e.BytesIn })},
		text("network.transport", func(e *Event) string { return e.Protocol }),
		text("message", func(e *Event) string { return e.Message }),
		// The raw record: as text when it is UTF-8, else in base64.
		text("event.original", func(e *Event) string {
			if !utf8.Valid(e.Raw) {
				return ""
			}
			return String(e.Raw)
		}),
		{Name: "event.original_base64", Append: func(dst []byte, e *Event) ([]byte, bool) {
			if len(e.Raw) == 0 || utf8.Valid(e.Raw) {
				return dst, false
			}
			return base64.StdEncoding.AppendEncode(dst, e.Raw), true
		}},
	}
	for i := range cs {
		cs[i].Key = K(cs[i].Name)
	}
	return cs
}()

// KeyTunnelIP is a well-known extra field, filled alike by the decoders of every VPN
// appliance that logs it: the address the appliance gave a remote user's tunnel. Inside the
// hospital that user's traffic comes from it, so an alert about it is about the remote address
// that holds it.
var KeyTunnelIP = K("vpn.tunnel.ip")

// rawCommons is how many commons at the end of the list hold the raw record.
const rawCommons = 2

// LookupCommon returns the typed field of Event named name (an ECS name).
func LookupCommon(name string) (Common, bool) {
	for _, c := range commons {
		if c.Name == name {
			return c, true
		}
	}
	return Common{}, false
}

// Value returns e's value of the field named name: a typed field by its ECS name (as
// AppendECS writes it), else the first extra field of that name.
func (e *Event) Value(name string) (string, bool) {
	if c, ok := LookupCommon(name); ok {
		b, ok := c.Append(nil, e)
		return string(b), ok
	}
	return e.Get(K(name))
}
