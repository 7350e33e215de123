package event

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendECS appends e to dst as one line of JSON with Elastic Common Schema field names
// (@timestamp, source.ip, user.name, event.outcome, ...), flat and dotted, followed by a
// newline. It is how omamori shows what it understood of a record, and the form of exports.
//
// Extra fields follow the common ones under their own names. The raw record goes in
// event.original, or base64 in event.original_base64 when it is not UTF-8 text.
func AppendECS(dst []byte, e *Event) []byte {
	w := ecsWriter{b: append(dst, '{')}
	if !e.Time.IsZero() {
		w.str("@timestamp", e.Time.UTC().Format(time.RFC3339Nano))
	}
	if !e.Received.IsZero() {
		w.str("event.ingested", e.Received.UTC().Format(time.RFC3339Nano))
	}
	w.str("organization.id", e.Tenant)
	w.str("event.provider", e.Source)
	w.str("event.module", e.Format)
	w.str("event.dataset", e.Dataset)
	w.str("event.category", e.Category)
	w.str("event.action", e.Action)
	if e.Outcome != OutcomeUnknown {
		w.str("event.outcome", e.Outcome.String())
	}
	if e.Severity != 0 || e.Facility != 0 {
		w.num("log.syslog.severity.code", uint64(e.Severity))
		w.num("log.syslog.facility.code", uint64(e.Facility))
	}
	w.str("host.name", e.Host)
	w.str("process.name", e.Process)
	if e.PID != 0 {
		w.num("process.pid", uint64(e.PID))
	}
	w.str("user.name", e.User)
	if e.SrcIP.IsValid() {
		w.str("source.ip", e.SrcIP.String())
	}
	if e.SrcPort != 0 {
		w.num("source.port", uint64(e.SrcPort))
	}
	if e.BytesOut != 0 {
		w.num("source.bytes", e.BytesOut)
	}
	if e.DstIP.IsValid() {
		w.str("destination.ip", e.DstIP.String())
	}
	if e.DstPort != 0 {
		w.num("destination.port", uint64(e.DstPort))
	}
	if e.BytesIn != 0 {
		w.num("destination.bytes", e.BytesIn)
	}
	w.str("network.transport", e.Protocol)
	w.str("message", e.Message)
	w.fields(e.Fields)
	if len(e.Raw) > 0 {
		if utf8.Valid(e.Raw) {
			w.str("event.original", String(e.Raw))
		} else {
			w.str("event.original_base64", base64.StdEncoding.EncodeToString(e.Raw))
		}
	}
	return append(w.b, '}', '\n')
}

type ecsWriter struct {
	b    []byte
	more bool
}

func (w *ecsWriter) key(k string) {
	if w.more {
		w.b = append(w.b, ',')
	}
	w.more = true
	w.b = AppendJSONString(w.b, k)
	w.b = append(w.b, ':')
}

func (w *ecsWriter) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = AppendJSONString(w.b, v)
}

func (w *ecsWriter) num(k string, v uint64) {
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}

// fields writes extra fields. A key that repeats (a JSON array a source sent, a Windows event
// that names a value twice) becomes one key with an array of its values in their order, so the
// output stays a JSON object with unique keys.
func (w *ecsWriter) fields(fs []Field) {
next:
	for i, f := range fs {
		for _, g := range fs[:i] {
			if g.Key == f.Key {
				continue next
			}
		}
		n := 1
		for _, g := range fs[i+1:] {
			if g.Key == f.Key {
				n++
			}
		}
		if n == 1 {
			w.str(f.Key.String(), f.Value)
			continue
		}
		w.key(f.Key.String())
		w.b = append(w.b, '[')
		for j, g := range fs[i:] {
			if g.Key != f.Key {
				continue
			}
			if j > 0 {
				w.b = append(w.b, ',')
			}
			w.b = AppendJSONString(w.b, g.Value)
		}
		w.b = append(w.b, ']')
	}
}

// AppendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; HTML characters are not escaped, since the output is not for a page.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
