// Package event defines Event, the one record type that flows through omamori: decoders fill
// it, the bus carries it in batches, and detection, the archive and search read it.
//
// Common fields are typed (time, addresses, ports, outcome); everything a source says beyond
// them is kept as a flat slice of Fields whose keys are interned, so an event costs no map and
// comparing keys costs a pointer comparison. Every event keeps the raw bytes it came from.
package event

import (
	"net/netip"
	"slices"
	"time"
	"unique"
	"unsafe"
)

// Outcome is the result of the action an event records (ECS event.outcome).
type Outcome uint8

const (
	OutcomeUnknown Outcome = iota
	OutcomeSuccess
	OutcomeFailure
)

func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeFailure:
		return "failure"
	}
	return "unknown"
}

// Key names an extra field. Keys are interned: two Keys made from the same name are equal,
// and comparing them compares one pointer.
type Key struct{ h unique.Handle[string] }

// K returns the interned key for name. Decoders make their fixed keys once, in package
// variables, and call K on the hot path only for names a source chooses (JSON, key=value).
func K(name string) Key { return Key{unique.Make(name)} }

// String returns the key's name.
func (k Key) String() string {
	if k == (Key{}) {
		return ""
	}
	return k.h.Value()
}

// Field is one extra field of an event. Keys use ECS names where ECS has one
// (process.command_line, winlog.event_id), and "<dataset>.<name>" otherwise.
type Field struct {
	Key   Key
	Value string
}

// Event is one normalized log record. The zero value is an empty event; Reset makes a used
// one empty again while keeping its buffers, so batches can reuse events.
type Event struct {
	Time     time.Time // when it happened, as the source says (ECS @timestamp)
	Received time.Time // when omamori received it (event.ingested)
	Tenant   string    // the hospital it belongs to
	Source   string    // where it entered: a listener, a file, an API token's name
	Format   string    // the decoder that understood it (syslog, fortigate, zeek, ...)
	Dataset  string    // what kind of log within the format: sshd, fortigate.traffic, zeek.conn

	Host     string // host.name of the reporting system
	Process  string // process.name (syslog APP-NAME, Windows provider)
	PID      int32  // process.pid, 0 when unknown
	Severity uint8  // syslog severity 0 (emergency) to 7 (debug); 0 also when unknown
	Facility uint8  // syslog facility
	Message  string // the human-readable message

	Category string  // ECS event.category: authentication, network, process, file, ...
	Action   string  // ECS event.action: ssh_login, vpn_login, traffic, ...
	Outcome  Outcome // ECS event.outcome
	User     string  // user.name the event is about (the one logging in, the one acting)

	SrcIP    netip.Addr
	DstIP    netip.Addr
	SrcPort  uint16
	DstPort  uint16
	Protocol string // network.transport: tcp, udp, icmp
	BytesOut uint64 // source.bytes: sent by the source
	BytesIn  uint64 // destination.bytes: sent by the destination

	Fields []Field // everything else, in the order the source gave it

	// Raw is the record exactly as received. It is immutable once set: decoders may make
	// strings that share its memory (see String), so nothing writes to it again and Reset
	// lets it go instead of reusing it.
	Raw []byte
}

// Reset empties e for reuse, keeping the capacity of Fields.
func (e *Event) Reset() {
	fields := e.Fields[:0]
	clear(e.Fields[:cap(e.Fields)])
	*e = Event{Fields: fields}
}

// Get returns the value of the first field with key k.
func (e *Event) Get(k Key) (string, bool) {
	for i := range e.Fields {
		if e.Fields[i].Key == k {
			return e.Fields[i].Value, true
		}
	}
	return "", false
}

// Add appends a field. It does not look for an earlier field with the same key: sources such
// as Windows events may repeat a name, and the order is kept.
func (e *Event) Add(k Key, v string) { e.Fields = append(e.Fields, Field{k, v}) }

// Set replaces the value of the first field with key k, or appends one.
func (e *Event) Set(k Key, v string) {
	for i := range e.Fields {
		if e.Fields[i].Key == k {
			e.Fields[i].Value = v
			return
		}
	}
	e.Add(k, v)
}

// Clone returns a copy of e that a later Reset of e does not touch. Raw is immutable and
// shared.
func (e *Event) Clone() *Event {
	c := *e
	c.Fields = slices.Clone(e.Fields)
	return &c
}

// String returns b as a string without copying. Only for bytes that are never written again,
// such as an event's Raw.
func String(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
