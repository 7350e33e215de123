package archive

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math/bits"
)

// A block's bloom filter holds the addresses, hosts and users of its records, so a search for
// one of them reads only the blocks that may hold it. The filter sits in the block's plaintext
// header, so its hashes are keyed (HMAC-SHA-256 with the segment's bloom key): without the key,
// nobody can test whether an address is in a block. About 10 bits per distinct value and 7
// probes give a false-positive rate near 1%.
const (
	bloomProbes  = 7
	bloomBitsPer = 10
	maxBloom     = 8 << 10 // bytes; a fuller filter only costs false positives
)

// Kinds of values in a filter, so that a host and a user of the same name stay apart.
const (
	bloomAddr byte = 'a'
	bloomHost byte = 'h'
	bloomUser byte = 'u'
)

type bloomHasher struct {
	mac hash.Hash
	sum []byte
}

func newBloomHasher(key []byte) *bloomHasher {
	return &bloomHasher{mac: hmac.New(sha256.New, key)}
}

func (b *bloomHasher) hash(kind byte, v string) (uint64, uint64) {
	b.mac.Reset()
	b.mac.Write([]byte{kind})
	b.mac.Write([]byte(v))
	b.sum = b.mac.Sum(b.sum[:0])
	return binary.BigEndian.Uint64(b.sum), binary.BigEndian.Uint64(b.sum[8:]) | 1
}

// buildBloom returns a filter of the values (kind byte then value).
func buildBloom(h *bloomHasher, values map[string]struct{}) []byte {
	if len(values) == 0 {
		return nil
	}
	nbits := uint64(1) << bits.Len64(uint64(len(values)*bloomBitsPer))
	nbits = min(max(nbits, 64), maxBloom*8)
	f := make([]byte, nbits/8)
	for v := range values {
		h1, h2 := h.hash(v[0], v[1:])
		for i := range uint64(bloomProbes) {
			bit := (h1 + i*h2) & (nbits - 1)
			f[bit/8] |= 1 << (bit % 8)
		}
	}
	return f
}

// bloomMay reports whether the filter may hold the value whose hashes are h1, h2. An empty
// filter holds nothing.
func bloomMay(f []byte, h1, h2 uint64) bool {
	if len(f) == 0 {
		return false
	}
	nbits := uint64(len(f)) * 8
	for i := range uint64(bloomProbes) {
		bit := (h1 + i*h2) & (nbits - 1)
		if f[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
	}
	return true
}
