package archive

import (
	"bytes"
	"crypto"
	"crypto/sha256" // the RFC 6962 hasher also looks SHA-256 up by crypto.Hash
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hasher is the RFC 6962 hasher with SHA-256: leaves are SHA-256(0x00 || data), interior
// nodes SHA-256(0x01 || left || right).
var hasher = rfc6962.New(crypto.SHA256)

// The tree keeps a hash of every perfect subtree whose height is a multiple of tileStride
// (subtrees of 256, 65536, ... records), in one file per height: tree/L08 holds the hashes of
// records [256·i, 256·(i+1)) at offset 32·i. That costs 32 bytes per 256 records; every other
// node is recomputed when a proof asks for it, from at most 256 hashes of the level below or
// the records of one 256-record subtree. Segments begin at multiples of 256 records, so a
// subtree's records never span two segments and deleting an expired segment leaves every
// stored hash usable.
const (
	tileStride = 8
	tileSize   = 1 << tileStride
	maxLevels  = 7 // heights 8 .. 56
)

// leafSource gives the leaf hashes of records [begin, end) of a tenant.
type leafSource func(begin, end uint64) ([][]byte, error)

// tree is the Merkle tree of one tenant.
type tree struct {
	dir     string
	files   [maxLevels]*os.File
	counts  [maxLevels]uint64 // hashes in each file
	pending [maxLevels][][]byte
	rng     *compact.Range // [0, size) including what is not yet synced
	leaves  leafSource
	fact    compact.RangeFactory
	nodes   rfc6962Hasher             // for the range's appends
	cache   map[compact.NodeID][]byte // node hashes computed for proofs
	kept    map[compact.NodeID][]byte // nodes kept for records deleted by retention
}

func levelFile(dir string, j int) string {
	return filepath.Join(dir, fmt.Sprintf("L%02d", (j+1)*tileStride))
}

// openTree opens the stored hashes in dir and rebuilds the tree's right edge for size records,
// completing or truncating the files so that they hold exactly the subtrees of those records.
func openTree(dir string, size uint64, leaves leafSource, readOnly bool) (*tree, error) {
	t := &tree{dir: dir, leaves: leaves, cache: map[compact.NodeID][]byte{}}
	t.fact = compact.RangeFactory{Hash: t.nodes.children}
	if !readOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open tree: %w", err)
		}
	}
	for j := range maxLevels {
		flag := os.O_RDWR | os.O_CREATE
		if readOnly {
			flag = os.O_RDONLY
		}
		f, err := os.OpenFile(levelFile(dir, j), flag, 0o600)
		if err != nil {
			if readOnly && errors.Is(err, os.ErrNotExist) {
				continue
			}
			t.close()
			return nil, fmt.Errorf("open tree: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.close()
			return nil, fmt.Errorf("open tree: %w", err)
		}
		t.files[j], t.counts[j] = f, uint64(fi.Size())/32
	}
	// Keep what the records support, level by level: a hash file may run ahead of the records
	// after a crash (the tail discarded), or lag behind them (killed before writing it).
	for j := range maxLevels {
		want := size >> ((j + 1) * tileStride)
		if t.counts[j] > want {
			t.counts[j] = want
			if !readOnly {
				if err := t.files[j].Truncate(int64(want) * 32); err != nil {
					t.close()
					return nil, fmt.Errorf("open tree: %w", err)
				}
			}
		}
	}
	// The right edge: the perfect subtrees of [0, base), base the records the stored level-8
	// hashes cover, then the records after it, whose hashing writes the missing stored nodes.
	base := t.counts[0] << tileStride
	for j := 1; j < maxLevels; j++ {
		// Every higher level must be complete up to base before its nodes are read.
		if err := t.complete(j, base>>((j+1)*tileStride)); err != nil {
			t.close()
			return nil, err
		}
	}
	ids := compact.RangeNodes(0, base, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(id)
		if err != nil {
			t.close()
			return nil, err
		}
		hashes[i] = h
	}
	rng, err := t.fact.NewRange(0, base, hashes)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("open tree: %w", err)
	}
	t.rng = rng
	for begin := base; begin < size; begin += tileSize {
		end := min(begin+tileSize, size)
		hs, err := leaves(begin, end)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("open tree: rehash records %d-%d: %w", begin, end, err)
		}
		for _, h := range hs {
			t.append(h)
		}
	}
	if !readOnly {
		if err := t.sync(); err != nil {
			t.close()
			return nil, err
		}
	} else {
		t.pending = [maxLevels][][]byte{}
	}
	return t, nil
}

