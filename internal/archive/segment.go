package archive

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"time"

	"github.com/omamori-project/omamori/internal/keyring"
)

// The segment format, version 1. A segment is one file of one tenant, appended to and never
// rewritten; see docs/archive-verification.md for the same description with examples.
//
//	segment = header block*
//	header  = "OMAMSEG1" len:u32 body crc:u32                  crc32c(body)
//	body    = tenant:str first:u64 created:i64 keyid:str wrapped:str
//	block   = magic:u32 len:u32 bhead ciphertext crc:u32        len counts bhead..crc,
//	                                                            crc32c(bhead || ciphertext)
//	bhead   = seq:u32 first:u64 count:u32 mint:i64 maxt:i64 mark:u64 plain:u32 nonce:[12]
//	          bloomlen:u16 bloom
//
// Integers are big-endian; str is a uvarint length and bytes. first is the tree index of the
// segment's (block's) first record, seq numbers the blocks of a segment from 0, mint and maxt
// bound the records' times (Unix nanoseconds), mark is the caller's position (the bus sequence
// of the batch; its top bit set on every block of a batch but the last, also across a segment's
// end), plain the length of the compressed records before encryption.
//
// The segment's data secret (32 random bytes) is wrapped by a master key (keyring.Wrapper)
// with the context "omamori segment <tenant> <first>"; HKDF-SHA256 derives from it the block
// key (AES-256-GCM), the salt key (AES-256) and the bloom key. A block's ciphertext is
// AES-256-GCM(block key, nonce, zstd(records), aad = SHA-256(body) || bhead): a block cannot
// be moved to another place or segment, nor its header changed, without failing to open.
// The CRC only tells a torn write from the rest without needing the key.
//
// The records are uvarint length and bytes, each a one-event batch (event.AppendBatch). Record
// i of the tenant is leaf i of its Merkle tree, with leaf hash
// SHA-256(0x00 || salt_i || record), salt_i = AES-256(salt key, 0^8 || i as u64).
const (
	segMagic    = "OMAMSEG1"
	blockMagic  = 0x4f4d424b // "OMBK"
	bheadFixed  = 4 + 8 + 4 + 8 + 8 + 8 + 4 + 12 + 2
	frameFixed  = 8 // magic and length
	maxBlockLen = 64 << 20
	maxHeadLen  = 64 << 10
	saltSize    = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segHeader is the plaintext header of a segment.
type segHeader struct {
	Tenant  string
	First   uint64
	Created time.Time
	KeyID   string
	Wrapped []byte

	body []byte // the encoded body, whose digest binds the blocks
}

func (h *segHeader) encode() []byte {
	var body []byte
	body = appendStr(body, h.Tenant)
	body = binary.BigEndian.AppendUint64(body, h.First)
	body = binary.BigEndian.AppendUint64(body, uint64(h.Created.UnixNano()))
	body = appendStr(body, h.KeyID)
	body = appendStr(body, string(h.Wrapped))
	h.body = body
	out := append([]byte(segMagic), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(out[8:], uint32(len(body)))
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// errHeaderShort says a segment ends inside its header: being written, or torn.
var errHeaderShort = errors.New("header cut short")

// readSegHeader reads a segment header from r and returns it with its encoded length.
func readSegHeader(r io.Reader) (*segHeader, int64, error) {
	var fixed [12]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrCorrupt, errHeaderShort)
	}
	if string(fixed[:8]) != segMagic {
		return nil, 0, fmt.Errorf("%w: not an omamori segment (magic %q)", ErrCorrupt, fixed[:8])
	}
	n := binary.BigEndian.Uint32(fixed[8:])
	if n > maxHeadLen {
		return nil, 0, fmt.Errorf("%w: header of %d bytes", ErrCorrupt, n)
	}
	body := make([]byte, n+4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrCorrupt, errHeaderShort)
	}
	crc := binary.BigEndian.Uint32(body[n:])
	body = body[:n]
	if crc32.Checksum(body, castagnoli) != crc {
		return nil, 0, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	h := &segHeader{body: body}
	d := decoder{b: body}
	h.Tenant = d.str()
	h.First = d.u64()
	h.Created = time.Unix(0, int64(d.u64())).UTC()
	h.KeyID = d.str()
	h.Wrapped = []byte(d.str())
	if d.err != nil || len(d.b) != 0 {
		return nil, 0, fmt.Errorf("%w: header body malformed", ErrCorrupt)
	}
	return h, int64(12 + n + 4), nil
}

func (h *segHeader) wrapContext() []byte {
	return []byte("omamori segment " + h.Tenant + " " + strconv.FormatUint(h.First, 10))
}

// segKeys are the keys of one segment, derived from its data secret.
type segKeys struct {
	aead  cipher.AEAD
	salt  cipher.Block
	bloom []byte
	aad   [sha256.Size]byte // digest of the header body
}

func newSegKeys(secret []byte, h *segHeader) (*segKeys, error) {
	derive := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, secret, nil, "omamori archive "+label, 32)
		if err != nil {
			panic(err) // only for lengths hkdf cannot give
		}
		return k
	}
	block, err := aes.NewCipher(derive("block key"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	salt, err := aes.NewCipher(derive("salt key"))
	if err != nil {
		return nil, err
	}
	return &segKeys{aead: aead, salt: salt, bloom: derive("bloom key"), aad: sha256.Sum256(h.body)}, nil
}

// newSegment makes the header and keys of a new segment.
func newSegment(w keyring.Wrapper, tenant string, first uint64, now time.Time) (*segHeader, *segKeys, error) {
	h := &segHeader{Tenant: tenant, First: first, Created: now.UTC()}
	secret := make([]byte, 32)
	rand.Read(secret)
	id, wrapped, err := w.Wrap(secret, h.wrapContext())
	if err != nil {
		return nil, nil, fmt.Errorf("wrap segment key: %w", err)
	}
	h.KeyID, h.Wrapped = id, wrapped
	h.encode()
	k, err := newSegKeys(secret, h)
	return h, k, err
}

// openKeys unwraps a segment's secret and derives its keys.
func openKeys(w keyring.Wrapper, h *segHeader) (*segKeys, error) {
	secret, err := w.Unwrap(h.KeyID, h.Wrapped, h.wrapContext())
	if err != nil {
		return nil, err
	}
	return newSegKeys(secret, h)
}

// salt returns the salt of leaf i.
func (k *segKeys) saltOf(dst *[saltSize]byte, i uint64) {
	// In place, so that no input block escapes to the heap through the cipher's interface.
	clear(dst[:8])
	binary.BigEndian.PutUint64(dst[8:], i)
	k.salt.Encrypt(dst[:], dst[:])
}

// blockHead is a block's plaintext header.
type blockHead struct {
	Seq        uint32
	First      uint64
	Count      uint32
	MinT, MaxT int64
	Mark       uint64
	Plain      uint32
	Nonce      [12]byte
	Bloom      []byte
}

func (b *blockHead) appendTo(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, b.Seq)
	dst = binary.BigEndian.AppendUint64(dst, b.First)
	dst = binary.BigEndian.AppendUint32(dst, b.Count)
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.MinT))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.MaxT))
	dst = binary.BigEndian.AppendUint64(dst, b.Mark)
	dst = binary.BigEndian.AppendUint32(dst, b.Plain)
	dst = append(dst, b.Nonce[:]...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(b.Bloom)))
	return append(dst, b.Bloom...)
}

