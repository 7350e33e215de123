package decode

import (
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// The syslog decoder reads one syslog message: RFC 5424, RFC 3164 (BSD), and the lines that
// syslog daemons write to files (no PRI, as in /var/log/messages), with the variants real
// devices send: RFC 3339 timestamps after the PRI (rsyslog high precision), a year in the
// timestamp, no host name, no tag. It then looks at the message body: a CEF record, or a
// FortiGate, Cisco, PAN-OS, Check Point, Sophos, SonicWall, Ivanti or WatchGuard log, is
// decoded by that vendor's decoder (bodyKind names it; Format says which), and sshd, PAM, su,
// sudo and login messages get their user, address and outcome (see auth.go). A host or tag
// that the header does not prove stays in the message (hostLike, processLike).
//
// It is written by hand, without regular expressions, because it is on the hot path of every
// syslog listener: a line costs well under a microsecond and, in the common case, no
// allocation (strings alias e.Raw).

// Keys of the fields the syslog header gives beyond the common ones (ECS log.syslog.*).
var (
	syslogKeyAppName  = event.K("log.syslog.appname")
	syslogKeyProcID   = event.K("log.syslog.procid")
	syslogKeyMsgID    = event.K("log.syslog.msgid")
	syslogKeyRepeated = event.K("syslog.repeated")
)

// textDecoder decodes a line of text that may carry a syslog header. want says which body it
// accepts: "syslog" accepts any, "fortigate", "cef", "cisco" and "panos" only their own.
type textDecoder struct {
	opts Options
	want string
	// The keys of the fields each body names, one cache per prefix.
	fgKeys, cefKeys, sdKeys, cpKeys, sophosKeys, swKeys, leefKeys keyCache
}

func newTextDecoder(opts Options, want string) *textDecoder {
	return &textDecoder{opts: opts, want: want,
		fgKeys: keyCache{prefix: "fortigate."}, cefKeys: keyCache{prefix: "cef."}, sdKeys: keyCache{prefix: "syslog.sd."},
		cpKeys: keyCache{prefix: "checkpoint."}, sophosKeys: keyCache{prefix: "sophos."}, swKeys: keyCache{prefix: "sonicwall."},
		leefKeys: keyCache{prefix: "leef."}}
}

func newSyslog(opts Options) Decoder    { return newTextDecoder(opts, "syslog") }
func newFortiGate(opts Options) Decoder { return newTextDecoder(opts, "fortigate") }
func newCEF(opts Options) Decoder       { return newTextDecoder(opts, "cef") }
func newCisco(opts Options) Decoder     { return newTextDecoder(opts, "cisco") }
func newPANOS(opts Options) Decoder     { return newTextDecoder(opts, "panos") }

func (d *textDecoder) fail(reason Reason, detail string) error {
	return &Error{Format: d.want, Reason: reason, Detail: detail}
}

func (d *textDecoder) Decode(e *event.Event) error {
	raw := trimRecord(e.Raw)
	if len(raw) == 0 {
		return d.fail(ReasonEmpty, "")
	}
	s, reason := textOf(raw)
	switch reason {
	case ReasonBinary:
		return d.fail(reason, "control bytes in a text record")
	case ReasonInvalidUTF8:
		return d.fail(reason, "neither UTF-8 nor Shift_JIS")
	}
	e.Format = "syslog"
	body, err := d.header(e, s)
	if err != nil {
		return err
	}
	kind := bodyKind(e, body)
	if d.want != "syslog" && kind != d.want {
		switch d.want {
		case "fortigate":
			return d.fail(ReasonSyntax, "not a FortiGate key=value log")
		case "cef":
			return d.fail(ReasonSyntax, "no CEF: header")
		case "cisco":
			return d.fail(ReasonSyntax, "no Cisco %FACILITY-SEVERITY-MNEMONIC:")
		default:
			return d.fail(ReasonSyntax, "not a PAN-OS CSV log")
		}
	}
	switch kind {
	case "cef":
		err = d.cef(e, body)
	case "leef":
		err = d.leef(e, body)
	case "yamaha":
		err = d.yamaha(e, body)
	case "fortigate":
		err = d.fortigate(e, body)
	case "cisco":
		err = d.cisco(e, body)
	case "panos":
		err = d.panos(e, body)
	case "checkpoint":
		err = d.checkpoint(e, body)
	case "sophos":
		err = d.sophos(e, body, false)
	case "sonicwall":
		err = d.sonicwall(e, body)
	case "pulse":
		b, relayed, _ := pulseBody(e)
		err = d.pulse(e, b, relayed)
	case "watchguard":
		b, serial, stamp, _ := wgBody(e)
		err = d.watchguard(e, b, serial, stamp)
	case "sophos-utm":
		err = d.sophos(e, e.Message, true)
	default:
		authDecode(e, e.Message)
	}
	if err != nil {
		return err
	}
	if e.Time.IsZero() {
		if e.Received.IsZero() {
			return d.fail(ReasonTimestamp, "no timestamp in the record")
		}
		// A record without a time that can be read keeps the time of its arrival, which is
		// the best there is, but says so: a timeline must not present it as the time of the
		// event.
		e.Time = e.Received
		e.Add(keyTags, TagTimeFromReceipt)
	}
	return nil
}

// header parses the syslog header at the start of s into e, sets e.Message to the message
// that follows, and returns the body for the CEF and FortiGate decoders, which is the message
// for them.
func (d *textDecoder) header(e *event.Event, s string) (string, error) {
	hasPRI := false
	if s[0] == '<' {
		pri, n := syslogPRI(s)
		if n == 0 {
			return "", d.fail(ReasonSyntax, "bad PRI: want <0> to <191>")
		}
		hasPRI = true
		e.Facility, e.Severity = uint8(pri>>3), uint8(pri&7)
		s = s[n:]
		if len(s) >= 2 && s[0] == '1' && s[1] == ' ' {
			return d.rfc5424(e, s[2:])
		}
	}
	if t, n, ok := parseISOTime(s, d.opts.location()); ok {
		e.Time = t
		s = s[n:]
	} else if t, n, ok := parseUTMTime(s, d.opts.location()); ok {
		e.Time = t
		s = s[n:]
	} else if t, n, ok := parseSlashTime(s, d.opts.location()); ok {
		// Yamaha RTX writes its log so ("2015/04/24 12:01:34: IP Tunnel[1] Up"), with neither
		// host nor tag: the rest is the message.
		e.Time = t
		e.Message = trimSpaceRight(trimSpaceLeft(s[n:]))
		return e.Message, nil
	} else if ts, n, ok := parseBSDTime(s); ok {
		t, ok := ts.time(d.opts, e.Received)
		if !ok {
			return "", d.fail(ReasonTimestamp, "date out of range: "+s[:n])
		}
		e.Time = t
		s = s[n:]
	} else {
		if isBody(s) {
			return s, nil
		}
		if !hasPRI {
			if _, ok := monthOf(s); ok {
				return "", d.fail(ReasonTimestamp, "unreadable timestamp")
			}
			return "", d.fail(ReasonSyntax, "no syslog header")
		}
		// <PRI> and then the message, as some small devices send: the time is the time
		// of arrival, set by Decode.
		d.tagAndMessage(e, trimSpaceLeft(s))
		return e.Message, nil
	}
	s = trimSpaceLeft(s)
	// The host name, unless the word is already the tag ("sshd[12]:", "kernel:") or is no
	// host name at all (the start of a CSV record, "1,2021/03/02"): a wrong host.name is
	// worse than none, since rules, the archive and extracts take it as the machine's.
	// A vendor's body after the time or the host (date=..., CEF:0|..., %ASA-...) is neither
	// a host nor a tag, so it comes back whole as the message, which bodyKind then names.
	if w, rest := cutWord(s); hostLike(w) {
		e.Host = w
		s = trimSpaceLeft(rest)
	}
	if yamahaLooksLike(s) {
		// "PP[01] Rejected at ...": an interface, not a tag with a pid.
		e.Message = trimSpaceRight(s)
		return e.Message, nil
	}
	d.tagAndMessage(e, s)
	return e.Message, nil
}

// bodyKind names the vendor decoder that reads the body (or, for Sophos UTM, the message
// after the tag), or "" for a syslog message. It runs once on every line, so the tests that
// a first byte rules out come first.
func bodyKind(e *event.Event, body string) string {
	if body == "" {
		return ""
	}
	switch c := body[0]; {
	case c == 'C' && strings.HasPrefix(body, "CEF:"):
		return "cef"
	case c == 'L' && strings.HasPrefix(body, "LEEF:"):
		return "leef"
	case isDigit(c) && panLooksLike(body):
		return "panos"
	case c == 'd' && sophosXGLooksLike(body):
		return "sophos"
	case c == 'i' && sonicwallLooksLike(body):
		return "sonicwall"
	case c == 'i' && sophosUTMLooksLike(e.Process, e.Message):
		return "sophos-utm"
	case (c == '[' || c == 'P' || c == 'L' || c == 'T') && yamahaLooksLike(body):
		return "yamaha"
	case c == '[' && e.Message == "" && cpLooksLike(body):
		return "checkpoint" // only after an RFC 5424 header, which then leaves no message
	}
	switch {
	case fgLooksLike(body):
		return "fortigate"
	case e.Process == "" && ciscoLooksLike(body):
		// A Cisco line has no tag: its mnemonic is never taken for one (processLike).
		return "cisco"
	}
	if _, _, ok := pulseBody(e); ok {
		return "pulse"
	}
	if _, _, _, ok := wgBody(e); ok {
		return "watchguard"
	}
	return ""
}

// isBody reports whether s is a message body that another decoder reads whole.
func isBody(s string) bool {
	return strings.HasPrefix(s, "CEF:") || strings.HasPrefix(s, "LEEF:") || fgLooksLike(s) || ciscoLooksLike(s) || panLooksLike(s) || sophosXGLooksLike(s) || sonicwallLooksLike(s)
}

// hostLike reports whether w can be a host name or address: letters, digits, dots, hyphens,
// underscores, the colons of an IPv6 address and, inside a device's configured name ("FGT
// 60F"), spaces; and not only digits (a Cisco sequence number "6705" is none). Every decoder
// checks a host.name with it, so that what is not a host (the start of a CSV record,
// "1,2021/03/02") never becomes one.
func hostLike(w string) bool {
	if w == "" || len(w) > 255 {
		return false
	}
	number := true
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case isDigit(c):
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_', c == '.', c == ':', c == ' ':
			number = false
		default:
			return false
		}
	}
	end := w[len(w)-1]
	return !number && end != ':' && end != ' ' && w[0] != '.' && w[0] != '-' && w[0] != ' '
}