// complete appends the missing hashes of level file j up to want, from level j-1.
func (t *tree) complete(j int, want uint64) error {
	for t.counts[j]+uint64(len(t.pending[j])) < want {
		i := t.counts[j] + uint64(len(t.pending[j]))
		h, err := t.node(compact.NewNodeID(uint((j+1)*tileStride), i))
		if err != nil {
			return err
		}
		t.pending[j] = append(t.pending[j], h)
	}
	return nil
}

func (t *tree) close() {
	for _, f := range t.files {
		if f != nil {
			f.Close()
		}
	}
}

// size is the number of leaves, synced or not.
func (t *tree) size() uint64 { return t.rng.End() }

// append adds a leaf hash.
func (t *tree) append(leaf []byte) {
	t.rng.Append(leaf, t.visit)
}

func (t *tree) visit(id compact.NodeID, h []byte) {
	if id.Level == 0 || id.Level%tileStride != 0 {
		return
	}
	j := int(id.Level/tileStride) - 1
	if j >= maxLevels {
		return
	}
	// The range may revisit a node it made before (rebuilding the edge): keep the first.
	if id.Index == t.counts[j]+uint64(len(t.pending[j])) {
		t.pending[j] = append(t.pending[j], bytes.Clone(h))
	}
}

// sync writes the pending stored hashes and fsyncs their files. Called after the segments
// are synced, so a stored hash never covers a record that is not on disk.
func (t *tree) sync() error {
	for j := range maxLevels {
		if len(t.pending[j]) == 0 {
			continue
		}
		buf := make([]byte, 0, 32*len(t.pending[j]))
		for _, h := range t.pending[j] {
			buf = append(buf, h...)
		}
		if _, err := t.files[j].WriteAt(buf, int64(t.counts[j])*32); err != nil {
			return fmt.Errorf("write tree: %w", err)
		}
		if err := t.files[j].Sync(); err != nil {
			return fmt.Errorf("sync tree: %w", err)
		}
		t.counts[j] += uint64(len(t.pending[j]))
		t.pending[j] = t.pending[j][:0]
	}
	return nil
}

// stored returns the stored hash at level file j, index i.
func (t *tree) stored(j int, i uint64) ([]byte, bool, error) {
	if i < t.counts[j] {
		h := make([]byte, 32)
		if _, err := t.files[j].ReadAt(h, int64(i)*32); err != nil && !errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("read tree: %w", err)
		}
		return h, true, nil
	}
	if k := i - t.counts[j]; k < uint64(len(t.pending[j])) {
		return t.pending[j][k], true, nil
	}
	return nil, false, nil
}