func parseBlockHead(p []byte) (blockHead, int, error) {
	var b blockHead
	if len(p) < bheadFixed {
		return b, 0, fmt.Errorf("%w: block header cut short", ErrCorrupt)
	}
	be := binary.BigEndian
	b.Seq = be.Uint32(p)
	b.First = be.Uint64(p[4:])
	b.Count = be.Uint32(p[12:])
	b.MinT = int64(be.Uint64(p[16:]))
	b.MaxT = int64(be.Uint64(p[24:]))
	b.Mark = be.Uint64(p[32:])
	b.Plain = be.Uint32(p[40:])
	copy(b.Nonce[:], p[44:56])
	n := int(be.Uint16(p[56:]))
	if len(p) < bheadFixed+n {
		return b, 0, fmt.Errorf("%w: block header cut short", ErrCorrupt)
	}
	b.Bloom = p[bheadFixed : bheadFixed+n]
	return b, bheadFixed + n, nil
}

// sealBlock encrypts compressed records into a complete block frame appended to dst.
func sealBlock(dst []byte, k *segKeys, head *blockHead, compressed []byte) []byte {
	rand.Read(head.Nonce[:])
	head.Plain = uint32(len(compressed))
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, blockMagic)
	dst = append(dst, 0, 0, 0, 0) // length, below
	hs := len(dst)
	dst = head.appendTo(dst)
	aad := append(k.aad[:len(k.aad):len(k.aad)], dst[hs:]...)
	dst = k.aead.Seal(dst, head.Nonce[:], compressed, aad)
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[hs:], castagnoli))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(len(dst)-hs))
	return dst
}

