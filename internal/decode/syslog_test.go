package decode

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/scenario"
)

// textDecode decodes raw with a new decoder for format and returns the event and error.
func textDecode(t *testing.T, format string, opts Options, received time.Time, raw []byte) (*event.Event, error) {
	t.Helper()
	dec, err := New(format, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &event.Event{Raw: raw, Received: received}
	return e, dec.Decode(e)
}

func TestSyslogHeader(t *testing.T) {
	utc := Options{Location: time.UTC, Year: 2024}
	jst := time.FixedZone("JST", 9*3600)
	tests := []struct {
		raw                string
		opts               Options
		time               time.Time
		host, process, msg string
		pid                int32
		severity, facility uint8
	}{
		{"<38>Dec 10 06:55:46 LabSZ sshd[24200]: hello", utc, time.Date(2024, 12, 10, 6, 55, 46, 0, time.UTC), "LabSZ", "sshd", "hello", 24200, 6, 4},
		{"Jul  1 00:21:28 combo kernel: x", utc, time.Date(2024, 7, 1, 0, 21, 28, 0, time.UTC), "combo", "kernel", "x", 0, 0, 0},
		{"Jul 1 00:21:28 combo kernel: x", Options{Location: jst, Year: 2005}, time.Date(2005, 7, 1, 0, 21, 28, 0, jst), "combo", "kernel", "x", 0, 0, 0},
		// No host: the first word is already the tag.
		{"<13>May  1 10:20:30 sshd[1]: m", utc, time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC), "", "sshd", "m", 1, 5, 1},
		// No tag: the rest is the message.
		{"May  1 10:20:30 gw last message repeated 3 times", utc, time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC), "gw", "", "last message repeated 3 times", 0, 0, 0},
		{"Jun 19 04:09:11 combo syslogd 1.4.1: restart.", utc, time.Date(2024, 6, 19, 4, 9, 11, 0, time.UTC), "combo", "syslogd 1.4.1", "restart.", 0, 0, 0},
		{"Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2", utc, time.Date(2024, 7, 7, 8, 6, 15, 0, time.UTC), "combo", "-- root", "ROOT LOGIN ON tty2", 2421, 0, 0},
		// "12:34" after a word is not a tag.
		{"May  1 10:20:30 gw started at 12:34", utc, time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC), "gw", "", "started at 12:34", 0, 0, 0},
		{"May  1 10:20:30 gw app[x]: pid not a number", utc, time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC), "gw", "app", "pid not a number", 0, 0, 0},
		// A year, fractions, a colon (Cisco).
		{"<166>May 01 2023 10:20:30.250: asa[7]: m", utc, time.Date(2023, 5, 1, 10, 20, 30, 250e6, time.UTC), "", "asa", "m", 7, 6, 20},
		// A zone after the time: Z as Cisco FTD writes it, or a name parseOffset knows.
		{"<166>May 01 2026 09:24:32Z: fw[7]: m", utc, time.Date(2026, 5, 1, 9, 24, 32, 0, time.UTC), "", "fw", "m", 7, 6, 20},
		{"<166>May  1 10:20:30 JST h app: m", utc, time.Date(2024, 5, 1, 1, 20, 30, 0, time.UTC), "h", "app", "m", 0, 6, 20},
		// Sophos UTM's own timestamp, in the configured zone.
		{"2023:04:28-00:50:54 utm ulogd[5180]: m", Options{Location: jst}, time.Date(2023, 4, 28, 0, 50, 54, 0, jst), "utm", "ulogd", "m", 5180, 0, 0},
		// Words that are not a host or a process stay in the message.
		{"<14>Mar  2 10:00:01 1,2021/03/02 10:00:01,x", utc, time.Date(2024, 3, 2, 10, 0, 1, 0, time.UTC), "", "", "1,2021/03/02 10:00:01,x", 0, 6, 1},
		{"<14>Mar  2 10:00:01 gw 6705: not a process", utc, time.Date(2024, 3, 2, 10, 0, 1, 0, time.UTC), "gw", "", "6705: not a process", 0, 6, 1},
		{"<14>Mar  2 10:00:01 gw %FOO: not a mnemonic", utc, time.Date(2024, 3, 2, 10, 0, 1, 0, time.UTC), "gw", "", "%FOO: not a mnemonic", 0, 6, 1},
		// RFC 3339 after PRI and in files, with offsets.
		{"<30>2024-05-01T10:20:30.123456+09:00 h app[7]: m", utc, time.Date(2024, 5, 1, 1, 20, 30, 123456000, time.UTC), "h", "app", "m", 7, 6, 3},
		{"2024-05-01T10:20:30-0700 h app: m", utc, time.Date(2024, 5, 1, 17, 20, 30, 0, time.UTC), "h", "app", "m", 0, 0, 0},
		{"2024-05-01 10:20:30 h app: m", Options{Location: jst}, time.Date(2024, 5, 1, 10, 20, 30, 0, jst), "h", "app", "m", 0, 0, 0},
		// RFC 5424.
		{"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% do-nuts", utc, time.Date(2003, 8, 24, 12, 14, 15, 3000, time.UTC), "192.0.2.1", "myproc", "%% do-nuts", 8710, 5, 20},
		{"<0>1 2024-05-01T00:00:00Z - - - - -", utc, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), "", "", "", 0, 0, 0},
		// Trailing NUL, CR and spaces are cut.
		{"<14>May  1 10:20:30 h app: m  \r\n\x00", utc, time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC), "h", "app", "m", 0, 6, 1},
	}
	for _, tt := range tests {
		e, err := textDecode(t, "syslog", tt.opts, time.Time{}, []byte(tt.raw))
		if err != nil {
			t.Errorf("Decode(%q) = %v, want nil", tt.raw, err)
			continue
		}
		if !e.Time.Equal(tt.time) || e.Host != tt.host || e.Process != tt.process || e.Message != tt.msg || e.PID != tt.pid {
			t.Errorf("Decode(%q) = time %v host %q process %q pid %d message %q, want %v %q %q %d %q",
				tt.raw, e.Time, e.Host, e.Process, e.PID, e.Message, tt.time, tt.host, tt.process, tt.pid, tt.msg)
		}
		if e.Severity != tt.severity || e.Facility != tt.facility || e.Format != "syslog" || decodeTagged(e, TagTimeFromReceipt) {
			t.Errorf("Decode(%q) = severity %d facility %d format %q, want %d %d syslog", tt.raw, e.Severity, e.Facility, e.Format, tt.severity, tt.facility)
		}
	}
}

