package event_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/omamori-project/omamori/internal/event"
)

// The flag has its own name so that other golden tests of this package can have -update.
var updateBatch = flag.Bool("update-batch", false, "rewrite testdata/batch-v1.golden")

var eventCmp = cmp.Options{
	cmp.Comparer(func(a, b event.Key) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

var jst = time.FixedZone("JST", 9*3600)

// kv cuts the value of key out of raw, sharing raw's memory as a decoder does.
func kv(raw []byte, key string) string {
	s := event.String(raw)
	i := strings.Index(s, " "+key+"=")
	if i < 0 {
		return ""
	}
	s = s[i+len(key)+2:]
	if strings.HasPrefix(s, `"`) {
		s = s[1:]
		return s[:strings.IndexByte(s, '"')]
	}
	if j := strings.IndexByte(s, ' '); j >= 0 {
		return s[:j]
	}
	return s
}

// fortigate makes an event as the FortiGate decoder would: most strings point into Raw.
func fortigate(i int) event.Event {
	raw := fmt.Appendf(nil, `<189>date=2024-05-01 time=10:%02d:%02d devname="FGT60F-hosp" devid="FGT60FTK2109AAAA" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=10.1.%d.%d srcport=%d srcintf="port1" dstip=203.0.113.%d dstport=443 dstintf="wan1" sessionid=%d proto=6 action="close" service="HTTPS" sentbyte=%d rcvdbyte=%d`,
		i/60%60, i%60, i/250%250, i%250, 1024+i%60000, i%200, 100000+i, 1000+i, 5000+2*i)
	e := event.Event{
		Time:     time.Date(2024, 5, 1, 10, i/60%60, i%60, 0, jst),
		Received: time.Date(2024, 5, 1, 1, 0, 0, 123456789+i, time.UTC),
		Tenant:   "hospital-a", Source: "syslog-tcp", Format: "fortigate", Dataset: "fortigate.traffic",
		Host: kv(raw, "devname"), Severity: 5, Facility: 23,
		Category: "network", Action: kv(raw, "action"), Outcome: event.OutcomeSuccess,
		SrcIP:   netip.MustParseAddr(kv(raw, "srcip")),
		DstIP:   netip.MustParseAddr(kv(raw, "dstip")),
		SrcPort: uint16(1024 + i%60000), DstPort: 443, Protocol: "tcp",
		BytesOut: uint64(1000 + i), BytesIn: uint64(5000 + 2*i),
		Raw: raw,
	}
	for _, k := range []string{"devid", "logid", "type", "subtype", "level", "vd", "srcintf", "dstintf", "sessionid", "service"} {
		e.Add(event.K("fortigate."+k), kv(raw, k))
	}
	return e
}

// sshd makes an event as the syslog decoder would for an sshd line.
func sshd(i int) event.Event {
	raw := fmt.Appendf(nil, "<38>May  1 10:00:%02d gw-%d sshd[%d]: Failed password for invalid user admin%d from 198.51.100.%d port %d ssh2",
		i%60, i%3, 20000+i, i, i%250, 40000+i%20000)
	s := event.String(raw)
	msg := s[strings.Index(s, "]: ")+3:]
	user := msg[strings.Index(msg, "user ")+5 : strings.Index(msg, " from")]
	return event.Event{
		Time:     time.Date(2024, 5, 1, 10, 0, i%60, 0, jst),
		Received: time.Date(2024, 5, 1, 1, 0, 1, i, time.UTC),
		Tenant:   "hospital-a", Source: "syslog-tcp", Format: "syslog", Dataset: "sshd",
		Host: s[strings.Index(s, "gw-"):strings.Index(s, " sshd")], Process: "sshd", PID: int32(20000 + i),
		Severity: 6, Facility: 4, Message: msg,
		Category: "authentication", Action: "ssh_login", Outcome: event.OutcomeFailure, User: user,
		SrcIP:   netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 250)}),
		SrcPort: uint16(40000 + i%20000),
		Raw:     raw,
	}
}

func mix(n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		if i%3 == 2 {
			evs[i] = sshd(i)
		} else {
			evs[i] = fortigate(i)
		}
	}
	return evs
}