// processLike reports whether a syslog tag can name a process: it holds a letter and none of
// the bytes that mark something else (a Cisco message id "%ASA-4-106023", a sequence number
// "6705", CSV, key=value).
func processLike(tag string) bool {
	letter := false
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c == '%' || c == ',' || c == '=' || c == '"' || c == '\'' || c == '<' || c == '>':
			return false
		}
	}
	return letter
}

// syslogPRI parses "<PRI>" at the start of s and returns its value and length, or n == 0.
func syslogPRI(s string) (pri, n int) {
	for i := 1; i < len(s) && i <= 4; i++ {
		c := s[i]
		if c == '>' {
			// No leading zeros but "<0>"; at most 191 (facility 23, severity 7).
			if i == 1 || (i > 2 && s[1] == '0') || pri > 191 {
				return 0, 0
			}
			return pri, i + 1
		}
		if !isDigit(c) {
			return 0, 0
		}
		pri = pri*10 + int(c-'0')
	}
	return 0, 0
}

// tagAndMessage reads the RFC 3164 TAG ("sshd[1234]:", "kernel:", "sshd(pam_unix)[19939]:")
// and the message after it into e. Without a tag the whole of s is the message.
func (d *textDecoder) tagAndMessage(e *event.Event, s string) {
	tag, pid, msg, ok := syslogTag(s)
	if !ok || !processLike(tag) {
		e.Message = trimSpaceRight(s)
		return
	}
	e.Process = tag
	// Old PAM names the process and module as "sshd(pam_unix)": the process is sshd.
	if i := strings.IndexByte(tag, '('); i > 0 && tag[len(tag)-1] == ')' {
		e.Process = tag[:i]
		e.Add(syslogKeyAppName, tag)
	}
	e.PID = pid
	e.Message = trimSpaceRight(trimSpaceLeft(msg))
}

