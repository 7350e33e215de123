// Package evtx reads Windows .evtx files, the binary event logs Windows writes: a 4 KiB file
// header ("ElfFile\0"), then 64 KiB chunks ("ElfChnk\0"), each holding event records whose body
// is binary XML (BinXML) with templates: the XML skeleton of an event is stored once per chunk
// and each record fills in its values. The layout follows Microsoft's [MS-EVEN6] BinXml grammar
// and the libevtx format notes by Joachim Metz.
//
// On the data path it sits under package decode: the "evtx" format is a Reader whose records
// are rendered into the same flattened XML the evtx-json decoder reads, so that a .evtx record
// and its JSON rendering make the same event. A damaged chunk is reported as one error and
// reading goes on with the next chunk.
package evtx

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The sizes of a file's parts; the header's own size field can make it longer.
const (
	fileHeaderSize = 4096
	chunkSize      = 65536
	chunkHeader    = 512
	maxNesting     = 16 // templates inside substitution values inside templates...
)

var magic = []byte("ElfFile\x00")

// Sniff reports whether head, the start of a file, is the start of an .evtx file.
func Sniff(head []byte) bool { return bytes.HasPrefix(head, magic) }

// A Sink receives the XML of one record as leaves, in document order: an element's text at
// its path ("Event.System.Channel"), an attribute at its element's path and its name
// ("Event.System.Provider.Name"). elem numbers the elements of the record in the order they
// open, from 0, so that the leaves of one element share it. path is valid only during the
// call; value is the Sink's to keep.
type Sink interface {
	Leaf(path []byte, elem int32, value string)
}

// A SyntaxError says what in a file is not EVTX. After one about the file header the file
// is at its end; after one about a chunk or a record, Next goes on with the next chunk or
// record.
type SyntaxError struct {
	Detail string // what is wrong and where: "chunk 2: record 7: ..."
}

func (e *SyntaxError) Error() string { return "evtx: " + e.Detail }

func syntaxError(format string, args ...any) *SyntaxError {
	return &SyntaxError{Detail: fmt.Sprintf(format, args...)}
}

// A Reader reads the records of an .evtx file in order. It is not safe for concurrent use.
type Reader struct {
	r      io.Reader
	header bool   // the file header has been read
	chunk  []byte // the current chunk
	nchunk int    // chunks read, for error messages
	off    int    // offset of the next record in chunk
	end    int    // end of the records in chunk
	err    error  // the error that ended the stream
	p      parser
}

// NewReader returns a Reader of the .evtx file r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

// Next reads the next record and renders its XML into sink. It returns the record's bytes,
// or with an error the bytes it is about when there are any; they are valid until the next
// call. The error is io.EOF at the end of the file, a *SyntaxError for a damaged file header,
// chunk or record (reading goes on after those of a chunk or record), or the error of
// reading the underlying reader, after which the Reader returns it again.
func (x *Reader) Next(sink Sink) (raw []byte, err error) {
	if x.err != nil {
		return nil, x.err
	}
	if !x.header {
		x.header = true
		h := make([]byte, fileHeaderSize)
		n, err := io.ReadFull(x.r, h)
		if n < len(magic) || !bytes.Equal(h[:len(magic)], magic) {
			x.err = io.EOF
			return h[:n], syntaxError("not an EVTX file (no ElfFile header)")
		}
		if err != nil {
			x.err = io.EOF
			return h[:n], syntaxError("file header cut short")
		}
		// The header block size says where chunks start; it is 4096 in every file seen.
		if hs := int(binary.LittleEndian.Uint16(h[40:])); hs > fileHeaderSize {
			if _, err := io.CopyN(io.Discard, x.r, int64(hs-fileHeaderSize)); err != nil {
				x.err = io.EOF
				return nil, syntaxError("file header cut short")
			}
		}
	}
	for {
		if x.off+24 > x.end {
			if raw, err := x.nextChunk(); err != nil {
				return raw, err
			}
			continue
		}
		c := x.chunk
		off := x.off
		if binary.LittleEndian.Uint32(c[off:]) != 0x00002a2a {
			x.off = x.end // skip the rest of the chunk
			return nil, syntaxError("chunk %d: no record at offset %d; rest of chunk skipped", x.nchunk, off)
		}
		size := int(binary.LittleEndian.Uint32(c[off+4:]))
		if size < 28 || off+size > x.end {
			x.off = x.end
			return nil, syntaxError("chunk %d: record at offset %d has bad size %d; rest of chunk skipped", x.nchunk, off, size)
		}
		x.off = off + size
		raw := c[off : off+size]
		x.p.reset(c, sink)
		if err := x.p.fragment(off+24, off+size-4, nil, 0); err != nil {
			return raw, syntaxError("chunk %d: record %d: %v", x.nchunk, binary.LittleEndian.Uint64(c[off+8:]), err)
		}
		return raw, nil
	}
}

