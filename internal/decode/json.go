package decode

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// jsonDecoder decodes generic JSON documents, one per line. Fields with Elastic Common
// Schema names, nested ({"source":{"ip":..}}) or dotted ("source.ip"), fill the common
// fields; everything else is kept flat under its dotted path.
//
// A record that is a Windows event in one of the JSON shapes shippers write (NXLog,
// Winlogbeat, Log Analytics, evtx_dump) is handed to that shape's decoder, so a client that
// posts it without naming the format still reaches the Windows rules.
type jsonDecoder struct {
	opts Options
	f    jsonFlat
	win  *winAnyDecoder // made when a record first looks like a Windows event
}

func newJSONDecoder(opts Options) Decoder { return &jsonDecoder{opts: opts} }

func (d *jsonDecoder) Decode(e *event.Event) error {
	if err := d.f.parse(e.Raw); err != nil {
		return jsonSyntax("json", err)
	}
	if jsonWindowsKeys(&d.f) {
		if d.win == nil {
			d.win = newWinAnyDecoder(d.opts).(*winAnyDecoder)
		}
		if dec := d.win.shapeOf(e.Raw); dec != nil {
			return dec.Decode(e)
		}
	}
	e.Format = "json"
	for i := range d.f.leaves {
		l := &d.f.leaves[i]
		if l.kind == jsonNull {
			continue
		}
		path := d.f.keyOf(l)
		ok, err := jsonCommon(e, path, l, d.opts)
		if err != nil {
			return &Error{Format: "json", Reason: ReasonTimestamp, Detail: err.Error()}
		}
		if !ok {
			jsonAddField(e, &d.f, "", path, l.val)
		}
	}
	return nil
}

// jsonWindowsKeys reports whether the parsed record has a key that every Windows JSON shape
// has one of (EventID, event_id, winlog, Event): the cheap test that spares every other record
// the shapes' sniffers.
func jsonWindowsKeys(f *jsonFlat) bool {
	for i := range f.leaves {
		p := f.keyOf(&f.leaves[i])
		if len(p) < 7 {
			continue
		}
		switch p[0] {
		case 'E':
			if string(p) == "EventID" || bytes.HasPrefix(p, []byte("Event.")) {
				return true
			}
		case 'e': // event.* keys of ECS documents come here: the length sends most away
			if len(p) == 8 && string(p) == "event_id" {
				return true
			}
		case 'w':
			if bytes.HasPrefix(p, []byte("winlog.")) {
				return true
			}
		}
	}
	return false
}

// jsonAddField adds a field prefix+path, moving names that the ECS rendering writes from
// common fields (event.module, event.original, ...) under "json." so no key appears twice.
func jsonAddField(e *event.Event, f *jsonFlat, prefix string, path []byte, v string) {
	if prefix == "" && jsonReserved(path) {
		prefix = "json."
	}
	e.Add(f.intern(prefix, path), v)
}

func jsonReserved(path []byte) bool {
	switch string(path) {
	case "@timestamp", "event.ingested", "organization.id", "event.provider", "event.module",
		"event.dataset", "event.category", "event.action", "event.outcome",
		"log.syslog.severity.code", "log.syslog.facility.code", "host.name", "process.name",
		"process.pid", "user.name", "source.ip", "source.port", "source.bytes",
		"destination.ip", "destination.port", "destination.bytes", "network.transport",
		"message", "event.original", "event.original_base64":
		return true
	}
	return false
}

// jsonCommon sets the common field that an ECS path names, and reports whether it did. A
// value of the wrong kind (an address that does not parse) is left for the caller to keep as
// a field; a timestamp that does not parse is an error, since an event without a time is of
// little use.
func jsonCommon(e *event.Event, path []byte, l *jsonLeaf, opts Options) (bool, error) {
	v := l.val
	switch string(path) {
	case "@timestamp":
		t, err := jsonTime(v, l.kind, opts)
		if err != nil {
			return false, err
		}
		e.Time = t
	case "event.dataset":
		if e.Dataset != "" {
			return false, nil
		}
		e.Dataset = v
	case "event.category":
		if e.Category != "" {
			return false, nil
		}
		e.Category = v
	case "event.action":
		if e.Action != "" {
			return false, nil
		}
		e.Action = v
	case "event.outcome":
		switch v {
		case "success":
			e.Outcome = event.OutcomeSuccess
		case "failure":
			e.Outcome = event.OutcomeFailure
		case "unknown":
		default:
			return false, nil
		}
	case "host.name", "host.hostname":
		if e.Host != "" {
			return false, nil
		}
		e.Host = v
	case "process.name":
		e.Process = v
	case "process.pid":
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return false, nil
		}
		e.PID = int32(n)
	case "user.name":
		if e.User != "" {
			return false, nil
		}
		e.User = v
	case "message":
		if e.Message != "" {
			return false, nil
		}
		e.Message = v
	case "network.transport":
		e.Protocol = jsonLower(v)
	case "source.ip":
		return jsonAddr(&e.SrcIP, v), nil
	case "destination.ip":
		return jsonAddr(&e.DstIP, v), nil
	case "source.port":
		return jsonPort(&e.SrcPort, v), nil
	case "destination.port":
		return jsonPort(&e.DstPort, v), nil
	case "source.bytes":
		return jsonUint(&e.BytesOut, v), nil
	case "destination.bytes":
		return jsonUint(&e.BytesIn, v), nil
	default:
		return false, nil
	}
	return true, nil
}