// odd holds events at the edges of what the encoding must carry.
func odd() []event.Event {
	return []event.Event{
		{}, // empty
		{Raw: []byte{0, 0xff, '\n'}, Message: "not in raw", User: "x"},
		{
			Time:  time.Unix(-62135596800, 1).UTC(), // year 1
			SrcIP: netip.MustParseAddr("fe80::1%eth0"), DstIP: netip.MustParseAddr("::ffff:10.0.0.1"),
			PID: -1, Severity: 255, Facility: 255, Outcome: 200,
			SrcPort: 65535, DstPort: 1, BytesIn: 1<<64 - 1, BytesOut: 1,
			Fields: []event.Field{{event.K("a"), ""}, {event.K(""), "empty key"}, {event.K("a"), "again"}},
		},
		{Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Tenant: "t", Host: "t", Process: "t"},
		{Raw: []byte("日本語のログ"), Message: "日本語", Tenant: "病院"},
	}
}

// decodeAll decodes src into clones of its events.
func decodeAll(t testing.TB, src []byte) []event.Event {
	t.Helper()
	var got []event.Event
	err := event.DecodeBatch(src, func(e *event.Event) error {
		got = append(got, *e.Clone())
		return nil
	})
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	return got
}

// utc returns the events as the batch gives them back: times in UTC, an empty key as the zero Key.
func utc(evs []event.Event) []event.Event {
	out := make([]event.Event, len(evs))
	for i, e := range evs {
		e = *e.Clone()
		if !e.Time.IsZero() {
			e.Time = e.Time.UTC()
		}
		if !e.Received.IsZero() {
			e.Received = e.Received.UTC()
		}
		for j := range e.Fields {
			if e.Fields[j].Key.String() == "" {
				e.Fields[j].Key = event.Key{}
			}
		}
		out[i] = e
	}
	return out
}

func TestBatchRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		evs  []event.Event
	}{
		{"none", nil},
		{"one", mix(1)},
		{"mix", mix(1000)},
		{"odd", odd()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := event.AppendBatch([]byte("prefix"), tt.evs)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("AppendBatch did not append to dst")
			}
			b = b[len("prefix"):]
			if n, err := event.BatchCount(b); err != nil || n != len(tt.evs) {
				t.Errorf("BatchCount = %d, %v, want %d", n, err, len(tt.evs))
			}
			got := decodeAll(t, b)
			if diff := cmp.Diff(utc(tt.evs), got, eventCmp); diff != "" {
				t.Errorf("DecodeBatch(AppendBatch(events)) differs (-want +got):\n%s", diff)
			}
		})
	}
	// Each alone, as the archive encodes its records: a batch of one is written without
	// back references, repeated keys and values included.
	for i, e := range append(odd(), mix(50)...) {
		got := decodeAll(t, event.AppendBatch(nil, []event.Event{e}))
		if diff := cmp.Diff(utc([]event.Event{e}), got, eventCmp); diff != "" {
			t.Errorf("event %d alone differs (-want +got):\n%s", i, diff)
		}
	}
}

// TestBatchCompact checks that strings pointing into Raw and repeated symbols are not written
// again: a FortiGate event carries about 80 bytes of typed fields and references beyond its raw
// record, where copying its strings would add some 200.
func TestBatchCompact(t *testing.T) {
	evs := mix(1000)
	var raw int
	for i := range evs {
		raw += len(evs[i].Raw)
	}
	b := event.AppendBatch(nil, evs)
	if limit := raw + 80*len(evs); len(b) > limit {
		t.Errorf("AppendBatch of %d events with %d raw bytes = %d bytes, want at most %d", len(evs), raw, len(b), limit)
	}
	t.Logf("%d events, %d raw bytes, batch %d bytes (%.1f bytes/event overhead)", len(evs), raw, len(b), float64(len(b)-raw)/float64(len(evs)))
}

func TestBatchGolden(t *testing.T) {
	b := event.AppendBatch(nil, append(mix(4), odd()...))
	path := filepath.Join("testdata", "batch-v1.golden")
	if *updateBatch {
		if err := os.WriteFile(path, []byte(hex.Dump(b)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update-batch to create it): %v", err)
	}
	if got := hex.Dump(b); got != string(want) {
		t.Errorf("AppendBatch wrote a different encoding than %s: the version %d format changed; "+
			"if on purpose, bump BatchVersion and rerun with -update-batch\n%s", path, event.BatchVersion,
			cmp.Diff(string(want), got))
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	good := event.AppendBatch(nil, mix(3))
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"empty", nil, event.ErrBatchCorrupt},
		{"version 0", []byte{0, 0, 0}, event.ErrBatchVersion},
		{"version 2", append([]byte{2}, good[1:]...), event.ErrBatchVersion},
		{"cut short", good[:len(good)-1], event.ErrBatchCorrupt},
		{"trailing bytes", append(good[:len(good):len(good)], 0), event.ErrBatchCorrupt},
		{"huge count", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, event.ErrBatchCorrupt},
		{"unknown field bit", []byte{1, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x01}, event.ErrBatchCorrupt},
		{"undefined symbol", []byte{1, 1, 0, 1 << 3, 5}, event.ErrBatchCorrupt},
		{"string outside raw", []byte{1, 1, 0, 0x81, 0x20, 0x01, 'x', 0x03, 0x01}, event.ErrBatchCorrupt},
		{"bad address", []byte{1, 1, 0, 0x80, 0x80, 0x08, 5}, event.ErrBatchCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := event.DecodeBatch(tt.src, func(*event.Event) error { return nil })
			if !errors.Is(err, tt.want) {
				t.Errorf("DecodeBatch(%x) = %v, want %v", tt.src, err, tt.want)
			}
		})
	}
}

func TestDecodeBatchStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := event.DecodeBatch(event.AppendBatch(nil, mix(10)), func(*event.Event) error {
		n++
		if n == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4 {
		t.Errorf("DecodeBatch with a callback failing at the 4th event = %v after %d calls, want %v after 4", err, n, stop)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(event.AppendBatch(nil, mix(5)))
	f.Add(event.AppendBatch(nil, odd()))
	if golden, err := os.ReadFile(filepath.Join("testdata", "batch-v1.golden")); err == nil {
		f.Add(undump(golden))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var first []event.Event
		err := event.DecodeBatch(src, func(e *event.Event) error {
			first = append(first, *e.Clone())
			return nil
		})
		if err != nil {
			return
		}
		// What decodes must encode again to the same events.
		again := decodeAll(t, event.AppendBatch(nil, first))
		if diff := cmp.Diff(first, again, eventCmp); diff != "" {
			t.Errorf("DecodeBatch(AppendBatch(DecodeBatch(%x))) differs:\n%s", src, diff)
		}
	})
}

func FuzzBatchRoundTrip(f *testing.F) {
	f.Add([]byte("<38>May  1 sshd[1]: Failed password for root"), "Failed password", "root", "k", "v", int64(1714521600), uint32(0), "10.0.0.1", uint16(22))
	f.Add([]byte{0xff, 0}, "", "", "", "", int64(-1), uint32(999999999), "fe80::1%eth0", uint16(0))
	f.Fuzz(func(t *testing.T, raw []byte, msg, user, key, value string, sec int64, nsec uint32, ip string, port uint16) {
		addr, _ := netip.ParseAddr(ip)
		e := event.Event{
			Time: time.Unix(sec, int64(nsec%1e9)), Raw: raw, User: user, SrcIP: addr, SrcPort: port,
			Tenant: user, Host: msg,
		}
		// Strings both inside and outside of Raw.
		e.Message = msg
		if len(raw) > 2 {
			e.Message = event.String(raw[1:])
		}
		e.Add(event.K(key), value)
		e.Add(event.K(key), event.String(raw))
		evs := []event.Event{e, e}
		got := decodeAll(t, event.AppendBatch(nil, evs))
		if diff := cmp.Diff(utc(evs), got, eventCmp); diff != "" {
			t.Errorf("DecodeBatch(AppendBatch(%+v)) differs:\n%s", e, diff)
		}
	})
}

// undump reverses hex.Dump.
func undump(dump []byte) []byte {
	var out []byte
	for line := range strings.Lines(string(dump)) {
		if len(line) < 10 {
			continue
		}
		hexPart := line[10:min(len(line), 58)]
		b, _ := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
		out = append(out, b...)
	}
	return out
}

func BenchmarkAppendBatch(b *testing.B) {
	evs := mix(1000)
	var raw int
	for i := range evs {
		raw += len(evs[i].Raw)
	}
	buf := event.AppendBatch(nil, evs)
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	for b.Loop() {
		buf = event.AppendBatch(buf[:0], evs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

func BenchmarkDecodeBatch(b *testing.B) {
	evs := mix(1000)
	src := event.AppendBatch(nil, evs)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		_ = event.DecodeBatch(src, func(e *event.Event) error {
			n += len(e.Fields)
			return nil
		})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

func ExampleDecodeBatch() {
	raw := []byte("<38>May  1 10:00:00 gw sshd[7]: Accepted publickey for alice")
	in := []event.Event{{Tenant: "hospital-a", Host: "gw", Message: event.String(raw[32:]), Raw: raw}}
	batch := event.AppendBatch(nil, in)
	_ = event.DecodeBatch(batch, func(e *event.Event) error {
		fmt.Printf("%s %s %q\n", e.Tenant, e.Host, e.Message)
		return nil
	})
	// Output: hospital-a gw "Accepted publickey for alice"
}
