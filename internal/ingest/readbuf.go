package ingest

import (
	"bufio"
	"io"
	"sync"
)

// smallRead is what a connection's read buffer holds while the connection is quiet: enough for
// a syslog line or two, so that a thousand idle devices cost a few megabytes, not one full
// buffer each.
const smallRead = 2 << 10

// readBuffer is the part of bufio.Reader the framer uses (Peek, Discard, Buffered), with memory
// that follows the traffic: a connection reads into a small buffer of its own, takes a full one
// (of size bytes, enough for the longest message) from a pool when a message or a burst needs
// more, and gives it back when the connection goes quiet (release). A read that fills the
// buffer it was given is taken for a burst, so a busy sender reads in large chunks.
type readBuffer struct {
	src   io.Reader
	size  int
	pool  *sync.Pool // of *[]byte of len size
	small []byte     // allocated on the first read
	big   *[]byte    // from pool while in use, else nil
	buf   []byte     // small or *big; buf[r:w] is unread
	r, w  int
	burst bool // the last read filled the buffer
}

func newReadBuffer(src io.Reader, size int, pool *sync.Pool) *readBuffer {
	return &readBuffer{src: src, size: size, pool: pool}
}

// Buffered returns how many bytes can be read without reading from the source.
func (b *readBuffer) Buffered() int { return b.w - b.r }

// Peek returns the next n bytes without consuming them, reading from the source as needed. With
// fewer than n bytes it returns what it has and the error that stopped it: the source's, or
// bufio.ErrBufferFull when n is more than the buffer holds. The bytes are valid until the next
// call.
func (b *readBuffer) Peek(n int) ([]byte, error) {
	for b.w-b.r < n {
		if err := b.fill(n); err != nil {
			return b.buf[b.r:b.w], err
		}
	}
	return b.buf[b.r : b.r+n], nil
}

// Discard skips the next n bytes, reading from the source as needed, and returns how many it
// skipped.
func (b *readBuffer) Discard(n int) (int, error) {
	done := 0
	for {
		d := min(n-done, b.w-b.r)
		b.r += d
		done += d
		if done == n {
			return done, nil
		}
		if err := b.fill(1); err != nil {
			return done, err
		}
	}
}

// fill reads once from the source into the buffer, with room for want unread bytes.
func (b *readBuffer) fill(want int) error {
	if want > b.size {
		return bufio.ErrBufferFull
	}
	if b.buf == nil {
		b.buf = b.smallBuf()
	}
	if b.big == nil && (want > len(b.buf) || b.burst) {
		b.big = b.pool.Get().(*[]byte)
		b.use(*b.big)
	} else if b.r > 0 {
		// Slide the unread bytes (the start of a message) to the front, as bufio does, so
		// that the read has the whole rest of the buffer and not the few bytes after them.
		b.use(b.buf)
	}
	for range 100 {
		n, err := b.src.Read(b.buf[b.w:])
		b.w += n
		b.burst = b.w == len(b.buf)
		if n > 0 || err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// use moves the unread bytes to the start of buf and makes it the buffer.
func (b *readBuffer) use(buf []byte) {
	b.w = copy(buf, b.buf[b.r:b.w])
	b.r = 0
	b.buf = buf
}

// release gives the full buffer back to the pool when what is unread fits in the small one:
// what a connection does when it goes quiet. Bytes returned earlier are invalid after it.
func (b *readBuffer) release() {
	if b.big == nil || b.w-b.r > min(smallRead, b.size) {
		return
	}
	b.use(b.smallBuf())
	b.pool.Put(b.big)
	b.big, b.burst = nil, false
}

func (b *readBuffer) smallBuf() []byte {
	if b.small == nil {
		b.small = make([]byte, min(smallRead, b.size))
	}
	return b.small
}

// newReadPool returns the pool of full read buffers for framers of messages up to max bytes.
func newReadPool(max int) *sync.Pool {
	size := framerBuffer(max)
	return &sync.Pool{New: func() any { b := make([]byte, size); return &b }}
}
