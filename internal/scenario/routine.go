package scenario

import (
	"bytes"
	"fmt"
	"time"
)

// Routine returns n lines of a hospital gateway's routine syslog, each ending in a newline:
// FortiGate traffic logs (six in ten), SSL-VPN login failures of the Internet's background
// noise, and sshd logins that fail and succeed. Benchmarks and load tests send it.
func Routine(n int) []byte {
	var b bytes.Buffer
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		t := base.Add(time.Duration(i) * time.Second)
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			fmt.Fprintf(&b, `<189>date=%s time=%s devname="FGT60F-HOSP" devid="FGT60FTK2109AAAA" eventtime=%d tz="+0900" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=192.168.%d.%d srcport=%d srcintf="internal" srcintfrole="lan" dstip=203.0.113.%d dstport=443 dstintf="wan1" dstintfrole="wan" sessionid=%d proto=6 action="close" policyid=12 service="HTTPS" duration=%d sentbyte=%d rcvdbyte=%d sentpkt=%d rcvdpkt=%d`+"\n",
				t.Format("2006-01-02"), t.Format("15:04:05"), t.UnixNano(), i%200, i%250, 1024+i%60000, i%250, 100000+i, i%300, 1000+i*7, 5000+i*13, 10+i%50, 20+i%90)
		case 6:
			fmt.Fprintf(&b, `<185>date=%s time=%s devname="FGT60F-HOSP" devid="FGT60FTK2109AAAA" logid="0101039426" type="event" subtype="vpn" level="alert" vd="root" logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web" remip=198.51.100.%d user="user%d" reason="sslvpn_login_permission_denied" msg="SSL user failed to logged in"`+"\n",
				t.Format("2006-01-02"), t.Format("15:04:05"), i%250, i%500)
		case 7, 8:
			fmt.Fprintf(&b, "<38>%s vpn-gw01 sshd[%d]: Failed password for invalid user admin%d from 203.0.113.%d port %d ssh2\n",
				t.Format(time.Stamp), 20000+i, i%50, i%250, 40000+i%20000)
		default:
			fmt.Fprintf(&b, "<38>%s vpn-gw01 sshd[%d]: Accepted publickey for deploy from 192.168.10.%d port %d ssh2: ED25519 SHA256:AbCdEf0123456789\n",
				t.Format(time.Stamp), 20000+i, i%250, 40000+i%20000)
		}
	}
	return b.Bytes()
}