// nextChunk reads the next chunk and checks its header. A chunk that is all zeros (space
// Windows set aside) is passed over; a damaged one is an error, after which Next goes on.
// It returns nil, nil when the chunk's records are ready to read.
func (x *Reader) nextChunk() (raw []byte, err error) {
	if x.chunk == nil {
		x.chunk = make([]byte, chunkSize)
	}
	x.off, x.end = 0, 0
	n, err := io.ReadFull(x.r, x.chunk)
	if n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		x.err = io.EOF
		return nil, io.EOF
	}
	x.nchunk++
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		x.err = fmt.Errorf("read evtx chunk %d: %w", x.nchunk, err)
		return nil, x.err
	}
	c := x.chunk[:n]
	if n < chunkSize {
		x.err = io.EOF // the last, cut-short chunk: use what it has
	}
	if !bytes.HasPrefix(c, []byte("ElfChnk\x00")) {
		if isZero(c) {
			return nil, nil
		}
		return c[:min(len(c), 64)], syntaxError("chunk %d: bad magic; chunk skipped", x.nchunk)
	}
	if n < chunkHeader {
		return nil, syntaxError("chunk %d: cut short", x.nchunk)
	}
	free := int(binary.LittleEndian.Uint32(c[48:]))
	if free < chunkHeader || free > n {
		free = n // trust the records' own sizes
	}
	x.chunk = x.chunk[:chunkSize]
	x.off, x.end = chunkHeader, free
	return nil, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parser renders BinXML into leaves for a Sink: an element's text is a leaf at its path
// ("Event.System.Channel"), an attribute a leaf at the element's path and its name
// ("Event.System.Provider.Name"), and all leaves of one element share its number.
type parser struct {
	c    []byte // the chunk: all offsets in BinXML are relative to it
	sink Sink
	path []byte // the path of the element being rendered
	objs int32  // elements opened so far in the record
	text []byte
	tmp  []byte
}

func (p *parser) reset(chunk []byte, sink Sink) {
	p.c = chunk
	p.sink = sink
	p.path, p.objs = p.path[:0], 0
}

type sub struct {
	typ       byte
	off, size int
}

var errBounds = errors.New("binary XML runs past its end")

type cursor struct {
	c        []byte
	pos, end int
	bad      bool
}

func (r *cursor) u8() byte {
	if r.pos+1 > r.end {
		r.bad = true
		return 0
	}
	v := r.c[r.pos]
	r.pos++
	return v
}

