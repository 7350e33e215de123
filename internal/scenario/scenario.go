// Package scenario writes the logs of real attacks on Japanese hospitals, as the hospital's own
// devices would have logged them, for the demo, drills and end-to-end tests. It stands in front
// of the data path: its records go into omamori the way a firewall's or a Windows server's do,
// over syslog and the ingest API.
//
// Addresses are from the documentation ranges (RFC 5737) for the Internet side and private
// ranges for the hospital; nothing is ever sent to them: they are only text in the logs.
package scenario

import (
	"fmt"
	"time"
)

// Record is one log record of a scenario.
type Record struct {
	At     time.Time
	Format string // the decode format: "syslog" for lines sent over syslog, "winlogbeat" for JSON over HTTP
	Data   []byte // the record, without a line ending
}

// The cast of the ransomware scenario.
const (
	Attacker      = "198.51.100.77"  // on the Internet
	VPNPortal     = "203.0.113.10"   // the FortiGate's SSL-VPN portal
	VPNTunnelIP   = "10.212.134.200" // the address the attacker gets inside the VPN
	CateringSrv   = "192.168.20.15"  // the contractor's server with RDP always on
	FileServer    = "192.168.30.20"
	Ventilator    = "192.168.50.10" // life-support: must never be cut off
	VPNAccount    = "maint-vendor"  // the remote-maintenance account with a reused password
	SharedAccount = "Administrator" // one password on every server and PC
)

// EHRServers are the servers the ransomware reaches by RDP and encrypts over SMB.
var EHRServers = []struct{ Name, Addr string }{
	{"EHR-DB01", "192.168.30.10"},
	{"EHR-AP01", "192.168.30.11"},
	{"EHR-AP02", "192.168.30.12"},
	{"PACS01", "192.168.30.13"},
}

// Ransomware returns the records of an attack modelled on Handa Hospital (2021) and Osaka
// General Medical Center (2022), in time order from start: the SSL-VPN path-traversal exploit
// (CVE-2018-13379), a brute force on the VPN that ends in a login with the maintenance
// account, an administrator login on the appliance, RDP from the VPN into the catering
// server, the antivirus stopped, RDP and SMB fan-out to the EHR servers with the one shared
// administrator password, files encrypted en masse, and an attempt to reach a ventilator.
func Ransomware(start time.Time) []Record {
	g := &gen{t: start.Truncate(time.Second)}

	// 1. The exploit: an unpatched FortiGate leaks its SSL-VPN session file.
	g.fortigate(`logid="0419016384" type="utm" subtype="ips" eventtype="signature" level="alert" severity="critical" srcip=%s srcport=44321 srcintf="wan1" dstip=%s dstport=443 dstintf="root" sessionid=%d action="detected" proto=6 service="HTTPS" attack="FortiOS.SSL.VPN.Web.Portal.Pathname.Memory.Disclosure" attackid=47001 ref="http://www.fortinet.com/ids/VID47001" hostname="%s" url="/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession" msg="vulnerability: FortiOS.SSL.VPN.Web.Portal.Pathname.Memory.Disclosure," crscore=50 craction=4096`,
		Attacker, VPNPortal, g.session(), VPNPortal)
	g.wait(40 * time.Second)

	// 2. Brute force on the SSL-VPN portal, then the maintenance account gets in.
	users := []string{"admin", "administrator", "fortinet", "maint", "vpn", "support", VPNAccount}
	for i := range 24 {
		u := users[i%len(users)]
		g.fortigate(`logid="0101039426" type="event" subtype="vpn" level="alert" logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web" tunnelid=0 remip=%s user="%s" group="N/A" dst_host="N/A" reason="sslvpn_login_permission_denied" msg="SSL user failed to logged in"`,
			Attacker, u)
		g.wait(2 * time.Second)
	}
	g.fortigate(`logid="0101039947" type="event" subtype="vpn" level="information" logdesc="SSL VPN tunnel up" action="tunnel-up" tunneltype="ssl-tunnel" tunnelid=285300470 remip=%s tunnelip=%s user="%s" group="maintenance" dst_host="N/A" reason="tunnel established" msg="SSL tunnel established"`,
		Attacker, VPNTunnelIP, VPNAccount)
	g.wait(30 * time.Second)

	// 3. The appliance's administrator account, whose password was on a criminal forum.
	g.fortigate(`logid="0100032001" type="event" subtype="system" level="information" logdesc="Admin login successful" sn="%d" user="admin" ui="https(%s)" method="https" srcip=%s dstip=%s action="login" status="success" reason="none" profile="super_admin" msg="Administrator admin logged in successfully from https(%s)"`,
		g.t.Unix(), Attacker, Attacker, VPNPortal, Attacker)
	g.wait(2 * time.Minute)

	// 4. RDP from the VPN into the catering server, then the antivirus goes.
	g.traffic(VPNTunnelIP, CateringSrv, 3389, "RDP", 48213, 1203344)
	g.windows("KYUSHOKU-SV01", 4624, "Security", "Microsoft-Windows-Security-Auditing", "logged-in", "success",
		fmt.Sprintf(`"TargetUserName":"%s","TargetDomainName":"KYUSHOKU-SV01","LogonType":"10","IpAddress":"%s","IpPort":"51022","LogonProcessName":"User32","AuthenticationPackageName":"Negotiate","WorkstationName":"KYUSHOKU-SV01"`, SharedAccount, VPNTunnelIP))
	g.wait(3 * time.Minute)
	g.windows("KYUSHOKU-SV01", 7036, "System", "Service Control Manager", "", "",
		`"param1":"Symantec Endpoint Protection","param2":"stopped"`)
	g.windows("KYUSHOKU-SV01", 1116, "Microsoft-Windows-Windows Defender/Operational", "Microsoft-Windows-Windows Defender", "", "",
		`"Threat Name":"Ransom:Win32/LockBit.AB","Path":"file:_C:\\ProgramData\\svchost.exe","Action Name":"Not Applicable"`)
	g.wait(5 * time.Minute)

	// 5. Lateral movement with the one shared administrator password.
	for _, s := range EHRServers {
		g.traffic(CateringSrv, s.Addr, 445, "SMB", 8841, 20331)
		g.traffic(CateringSrv, s.Addr, 3389, "RDP", 50112, 884213)
		g.windows(s.Name, 4624, "Security", "Microsoft-Windows-Security-Auditing", "logged-in", "success",
			fmt.Sprintf(`"TargetUserName":"%s","TargetDomainName":"HOSPITAL","LogonType":"10","IpAddress":"%s","IpPort":"52%03d","LogonProcessName":"User32","AuthenticationPackageName":"Negotiate"`, SharedAccount, CateringSrv, g.n%1000))
		g.wait(20 * time.Second)
	}

	// 6. Shadow copies deleted, then mass encryption of the file shares.
	g.windows("EHR-DB01", 1, "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", "", "",
		`"Image":"C:\\Windows\\System32\\vssadmin.exe","CommandLine":"vssadmin.exe delete shadows /all /quiet","ParentImage":"C:\\ProgramData\\svchost.exe","User":"HOSPITAL\\Administrator"`)
	g.wait(10 * time.Second)
	for i := range 40 {
		g.windows("FS01", 11, "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", "", "",
			fmt.Sprintf(`"Image":"C:\\ProgramData\\svchost.exe","TargetFilename":"\\\\FS01\\karte\\%05d.pdf.lockbit","User":"HOSPITAL\\Administrator"`, 10000+i))
		g.traffic(EHRServers[0].Addr, FileServer, 445, "SMB", 2_400_000, 1_200)
		g.wait(250 * time.Millisecond)
	}

	// 7. The infected server reaches for a ventilator's management port.
	g.traffic(EHRServers[0].Addr, Ventilator, 443, "HTTPS", 3_120, 0)
	return g.out
}