// syslogTag splits s into the tag, its pid and the message.
func syslogTag(s string) (tag string, pid int32, msg string, ok bool) {
	const maxTag = 64
	i := 0
	for i < len(s) && i < maxTag && s[i] != ' ' && s[i] != ':' && s[i] != '[' {
		i++
	}
	if i == 0 || i == len(s) || i == maxTag {
		return "", 0, "", false
	}
	if s[i] == ' ' {
		// Two words before the colon are a tag only in the shapes daemons really use:
		// "syslogd 1.4.1: restart." (a version) and "-- root[2421]: ROOT LOGIN ON tty2".
		j := i + 1
		if j >= len(s) || !(isDigit(s[j]) || s[:i] == "--") {
			return "", 0, "", false
		}
		for j < len(s) && j < maxTag && s[j] != ' ' && s[j] != ':' && s[j] != '[' {
			j++
		}
		if j == len(s) || j == maxTag || s[j] == ' ' {
			return "", 0, "", false
		}
		i = j
	}
	tag = s[:i]
	rest := s[i:]
	if rest[0] == '[' {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", 0, "", false
		}
		pid, _ = parsePID(rest[1:end])
		rest = rest[end+1:]
		if rest == "" {
			return tag, pid, "", true
		}
		if rest[0] == ':' {
			rest = rest[1:]
		}
		if rest != "" && rest[0] != ' ' {
			return "", 0, "", false
		}
		return tag, pid, rest, true
	}
	// rest[0] == ':'
	rest = rest[1:]
	if rest != "" && rest[0] != ' ' {
		return "", 0, "", false // "12:34" or "http://": not a tag
	}
	return tag, 0, rest, true
}

