package decode

// syslogFormats are the formats that arrive as lines of text, most often over syslog.
// Detection never picks fortigate or cef: the syslog decoder hands FortiGate and CEF bodies
// on, line by line, so a file that starts with a FortiGate line and goes on with sshd (as a
// gateway's log does) decodes whole. They stay for a sender that speaks nothing else.
var syslogFormats = []Format{
	{
		Name: "fortigate",
		Doc:  "FortiGate key=value logs (traffic, VPN, admin login, UTM), with or without a syslog header",
		New:  newFortiGate,
	},
	{
		Name: "cef",
		Doc:  "ArcSight Common Event Format (CEF:0|vendor|product|...), with or without a syslog header",
		New:  newCEF,
	},
	{
		Name: "syslog",
		Doc:  "syslog (RFC 5424, RFC 3164, /var/log files); sshd, PAM, su, sudo messages understood; CEF and FortiGate bodies handed on",
		New:  newSyslog,
	},
}
