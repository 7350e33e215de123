package ingest

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// framer cuts a syslog byte stream into messages as RFC 6587 says: each message is either
// octet-counted ("LEN SP MSG") or ends with a newline, and a receiver tells which from the
// message's first bytes. We take a message as octet-counted when it starts with a decimal
// length, a space and '<' (the PRI every octet-counted sender puts first, RFC 5425 4.3), and as
// newline-terminated otherwise, so that a line without PRI that starts with a number ("12 Dec
// ...") is not mistaken for a length. Senders may switch between the two per message.
//
// The framer consumes nothing until it has a whole message (or the start of one too long to
// keep), so a read deadline may interrupt it at any point: next returns the timeout and the
// following call carries on where it stopped.
type framer struct {
	r    *readBuffer
	max  int // longest message kept whole
	skip struct {
		line  bool // discarding the rest of a line too long to keep
		bytes int  // discarding the rest of an octet-counted message too long to keep
	}
}

// errTruncated is returned with the start of an octet-counted message that the stream ended in.
var errTruncated = errors.New("stream ended inside an octet-counted message")

const maxDigits = 9 // octet counts up to a billion bytes; no real message comes near

// framerBuffer is the read buffer a framer of messages up to max bytes needs: the longest
// message with its octet count.
func framerBuffer(max int) int { return max + maxDigits + 2 }

// newFramer returns a framer of r for messages up to max bytes, taking its read buffers from
// pool (newReadPool(max)) while it needs them.
func newFramer(r io.Reader, max int, pool *sync.Pool) *framer {
	return &framer{r: newReadBuffer(r, framerBuffer(max), pool), max: max}
}

// release gives back the framer's large read buffer while the stream is quiet; it keeps a
// message begun and not finished. Messages returned earlier are invalid after it.
func (f *framer) release() { f.r.release() }

// next returns the next message, or io.EOF at the end of the stream. A message longer than max
// is returned cut to its first max bytes with tooLong set, and the rest of it skipped. The
// message is valid only until the next call. Blank lines are skipped.
func (f *framer) next() (msg []byte, tooLong bool, err error) {
	if err := f.skipRest(); err != nil {
		return nil, false, err
	}
	for {
		head, err := f.r.Peek(1)
		if err != nil {
			return nil, false, err
		}
		if head[0] >= '1' && head[0] <= '9' {
			n, hdr, ok, err := f.octetCount()
			if err != nil {
				return nil, false, err
			}
			if ok {
				return f.counted(n, hdr)
			}
		}
		msg, tooLong, err = f.line()
		if err != nil || tooLong || len(bytes.TrimSpace(msg)) > 0 {
			return msg, tooLong, err
		}
	}
}

// octetCount reports whether the stream continues with "LEN SP <" and returns LEN and the
// length of "LEN SP", without consuming anything.
func (f *framer) octetCount() (n, hdr int, ok bool, err error) {
	for i := 0; i <= maxDigits; i++ {
		b, err := f.r.Peek(i + 2)
		if len(b) < i+2 {
			if errors.Is(err, io.EOF) {
				return 0, 0, false, nil // too short to be counted; line() takes it
			}
			return 0, 0, false, err
		}
		switch c := b[i]; {
		case c >= '0' && c <= '9':
			n = n*10 + int(c-'0')
		case c == ' ' && i > 0:
			return n, i + 1, b[i+1] == '<', nil
		default:
			return 0, 0, false, nil
		}
	}
	return 0, 0, false, nil
}

func (f *framer) counted(n, hdr int) ([]byte, bool, error) {
	keep := min(n, f.max)
	b, err := f.r.Peek(hdr + keep)
	if len(b) < hdr+keep {
		if errors.Is(err, io.EOF) {
			_, _ = f.r.Discard(len(b))
			return b[min(hdr, len(b)):], false, errTruncated
		}
		return nil, false, err
	}
	_, _ = f.r.Discard(hdr + keep)
	if n > keep {
		f.skip.bytes = n - keep
		return b[hdr:], true, nil
	}
	return trimTrailer(b[hdr:]), false, nil
}

// line returns the line up to the next newline, without its line ending.
func (f *framer) line() ([]byte, bool, error) {
	scanned := 0
	for {
		b, _ := f.r.Peek(f.r.Buffered())
		if i := bytes.IndexByte(b[scanned:], '\n'); i >= 0 {
			end := scanned + i + 1
			if end-1 > f.max {
				_, _ = f.r.Discard(f.max)
				f.skip.line = true
				return b[:f.max], true, nil
			}
			_, _ = f.r.Discard(end)
			return trimTrailer(b[:end]), false, nil
		}
		if len(b) > f.max {
			_, _ = f.r.Discard(f.max)
			f.skip.line = true
			return b[:f.max], true, nil
		}
		scanned = len(b)
		more, err := f.r.Peek(len(b) + 1)
		if len(more) <= len(b) {
			if errors.Is(err, io.EOF) && len(b) > 0 {
				_, _ = f.r.Discard(len(b))
				return trimTrailer(b), false, nil // the last line may lack its newline
			}
			return nil, false, err
		}
	}
}

// pending returns what the stream holds of a message it has not completed, at most max bytes,
// for a connection that ends there; nil when that is only white space or the rest of a message
// too long to keep, whose start was already returned. It consumes nothing.
func (f *framer) pending() []byte {
	if f.skip.line || f.skip.bytes > 0 {
		return nil
	}
	b, _ := f.r.Peek(f.r.Buffered())
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return b[:min(len(b), f.max)]
}

// skipRest discards what is left of a message too long to keep.
func (f *framer) skipRest() error {
	for f.skip.bytes > 0 {
		d, err := f.r.Discard(f.skip.bytes)
		f.skip.bytes -= d
		if err != nil {
			return err
		}
	}
	for f.skip.line {
		b, _ := f.r.Peek(f.r.Buffered())
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			_, _ = f.r.Discard(i + 1)
			f.skip.line = false
			return nil
		}
		_, _ = f.r.Discard(len(b))
		if _, err := f.r.Peek(1); err != nil {
			return err
		}
	}
	return nil
}

// trimTrailer removes the line ending, and the NUL trailer some senders use.
func trimTrailer(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