// rfc5424 parses what follows "<PRI>1 ": TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
// STRUCTURED-DATA [MSG].
func (d *textDecoder) rfc5424(e *event.Event, s string) (string, error) {
	var ts string
	ts, s = cutWord(s)
	// Check Point's Log Exporter writes "2018-03-21 17:25:25" where RFC 5424 has one word.
	if len(ts) == 10 && ts[4] == '-' && ts[7] == '-' && len(s) > 8 && s[2] == ':' && s[5] == ':' {
		clock, rest := cutWord(s)
		if t, n, ok := parseISOTime(ts+"T"+clock, d.opts.location()); ok && n == len(ts)+1+len(clock) {
			e.Time, ts, s = t, "-", rest
		}
	}
	if ts != "-" {
		t, n, ok := parseISOTime(ts, d.opts.location())
		if !ok || n != len(ts) {
			return "", d.fail(ReasonTimestamp, "bad RFC 5424 timestamp "+quoteShort(ts))
		}
		e.Time = t
	}
	var host, app, procid, msgid string
	host, s = cutWord(s)
	app, s = cutWord(s)
	procid, s = cutWord(s)
	msgid, s = cutWord(s)
	if msgid == "" {
		return "", d.fail(ReasonSyntax, "RFC 5424 header is cut short")
	}
	if host != "-" && hostLike(host) {
		e.Host = host
	}
	if app != "-" && processLike(app) {
		e.Process = app
	}
	if procid != "-" {
		if pid, ok := parsePID(procid); ok {
			e.PID = pid
		} else {
			e.Add(syslogKeyProcID, procid)
		}
	}
	if msgid != "-" {
		e.Add(syslogKeyMsgID, msgid)
	}
	switch {
	case strings.HasPrefix(s, "-"):
		s = s[1:]
	case cpLooksLike(s):
		// Check Point's field list fills the rest of the line; see checkpoint.go.
		e.Message = ""
		return s, nil
	case strings.HasPrefix(s, "["):
		n, err := d.structuredData(e, s)
		if err != nil {
			return "", err
		}
		s = s[n:]
	default:
		return "", d.fail(ReasonSyntax, "RFC 5424 structured data must be - or [...]")
	}
	if s != "" {
		if s[0] != ' ' {
			return "", d.fail(ReasonSyntax, "no space after RFC 5424 structured data")
		}
		s = s[1:]
	}
	s = strings.TrimPrefix(s, "\uFEFF") // the BOM that marks a UTF-8 MSG
	e.Message = trimSpaceRight(s)
	return e.Message, nil
}

