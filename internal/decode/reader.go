package decode

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// DefaultMaxRecord is the longest record a Reader or listener accepts by default. RFC 5425
// asks receivers to take at least 2 KiB and recommends 8 KiB; Windows events and JSON run
// longer.
const DefaultMaxRecord = 64 << 10

// A Reader yields the events of a stream, one per call.
//
// Next fills e (which it resets first, keeping the Received, Tenant and Source the caller set;
// a zero Received becomes the time of reading) and returns nil, or returns io.EOF at the end of the
// stream, or an *Error for a record it could not decode, with e.Raw holding that record, so the
// caller can keep it as a dead letter and call Next again. Any other error ends the stream.
type Reader interface {
	Next(e *event.Event) error
}

// NewReader returns a Reader for a stream in the named format; "" or "auto" detects the format
// from the first bytes. Records longer than maxRecord bytes (0 means DefaultMaxRecord) are
// returned as ReasonTooLong errors holding their first maxRecord bytes.
func NewReader(r io.Reader, format string, opts Options, maxRecord int) (Reader, string, error) {
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	br := bufio.NewReaderSize(r, max(maxRecord, 64<<10))
	if format == "" || format == "auto" {
		head, err := br.Peek(8 << 10)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, "", fmt.Errorf("read start of stream: %w", err)
		}
		format = Detect(head)
	}
	f, err := Lookup(format)
	if err != nil {
		return nil, "", err
	}
	if f.Open != nil {
		rd, err := f.Open(br, opts)
		return rd, f.Name, err
	}
	return &lineReader{r: br, dec: f.New(opts), format: f.Name, max: maxRecord}, f.Name, nil
}

// lineReader cuts a stream at newlines and decodes each non-blank line.
type lineReader struct {
	r      *bufio.Reader
	dec    Decoder
	format string
	max    int
	line   int
}

func (lr *lineReader) Next(e *event.Event) error {
	for {
		line, tooLong, err := lr.readLine()
		if err != nil {
			return err
		}
		lr.line++
		if len(bytes.TrimSpace(line)) == 0 && !tooLong {
			continue
		}
		received, tenant, source := e.Received, e.Tenant, e.Source
		if received.IsZero() {
			received = time.Now()
		}
		e.Reset()
		e.Raw, e.Received, e.Tenant, e.Source = line, received, tenant, source
		if tooLong {
			return &Error{Format: lr.format, Reason: ReasonTooLong, Line: lr.line,
				Detail: fmt.Sprintf("record longer than %d bytes; its start is kept", lr.max)}
		}
		err = lr.dec.Decode(e)
		if errors.Is(err, ErrSkip) {
			continue
		}
		if de, ok := errors.AsType[*Error](err); ok {
			de.Line = lr.line
		}
		return err
	}
}

// readLine returns the next line, without its line ending, in a new slice the caller owns.
// A line longer than max is cut at max and the rest of it skipped.
func (lr *lineReader) readLine() (line []byte, tooLong bool, err error) {
	for {
		chunk, err := lr.r.ReadSlice('\n')
		// The newline is not part of the record: a record of exactly max bytes is whole, as it
		// is over TCP and HTTP.
		if len(line)+len(bytes.TrimSuffix(chunk, []byte{'\n'})) > lr.max {
			if !tooLong {
				line = append(line, chunk[:lr.max-len(line)]...)
				tooLong = true
			}
		} else {
			line = append(line, chunk...)
		}
		switch {
		case err == nil:
			return trimEOL(line), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && (len(line) > 0 || tooLong):
			return trimEOL(line), tooLong, nil
		default:
			return nil, false, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// Decompress returns a reader of r's content, gunzipped when r starts with the gzip magic
// number, so imports take .log and .log.gz alike.
func Decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read start of stream: %w", err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open gzip stream: %w", err)
		}
		return zr, nil
	}
	return br, nil
}
