package deadletter_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

func records() []deadletter.Record {
	return []deadletter.Record{
		{Time: time.Date(2024, 5, 1, 1, 2, 3, 4, time.UTC), Tenant: "hospital-a", Source: "syslog-udp", Format: "syslog",
			Reason: decode.ReasonBinary, Detail: "control byte 0x00 at 3", Raw: []byte{'a', 'b', 0, 0xff}},
		{},
		{Tenant: "t", Reason: decode.ReasonTooLong, Raw: []byte(strings.Repeat("x", 1000))},
	}
}

func decodeAll(t testing.TB, src []byte) ([]deadletter.Record, error) {
	var got []deadletter.Record
	err := deadletter.DecodeBatch(src, func(r *deadletter.Record) error {
		got = append(got, *r)
		return nil
	})
	return got, err
}

func TestRoundTrip(t *testing.T) {
	want := records()
	got, err := decodeAll(t, deadletter.AppendBatch(nil, want))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("DecodeBatch(AppendBatch(records)) differs (-want +got):\n%s", diff)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := deadletter.AppendBatch(nil, records())
	for _, src := range [][]byte{nil, {2, 0}, good[:len(good)-1], append(good[:len(good):len(good)], 9), {1, 200}} {
		if _, err := decodeAll(t, src); !errors.Is(err, deadletter.ErrCorrupt) {
			t.Errorf("DecodeBatch(%x) = %v, want %v", src, err, deadletter.ErrCorrupt)
		}
	}
}

func TestFromError(t *testing.T) {
	e := &event.Event{Received: time.Unix(5, 0), Tenant: "h", Source: "tcp", Raw: []byte("garbage")}
	tests := []struct {
		err  error
		want deadletter.Record
	}{
		{&decode.Error{Format: "cef", Reason: decode.ReasonSyntax, Detail: "no CEF header"},
			deadletter.Record{Format: "cef", Reason: decode.ReasonSyntax, Detail: "no CEF header"}},
		{&decode.Error{Reason: decode.ReasonField, Detail: "port", Err: errors.New("out of range")},
			deadletter.Record{Format: "syslog", Reason: decode.ReasonField, Detail: "port: out of range"}},
		{errors.New("odd"), deadletter.Record{Format: "syslog", Reason: decode.ReasonUnknown, Detail: "odd"}},
	}
	for _, tt := range tests {
		tt.want.Time, tt.want.Tenant, tt.want.Source, tt.want.Raw = e.Received, "h", "tcp", e.Raw
		if got := deadletter.FromError(e, "syslog", tt.err); !cmp.Equal(got, tt.want) {
			t.Errorf("FromError(%v) = %+v, want %+v", tt.err, got, tt.want)
		}
	}
}

func TestCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := deadletter.NewCounter(reg)
	if err != nil {
		t.Fatal(err)
	}
	c.Add("tcp", decode.ReasonBinary, 2)
	c.Add("tcp", decode.ReasonBinary, 1)
	c.Add("udp", decode.ReasonTooLong, 1)
	want := `
# HELP omamori_dead_letters_total Records that could not be decoded and went to the dead letters, by source and reason.
# TYPE omamori_dead_letters_total counter
omamori_dead_letters_total{reason="binary",source="tcp"} 3
omamori_dead_letters_total{reason="too_long",source="udp"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if _, err := deadletter.NewCounter(reg); err == nil {
		t.Error("NewCounter registered twice = nil error, want one")
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(deadletter.AppendBatch(nil, records()))
	f.Fuzz(func(t *testing.T, src []byte) {
		first, err := decodeAll(t, src)
		if err != nil {
			return
		}
		again, err := decodeAll(t, deadletter.AppendBatch(nil, first))
		if err != nil || !cmp.Equal(first, again, cmpopts.EquateEmpty()) {
			t.Errorf("DecodeBatch(AppendBatch(DecodeBatch(%x))) = %v, %v; want %v", src, again, err, first)
		}
	})
}

func ExampleAppendBatch() {
	rec := deadletter.Record{Tenant: "hospital-a", Source: "syslog-tcp", Reason: decode.ReasonBinary, Raw: []byte{0x16, 0x03}}
	batch := deadletter.AppendBatch(nil, []deadletter.Record{rec})
	_ = deadletter.DecodeBatch(batch, func(r *deadletter.Record) error {
		fmt.Printf("%s %s %s %x\n", r.Tenant, r.Source, r.Reason, r.Raw)
		return nil
	})
	// Output: hospital-a syslog-tcp binary 1603
}
