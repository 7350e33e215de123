package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
	"unsafe"
)

// BatchVersion is the version of the batch encoding that AppendBatch writes. DecodeBatch
// rejects every other version, so a reader never guesses at a layout it does not know.
const BatchVersion = 1

// ErrBatchVersion is wrapped by the error DecodeBatch returns for a batch written in a
// version it does not know.
var ErrBatchVersion = errors.New("event: unknown batch version")

// ErrBatchCorrupt is wrapped by the error DecodeBatch returns for a batch that is cut short or
// does not follow the encoding.
var ErrBatchCorrupt = errors.New("event: corrupt batch")

// The batch encoding, version 1. Events travel on the bus in batches in this form.
//
//	batch  = version:byte count:uvarint base:varint event*
//	event  = present:uvarint field*        (fields in bit order, only those whose bit is set)
//
// Bits of present, and how each field is written:
//
//	0 Raw       uvarint length, bytes      (first, so that later strings may point into it)
//	1 Time      varint seconds - base, uvarint nanoseconds
//	2 Received  as Time
//	3 Tenant, 4 Source, 5 Format, 6 Dataset, 7 Host, 8 Process     symbol
//	9 PID       varint
//	10 Severity, 11 Facility                                         byte
//	12 Message  string
//	13 Category, 14 Action                                           symbol
//	15 Outcome  byte
//	16 User     string
//	17 SrcIP, 18 DstIP                                               address
//	19 SrcPort, 20 DstPort, 22 BytesOut, 23 BytesIn                  uvarint
//	21 Protocol                                                      symbol
//	24 Fields   uvarint count, then count × (key, string)
//
// A string is a uvarint v: if v is even, v/2 bytes follow; if v is odd, the string is the
// bytes of this event's Raw at an offset given by v/2 (zigzag-encoded, relative to the end of
// the previous such string of the event), of a length given by a second uvarint. Decoders
// cut most strings out of the raw record, so most strings cost two or three bytes.
//
// A symbol is a string that repeats across the events of a batch (tenant, host, dataset, ...).
// It is a uvarint r: 0 defines the next symbol of the batch, written as a string, and r > 0
// refers to the r-th symbol defined. A key is the same, with a table of its own holding field
// key names: a batch names each key once.
//
// An address is a byte saying its length (4 or 16; 17 for IPv6 with a zone, whose zone follows
// the 16 bytes as a string), then the bytes.
//
// Times keep their instant and lose their location: events decode in UTC.
const (
	bitRaw = iota
	bitTime
	bitReceived
	bitTenant
	bitSource
	bitFormat
	bitDataset
	bitHost
	bitProcess
	bitPID
	bitSeverity
	bitFacility
	bitMessage
	bitCategory
	bitAction
	bitOutcome
	bitUser
	bitSrcIP
	bitDstIP
	bitSrcPort
	bitDstPort
	bitProtocol
	bitBytesOut
	bitBytesIn
	bitFields
	numBits
)

// symbol slots: each symbol field remembers the last symbol it wrote, since neighbouring events
// of a batch mostly share tenant, source, host and format, and a string comparison is cheaper
// than a map lookup.
const (
	slotTenant = iota
	slotSource
	slotFormat
	slotDataset
	slotHost
	slotProcess
	slotCategory
	slotAction
	slotProtocol
	numSlots
)

// AppendBatch appends the encoding of events to dst and returns the extended slice. It does not
// keep events or dst.
func AppendBatch(dst []byte, events []Event) []byte {
	var base int64
	if len(events) > 0 {
		base = baseSeconds(&events[0])
	}
	dst = append(dst, BatchVersion)
	dst = binary.AppendUvarint(dst, uint64(len(events)))
	dst = binary.AppendVarint(dst, base)
	// A batch of one (the archive encodes each record alone) has nothing to refer back to:
	// its strings and keys are written in place, without the tables that would cost more than
	// they save.
	enc := batchEncoder{base: base, single: len(events) == 1}
	for i := range events {
		dst = enc.event(dst, &events[i])
	}
	return dst
}