// gen accumulates records with a running clock.
type gen struct {
	t   time.Time
	n   int
	out []Record
}

func (g *gen) wait(d time.Duration) { g.t = g.t.Add(d) }

func (g *gen) session() int { g.n++; return 4_000_000 + g.n }

// fortigate adds a FortiGate key=value log line, as the appliance sends it over syslog
// (RFC 3164 header with local=7, the FortiOS default).
func (g *gen) fortigate(format string, args ...any) {
	jst := g.t.In(tokyo)
	line := fmt.Sprintf(`<189>date=%s time=%s devname="FGT60F-HOSP" devid="FGT60FTK2109AAAA" eventtime=%d tz="+0900" vd="root" `,
		jst.Format("2006-01-02"), jst.Format("15:04:05"), g.t.UnixNano()) + fmt.Sprintf(format, args...)
	g.out = append(g.out, Record{At: g.t, Format: "syslog", Data: []byte(line)})
}

// traffic adds a FortiGate forward-traffic log of one closed session.
func (g *gen) traffic(src, dst string, dport int, service string, sent, rcvd int) {
	g.fortigate(`logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=%s srcport=%d srcintf="internal" dstip=%s dstport=%d dstintf="internal2" sessionid=%d proto=6 action="close" policyid=7 service="%s" duration=%d sentbyte=%d rcvdbyte=%d`,
		src, 49152+g.n%16000, dst, dport, g.session(), service, 1+sent/100_000, sent, rcvd)
}

// windows adds a Windows event as Winlogbeat ships it, with eventData the JSON members of
// winlog.event_data.
func (g *gen) windows(host string, id int, channel, provider, action, outcome, eventData string) {
	g.n++
	ev := fmt.Sprintf(`{"@timestamp":"%s","agent":{"type":"winlogbeat","version":"8.13.2"},"event":{"code":"%d","kind":"event","provider":"%s"`,
		g.t.UTC().Format("2006-01-02T15:04:05.000Z"), id, provider)
	if action != "" {
		ev += fmt.Sprintf(`,"action":"%s","outcome":"%s"`, action, outcome)
	}
	ev += fmt.Sprintf(`},"host":{"name":"%s"},"winlog":{"channel":"%s","computer_name":"%s","event_id":"%d","provider_name":"%s","record_id":"%d","event_data":{%s}}}`,
		host, channel, host, id, provider, 100000+g.n, eventData)
	g.out = append(g.out, Record{At: g.t, Format: "winlogbeat", Data: []byte(ev)})
}

var tokyo = time.FixedZone("JST", 9*60*60)