// jsonSyntax wraps a flattening error as a decode error of format.
func jsonSyntax(format string, err error) error {
	return &Error{Format: format, Reason: ReasonSyntax, Detail: "invalid JSON", Err: err}
}

func jsonAddr(dst *netip.Addr, v string) bool {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return false
	}
	*dst = a.Unmap()
	return true
}

func jsonPort(dst *uint16, v string) bool {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return false
	}
	*dst = uint16(n)
	return true
}

func jsonUint(dst *uint64, v string) bool {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return false
	}
	*dst = n
	return true
}

// jsonLower returns s in lower case, without allocating when it already is.
func jsonLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// jsonTime reads a timestamp: RFC 3339 (with "Z", "+09:00" or "+0900"), a date and time
// without zone (taken in opts.Location), or a number of seconds since 1970 (milliseconds when
// it is too large to be seconds).
func jsonTime(v string, kind jsonKind, opts Options) (time.Time, error) {
	if kind == jsonNumber || kind == jsonString && jsonIsEpoch(v) {
		return jsonEpoch(v)
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999-0700", v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, v, opts.location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &jsonTimeError{v}
}

type jsonTimeError struct{ v string }

func (e *jsonTimeError) Error() string { return "cannot read time " + strconv.Quote(e.v) }

func jsonIsEpoch(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// jsonEpoch reads seconds since 1970 with an optional fraction, exactly (no float rounding).
func jsonEpoch(v string) (time.Time, error) {
	ip, frac, _ := strings.Cut(v, ".")
	sec, err := strconv.ParseInt(ip, 10, 64)
	if err != nil || len(frac) > 9 || strings.ContainsAny(frac, "eE+-") {
		// Exponents and the like: fall back to a float.
		fl, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || fl < 0 || fl > 1e15 {
			return time.Time{}, &jsonTimeError{v}
		}
		return time.Unix(0, int64(fl*1e9)).UTC(), nil
	}
	var ns int64
	if frac != "" {
		n, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return time.Time{}, &jsonTimeError{v}
		}
		ns = int64(n)
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	if sec > 1e12 && frac == "" { // milliseconds
		return time.UnixMilli(sec).UTC(), nil
	}
	if sec < 0 || sec > 1e12 {
		return time.Time{}, &jsonTimeError{v}
	}
	return time.Unix(sec, ns).UTC(), nil
}

// jsonFirstLine returns the first non-blank line of head, and whether it is all there.
func jsonFirstLine(head []byte) ([]byte, bool) {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for len(head) > 0 {
		line, rest, found := bytes.Cut(head, []byte{'\n'})
		if t := bytes.TrimSpace(line); len(t) > 0 {
			return t, found
		}
		head = rest
	}
	return nil, false
}

// jsonSniffObject reports whether the first line of head is a JSON object holding every one
// of the given keys (as "key" followed by a colon).
func jsonSniffObject(head []byte, keys ...string) bool {
	line, _ := jsonFirstLine(head)
	if len(line) < 2 || line[0] != '{' {
		return false
	}
	for _, k := range keys {
		if !jsonHasKey(line, k) {
			return false
		}
	}
	return true
}

// jsonHasKey reports whether b holds "k" followed, after optional spaces, by a colon.
func jsonHasKey(b []byte, k string) bool {
	for {
		i := bytes.Index(b, []byte(k))
		if i < 0 {
			return false
		}
		if i > 0 && b[i-1] == '"' {
			rest := b[i+len(k):]
			if len(rest) > 0 && rest[0] == '"' {
				rest = bytes.TrimLeft(rest[1:], " \t")
				if len(rest) > 0 && rest[0] == ':' {
					return true
				}
			}
		}
		b = b[i+len(k):]
	}
}

func sniffJSON(head []byte) bool {
	line, whole := jsonFirstLine(head)
	if len(line) < 2 || line[0] != '{' {
		return false
	}
	if !whole {
		return true // one long line: too long to check, but it starts as an object
	}
	return line[len(line)-1] == '}'
}