// structuredData parses RFC 5424 SD-ELEMENTs ([id param="value" ...]...) into fields
// syslog.sd.<id>.<param> and returns their length.
func (d *textDecoder) structuredData(e *event.Event, s string) (int, error) {
	i := 0
	for i < len(s) && s[i] == '[' {
		i++
		start := i
		for i < len(s) && sdNameByte(s[i]) {
			i++
		}
		id := s[start:i]
		if id == "" {
			return 0, d.fail(ReasonSyntax, "RFC 5424 SD-ELEMENT without an id")
		}
		for {
			if i >= len(s) {
				return 0, d.fail(ReasonSyntax, "RFC 5424 SD-ELEMENT not closed")
			}
			if s[i] == ']' {
				i++
				break
			}
			if s[i] != ' ' {
				return 0, d.fail(ReasonSyntax, "RFC 5424 SD-PARAM not separated by a space")
			}
			i++
			start = i
			for i < len(s) && sdNameByte(s[i]) {
				i++
			}
			name := s[start:i]
			if name == "" || i+1 >= len(s) || s[i] != '=' || s[i+1] != '"' {
				return 0, d.fail(ReasonSyntax, "RFC 5424 SD-PARAM is not name=\"value\"")
			}
			i += 2
			end, escaped := indexUnescaped(s[i:], '"')
			if end < 0 {
				return 0, d.fail(ReasonSyntax, "RFC 5424 SD-PARAM value not closed")
			}
			v := s[i : i+end]
			i += end + 1
			if escaped {
				v = unescape(v, `"\]`) // RFC 5424 6.3.3; a backslash before anything else stays
			}
			e.Add(d.sdKeys.key(id, name), v)
		}
	}
	return i, nil
}

// sdNameByte reports whether c may be part of an RFC 5424 SD-NAME.
func sdNameByte(c byte) bool {
	return c > ' ' && c < 0x7f && c != '=' && c != ']' && c != '"'
}

// quoteShort shows at most 40 bytes of s in an error detail.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + s + "\""
}

// bsdTime is an RFC 3164 timestamp ("Dec 10 06:55:46"), which usually has no year and no zone.
type bsdTime struct {
	year, month, day, hour, min, sec, nsec int
	zoned                                  bool          // the timestamp named its zone
	offset                                 time.Duration // east of UTC, when zoned
}

// parseBSDTime reads "Mmm dd hh:mm:ss" with the variants devices send: a space-padded day
// ("Jul  1"), a year ("Jul 1 2024 10:00:00", Cisco), fractions of a second, a zone ("Z" right
// after the time as Cisco FTD writes it, or " UTC", " JST"; see parseOffset), and a colon
// after the time (Cisco). It returns the length read.
func parseBSDTime(s string) (bsdTime, int, bool) {
	var t bsdTime
	m, ok := monthOf(s)
	if !ok || len(s) < 15 || s[3] != ' ' {
		return t, 0, false
	}
	t.month = m
	i := 4
	if s[i] == ' ' {
		i++
	}
	switch {
	case isDigit(s[i]) && isDigit(s[i+1]):
		t.day = int(s[i]-'0')*10 + int(s[i+1]-'0')
		i += 2
	case isDigit(s[i]):
		t.day = int(s[i] - '0')
		i++
	default:
		return t, 0, false
	}
	if i >= len(s) || s[i] != ' ' {
		return t, 0, false
	}
	i++
	if y, ok := atoiN(s[i:], 4); ok && len(s) > i+4 && s[i+4] == ' ' {
		t.year = y
		i += 5
	}
	n, ok := parseClock(s[i:], &t.hour, &t.min, &t.sec, &t.nsec)
	if !ok || t.day < 1 || t.day > 31 {
		return t, 0, false
	}
	i += n
	if i < len(s) && (s[i] == 'Z' || s[i] == 'z') {
		t.zoned = true
		i++
	} else if i+1 < len(s) && s[i] == ' ' && s[i+1] >= 'A' && s[i+1] <= 'Z' {
		w, _ := cutWord(s[i+1:])
		w = strings.TrimSuffix(w, ":")
		if off, ok := parseOffset(w); ok {
			t.zoned, t.offset = true, off
			i += 1 + len(w)
		}
	}
	if i < len(s) && s[i] == ':' {
		i++
	}
	if i < len(s) && s[i] != ' ' {
		return t, 0, false
	}
	return t, i, true
}

