package sigma

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

// fortigateLines builds FortiGate syslog lines in the form omamori's scenario replays: the
// SSL-VPN failure (log id 0101039426) and tunnel-up lines of FortiOS 7.
func fortigateLines(start time.Time, steps []vpnStep) string {
	var b strings.Builder
	for i, s := range steps {
		t := start.Add(time.Duration(i) * s.gap)
		head := fmt.Sprintf(`<185>date=%s time=%s devname="FGT60F-HOSP" devid="FGT60FTK2109AAAA" eventtime=%d tz="+0900" `,
			t.Format("2006-01-02"), t.Format("15:04:05"), t.UnixNano())
		if s.ok {
			fmt.Fprintf(&b, `%slogid="0101039947" type="event" subtype="vpn" level="information" vd="root" logdesc="SSL VPN tunnel up" action="tunnel-up" tunneltype="ssl-tunnel" tunnelid=285300470 remip=%s tunnelip=10.212.134.200 user="%s" group="maintenance" dst_host="N/A" reason="tunnel established" msg="SSL tunnel established"`+"\n", head, s.ip, s.user)
		} else {
			fmt.Fprintf(&b, `%slogid="0101039426" type="event" subtype="vpn" level="alert" vd="root" logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web" tunnelid=0 remip=%s user="%s" group="N/A" dst_host="N/A" reason="sslvpn_login_permission_denied" msg="SSL user failed to logged in"`+"\n", head, s.ip, s.user)
		}
	}
	return b.String()
}

type vpnStep struct {
	ip, user string
	ok       bool
	gap      time.Duration
}

func runCorrelation(t *testing.T, lines string) []CorrelationMatch {
	t.Helper()
	rs, rep, err := Load(os.DirFS("testdata"), Options{}, "correlation")
	if err != nil || len(rep.Failed) > 0 || rep.Compiled != 6 {
		t.Fatalf("Load(testdata/correlation) = %v, %d compiled, failed %v", err, rep.Compiled, rep.Failed)
	}
	rd, format, err := decode.NewReader(strings.NewReader(lines), "auto", decode.Options{Location: time.FixedZone("JST", 9*3600)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, c := rs.NewMatcher(), rs.NewCorrelator()
	var out []CorrelationMatch
	var e event.Event
	for {
		err := rd.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode (%s): %v", format, err)
		}
		out = append(out, c.Observe(m.Match(&e, nil), rs)...)
	}
	return out
}

func titles(cms []CorrelationMatch) []string {
	var out []string
	for _, cm := range cms {
		out = append(out, fmt.Sprintf("%s %v n=%d", cm.Rule.Title, cm.Group, cm.Count))
	}
	return out
}

func TestCorrelationBruteForceThenLogin(t *testing.T) {
	start := time.Date(2026, 4, 1, 2, 10, 0, 0, time.FixedZone("JST", 9*3600))
	var steps []vpnStep
	for i := range 20 {
		// the attacker, guessing one account's password; and a clinician mistyping now and then
		steps = append(steps, vpnStep{ip: "203.0.113.66", user: "admin", gap: 7 * time.Second})
		if i%7 == 0 {
			steps = append(steps, vpnStep{ip: "198.51.100.23", user: "nurse01", gap: 7 * time.Second})
		}
	}
	steps = append(steps, vpnStep{ip: "198.51.100.23", user: "nurse01", ok: true, gap: 7 * time.Second})
	steps = append(steps, vpnStep{ip: "203.0.113.66", user: "admin", ok: true, gap: 7 * time.Second})
	got := titles(runCorrelation(t, fortigateLines(start, steps)))
	want := []string{
		"Twenty SSL-VPN login failures from one address map[remip:203.0.113.66] n=20",
		"Failure and tunnel from one address map[remip:198.51.100.23] n=2",
		"SSL-VPN login after a brute force from the same address map[remip:203.0.113.66] n=2",
		"Failure and tunnel from one address map[remip:203.0.113.66] n=2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("correlations =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCorrelationTimespan(t *testing.T) {
	start := time.Date(2026, 4, 1, 2, 10, 0, 0, time.UTC)
	var steps []vpnStep
	for range 20 { // twenty failures, but one a minute: never twenty within ten minutes
		steps = append(steps, vpnStep{ip: "203.0.113.66", user: "admin", gap: time.Minute})
	}
	steps = append(steps, vpnStep{ip: "203.0.113.66", user: "admin", ok: true, gap: time.Minute})
	// Only the five-minute failure-and-tunnel rule holds; no brute force, so no login after one.
	got := titles(runCorrelation(t, fortigateLines(start, steps)))
	want := []string{"Failure and tunnel from one address map[remip:203.0.113.66] n=2"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("correlations = %q, want %q", got, want)
	}
}

func TestCorrelationSpraying(t *testing.T) {
	start := time.Date(2026, 4, 1, 2, 10, 0, 0, time.UTC)
	var steps []vpnStep
	for i := range 6 { // one address, six accounts, one try each: password spraying
		steps = append(steps, vpnStep{ip: "203.0.113.9", user: fmt.Sprintf("dr%02d", i), gap: 30 * time.Second})
	}
	got := titles(runCorrelation(t, fortigateLines(start, steps)))
	want := []string{"One address tries many VPN accounts map[remip:203.0.113.9] n=5"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("correlations = %q, want %q", got, want)
	}
}