func baseSeconds(e *Event) int64 {
	switch {
	case !e.Received.IsZero():
		return e.Received.Unix()
	case !e.Time.IsZero():
		return e.Time.Unix()
	}
	return 0
}

type batchEncoder struct {
	base    int64
	single  bool // the batch has one event: write every symbol and key in place
	symbols map[string]uint64
	keys    map[Key]uint64
	last    [numSlots]struct {
		s   string
		ref uint64 // 0 when the slot is empty
	}
	prev    int // end of the last string written as a reference into the event's Raw
	lastKey [8]struct {
		k   Key
		ref uint64
	}
}

func (b *batchEncoder) event(dst []byte, e *Event) []byte {
	var present uint64
	set := func(bit int, ok bool) {
		if ok {
			present |= 1 << bit
		}
	}
	set(bitRaw, len(e.Raw) > 0)
	set(bitTime, !e.Time.IsZero())
	set(bitReceived, !e.Received.IsZero())
	set(bitTenant, e.Tenant != "")
	set(bitSource, e.Source != "")
	set(bitFormat, e.Format != "")
	set(bitDataset, e.Dataset != "")
	set(bitHost, e.Host != "")
	set(bitProcess, e.Process != "")
	set(bitPID, e.PID != 0)
	set(bitSeverity, e.Severity != 0)
	set(bitFacility, e.Facility != 0)
	set(bitMessage, e.Message != "")
	set(bitCategory, e.Category != "")
	set(bitAction, e.Action != "")
	set(bitOutcome, e.Outcome != 0)
	set(bitUser, e.User != "")
	set(bitSrcIP, e.SrcIP.IsValid())
	set(bitDstIP, e.DstIP.IsValid())
	set(bitSrcPort, e.SrcPort != 0)
	set(bitDstPort, e.DstPort != 0)
	set(bitProtocol, e.Protocol != "")
	set(bitBytesOut, e.BytesOut != 0)
	set(bitBytesIn, e.BytesIn != 0)
	set(bitFields, len(e.Fields) > 0)
	dst = binary.AppendUvarint(dst, present)

	raw := e.Raw
	b.prev = 0
	if present&(1<<bitRaw) != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(raw)))
		dst = append(dst, raw...)
	}
	if present&(1<<bitTime) != 0 {
		dst = b.time(dst, e.Time)
	}
	if present&(1<<bitReceived) != 0 {
		dst = b.time(dst, e.Received)
	}
	sym := func(bit, slot int, s string) {
		if present&(1<<bit) != 0 {
			dst = b.symbol(dst, raw, slot, s)
		}
	}
	sym(bitTenant, slotTenant, e.Tenant)
	sym(bitSource, slotSource, e.Source)
	sym(bitFormat, slotFormat, e.Format)
	sym(bitDataset, slotDataset, e.Dataset)
	sym(bitHost, slotHost, e.Host)
	sym(bitProcess, slotProcess, e.Process)
	if present&(1<<bitPID) != 0 {
		dst = binary.AppendVarint(dst, int64(e.PID))
	}
	if present&(1<<bitSeverity) != 0 {
		dst = append(dst, e.Severity)
	}
	if present&(1<<bitFacility) != 0 {
		dst = append(dst, e.Facility)
	}
	if present&(1<<bitMessage) != 0 {
		dst = appendString(dst, raw, &b.prev, e.Message)
	}
	sym(bitCategory, slotCategory, e.Category)
	sym(bitAction, slotAction, e.Action)
	if present&(1<<bitOutcome) != 0 {
		dst = append(dst, byte(e.Outcome))
	}
	if present&(1<<bitUser) != 0 {
		dst = appendString(dst, raw, &b.prev, e.User)
	}
	if present&(1<<bitSrcIP) != 0 {
		dst = b.addr(dst, e.SrcIP)
	}
	if present&(1<<bitDstIP) != 0 {
		dst = b.addr(dst, e.DstIP)
	}
	if present&(1<<bitSrcPort) != 0 {
		dst = binary.AppendUvarint(dst, uint64(e.SrcPort))
	}
	if present&(1<<bitDstPort) != 0 {
		dst = binary.AppendUvarint(dst, uint64(e.DstPort))
	}
	sym(bitProtocol, slotProtocol, e.Protocol)
	if present&(1<<bitBytesOut) != 0 {
		dst = binary.AppendUvarint(dst, e.BytesOut)
	}
	if present&(1<<bitBytesIn) != 0 {
		dst = binary.AppendUvarint(dst, e.BytesIn)
	}
	if present&(1<<bitFields) != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(e.Fields)))
		for i := range e.Fields {
			dst = b.key(dst, e.Fields[i].Key)
			dst = appendString(dst, raw, &b.prev, e.Fields[i].Value)
		}
	}
	return dst
}