// time returns t in the options' location, inferring the year when t has none: the year of
// received (or now), or the one before when that would put t more than a day in the future.
func (t bsdTime) time(opts Options, received time.Time) (time.Time, bool) {
	loc := opts.location()
	if t.zoned {
		loc = time.UTC
	}
	year := t.year
	if year == 0 {
		year = opts.Year
	}
	if year == 0 {
		ref := received
		if ref.IsZero() {
			ref = time.Now()
		}
		year = ref.In(loc).Year()
		tt := time.Date(year, time.Month(t.month), t.day, t.hour, t.min, t.sec, t.nsec, loc)
		if tt.After(ref.Add(24 * time.Hour)) {
			year--
		}
	}
	tt := time.Date(year, time.Month(t.month), t.day, t.hour, t.min, t.sec, t.nsec, loc)
	if tt.Day() != t.day {
		return time.Time{}, false // Feb 30
	}
	return tt.Add(-t.offset), true
}

// parseSlashTime reads "2015/04/24 12:01:34" followed by a colon or a space, in loc, and
// returns the length read with the colon.
func parseSlashTime(s string, loc *time.Location) (time.Time, int, bool) {
	if len(s) < 20 || s[4] != '/' || s[7] != '/' || s[10] != ' ' || (s[19] != ':' && s[19] != ' ') {
		return time.Time{}, 0, false
	}
	y, ok1 := atoiN(s, 4)
	mo, ok2 := atoiN(s[5:], 2)
	d, ok3 := atoiN(s[8:], 2)
	var h, mi, sc, ns int
	n, ok4 := parseClock(s[11:19], &h, &mi, &sc, &ns)
	if !ok1 || !ok2 || !ok3 || !ok4 || n != 8 || mo < 1 || mo > 12 || d < 1 ||
		d != time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, 0, false
	}
	n = 19
	if s[19] == ':' {
		n = 20
	}
	return time.Date(y, time.Month(mo), d, h, mi, sc, 0, loc), n, true
}

// parseUTMTime reads the timestamp Sophos UTM writes at the start of its lines,
// "2023:04:28-00:50:54", in loc (the appliance's zone, which the line does not name), and
// returns the length read.
func parseUTMTime(s string, loc *time.Location) (time.Time, int, bool) {
	if len(s) < 19 || s[4] != ':' || s[7] != ':' || s[10] != '-' || (len(s) > 19 && s[19] != ' ') {
		return time.Time{}, 0, false
	}
	y, ok1 := atoiN(s, 4)
	mo, ok2 := atoiN(s[5:], 2)
	d, ok3 := atoiN(s[8:], 2)
	var h, mi, sc, ns int
	n, ok4 := parseClock(s[11:], &h, &mi, &sc, &ns)
	if !ok1 || !ok2 || !ok3 || !ok4 || n != 8 || mo < 1 || mo > 12 || d < 1 ||
		d != time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, 0, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sc, 0, loc), 19, true
}

