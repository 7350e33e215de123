// Package decode turns raw log records into events. It is the first stage of the data path:
// ingest listeners and file imports hand it bytes, and it fills an event.Event with what it
// understood, or says in an *Error why it could not, so the record goes to the dead letters
// with its reason instead of being lost.
//
// A Decoder understands one record at a time (a syslog message, a line of JSON). A Reader
// cuts a stream into records and decodes them, for file import and for `omamori decode`.
// Formats are named; New makes a decoder for a name, and Detect guesses the name from the
// first bytes of a stream.
package decode

import (
	"errors"
	"fmt"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// A Decoder decodes one record into an event.
//
// The caller resets e, sets e.Raw to the record, and may set e.Received, e.Tenant and e.Source
// before calling Decode(e). e.Raw is immutable from then on, so the decoder may make strings that
// share its memory (event.String) and need not copy. On error the event's other fields are
// undefined, and the error is an *Error.
//
// A Decoder may keep state between records of one stream (a Zeek log's #fields header), so
// each stream gets its own from New, and a Decoder is not safe for concurrent use.
type Decoder interface {
	Decode(e *event.Event) error
}

// Options are the settings every decoder shares.
type Options struct {
	// Location is the time zone of timestamps that carry none (RFC 3164 syslog, FortiGate
	// date= time=). Japanese devices log in JST. Nil means time.Local.
	Location *time.Location
	// Year is the year of RFC 3164 timestamps, which carry none. Zero means: the year of
	// e.Received, or the year before when that would put the event more than a day ahead.
	Year int
}

func (o Options) location() *time.Location {
	if o.Location == nil {
		return time.Local
	}
	return o.Location
}

// Reason says in a word why a record could not be decoded. Reasons are few and fixed, since
// they label the dead-letter counters.
type Reason string

const (
	ReasonEmpty       Reason = "empty"        // nothing but white space
	ReasonTooLong     Reason = "too_long"     // longer than the limit for one record
	ReasonBinary      Reason = "binary"       // control bytes: not a text log
	ReasonInvalidUTF8 Reason = "invalid_utf8" // neither UTF-8 nor Shift_JIS
	ReasonSyntax      Reason = "syntax"       // the format's syntax is broken
	ReasonTimestamp   Reason = "timestamp"    // no timestamp that can be read
	ReasonField       Reason = "field"        // a field has a value of the wrong kind
	ReasonUnknown     Reason = "unknown"      // no decoder recognised the record
)

// Error describes a record that could not be decoded.
type Error struct {
	Format string // the decoder that gave up
	Reason Reason
	Detail string // for a person: what was wrong and where
	Line   int    // the record's line in its stream, when a Reader read it; 0 otherwise
	Err    error  // the underlying error, if any
}

func (e *Error) Error() string {
	s := fmt.Sprintf("decode %s: %s", e.Format, e.Reason)
	if e.Line > 0 {
		s = fmt.Sprintf("decode %s: line %d: %s", e.Format, e.Line, e.Reason)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason of err if it is or wraps an *Error, and ReasonUnknown otherwise.
func ReasonOf(err error) Reason {
	if de, ok := errors.AsType[*Error](err); ok {
		return de.Reason
	}
	return ReasonUnknown
}

// TagTimeFromReceipt is the tag (ECS tags) of an event whose record carried no time that could
// be read, so that its @timestamp is the time omamori received it. Timelines, the archive and
// extracts show the tag; the ingest metrics count such events per source.
const TagTimeFromReceipt = "time_from_receipt"

var keyTags = event.K("tags")

// TimeFromReceipt reports whether e's time is the time it was received, for want of one in
// the record (see TagTimeFromReceipt).
func TimeFromReceipt(e *event.Event) bool {
	if !e.Time.Equal(e.Received) {
		return false // the common case costs one comparison
	}
	for i := range e.Fields {
		if e.Fields[i].Key == keyTags && e.Fields[i].Value == TagTimeFromReceipt {
			return true
		}
	}
	return false
}

// ErrSkip is returned for a record that holds no event but is not wrong either, such as a Zeek
// header line. The caller moves on and counts nothing.
var ErrSkip = errors.New("decode: not an event")
