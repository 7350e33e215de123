package decode

import (
	"fmt"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/behavior"
	"github.com/omamori-project/omamori/internal/event"
)

// TestVPNBruteForceEveryVendor: twelve failed VPN or appliance logins from one address, one a
// second, in each vendor's documented line, decoded as a listener decodes them, are found by
// the same behavioural detector as FortiGate's: the decoders give the same neutral fields
// (category authentication, outcome failure, the source address) whatever the vendor.
func TestVPNBruteForceEveryVendor(t *testing.T) {
	const attacker = "198.51.100.77"
	vendors := []struct {
		name string
		line func(i int) string // the i-th failed attempt, i seconds after the first
	}{
		{"fortigate", func(i int) string {
			return fmt.Sprintf(`<185>date=2024-05-01 time=02:13:%02d devname="FGT60F-HOSP" devid="FGT60FTK2109AAAA" tz="+0900" logid="0101039426" type="event" subtype="vpn" level="alert" action="ssl-login-fail" tunneltype="ssl-web" remip=%s user="user%d" reason="sslvpn_login_unknown_user" msg="SSL user failed to logged in"`, i, attacker, i)
		}},
		{"panos-globalprotect", func(i int) string {
			return fmt.Sprintf(`<14>May  1 02:13:%02d PA-3220-HOSP 1,2024/05/01 02:13:%02d,013201001234,GLOBALPROTECT,0,0,2024/05/01 02:13:%02d,vsys1,gateway-auth,login,LDAP,,user%d,US,LAPTOP-0142,%s,::,0.0.0.0,::,a1b2c3,013201001234,6.1.1,Windows,,1,,Authentication failed: Invalid username or password,,failure,,,user-logon,0,gp-portal,7012345700,0x8000000000000000,2024-05-01T02:13:%02d.000+09:00,,,,,gp-gateway,0,0,0,0,,PA-3220-HOSP,1`, i, i, i, i, attacker, i)
		}},
		{"ivanti", func(i int) string {
			return fmt.Sprintf(`<134>1 2024-05-01T02:13:%02d+09:00 203.0.113.1 PulseSecure: - - - 2024-05-01 02:13:%02d - ics01 - [%s] user%d(Users)[] - Primary authentication failed for user%d/Users from %s`, i, i, attacker, i, i, attacker)
		}},
		{"cisco-asa", func(i int) string {
			return fmt.Sprintf(`<166>May 01 2024 02:13:%02d asa01 : %%ASA-6-113005: AAA user authentication Rejected : reason = AAA failure : server = 192.168.1.10 : user = user%d : user IP = %s`, i, i, attacker)
		}},
		{"checkpoint", func(i int) string {
			return fmt.Sprintf(`<134>1 2024-04-30T17:13:%02dZ gw-hq CheckPoint 10547 - [action:"Failed Log In"; origin:"192.0.2.1"; time:"%d"; version:"5"; auth_status:"Failed Login"; product:"Mobile Access"; src:"%s"; user:"user%d"]`, i, 1714497180+i, attacker, i)
		}},
		{"sophos-xg", func(i int) string {
			return fmt.Sprintf(`<30>device="SFW" date=2024-05-01 time=02:13:%02d timezone="JST" device_name="XG230" device_id=C44310050024-P29PUA log_id=063110617711 log_type="Event" log_component="SSL VPN Authentication" log_subtype="Authentication" status="Failed" priority=Information user_name="user%d" src_ip=%s message="User user%d failed to login to SSLVPN"`, i, i, attacker, i)
		}},
		{"sonicwall", func(i int) string {
			return fmt.Sprintf(`<134>id=firewall sn=0040103CE114 time="2024-05-01 02:13:%02d" fw=203.0.113.1 pri=6 c=16 m=32 msg="User login denied due to bad credentials" usr="user%d" src=%s:60001:X1 dst=203.0.113.1:4433:X1 proto=tcp/4433`, i, i, attacker)
		}},
		{"watchguard", func(i int) string {
			return fmt.Sprintf(`<142>May  1 02:13:%02d fb01 80BC02C8A1234 (2024-04-30T17:13:%02d) sslvpn: msg_id="1100-0005" Authentication of SSLVPN user [user%d@RADIUS] from %s was rejected, received an Access-Reject response from the RADIUS server`, i, i, i, attacker)
		}},
	}
	for _, v := range vendors {
		t.Run(v.name, func(t *testing.T) {
			dec, err := New("syslog", textGoldenOpts)
			if err != nil {
				t.Fatal(err)
			}
			en, err := behavior.New(behavior.DefaultConfig(), behavior.Shard{})
			if err != nil {
				t.Fatal(err)
			}
			var fs []behavior.Finding
			for i := range 12 {
				raw := v.line(i)
				e := &event.Event{Raw: []byte(raw), Received: textGoldenReceived}
				if err := dec.Decode(e); err != nil {
					t.Fatalf("Decode(%q) = %v", raw, err)
				}
				if e.Category != "authentication" || e.Outcome != event.OutcomeFailure || e.SrcIP.String() != attacker {
					t.Fatalf("Decode(%q) = category %q outcome %v source %v; want authentication, failure, %s", raw, e.Category, e.Outcome, e.SrcIP, attacker)
				}
				fs = en.Observe(fs, e)
			}
			var kinds []string
			for _, f := range fs {
				kinds = append(kinds, f.Detector)
				if f.Detector == behavior.DetectorBruteForce && f.Source.String() == attacker {
					return
				}
			}
			t.Errorf("12 failed logins from %s: findings %v, want %s", attacker, strings.Join(kinds, ", "), behavior.DetectorBruteForce)
		})
	}
}