// frame is one block as read from a segment file.
type frame struct {
	Off  int64 // offset of the frame in the file
	Len  int64 // whole frame length
	Head blockHead
	hlen int // length of the encoded head
}

// errTorn says a frame is cut short or fails its checksum: a torn write at the tail, or damage.
var errTorn = errors.New("torn or damaged block")

// readFrame reads the frame at off from r into buf (grown as needed) and checks its CRC. It
// returns the frame and the bytes from the block header to the end of the ciphertext.
func readFrame(r io.ReaderAt, off int64, buf []byte) (frame, []byte, []byte, error) {
	var fixed [frameFixed]byte
	if n, err := r.ReadAt(fixed[:], off); n < frameFixed {
		if n == 0 && errors.Is(err, io.EOF) {
			return frame{}, buf, nil, io.EOF
		}
		return frame{}, buf, nil, fmt.Errorf("%w: frame header cut short", errTorn)
	}
	if binary.BigEndian.Uint32(fixed[:]) != blockMagic {
		return frame{}, buf, nil, fmt.Errorf("%w: bad block magic", errTorn)
	}
	n := int64(binary.BigEndian.Uint32(fixed[4:]))
	if n < bheadFixed+4 || n > maxBlockLen {
		return frame{}, buf, nil, fmt.Errorf("%w: block length %d", errTorn, n)
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	p := buf[:n]
	if m, _ := r.ReadAt(p, off+frameFixed); int64(m) < n {
		return frame{}, buf, nil, fmt.Errorf("%w: block cut short (%d of %d bytes)", errTorn, m, n)
	}
	body := p[:n-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(p[n-4:]) {
		return frame{}, buf, nil, fmt.Errorf("%w: block checksum mismatch", errTorn)
	}
	head, hlen, err := parseBlockHead(body)
	if err != nil {
		return frame{}, buf, nil, err
	}
	head.Bloom = append([]byte(nil), head.Bloom...)
	return frame{Off: off, Len: frameFixed + n, Head: head, hlen: hlen}, buf, body, nil
}

// openBlock authenticates and decrypts a block's body (as readFrame returns it) into dst.
func openBlock(dst []byte, k *segKeys, f *frame, body []byte) ([]byte, error) {
	aad := append(k.aad[:len(k.aad):len(k.aad)], body[:f.hlen]...)
	out, err := k.aead.Open(dst, f.Head.Nonce[:], body[f.hlen:], aad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// decoder reads the fields of headers.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.err = io.ErrUnexpectedEOF
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) str() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || uint64(len(d.b)-k) < n {
		d.err = io.ErrUnexpectedEOF
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

// splitRecords calls fn with each record of a block's plaintext.
func splitRecords(plain []byte, count uint32, fn func(i int, rec []byte) error) error {
	for i := range int(count) {
		n, k := binary.Uvarint(plain)
		if k <= 0 || uint64(len(plain)-k) < n {
			return fmt.Errorf("%w: record %d cut short", ErrCorrupt, i)
		}
		if err := fn(i, plain[k:k+int(n)]); err != nil {
			return err
		}
		plain = plain[k+int(n):]
	}
	if len(plain) != 0 {
		return fmt.Errorf("%w: %d bytes after the last record", ErrCorrupt, len(plain))
	}
	return nil
}