func (b *batchEncoder) time(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix()-b.base)
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func (b *batchEncoder) symbol(dst, raw []byte, slot int, s string) []byte {
	if b.single {
		return appendString(append(dst, 0), raw, &b.prev, s)
	}
	if l := &b.last[slot]; l.ref != 0 && l.s == s {
		return binary.AppendUvarint(dst, l.ref)
	}
	if b.symbols == nil {
		b.symbols = make(map[string]uint64, 16)
	}
	ref, ok := b.symbols[s]
	if ok {
		dst = binary.AppendUvarint(dst, ref)
	} else {
		ref = uint64(len(b.symbols) + 1)
		b.symbols[s] = ref
		dst = append(dst, 0)
		dst = appendString(dst, raw, &b.prev, s)
	}
	b.last[slot].s, b.last[slot].ref = s, ref
	return dst
}

func (b *batchEncoder) key(dst []byte, k Key) []byte {
	// Events from one decoder mostly carry the same keys in the same order; a small cache
	// indexed by a hash of the handle spares most map lookups.
	if b.single {
		return appendKey(dst, k)
	}
	slot := &b.lastKey[keyHash(k)%uintptr(len(b.lastKey))]
	if slot.ref != 0 && slot.k == k {
		return binary.AppendUvarint(dst, slot.ref)
	}
	if b.keys == nil {
		b.keys = make(map[Key]uint64, 32)
	}
	ref, ok := b.keys[k]
	if ok {
		dst = binary.AppendUvarint(dst, ref)
	} else {
		ref = uint64(len(b.keys) + 1)
		b.keys[k] = ref
		dst = appendKey(dst, k)
	}
	slot.k, slot.ref = k, ref
	return dst
}

// appendKey writes a key in place: a new entry of the batch's key table.
func appendKey(dst []byte, k Key) []byte {
	name := k.String()
	dst = binary.AppendUvarint(append(dst, 0), uint64(len(name))<<1)
	return append(dst, name...)
}

// keyHash spreads keys over the encoder's key cache by the address of their interned name.
func keyHash(k Key) uintptr {
	if k == (Key{}) {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.StringData(k.h.Value()))) >> 3
}

// appendString writes s as a reference into raw when s lies inside raw's memory (decoders
// cut strings out of the record without copying), and as its bytes otherwise. The offset of a
// reference counts from the end of the previous one (*prev), since decoders mostly take fields
// in the order the record has them, which keeps offsets within one byte.
func appendString(dst, raw []byte, prev *int, s string) []byte {
	if len(s) >= 3 && len(raw) > 0 {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		r := uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
		if p >= r && p+uintptr(len(s)) <= r+uintptr(len(raw)) {
			off := int(p - r)
			delta := int64(off - *prev)
			*prev = off + len(s)
			dst = binary.AppendUvarint(dst, uint64(delta<<1^delta>>63)<<1|1)
			return binary.AppendUvarint(dst, uint64(len(s)))
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(s))<<1)
	return append(dst, s...)
}

func (b *batchEncoder) addr(dst []byte, a netip.Addr) []byte {
	if a.Is4() {
		b4 := a.As4()
		return append(append(dst, 4), b4[:]...)
	}
	b16 := a.As16()
	if z := a.Zone(); z != "" {
		dst = append(append(dst, 17), b16[:]...)
		return appendString(dst, nil, &b.prev, z)
	}
	return append(append(dst, 16), b16[:]...)
}

