package decode

// syslogFormats are the formats that arrive as lines of text, most often over syslog.
// Detection never picks fortigate, cef, cisco or panos: the syslog decoder hands their bodies
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
		Name: "cisco",
		Doc:  "Cisco ASA/FTD (%ASA-6-302013) and IOS (%FACILITY-SEVERITY-MNEMONIC) messages, with or without a syslog header",
		New:  newCisco,
	},
	{
		Name: "panos",
		Doc:  "PAN-OS syslog CSV logs (TRAFFIC, THREAT, GLOBALPROTECT, SYSTEM), with or without a syslog header",
		New:  newPANOS,
	},
	{
		Name: "syslog",
		Doc:  "syslog (RFC 5424, RFC 3164, /var/log files); sshd, PAM, su, sudo messages understood; CEF, FortiGate, Cisco and PAN-OS bodies handed on",
		New:  newSyslog,
	},
}
