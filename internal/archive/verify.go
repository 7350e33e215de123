package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/transparency-dev/merkle/compact"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
)

// Problem is one thing Verify found wrong, with its place: a tenant, and where known a segment,
// a block (its number in the segment, -1 when none), and a record (its index, -1 when none).
type Problem struct {
	Tenant  string
	Segment string
	Block   int
	Record  int64
	Offset  int64 // byte offset in the segment, -1 when none
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString("tenant " + p.Tenant)
	if p.Segment != "" {
		b.WriteString(" segment " + p.Segment)
	}
	if p.Block >= 0 {
		fmt.Fprintf(&b, " block %d", p.Block)
	}
	if p.Offset >= 0 {
		fmt.Fprintf(&b, " (offset %d)", p.Offset)
	}
	if p.Record >= 0 {
		fmt.Fprintf(&b, " record %d", p.Record)
	}
	return b.String() + ": " + p.Message
}

// Report is what Verify found.
type Report struct {
	Tenants, Segments, Blocks, Checkpoints int
	Records                                uint64
	Bytes                                  int64 // segment bytes read
	Plain                                  int64 // record bytes after decryption and decompression
	Problems                               []Problem
}

// OK reports whether nothing was wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify re-reads the whole archive in dir, without trusting anything Open would keep: every
// segment header, block checksum, sequence number and authentication tag, every record's
// encoding, the Merkle tree recomputed from every record against the stored subtree hashes,
// and every checkpoint's signature and root. progress, if set, is called with the bytes of
// each block read. Verify returns an error only when it cannot run; what it finds wrong is in
// the report.
func Verify(ctx context.Context, dir string, keys keyring.Wrapper, progress func(int64)) (*Report, error) {
	pub, err := os.ReadFile(filepath.Join(dir, publicKeyFile))
	if err != nil {
		return nil, fmt.Errorf("verify: public key: %w", err)
	}
	vkey := strings.TrimSpace(string(pub))
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rep := &Report{}
	for _, e := range ents {
		if !e.IsDir() || !ValidTenant(e.Name()) {
			continue
		}
		rep.Tenants++
		v := verifier{rep: rep, tenant: e.Name(), dir: filepath.Join(dir, e.Name()), keys: keys, vkey: vkey, dec: dec, progress: progress}
		if err := v.run(ctx); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

type verifier struct {
	rep      *Report
	tenant   string
	dir      string
	keys     keyring.Wrapper
	vkey     string
	dec      *zstd.Decoder
	progress func(int64)

	rng    *compact.Range
	next   uint64 // the record the next block should start with
	broken bool   // the tree could not be followed past a problem
	count  uint64
	levels [maxLevels][]byte // the stored hash files
	cps    []checkpoint
	nextCP int
	ev     event.Event
}

func (v *verifier) problem(seg string, block int, record int64, off int64, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, Problem{Tenant: v.tenant, Segment: seg, Block: block, Record: record,
		Offset: off, Message: fmt.Sprintf(format, args...)})
}

func (v *verifier) run(ctx context.Context) error {
	// Checkpoints first: their sizes say where roots are to be compared.
	if b, err := os.ReadFile(filepath.Join(v.dir, "checkpoints")); err == nil {
		cps, good, err := parseCheckpointLog(b, v.vkey)
		if err != nil {
			v.problem("checkpoints", -1, -1, -1, "%v", err)
		} else if good != len(b) {
			v.problem("checkpoints", -1, -1, int64(good), "%d bytes after the last whole checkpoint", len(b)-good)
		}
		for i := 1; i < len(cps); i++ {
			if cps[i].Size < cps[i-1].Size {
				v.problem("checkpoints", -1, -1, -1, "checkpoint %d has size %d, smaller than the %d before it", i, cps[i].Size, cps[i-1].Size)
			}
		}
		v.cps = cps
		v.rep.Checkpoints += len(cps)
		for i := range cps {
			if want := strings.SplitN(string(cps[i].Note), "\n", 2)[0]; !strings.HasSuffix(want, "/"+v.tenant) {
				v.problem("checkpoints", -1, -1, -1, "checkpoint %d has origin %q, not of tenant %s", i, want, v.tenant)
			}
		}
	}
	for j := range maxLevels {
		b, err := os.ReadFile(levelFile(filepath.Join(v.dir, "tree"), j))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		v.levels[j] = b
	}
	ents, err := os.ReadDir(v.dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "seg-") && strings.HasSuffix(e.Name(), ".oms") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	fact := compact.RangeFactory{Hash: hasher.HashChildren}
	v.rng = fact.NewEmptyRange(0)
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		v.segment(name, i == len(names)-1)
	}
	n := v.rng.End()
	v.rep.Records += v.count
	// Checkpoints beyond the records: records were removed from the end.
	for ; !v.broken && v.nextCP < len(v.cps); v.nextCP++ {
		v.problem("checkpoints", -1, -1, -1, "checkpoint %d covers %d records, but the segments hold only %d: records at the end were removed",
			v.nextCP, v.cps[v.nextCP].Size, n)
	}
	for j := 0; !v.broken && j < maxLevels; j++ {
		if have, want := uint64(len(v.levels[j]))/32, n>>((j+1)*tileStride); have > want {
			v.problem("tree", -1, -1, -1, "tree/L%02d holds %d hashes, but the records make only %d", (j+1)*tileStride, have, want)
		}
	}
	return nil
}