func (r *cursor) u16() int {
	if r.pos+2 > r.end {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint16(r.c[r.pos:])
	r.pos += 2
	return int(v)
}

func (r *cursor) u32() int {
	if r.pos+4 > r.end {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint32(r.c[r.pos:])
	r.pos += 4
	return int(v)
}

// name returns the name stored at chunk offset off, and skips it when it is stored right
// here in the stream.
func (p *parser) name(r *cursor, off int) ([]byte, error) {
	if off+8 > len(p.c) {
		return nil, errBounds
	}
	n := int(binary.LittleEndian.Uint16(p.c[off+6:]))
	if off+8+2*n > len(p.c) {
		return nil, errBounds
	}
	if off == r.pos {
		r.pos += 8 + 2*n + 2
		if r.pos > r.end {
			return nil, errBounds
		}
	}
	p.tmp = appendUTF16(p.tmp[:0], p.c[off+8:off+8+2*n])
	return p.tmp, nil
}

// fragment renders the BinXML in c[start:end] with the substitution values subs (nil
// outside templates).
func (p *parser) fragment(start, end int, subs []sub, nest int) error {
	if nest > maxNesting {
		return errors.New("templates nested too deeply")
	}
	r := &cursor{c: p.c, pos: start, end: end}
	type open struct {
		pathLen int
		obj     int32
		text    int // start of the element's text in p.text
		hasText bool
	}
	var stack []open
	textBase := len(p.text)
	for r.pos < r.end {
		tok := r.u8()
		switch tok & 0x0f {
		case 0x00: // end of fragment
			if len(stack) != 0 {
				return errors.New("fragment ends inside an element")
			}
			return nil
		case 0x0f: // fragment header
			r.pos += 3
		case 0x0c: // template instance
			if err := p.template(r, nest); err != nil {
				return err
			}
		case 0x01: // open start element
			r.u16() // dependency identifier
			r.u32() // data size
			nameOff := r.u32()
			if r.bad {
				return errBounds
			}
			name, err := p.name(r, nameOff) // an inline name comes before the attribute list size
			if err != nil {
				return err
			}
			if tok&0x40 != 0 {
				r.u32() // attribute list size
			}
			o := open{pathLen: len(p.path), obj: p.objs, text: len(p.text)}
			p.objs++
			if len(p.path) > 0 {
				p.path = append(p.path, '.')
			}
			p.path = append(p.path, name...)
			stack = append(stack, o)
		case 0x06: // attribute
			if len(stack) == 0 {
				return errors.New("attribute outside an element")
			}
			nameOff := r.u32()
			if r.bad {
				return errBounds
			}
			name, err := p.name(r, nameOff)
			if err != nil {
				return err
			}
			elemLen := len(p.path)
			p.path = append(append(p.path, '.'), name...)
			valStart := len(p.text)
			present, err := p.attrValue(r, subs)
			if err != nil {
				return err
			}
			if present {
				p.sink.Leaf(p.path, stack[len(stack)-1].obj, string(p.text[valStart:]))
			}
			p.text = p.text[:valStart]
			p.path = p.path[:elemLen]
		case 0x02: // close start element: content follows
		case 0x03, 0x04: // close empty element, end element
			if len(stack) == 0 {
				return errors.New("end of an element never opened")
			}
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if o.hasText {
				p.sink.Leaf(p.path, o.obj, string(p.text[o.text:]))
			}
			p.text = p.text[:o.text]
			p.path = p.path[:o.pathLen]
		case 0x05, 0x07, 0x08, 0x09: // value, CDATA, character and entity references
			if len(stack) == 0 {
				return errors.New("text outside an element")
			}
			if err := p.textToken(r, tok); err != nil {
				return err
			}
			stack[len(stack)-1].hasText = true
		case 0x0d, 0x0e: // normal and optional substitution
			if len(stack) == 0 {
				return errors.New("substitution outside an element")
			}
			id := r.u16()
			r.u8() // the type; the value's own descriptor is what counts
			if r.bad {
				return errBounds
			}
			if id >= len(subs) {
				return fmt.Errorf("substitution %d of %d", id, len(subs))
			}
			s := subs[id]
			if s.typ == 0x21 { // BinXML: a nested document, usually a template instance
				if s.size > 0 {
					if err := p.fragment(s.off, s.off+s.size, nil, nest+1); err != nil {
						return err
					}
				}
				continue
			}
			if s.typ == 0 || s.size == 0 {
				if tok&0x0f == 0x0d {
					stack[len(stack)-1].hasText = true
				}
				continue
			}
			if s.typ&0x80 != 0 { // an array: one leaf per item
				if err := p.array(s, stack[len(stack)-1].obj); err != nil {
					return err
				}
				continue
			}
			var err error
			if p.text, err = appendValue(p.text, p.c[s.off:s.off+s.size], s.typ); err != nil {
				return err
			}
			stack[len(stack)-1].hasText = true
		case 0x0a: // processing instruction target
			r.u32()
		case 0x0b: // processing instruction data
			n := r.u16()
			r.pos += 2 * n
		default:
			return fmt.Errorf("unknown token 0x%02x at offset %d", tok, r.pos-1)
		}
		if r.bad || r.pos > r.end {
			return errBounds
		}
	}
	p.text = p.text[:textBase]
	if len(stack) != 0 {
		return errors.New("binary XML ends inside an element")
	}
	return nil
}

// attrValue appends an attribute's value to p.text, and reports whether the attribute is
// there (an optional substitution without a value leaves it out).
func (p *parser) attrValue(r *cursor, subs []sub) (bool, error) {
	present := false
	for r.pos < r.end {
		tok := p.c[r.pos]
		switch tok & 0x0f {
		case 0x05, 0x08, 0x09:
			r.pos++
			if err := p.textToken(r, tok); err != nil {
				return false, err
			}
			present = true
		case 0x0d, 0x0e:
			r.pos++
			id := r.u16()
			r.u8()
			if r.bad {
				return false, errBounds
			}
			if id >= len(subs) {
				return false, fmt.Errorf("substitution %d of %d", id, len(subs))
			}
			s := subs[id]
			if s.typ == 0 || s.size == 0 {
				present = present || tok&0x0f == 0x0d
				continue
			}
			var err error
			if p.text, err = appendValue(p.text, p.c[s.off:s.off+s.size], s.typ&0x7f); err != nil {
				return false, err
			}
			present = true
		default:
			return present, nil
		}
	}
	return present, nil
}

// textToken appends the text of a value, CDATA, character or entity reference token.
func (p *parser) textToken(r *cursor, tok byte) error {
	switch tok & 0x0f {
	case 0x05:
		typ := r.u8()
		if typ != 0x01 {
			return fmt.Errorf("value token of type 0x%02x", typ)
		}
		fallthrough
	case 0x07:
		n := r.u16()
		if r.bad || r.pos+2*n > r.end {
			return errBounds
		}
		p.text = appendUTF16(p.text, p.c[r.pos:r.pos+2*n])
		r.pos += 2 * n
	case 0x08:
		p.text = utf8.AppendRune(p.text, rune(r.u16()))
	case 0x09:
		off := r.u32()
		if r.bad {
			return errBounds
		}
		name, err := p.name(r, off)
		if err != nil {
			return err
		}
		switch string(name) {
		case "lt":
			p.text = append(p.text, '<')
		case "gt":
			p.text = append(p.text, '>')
		case "amp":
			p.text = append(p.text, '&')
		case "quot":
			p.text = append(p.text, '"')
		case "apos":
			p.text = append(p.text, '\'')
		default:
			p.text = append(append(append(p.text, '&'), name...), ';')
		}
	}
	if r.bad {
		return errBounds
	}
	return nil
}

// template reads a template instance: the template's definition (here in the stream, or
// earlier in the chunk), then the substitution values, and renders the definition with them.
func (p *parser) template(r *cursor, nest int) error {
	r.u8()  // unknown
	r.u32() // template id
	defOff := r.u32()
	if r.bad || defOff+24 > len(p.c) {
		return errBounds
	}
	bodySize := int(binary.LittleEndian.Uint32(p.c[defOff+20:]))
	body := defOff + 24
	if body+bodySize > len(p.c) {
		return errBounds
	}
	if defOff == r.pos { // defined here: skip over the definition
		r.pos = body + bodySize
	}
	n := r.u32()
	if r.bad || n > (r.end-r.pos)/4 {
		return errBounds
	}
	subs := make([]sub, n)
	descs := r.pos
	r.pos += 4 * n
	for i := range subs {
		size := int(binary.LittleEndian.Uint16(p.c[descs+4*i:]))
		subs[i] = sub{typ: p.c[descs+4*i+2], off: r.pos, size: size}
		r.pos += size
	}
	if r.pos > r.end {
		return errBounds
	}
	return p.fragment(body, body+bodySize, subs, nest+1)
}

// array adds one leaf per item of an array value, at the current element's path.
func (p *parser) array(s sub, obj int32) error {
	typ := s.typ & 0x7f
	b := p.c[s.off : s.off+s.size]
	if typ == 0x01 { // strings, each ended by a NUL
		for len(b) >= 2 {
			i := 0
			for i+1 < len(b) && (b[i] != 0 || b[i+1] != 0) {
				i += 2
			}
			p.tmp = appendUTF16(p.tmp[:0], b[:i])
			p.sink.Leaf(p.path, obj, string(p.tmp))
			b = b[min(i+2, len(b)):]
		}
		return nil
	}
	size := fixedSize(typ)
	if size == 0 {
		return fmt.Errorf("array of type 0x%02x", typ)
	}
	for ; len(b) >= size; b = b[size:] {
		var err error
		if p.tmp, err = appendValue(p.tmp[:0], b[:size], typ); err != nil {
			return err
		}
		p.sink.Leaf(p.path, obj, string(p.tmp))
	}
	return nil
}

func fixedSize(typ byte) int {
	switch typ {
	case 0x03, 0x04:
		return 1
	case 0x05, 0x06:
		return 2
	case 0x07, 0x08, 0x0b, 0x0d, 0x14:
		return 4
	case 0x09, 0x0a, 0x0c, 0x11, 0x15:
		return 8
	case 0x0f, 0x12:
		return 16
	}
	return 0
}

// appendValue appends the text of a substitution value of type typ.
func appendValue(dst, b []byte, typ byte) ([]byte, error) {
	le := binary.LittleEndian
	need := func(n int) error {
		if len(b) < n {
			return fmt.Errorf("value of type 0x%02x has %d bytes", typ, len(b))
		}
		return nil
	}
	if n := fixedSize(typ); n > 0 {
		if err := need(n); err != nil {
			return dst, err
		}
	}
	switch typ {
	case 0x00:
	case 0x01:
		return appendUTF16(dst, b), nil
	case 0x02:
		return append(dst, bytes.TrimRight(b, "\x00")...), nil
	case 0x03:
		return strconv.AppendInt(dst, int64(int8(b[0])), 10), nil
	case 0x04:
		return strconv.AppendUint(dst, uint64(b[0]), 10), nil
	case 0x05:
		return strconv.AppendInt(dst, int64(int16(le.Uint16(b))), 10), nil
	case 0x06:
		return strconv.AppendUint(dst, uint64(le.Uint16(b)), 10), nil
	case 0x07:
		return strconv.AppendInt(dst, int64(int32(le.Uint32(b))), 10), nil
	case 0x08:
		return strconv.AppendUint(dst, uint64(le.Uint32(b)), 10), nil
	case 0x09:
		return strconv.AppendInt(dst, int64(le.Uint64(b)), 10), nil
	case 0x0a:
		return strconv.AppendUint(dst, le.Uint64(b), 10), nil
	case 0x0b:
		return strconv.AppendFloat(dst, float64(math.Float32frombits(le.Uint32(b))), 'g', -1, 32), nil
	case 0x0c:
		return strconv.AppendFloat(dst, math.Float64frombits(le.Uint64(b)), 'g', -1, 64), nil
	case 0x0d:
		return strconv.AppendBool(dst, le.Uint32(b) != 0), nil
	case 0x0e:
		return append(dst, bytes.ToUpper(hex.AppendEncode(nil, b))...), nil
	case 0x0f:
		return fmt.Appendf(dst, "%08X-%04X-%04X-%02X-%02X", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16]), nil
	case 0x10: // size_t, shown in hex as Windows does
		if len(b) == 4 {
			return fmt.Appendf(dst, "0x%x", le.Uint32(b)), nil
		}
		if err := need(8); err != nil {
			return dst, err
		}
		return fmt.Appendf(dst, "0x%x", le.Uint64(b)), nil
	case 0x11:
		return filetime(le.Uint64(b)).AppendFormat(dst, "2006-01-02T15:04:05.0000000Z"), nil
	case 0x12:
		t := time.Date(int(le.Uint16(b)), time.Month(le.Uint16(b[2:])), int(le.Uint16(b[6:])),
			int(le.Uint16(b[8:])), int(le.Uint16(b[10:])), int(le.Uint16(b[12:])),
			int(le.Uint16(b[14:]))*int(time.Millisecond), time.UTC)
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z"), nil
	case 0x13:
		if err := need(8); err != nil {
			return dst, err
		}
		n := int(b[1])
		if err := need(8 + 4*n); err != nil {
			return dst, err
		}
		var auth uint64
		for _, c := range b[2:8] {
			auth = auth<<8 | uint64(c)
		}
		dst = fmt.Appendf(dst, "S-%d-%d", b[0], auth)
		for i := range n {
			dst = fmt.Appendf(dst, "-%d", le.Uint32(b[8+4*i:]))
		}
		return dst, nil
	case 0x14:
		return fmt.Appendf(dst, "0x%x", le.Uint32(b)), nil
	case 0x15:
		return fmt.Appendf(dst, "0x%x", le.Uint64(b)), nil
	case 0x23: // EvtXml: text
		return appendUTF16(dst, b), nil
	default:
		return dst, fmt.Errorf("value of unknown type 0x%02x", typ)
	}
	return dst, nil
}

// filetime converts a Windows FILETIME (100 ns since 1601) to a time.
func filetime(ft uint64) time.Time {
	const epochDiff = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
	if ft < epochDiff {
		return time.Unix(0, 0).UTC()
	}
	d := ft - epochDiff
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}

// appendUTF16 appends UTF-16LE text as UTF-8, without trailing NULs.
func appendUTF16(dst, b []byte) []byte {
	for len(b) >= 2 && b[len(b)-1] == 0 && b[len(b)-2] == 0 {
		b = b[:len(b)-2]
	}
	for i := 0; i+1 < len(b); i += 2 {
		u := rune(binary.LittleEndian.Uint16(b[i:]))
		if utf16.IsSurrogate(u) && i+3 < len(b) {
			if r := utf16.DecodeRune(u, rune(binary.LittleEndian.Uint16(b[i+2:]))); r != utf8.RuneError {
				dst = utf8.AppendRune(dst, r)
				i += 2
				continue
			}
		}
		dst = utf8.AppendRune(dst, u)
	}
	return dst
}