// monthOf reads a three-letter English month name at the start of s.
func monthOf(s string) (int, bool) {
	if len(s) < 3 {
		return 0, false
	}
	// Lower-case the three letters and pack them for one switch.
	k := uint32(s[0]|0x20)<<16 | uint32(s[1]|0x20)<<8 | uint32(s[2]|0x20)
	switch k {
	case 'j'<<16 | 'a'<<8 | 'n':
		return 1, true
	case 'f'<<16 | 'e'<<8 | 'b':
		return 2, true
	case 'm'<<16 | 'a'<<8 | 'r':
		return 3, true
	case 'a'<<16 | 'p'<<8 | 'r':
		return 4, true
	case 'm'<<16 | 'a'<<8 | 'y':
		return 5, true
	case 'j'<<16 | 'u'<<8 | 'n':
		return 6, true
	case 'j'<<16 | 'u'<<8 | 'l':
		return 7, true
	case 'a'<<16 | 'u'<<8 | 'g':
		return 8, true
	case 's'<<16 | 'e'<<8 | 'p':
		return 9, true
	case 'o'<<16 | 'c'<<8 | 't':
		return 10, true
	case 'n'<<16 | 'o'<<8 | 'v':
		return 11, true
	case 'd'<<16 | 'e'<<8 | 'c':
		return 12, true
	}
	return 0, false
}

// parseClock reads "hh:mm:ss" and an optional fraction ".123" or ",123", returning the length.
func parseClock(s string, hour, min, sec, nsec *int) (int, bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, false
	}
	h, ok1 := atoiN(s, 2)
	m, ok2 := atoiN(s[3:], 2)
	sc, ok3 := atoiN(s[6:], 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sc > 60 {
		return 0, false
	}
	if sc == 60 {
		sc = 59 // a leap second: time.Date would roll it into the next minute
	}
	*hour, *min, *sec = h, m, sc
	i := 8
	if i+1 < len(s) && (s[i] == '.' || s[i] == ',') && isDigit(s[i+1]) {
		i++
		ns, scale := 0, 100_000_000
		for i < len(s) && isDigit(s[i]) {
			ns += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
		*nsec = ns
	}
	return i, true
}

// parseISOTime reads an RFC 3339 timestamp ("2024-05-01T10:20:30.123456+09:00"), also with a
// space for the T and without a zone (then it is in loc), at the start of s. It must be
// followed by a space or the end. It returns the length read.
//
// Times with an offset come back in UTC, not in a FixedZone, which would cost an allocation
// per record; the instant is the same.
func parseISOTime(s string, loc *time.Location) (time.Time, int, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ' && s[10] != 't') {
		return time.Time{}, 0, false
	}
	y, ok1 := atoiN(s, 4)
	mo, ok2 := atoiN(s[5:], 2)
	d, ok3 := atoiN(s[8:], 2)
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, 0, false
	}
	var h, mi, sc, ns int
	n, ok := parseClock(s[11:], &h, &mi, &sc, &ns)
	if !ok {
		return time.Time{}, 0, false
	}
	i := 11 + n
	offset, zoned := 0, false
	if i < len(s) {
		switch c := s[i]; {
		case c == 'Z' || c == 'z':
			zoned = true
			i++
		case c == '+' || c == '-':
			if i+5 > len(s) {
				return time.Time{}, 0, false
			}
			oh, ok1 := atoiN(s[i+1:], 2)
			j := i + 3
			if j < len(s) && s[j] == ':' {
				j++
			}
			om, ok2 := atoiN(s[j:], 2)
			if !ok1 || !ok2 || oh > 23 || om > 59 {
				return time.Time{}, 0, false
			}
			offset = oh*3600 + om*60
			if c == '-' {
				offset = -offset
			}
			zoned = true
			i = j + 2
		}
	}
	if i < len(s) && s[i] != ' ' {
		return time.Time{}, 0, false
	}
	var t time.Time
	if zoned {
		t = time.Date(y, time.Month(mo), d, h, mi, sc, ns, time.UTC).Add(-time.Duration(offset) * time.Second)
	} else {
		t = time.Date(y, time.Month(mo), d, h, mi, sc, ns, loc)
	}
	if time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() != d {
		return time.Time{}, 0, false
	}
	return t, i, true
}
