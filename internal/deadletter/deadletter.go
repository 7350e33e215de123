// Package deadletter keeps what omamori could not understand. A record that no decoder took,
// that was too long, or that was not text becomes a Record with the reason and the raw bytes,
// and goes to the bus's DEADLETTER stream instead of being dropped, so nothing a source sent is
// lost and a person can see why. It sits beside the data path: ingest and file import write
// records, tools read them back.
//
// It is a package of its own rather than part of bus because the record and its encoding are
// the same whatever carries them (the bus today, a file in an offline import), and part of
// ingest's contract with the tools that read them; bus only moves opaque batches.
package deadletter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

// Record is one record that was not decoded.
type Record struct {
	Time   time.Time     // when omamori received it
	Tenant string        // the hospital it came from
	Source string        // where it entered: a listener, a file, an API token's name
	Format string        // the decoder that gave up
	Reason decode.Reason // why, in a word
	Detail string        // why, for a person
	Raw    []byte        // the record as received (its start, when it was too long)
}

// FromError makes the record for an event that failed to decode with err, taking the raw
// bytes, time, tenant and source from e. It does not copy e.Raw.
func FromError(e *event.Event, format string, err error) Record {
	r := Record{Time: e.Received, Tenant: e.Tenant, Source: e.Source, Format: format, Reason: decode.ReasonOf(err), Raw: e.Raw}
	if de, ok := errors.AsType[*decode.Error](err); ok {
		if de.Format != "" {
			r.Format = de.Format
		}
		r.Detail = de.Detail
		if de.Err != nil {
			r.Detail = de.Err.Error()
			if de.Detail != "" {
				r.Detail = de.Detail + ": " + de.Err.Error()
			}
		}
	} else if err != nil {
		r.Detail = err.Error()
	}
	return r
}

// Version is the version of the encoding AppendBatch writes.
const Version = 1

// ErrCorrupt is wrapped by the errors of DecodeBatch for input that is not a batch it knows.
var ErrCorrupt = errors.New("deadletter: corrupt batch")

// AppendBatch appends the encoding of recs to dst:
//
//	batch  = version:byte count:uvarint record*
//	record = seconds:varint nanoseconds:uvarint tenant source format reason detail raw
//
// each string or byte field a uvarint length and its bytes.
func AppendBatch(dst []byte, recs []Record) []byte {
	dst = append(dst, Version)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		var sec int64
		var nsec int
		if !r.Time.IsZero() {
			sec, nsec = r.Time.Unix(), r.Time.Nanosecond()
		}
		dst = binary.AppendVarint(dst, sec)
		dst = binary.AppendUvarint(dst, uint64(nsec))
		for _, s := range []string{r.Tenant, r.Source, r.Format, string(r.Reason), r.Detail, event.String(r.Raw)} {
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}
	}
	return dst
}

// DecodeBatch calls fn with each record of the batch src. The record is reused for the next
// one; its strings and Raw share src's memory, so src must not change while they are in use.
func DecodeBatch(src []byte, fn func(*Record) error) error {
	if len(src) == 0 {
		return fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if src[0] != Version {
		return fmt.Errorf("%w: version %d, this build reads %d", ErrCorrupt, src[0], Version)
	}
	d := reader{b: src[1:]}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return fmt.Errorf("%w: count %d", ErrCorrupt, n)
	}
	var r Record
	for range n {
		sec := d.varint()
		nsec := d.uvarint()
		var f [6][]byte
		for j := range f {
			f[j] = d.bytes(d.uvarint())
		}
		if d.bad || nsec >= 1e9 {
			return fmt.Errorf("%w: cut short or malformed", ErrCorrupt)
		}
		r = Record{Tenant: event.String(f[0]), Source: event.String(f[1]), Format: event.String(f[2]),
			Reason: decode.Reason(event.String(f[3])), Detail: event.String(f[4]), Raw: f[5]}
		if sec != 0 || nsec != 0 {
			r.Time = time.Unix(sec, int64(nsec)).UTC()
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last record", ErrCorrupt, len(d.b))
	}
	return nil
}

type reader struct {
	b   []byte
	bad bool
}

func (d *reader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) bytes(n uint64) []byte {
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

// Counter counts dead letters per source and reason, as the Prometheus counter
// omamori_dead_letters_total{source, reason}. It is safe for concurrent use.
type Counter struct{ vec *prometheus.CounterVec }

// NewCounter makes a Counter and registers it with reg.
func NewCounter(reg prometheus.Registerer) (*Counter, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "omamori_dead_letters_total",
		Help: "Records that could not be decoded and went to the dead letters, by source and reason.",
	}, []string{"source", "reason"})
	if err := reg.Register(vec); err != nil {
		return nil, fmt.Errorf("register dead letter counter: %w", err)
	}
	return &Counter{vec}, nil
}

// Add counts n dead letters of source for reason.
func (c *Counter) Add(source string, reason decode.Reason, n int) {
	c.vec.WithLabelValues(source, string(reason)).Add(float64(n))
}