// segment verifies one segment file.
func (v *verifier) segment(name string, last bool) {
	v.rep.Segments++
	b, err := os.ReadFile(filepath.Join(v.dir, name))
	if err != nil {
		v.problem(name, -1, -1, -1, "%v", err)
		return
	}
	h, hlen, err := readSegHeader(bytes.NewReader(b))
	if err != nil {
		v.problem(name, -1, -1, 0, "header: %v", err)
		v.broken = true
		return
	}
	if h.Tenant != v.tenant {
		v.problem(name, -1, -1, 0, "header names tenant %q", h.Tenant)
	}
	if h.First != v.next {
		if h.First > v.next {
			v.problem(name, -1, int64(v.next), 0, "records %d to %d are missing: deleted or cut off before this segment", v.next, h.First-1)
		} else {
			v.problem(name, -1, int64(h.First), 0, "starts at record %d, but the segments before hold up to record %d", h.First, v.next-1)
		}
		// The tree cannot be followed past a gap; the rest is still checked block by block.
		v.broken, v.next = true, h.First
	}
	if name != segName(h.First) {
		v.problem(name, -1, -1, 0, "file name does not match its first record %d (want %s)", h.First, segName(h.First))
	}
	keys, err := openKeys(v.keys, h)
	if err != nil {
		v.problem(name, -1, -1, 0, "data key: %v", err)
		v.broken = true
		return
	}
	r := bytes.NewReader(b)
	off := hlen
	var salt [saltSize]byte
	for seq := 0; off < int64(len(b)); seq++ {
		fr, _, body, err := readFrame(r, off, nil)
		if err != nil {
			if errors.Is(err, errTorn) && last && !v.broken && v.rng.End() >= v.lastCPSize() {
				v.problem(name, seq, -1, off, "torn tail of %d bytes after the last checkpoint (a crash while writing; opening the archive cuts it off)", int64(len(b))-off)
			} else {
				v.problem(name, seq, -1, off, "%v", err)
				v.broken = true
			}
			return
		}
		if v.progress != nil {
			v.progress(fr.Len)
		}
		v.rep.Bytes += fr.Len
		v.rep.Blocks++
		if fr.Head.Seq != uint32(seq) || fr.Head.First != v.next {
			v.problem(name, seq, int64(v.next), off, "block says it is block %d holding records from %d; want block %d from record %d (blocks swapped, removed or inserted)",
				fr.Head.Seq, fr.Head.First, seq, v.next)
			v.broken = true
		}
		compressed, err := openBlock(nil, keys, &fr, body)
		if err != nil {
			v.problem(name, seq, -1, off, "authentication failed: the block was altered (or is sealed with another key)")
			v.broken = true
			return
		}
		plain, err := v.dec.DecodeAll(compressed, nil)
		if err != nil {
			v.problem(name, seq, -1, off, "decompress: %v", err)
			v.broken = true
			return
		}
		v.rep.Plain += int64(len(plain))
		err = splitRecords(plain, fr.Head.Count, func(i int, rec []byte) error {
			idx := fr.Head.First + uint64(i)
			if err := event.DecodeBatch(rec, func(*event.Event) error { return nil }); err != nil {
				v.problem(name, seq, int64(idx), off, "record does not decode: %v", err)
			}
			v.count++
			if !v.broken {
				keys.saltOf(&salt, idx)
				v.rng.Append(leafHash(salt[:], rec), v.visit(name, seq, off))
				v.checkpoints(name, seq, off)
			}
			return nil
		})
		if err != nil {
			v.problem(name, seq, -1, off, "%v", err)
			return
		}
		v.next = fr.Head.First + uint64(fr.Head.Count)
		off += fr.Len
	}
}

func (v *verifier) lastCPSize() uint64 {
	if len(v.cps) == 0 {
		return 0
	}
	return v.cps[len(v.cps)-1].Size
}

// visit compares each stored subtree hash with the one recomputed from the records.
func (v *verifier) visit(seg string, block int, off int64) compact.VisitFn {
	return func(id compact.NodeID, h []byte) {
		if id.Level == 0 || id.Level%tileStride != 0 || int(id.Level/tileStride) > maxLevels {
			return
		}
		stored := v.levels[id.Level/tileStride-1]
		if uint64(len(stored)) < (id.Index+1)*32 {
			v.problem("tree", -1, -1, -1, "tree/L%02d lacks the hash of records %d to %d", id.Level, id.Index<<id.Level, (id.Index+1)<<id.Level-1)
			return
		}
		if !bytes.Equal(stored[id.Index*32:(id.Index+1)*32], h) {
			first := id.Index << id.Level
			v.problem(seg, block, int64(first), off, "records %d to %d do not hash to the stored subtree hash (tree/L%02d #%d): a record or the tree was altered",
				first, (id.Index+1)<<id.Level-1, id.Level, id.Index)
		}
	}
}

// checkpoints compares the root with each checkpoint of the current size.
func (v *verifier) checkpoints(seg string, block int, off int64) {
	for v.nextCP < len(v.cps) && v.cps[v.nextCP].Size == v.rng.End() {
		root, _ := v.rng.GetRootHash(nil)
		if !bytes.Equal(root, v.cps[v.nextCP].Root) {
			v.problem(seg, block, int64(v.rng.End()-1), off, "the tree of %d records does not match signed checkpoint %d: records up to here were altered, removed or reordered",
				v.rng.End(), v.nextCP)
		}
		v.nextCP++
	}
}