// decodeTagged reports whether e carries the tag.
func decodeTagged(e *event.Event, tag string) bool {
	for _, f := range e.Fields {
		if f.Key.String() == "tags" && f.Value == tag {
			return true
		}
	}
	return false
}

func TestSyslogStructuredData(t *testing.T) {
	raw := `<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a@1 x="1" y="q\"\\\]"][b@2 z=""] msg`
	e, err := textDecode(t, "syslog", Options{}, time.Time{}, []byte(raw))
	if err != nil {
		t.Fatalf("Decode(%q) = %v", raw, err)
	}
	want := map[string]string{"syslog.sd.a@1.x": "1", "syslog.sd.a@1.y": `q"\]`, "syslog.sd.b@2.z": "", "log.syslog.msgid": "ID47"}
	for k, v := range want {
		if got, ok := e.Get(event.K(k)); !ok || got != v {
			t.Errorf("Decode(%q): %s = %q, %v; want %q", raw, k, got, ok, v)
		}
	}
	if e.Message != "msg" {
		t.Errorf("Decode(%q): message %q, want msg", raw, e.Message)
	}
}

// The year of an RFC 3164 timestamp is the year it arrived, or the one before when that
// would put it more than a day ahead of its arrival.
func TestSyslogYear(t *testing.T) {
	opts := Options{Location: time.UTC}
	tests := []struct {
		raw      string
		received time.Time
		year     int
	}{
		{"Dec 31 23:59:00 h a: m", time.Date(2024, 1, 1, 0, 0, 30, 0, time.UTC), 2023},
		{"Jan  1 00:00:10 h a: m", time.Date(2023, 12, 31, 23, 59, 59, 0, time.UTC), 2023},
		{"Jun  2 10:00:00 h a: m", time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC), 2024},
		{"Jun  3 10:00:00 h a: m", time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC), 2023},
	}
	for _, tt := range tests {
		e, err := textDecode(t, "syslog", opts, tt.received, []byte(tt.raw))
		if err != nil || e.Time.Year() != tt.year {
			t.Errorf("Decode(%q) received %v = %v, %v; want year %d", tt.raw, tt.received, e.Time, err, tt.year)
		}
	}
}