// node returns the hash of the perfect subtree id: stored, or computed from the hashes of the
// stored level below it (at most 256 of them), or from its records.
func (t *tree) node(id compact.NodeID) ([]byte, error) {
	if h, ok := t.cache[id]; ok {
		return h, nil
	}
	if id.Level == 0 {
		hs, err := t.leaves(id.Index, id.Index+1)
		if err != nil {
			if h, ok := t.kept[id]; ok {
				return h, nil // the record was deleted by retention
			}
			return nil, err
		}
		if len(hs) != 1 {
			return nil, fmt.Errorf("%w: record %d missing", ErrCorrupt, id.Index)
		}
		return hs[0], nil
	}
	if id.Level%tileStride == 0 && id.Level <= maxLevels*tileStride {
		h, ok, err := t.stored(int(id.Level/tileStride)-1, id.Index)
		if err != nil || ok {
			return h, err
		}
	}
	base := min((id.Level-1)/tileStride*tileStride, maxLevels*tileStride)
	shift := id.Level - base
	begin, end := id.Index<<shift, (id.Index+1)<<shift
	var hs [][]byte
	if base == 0 {
		var err error
		if hs, err = t.leaves(begin, end); err != nil {
			if h, ok := t.kept[id]; ok {
				return h, nil // its records were deleted by retention
			}
			return nil, err
		}
	} else {
		for i := begin; i < end; i++ {
			h, err := t.node(compact.NewNodeID(base, i))
			if err != nil {
				return nil, err
			}
			hs = append(hs, h)
		}
	}
	if uint64(len(hs)) != end-begin {
		return nil, fmt.Errorf("%w: subtree %d/%d: %d of %d hashes", ErrCorrupt, id.Level, id.Index, len(hs), end-begin)
	}
	for len(hs) > 1 {
		for i := 0; i < len(hs)/2; i++ {
			hs[i] = hasher.HashChildren(hs[2*i], hs[2*i+1])
		}
		hs = hs[:len(hs)/2]
	}
	if len(t.cache) > 1<<16 {
		clear(t.cache)
	}
	t.cache[id] = hs[0]
	return hs[0], nil
}

// root returns the root hash of the first size leaves.
func (t *tree) root(size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	if size == t.size() {
		return t.rng.GetRootHash(nil)
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	r, err := t.fact.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// inclusion returns the inclusion proof of leaf index in the tree of size leaves.
func (t *tree) inclusion(index, size uint64) ([][]byte, error) {
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.rehash(n)
}

// consistency returns the consistency proof from the tree of size1 leaves to that of size2.
func (t *tree) consistency(size1, size2 uint64) ([][]byte, error) {
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.rehash(n)
}

func (t *tree) rehash(n proof.Nodes) ([][]byte, error) {
	hs := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hs[i] = bytes.Clone(h)
	}
	return n.Rehash(hs, hasher.HashChildren)
}

// rfc6962Hasher computes RFC 6962 leaf and interior hashes like hasher, for the hot paths of
// appending and verifying, without allocating per hash: one SHA-256 state, reused, and the
// hashes appended where the caller keeps them, or cut from chunks of 256. Not safe for
// concurrent use; each tree, block writer and verify worker has its own.
type rfc6962Hasher struct {
	h     hash.Hash
	chunk []byte
}

var (
	leafPrefix = []byte{rfc6962LeafPrefix}
	nodePrefix = []byte{rfc6962NodePrefix}
)

// appendSum appends the SHA-256 of prefix, a and b to dst. dst may overlap a and b: they
// are read before it is written.
func (r *rfc6962Hasher) appendSum(dst, prefix, a, b []byte) []byte {
	if r.h == nil {
		r.h = sha256.New()
	}
	r.h.Reset()
	r.h.Write(prefix)
	r.h.Write(a)
	r.h.Write(b)
	return r.h.Sum(dst)
}

// sum returns the SHA-256 of prefix, a and b, in a chunk of its own.
func (r *rfc6962Hasher) sum(prefix, a, b []byte) []byte {
	if cap(r.chunk)-len(r.chunk) < sha256.Size {
		r.chunk = make([]byte, 0, 256*sha256.Size)
	}
	n := len(r.chunk)
	r.chunk = r.appendSum(r.chunk, prefix, a, b)
	return r.chunk[n : n+sha256.Size : n+sha256.Size]
}

// leaf is leafHash: the leaf hash of rec with its salt.
func (r *rfc6962Hasher) leaf(salt, rec []byte) []byte { return r.sum(leafPrefix, salt, rec) }

// children is hasher.HashChildren.
func (r *rfc6962Hasher) children(left, right []byte) []byte { return r.sum(nodePrefix, left, right) }
