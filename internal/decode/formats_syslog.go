package decode

import "bytes"

// syslogFormats are the formats that arrive as lines of text, most often over syslog.
// FortiGate and CEF come before syslog, which takes any line and would take theirs too (the
// syslog decoder hands FortiGate and CEF bodies on, so a mixed stream decodes either way).
var syslogFormats = []Format{
	{
		Name:  "fortigate",
		Doc:   "FortiGate key=value logs (traffic, VPN, admin login, UTM), with or without a syslog header",
		New:   newFortiGate,
		Sniff: func(head []byte) bool { return fgLooksLike(sniffBody(firstLine(head))) },
	},
	{
		Name:  "cef",
		Doc:   "ArcSight Common Event Format (CEF:0|vendor|product|...), with or without a syslog header",
		New:   newCEF,
		Sniff: func(head []byte) bool { return bytes.Contains(firstLine(head), []byte("CEF:")) },
	},
	{
		Name: "syslog",
		Doc:  "syslog (RFC 5424, RFC 3164, /var/log files); sshd, PAM, su, sudo messages understood; CEF and FortiGate bodies handed on",
		New:  newSyslog,
	},
}

// firstLine returns the first non-blank line of head.
func firstLine(head []byte) []byte {
	for len(head) > 0 {
		line, rest, _ := bytes.Cut(head, []byte{'\n'})
		if len(bytes.TrimSpace(line)) > 0 {
			return line
		}
		head = rest
	}
	return nil
}

// sniffBody returns what follows the syslog PRI and timestamp of line, where a FortiGate body
// starts; it does not need to be exact, since fgLooksLike looks for several keys.
func sniffBody(line []byte) string {
	s := string(line)
	if i := bytes.Index(line, []byte("date=")); i >= 0 {
		return s[i:]
	}
	if i := bytes.Index(line, []byte("logid=")); i >= 0 {
		if j := bytes.LastIndexByte(line[:i], '>'); j >= 0 {
			return s[j+1:]
		}
	}
	return s
}