func TestSyslogErrors(t *testing.T) {
	tests := []struct {
		raw    string
		reason Reason
	}{
		{"", ReasonEmpty},
		{" \t\r\n", ReasonEmpty},
		{"\x00\x00", ReasonBinary},
		{"<14>May  1 10:20:30 h a: \x1b[31mred", ReasonBinary},
		{"<14>May  1 10:20:30 h a: \xff\xfe", ReasonInvalidUTF8},
		{"<192>May  1 10:20:30 h a: m", ReasonSyntax},
		{"<01>May  1 10:20:30 h a: m", ReasonSyntax},
		{"<>May  1 10:20:30 h a: m", ReasonSyntax},
		{"<14", ReasonSyntax},
		{"May 32 10:20:30 h a: m", ReasonTimestamp},
		{"Feb 30 10:20:30 h a: m", ReasonTimestamp},
		{"May  1 25:20:30 h a: m", ReasonTimestamp},
		{"just some words", ReasonSyntax},
		{"<14>1 2024-05-01T10:20:30+25:00 h a - - - m", ReasonTimestamp},
		{"<14>1 2024-05-01T10:20:30Z h a", ReasonSyntax},
		{"<14>1 2024-05-01T10:20:30Z h a - - x m", ReasonSyntax},
		{"<14>1 2024-05-01T10:20:30Z h a - - [x y=1] m", ReasonSyntax},
		{"<14>just a message and no time of arrival", ReasonTimestamp},
		{"CEF:0|short", ReasonSyntax},
	}
	for _, tt := range tests {
		_, err := textDecode(t, "syslog", Options{Year: 2024}, time.Time{}, []byte(tt.raw))
		if got := ReasonOf(err); got != tt.reason {
			t.Errorf("Decode(%q) = %v, want reason %s", tt.raw, err, tt.reason)
		}
	}
}

// A message without a time of its own gets its time of arrival.
func TestSyslogNoTimestamp(t *testing.T) {
	received := time.Date(2024, 6, 1, 1, 2, 3, 0, time.UTC)
	e, err := textDecode(t, "syslog", Options{}, received, []byte("<14>alarm: occlusion"))
	if err != nil || !e.Time.Equal(received) || e.Message != "occlusion" || e.Process != "alarm" {
		t.Errorf("Decode = %v, time %v process %q message %q; want %v alarm occlusion", err, e.Time, e.Process, e.Message, received)
	}
}

// Japanese devices send Shift_JIS: the message is decoded, Raw stays as it came.
func TestSyslogShiftJIS(t *testing.T) {
	const text = "検査画像の転送に失敗しました"
	sjis, err := japanese.ShiftJIS.NewEncoder().String("<14>May  1 10:24:00 mri01 pacs[311]: " + text)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(sjis)
	e, err := textDecode(t, "syslog", Options{Location: time.UTC, Year: 2024}, time.Time{}, raw)
	if err != nil {
		t.Fatalf("Decode(%q) = %v", raw, err)
	}
	if e.Message != text || e.Host != "mri01" || e.PID != 311 {
		t.Errorf("Decode(%q) = host %q pid %d message %q, want mri01 311 %q", raw, e.Host, e.PID, e.Message, text)
	}
	if string(e.Raw) != sjis {
		t.Errorf("Decode changed Raw to %q", e.Raw)
	}
}