// BatchCount returns the number of events in the batch src, read from its header, so a reader
// can size its buffers before DecodeBatch.
func BatchCount(src []byte) (int, error) {
	d := batchDecoder{src: src}
	if err := d.header(); err != nil {
		return 0, err
	}
	return d.count, nil
}

// DecodeBatch decodes the batch in src and calls fn with each of its events, in order. It stops
// at the first error fn returns and returns it.
//
// The event passed to fn is reused for the next one: fn must not keep it or its Fields after
// it returns, and keeps a copy with Clone instead. Its strings and Raw are not copies: they
// share the memory of src, so src must not be modified again while any of them (or a clone's)
// is in use.
// That is what makes decoding cost one allocation per batch instead of one per string.
//
// A batch that is cut short or malformed yields an error wrapping ErrBatchCorrupt, one of
// another version an error wrapping ErrBatchVersion; the events before the damage have been
// passed to fn by then.
func DecodeBatch(src []byte, fn func(*Event) error) error {
	d := batchDecoder{src: src}
	if err := d.header(); err != nil {
		return err
	}
	// Each event takes at least one byte, so count cannot exceed what is left; checking it keeps
	// a forged count from making the loop below run long on nothing.
	if d.count > len(src)-d.off {
		return d.corrupt("count %d exceeds the batch's %d bytes", d.count, len(src))
	}
	var e Event
	for i := range d.count {
		e.Reset()
		if err := d.event(&e); err != nil {
			return fmt.Errorf("decode batch event %d: %w", i, err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if d.off != len(src) {
		return d.corrupt("%d bytes after the last event", len(src)-d.off)
	}
	return nil
}

type batchDecoder struct {
	src     []byte
	off     int
	count   int
	base    int64
	symbols []string
	keys    []Key
	prev    int // as batchEncoder.prev
	err     error
}

func (d *batchDecoder) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte %d", ErrBatchCorrupt, fmt.Sprintf(format, args...), d.off)
}

func (d *batchDecoder) header() error {
	if len(d.src) == 0 {
		return fmt.Errorf("%w: empty", ErrBatchCorrupt)
	}
	if v := d.src[0]; v != BatchVersion {
		return fmt.Errorf("%w %d (this build reads version %d)", ErrBatchVersion, v, BatchVersion)
	}
	d.off = 1
	n := d.uvarint()
	d.base = d.varint()
	if d.err != nil {
		return d.err
	}
	if n > math.MaxInt32 {
		return d.corrupt("count %d", n)
	}
	d.count = int(n)
	return nil
}

func (d *batchDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = d.corrupt(format, args...)
	}
}

func (d *batchDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.src[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *batchDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.src[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *batchDecoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.src) {
		d.fail("cut short")
		return 0
	}
	b := d.src[d.off]
	d.off++
	return b
}

// bytes returns the next n bytes of src, sharing its memory.
func (d *batchDecoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.src)-d.off) {
		d.fail("length %d beyond the end", n)
		return nil
	}
	b := d.src[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

func (d *batchDecoder) string(raw []byte) string {
	v := d.uvarint()
	if v&1 == 0 {
		return String(d.bytes(v >> 1))
	}
	z := v >> 1
	off := int64(d.prev) + (int64(z>>1) ^ -int64(z&1))
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if off < 0 || off > int64(len(raw)) || n > uint64(int64(len(raw))-off) {
		d.fail("string [%d:+%d] outside the raw record of %d bytes", off, n, len(raw))
		return ""
	}
	d.prev = int(off) + int(n)
	return String(raw[off : off+int64(n)])
}

func (d *batchDecoder) symbol(raw []byte) string {
	r := d.uvarint()
	if r == 0 {
		s := d.string(raw)
		if d.err == nil {
			d.symbols = append(d.symbols, s)
		}
		return s
	}
	if r > uint64(len(d.symbols)) {
		d.fail("symbol %d undefined", r)
		return ""
	}
	return d.symbols[r-1]
}

func (d *batchDecoder) key() Key {
	r := d.uvarint()
	if r == 0 {
		name := d.string(nil)
		if d.err != nil {
			return Key{}
		}
		var k Key
		if name != "" {
			k = K(name)
		}
		d.keys = append(d.keys, k)
		return k
	}
	if r > uint64(len(d.keys)) {
		d.fail("key %d undefined", r)
		return Key{}
	}
	return d.keys[r-1]
}

func (d *batchDecoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.fail("nanoseconds %d", nsec)
		return time.Time{}
	}
	return time.Unix(sec+d.base, int64(nsec)).UTC()
}

func (d *batchDecoder) addr(raw []byte) netip.Addr {
	switch n := d.byte(); n {
	case 4:
		b := d.bytes(4)
		if d.err != nil {
			return netip.Addr{}
		}
		return netip.AddrFrom4([4]byte(b))
	case 16, 17:
		b := d.bytes(16)
		if d.err != nil {
			return netip.Addr{}
		}
		a := netip.AddrFrom16([16]byte(b))
		if n == 17 {
			a = a.WithZone(d.string(raw))
		}
		return a
	default:
		d.fail("address length %d", n)
		return netip.Addr{}
	}
}

func (d *batchDecoder) event(e *Event) error {
	present := d.uvarint()
	if d.err != nil {
		return d.err
	}
	if present>>numBits != 0 {
		return d.corrupt("unknown fields %#x", present>>numBits<<numBits)
	}
	has := func(bit int) bool { return present&(1<<bit) != 0 }
	var raw []byte
	d.prev = 0
	if has(bitRaw) {
		raw = d.bytes(d.uvarint())
		e.Raw = raw
	}
	if has(bitTime) {
		e.Time = d.time()
	}
	if has(bitReceived) {
		e.Received = d.time()
	}
	sym := func(bit int, s *string) {
		if has(bit) {
			*s = d.symbol(raw)
		}
	}
	sym(bitTenant, &e.Tenant)
	sym(bitSource, &e.Source)
	sym(bitFormat, &e.Format)
	sym(bitDataset, &e.Dataset)
	sym(bitHost, &e.Host)
	sym(bitProcess, &e.Process)
	if has(bitPID) {
		v := d.varint()
		if v < math.MinInt32 || v > math.MaxInt32 {
			d.fail("pid %d", v)
		}
		e.PID = int32(v)
	}
	if has(bitSeverity) {
		e.Severity = d.byte()
	}
	if has(bitFacility) {
		e.Facility = d.byte()
	}
	if has(bitMessage) {
		e.Message = d.string(raw)
	}
	sym(bitCategory, &e.Category)
	sym(bitAction, &e.Action)
	if has(bitOutcome) {
		e.Outcome = Outcome(d.byte())
	}
	if has(bitUser) {
		e.User = d.string(raw)
	}
	if has(bitSrcIP) {
		e.SrcIP = d.addr(raw)
	}
	if has(bitDstIP) {
		e.DstIP = d.addr(raw)
	}
	port := func(p *uint16) {
		v := d.uvarint()
		if v > math.MaxUint16 {
			d.fail("port %d", v)
		}
		*p = uint16(v)
	}
	if has(bitSrcPort) {
		port(&e.SrcPort)
	}
	if has(bitDstPort) {
		port(&e.DstPort)
	}
	sym(bitProtocol, &e.Protocol)
	if has(bitBytesOut) {
		e.BytesOut = d.uvarint()
	}
	if has(bitBytesIn) {
		e.BytesIn = d.uvarint()
	}
	if has(bitFields) {
		n := d.uvarint()
		// A field takes at least two bytes.
		if n > uint64(len(d.src)-d.off)/2 {
			d.fail("%d fields in %d bytes", n, len(d.src)-d.off)
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.key()
			v := d.string(raw)
			e.Fields = append(e.Fields, Field{k, v})
		}
	}
	return d.err
}