func TestSyslogDispatch(t *testing.T) {
	tests := []struct {
		raw, format, dataset string
		src                  netip.Addr
	}{
		{"<134>May  1 10:22:00 av01 CEF:0|V|P|1|100|n|5|src=10.0.0.1", "cef", "cef", netip.MustParseAddr("10.0.0.1")},
		{"<134>May  1 10:22:00 CEF:0|V|P|1|100|n|5|src=10.0.0.2", "cef", "cef", netip.MustParseAddr("10.0.0.2")},
		{"CEF:0|V|P|1|100|n|5|src=10.0.0.3 rt=1714526500000", "cef", "cef", netip.MustParseAddr("10.0.0.3")},
		{`<189>date=2024-05-01 time=10:22:01 devname="F" logid="0000000013" type="traffic" subtype="forward" srcip=10.0.0.4`, "fortigate", "fortigate.traffic", netip.MustParseAddr("10.0.0.4")},
		{`May  1 10:22:01 F date=2024-05-01 time=10:22:01 devname="F" logid="0000000013" type="traffic" srcip=10.0.0.5`, "fortigate", "fortigate.traffic", netip.MustParseAddr("10.0.0.5")},
		{"May  1 10:22:01 h sshd[1]: Invalid user a from 10.0.0.6", "syslog", "sshd", netip.MustParseAddr("10.0.0.6")},
		{"May  1 10:22:01 h app[1]: date=today logid=1", "syslog", "", netip.Addr{}},
	}
	for _, tt := range tests {
		e, err := textDecode(t, "syslog", Options{Year: 2024}, time.Time{}, []byte(tt.raw))
		if err != nil || e.Format != tt.format || e.Dataset != tt.dataset || e.SrcIP != tt.src {
			t.Errorf("Decode(%q) = %v, format %q dataset %q source %v; want %s %s %v", tt.raw, err, e.Format, e.Dataset, e.SrcIP, tt.format, tt.dataset, tt.src)
		}
	}
}

// TestTextDetectsSyslog checks that detection gives FortiGate and CEF lines to the syslog
// decoder, which hands each line's body on, so a mixed file decodes whole.
func TestTextDetectsSyslog(t *testing.T) {
	for _, head := range []string{
		"\n" + `date=2024-05-01 time=10:22:01 devname="F" logid="0000000013" type="traffic"` + "\n",
		`<189>date=2024-05-01 time=10:22:01 devname="F" logid="0000000013" type="traffic"`,
		`<190>May  1 10:31:00 F date=2024-05-01 time=10:31:00 devname="F" logid="0100032003"`,
		"CEF:0|V|P|1|100|n|5|src=10.0.0.1\n",
		"Sep 19 08:26:10 host CEF:0|V|P|1|100|n|5|src=10.0.0.1\n",
		"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186\n",
	} {
		if got := Detect([]byte(head)); got != "syslog" {
			t.Errorf("Detect(%q) = %q, want syslog", head, got)
		}
	}

	mixed := scenario.Routine(100) // FortiGate lines first, sshd lines later
	r, format, err := NewReader(bytes.NewReader(mixed), "auto", Options{Location: time.UTC}, 0)
	if err != nil {
		t.Fatal(err)
	}
	formats := map[string]int{}
	for {
		var e event.Event
		err := r.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("NewReader(%s) on a gateway's mixed log: %v", format, err)
		}
		formats[e.Format]++
	}
	if formats["fortigate"] != 70 || formats["syslog"] != 30 {
		t.Errorf("mixed log decoded as %v, want 70 fortigate and 30 syslog", formats)
	}
}
