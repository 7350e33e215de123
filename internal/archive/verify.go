package archive

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/transparency-dev/merkle/compact"

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
	// Retention lists the segments deleted by retention, whose records the log accounts for
	// (each noted by a retention record; a fault in that is a Problem).
	Retention []Deletion
	// Known counts the checkpoints kept apart from the archive (VerifyKnown) that it was
	// checked against, and Unsigned the records, at the end of the logs, that no checkpoint
	// covers yet: the server signs one at least every archive.checkpoint_interval.
	Known    int
	Unsigned uint64
	Problems []Problem
}

// OK reports whether nothing was wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify re-reads the whole archive in dir, without trusting anything Open would keep: every
// segment header, block checksum, sequence number and authentication tag, every record's
// encoding, the Merkle tree recomputed from every record against the stored subtree hashes,
// and every checkpoint's signature and root. progress, if set, is called with the bytes of
// each block read. Verify returns an error only when it cannot run; what it finds wrong is in
// the report.
//
// Besides what the archive holds, Verify holds it to this: every tenant that has records has
// its checkpoints file, and every segment but the last is covered by a signed checkpoint (the
// archive signs one whenever it begins a new segment), so that records no checkpoint covers
// are only ever at the end of a log, and only until the next checkpoint is due.
func Verify(ctx context.Context, dir string, keys keyring.Wrapper, progress func(int64)) (*Report, error) {
	return VerifyKnown(ctx, dir, keys, nil, progress)
}

// A KnownCheckpoint is a checkpoint of the archive kept apart from its directory: by the
// store or another witness, or by an authority that was given it.
type KnownCheckpoint struct {
	// Source names it in the report: "the store's checkpoint", "the checkpoint in FILE".
	Source string
	Note   []byte // the signed note
}

// VerifyKnown is Verify that also checks the archive against checkpoints kept apart from it,
// which a rollback of the directory (its last segments removed with the checkpoints and tree
// hashes that cover them) cannot change. Each must be signed by the archive's key, its tenant
// must have a log, and the log must hold at least its size with the same root there; a known
// checkpoint newer than the newest in the checkpoints file says that file lost entries.
func VerifyKnown(ctx context.Context, dir string, keys keyring.Wrapper, known []KnownCheckpoint, progress func(int64)) (*Report, error) {
	pub, err := os.ReadFile(filepath.Join(dir, publicKeyFile))
	if err != nil {
		return nil, fmt.Errorf("verify: public key: %w", err)
	}
	vkey := strings.TrimSpace(string(pub))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rep := &Report{}
	byTenant := rep.sortKnown(vkey, known)
	for _, e := range ents {
		if !isTenantDir(e) {
			continue
		}
		rep.Tenants++
		v := verifier{rep: rep, tenant: e.Name(), dir: filepath.Join(dir, e.Name()), keys: keys, vkey: vkey, progress: progress,
			known: byTenant[e.Name()]}
		delete(byTenant, e.Name())
		if err := v.run(ctx); err != nil {
			return rep, err
		}
	}
	for _, tenant := range slices.Sorted(maps.Keys(byTenant)) {
		for _, k := range byTenant[tenant] {
			rep.Problems = append(rep.Problems, Problem{Tenant: tenant, Block: -1, Record: -1, Offset: -1,
				Message: fmt.Sprintf("%s is of %d records, but the archive has no log of this tenant: the log was deleted", k.name, k.Size)})
		}
	}
	return rep, nil
}

// knownCP is a known checkpoint that verified, and where it came from.
type knownCP struct {
	checkpoint
	name string // its Source
}

// sortKnown checks the known checkpoints' origins and signatures, reports those that fail,
// and returns the others by tenant.
func (rep *Report) sortKnown(vkey string, known []KnownCheckpoint) map[string][]knownCP {
	archiveName, _, _ := strings.Cut(vkey, "+")
	out := map[string][]knownCP{}
	for _, k := range known {
		name := k.Source
		text, _, _ := strings.Cut(string(k.Note), "\n\n")
		c, err := parseCheckpointText(text + "\n")
		if err != nil {
			rep.Problems = append(rep.Problems, Problem{Block: -1, Record: -1, Offset: -1, Message: fmt.Sprintf("%s: %v", name, err)})
			continue
		}
		arch, tenant := "", c.Origin
		if i := strings.LastIndexByte(c.Origin, '/'); i >= 0 {
			arch, tenant = c.Origin[:i], c.Origin[i+1:]
		}
		if arch != archiveName {
			rep.Problems = append(rep.Problems, Problem{Tenant: tenant, Block: -1, Record: -1, Offset: -1,
				Message: fmt.Sprintf("%s is of the archive %q, not of this one (%q): this archive replaced that one, or it is another archive's", name, arch, archiveName)})
			continue
		}
		if c, err = ParseCheckpoint(k.Note, vkey); err != nil {
			rep.Problems = append(rep.Problems, Problem{Tenant: tenant, Block: -1, Record: -1, Offset: -1, Message: fmt.Sprintf("%s: %v", name, err)})
			continue
		}
		rep.Known++
		out[tenant] = append(out[tenant], knownCP{checkpoint: checkpoint{Checkpoint: *c}, name: name})
	}
	return out
}

type verifier struct {
	rep      *Report
	tenant   string
	dir      string
	keys     keyring.Wrapper
	vkey     string
	progress func(int64)

	fact   *compact.RangeFactory
	rng    *compact.Range
	next   uint64 // the record the next block should start with
	broken bool   // the tree could not be followed past a problem
	count  uint64
	levels [maxLevels][]byte // the stored hash files
	// cps are the checkpoints to compare the tree with, by size: those of the checkpoints
	// file and the known ones (cpKnown), named by cpNames in problems.
	cps     []checkpoint
	cpNames []string
	cpKnown []bool
	nextCP  int
	known   []knownCP
	fileCP  uint64 // the size of the newest checkpoint in the file
	lastSeg string // the segment before the current one
	segEnd  uint64 // the record after the last of lastSeg
	// the first sealed segment that holds records no checkpoint covers, and the end of the
	// last such segment
	uncovered    string
	uncoveredEnd uint64
	// retention
	deleted   []Deletion                // the lines of the retention file
	nodes     map[compact.NodeID][]byte // the hashes they keep
	want      map[uint64]bool           // records the workers keep for the checks below
	retChecks map[uint64]*retCheck      // by index of the retention record
}

// retCheck is a deletion by retention that accounts for missing records, to be checked
// against its record in the log.
type retCheck struct {
	d    Deletion
	root []byte // the root of d.End records, from the stored subtree hashes
	seen bool
}

func (v *verifier) problem(seg string, block int, record int64, off int64, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, Problem{Tenant: v.tenant, Segment: seg, Block: block, Record: record,
		Offset: off, Message: fmt.Sprintf(format, args...)})
}

func (v *verifier) run(ctx context.Context) error {
	// Checkpoints first: their sizes say where roots are to be compared.
	b, err := os.ReadFile(filepath.Join(v.dir, "checkpoints"))
	hasFile := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if hasFile {
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
			v.cpNames = append(v.cpNames, fmt.Sprintf("checkpoint %d", i))
			v.cpKnown = append(v.cpKnown, false)
			v.fileCP = max(v.fileCP, cps[i].Size)
			if want := strings.SplitN(string(cps[i].Note), "\n", 2)[0]; !strings.HasSuffix(want, "/"+v.tenant) {
				v.problem("checkpoints", -1, -1, -1, "checkpoint %d has origin %q, not of tenant %s", i, want, v.tenant)
			}
		}
	}
	v.addKnown()
	ds, good, err := readRetention(v.dir)
	if err != nil {
		v.problem(retentionFile, -1, -1, good, "%v", err)
	}
	v.deleted, v.nodes = ds, keptNodes(ds)
	v.want, v.retChecks = map[uint64]bool{}, map[uint64]*retCheck{}
	for _, d := range ds {
		v.want[d.Record] = true
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
	v.fact = &compact.RangeFactory{Hash: hasher.HashChildren}
	v.rng = v.fact.NewEmptyRange(0)
	if err := v.segments(ctx, names); err != nil {
		return err
	}
	n := v.rng.End()
	v.rep.Records += v.count
	v.unseenRetention()
	switch {
	case v.segEnd == 0:
	case !hasFile:
		v.problem("checkpoints", -1, -1, -1, "the checkpoints file is missing, but the log holds records up to %d: it was deleted", v.segEnd-1)
	case v.fileCP == 0:
		v.problem("checkpoints", -1, -1, -1, "no checkpoint covers any of the records up to %d: the checkpoints were removed", v.segEnd-1)
	case v.uncovered != "" && !v.coveredSince(b):
		v.problem(v.uncovered, -1, int64(v.fileCP), -1, "later segments began, but no checkpoint covers records %d to %d: the checkpoints after them were removed",
			v.fileCP, v.uncoveredEnd-1)
		fallthrough
	case v.segEnd > v.fileCP:
		v.rep.Unsigned += v.segEnd - v.fileCP
	}
	// Checkpoints beyond the records: records were removed from the end.
	for ; !v.broken && v.nextCP < len(v.cps); v.nextCP++ {
		if !v.cpKnown[v.nextCP] {
			v.problem("checkpoints", -1, -1, -1, "%s covers %d records, but the segments hold only %d: records at the end were removed",
				v.cpNames[v.nextCP], v.cps[v.nextCP].Size, n)
		} else {
			v.problem("", -1, -1, -1, "%s covers %d records, but the segments hold only %d: the archive was rolled back (its last records removed with the checkpoints that covered them)",
				v.cpNames[v.nextCP], v.cps[v.nextCP].Size, n)
		}
	}
	for j := 0; !v.broken && j < maxLevels; j++ {
		if have, want := uint64(len(v.levels[j]))/32, n>>((j+1)*tileStride); have > want {
			v.problem("tree", -1, -1, -1, "tree/L%02d holds %d hashes, but the records make only %d", (j+1)*tileStride, have, want)
		}
	}
	return nil
}

// The segments are read by a pipeline: one goroutine reads the segment headers and block
// frames in order (cheap: a CRC each), workers on every core authenticate, decrypt and
// decompress the blocks and hash their records (leaf hashes, and the root of every
// 256-record subtree wholly inside a block), and the verifier takes the results in order to
// follow the tree, compare the stored hashes and the checkpoints. Records are hashed, never
// decoded into events: their bytes are what the tree proves.

// vitem is one step of the walk over the segments, in order: a segment's start, a block, or
// a frame that could not be read.
type vitem struct {
	kind int // vSegment, vBlock, vBadFrame
	name string
	last bool
	head *segHeader
	herr error // reading the header
	keys *segKeys
	kerr error // unwrapping the data key
	seq  int
	off  int64
	rest int64 // bytes from off to the end of the file (vBadFrame)
	ferr error // reading the frame (vBadFrame)
	fr   frame
	body []byte
	done chan struct{}
	// worker results
	werr   string // what failed: authentication, decompression or record split
	plain  int64
	hashes []byte            // 32 per record
	tiles  []byte            // 32 per 256-record subtree wholly inside the block, from the first aligned one
	recs   map[uint64][]byte // the records asked for (retention records), by index
}

const (
	vSegment = iota
	vBlock
	vBadFrame
)

// segments verifies the segment files names, in order.
func (v *verifier) segments(ctx context.Context, names []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, runtime.GOMAXPROCS(0))
	order := make(chan *vitem, 4*workers)
	work := make(chan *vitem, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { verifyWorker(work, v.want) })
	}
	go func() {
		defer close(order)
		defer close(work)
		v.readSegments(ctx, names, order, work)
	}()
	defer func() {
		cancel()
		for range order { // let the reader stop
		}
		wg.Wait()
	}()
	skip := "" // a segment whose remaining blocks are not followed
	for it := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch it.kind {
		case vSegment:
			skip = ""
			if !v.segmentStart(it) {
				skip = it.name
			}
		case vBadFrame:
			if skip == it.name {
				continue
			}
			if errors.Is(it.ferr, errTorn) && it.last && !v.broken && v.rng.End() >= v.lastCPSize() {
				v.problem(it.name, it.seq, -1, it.off, "torn tail of %d bytes after the last checkpoint (a crash while writing; opening the archive cuts it off)", it.rest)
			} else {
				v.problem(it.name, it.seq, -1, it.off, "%v", it.ferr)
				v.broken = true
			}
		case vBlock:
			select {
			case <-it.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if skip == it.name {
				continue
			}
			if !v.block(it) {
				skip = it.name
			}
		}
	}
	return ctx.Err()
}

// readSegments reads the segments' headers and frames and hands them on in order.
func (v *verifier) readSegments(ctx context.Context, names []string, order, work chan<- *vitem) {
	send := func(it *vitem) bool {
		select {
		case order <- it:
		case <-ctx.Done():
			return false
		}
		if it.kind != vBlock {
			return true
		}
		select {
		case work <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for i, name := range names {
		it := &vitem{kind: vSegment, name: name, last: i == len(names)-1}
		f, err := os.Open(filepath.Join(v.dir, name))
		if err != nil {
			it.herr = err
			if !send(it) {
				return
			}
			continue
		}
		fi, err := f.Stat()
		if err == nil {
			it.head, it.off, err = readSegHeader(io.NewSectionReader(f, 0, fi.Size()))
		}
		it.herr = err
		if err == nil {
			it.keys, it.kerr = openKeys(v.keys, it.head)
		}
		if !send(it) {
			f.Close()
			return
		}
		if it.herr != nil || it.kerr != nil {
			f.Close()
			continue
		}
		off := it.off
		for seq := 0; off < fi.Size(); seq++ {
			fr, body, _, err := readFrame(f, off, nil)
			if err != nil {
				if !send(&vitem{kind: vBadFrame, name: name, last: it.last, seq: seq, off: off, rest: fi.Size() - off, ferr: err}) {
					f.Close()
					return
				}
				break
			}
			b := &vitem{kind: vBlock, name: name, last: it.last, keys: it.keys, seq: seq, off: off, fr: fr,
				body: body[:fr.Len-frameFixed-4], done: make(chan struct{})}
			if !send(b) {
				f.Close()
				return
			}
			off += fr.Len
		}
		f.Close()
	}
}

// verifyWorker opens the blocks it is given and hashes their records, keeping a copy of those
// whose index is in want.
func verifyWorker(work <-chan *vitem, want map[uint64]bool) {
	dec, err := zstdDecoder()
	if err != nil {
		panic(err) // only for invalid options
	}
	defer dec.Close()
	var h rfc6962Hasher
	var comp, plain []byte
	var salt [saltSize]byte
	for it := range work {
		func() {
			defer close(it.done)
			var err error
			comp, err = openBlock(comp[:0], it.keys, &it.fr, it.body)
			it.body = nil
			if err != nil {
				it.werr = "authentication failed: the block was altered (or is sealed with another key)"
				return
			}
			plain, err = dec.DecodeAll(comp, plain[:0])
			if err != nil {
				it.werr = fmt.Sprintf("decompress: %v", err)
				return
			}
			it.plain = int64(len(plain))
			first, count := it.fr.Head.First, it.fr.Head.Count
			it.hashes = make([]byte, 0, 32*int(count))
			err = splitRecords(plain, count, func(i int, rec []byte) error {
				if want[first+uint64(i)] {
					if it.recs == nil {
						it.recs = map[uint64][]byte{}
					}
					it.recs[first+uint64(i)] = bytes.Clone(rec)
				}
				it.keys.saltOf(&salt, first+uint64(i))
				it.hashes = h.appendSum(it.hashes, leafPrefix, salt[:], rec)
				return nil
			})
			if err != nil {
				it.werr = err.Error()
				return
			}
			// The subtrees of 256 records wholly inside the block.
			end := first + uint64(count)
			var scratch [tileSize * 32]byte
			for t := (first + tileSize - 1) &^ (tileSize - 1); t+tileSize <= end; t += tileSize {
				copy(scratch[:], it.hashes[(t-first)*32:(t-first+tileSize)*32])
				for n := tileSize; n > 1; n /= 2 {
					for i := range n / 2 {
						h.appendSum(scratch[i*32:i*32], nodePrefix, scratch[2*i*32:(2*i+1)*32], scratch[(2*i+1)*32:(2*i+2)*32])
					}
				}
				it.tiles = append(it.tiles, scratch[:32]...)
			}
		}()
	}
}

// The RFC 6962 domain separation prefixes of leaf and interior node hashes.
const (
	rfc6962LeafPrefix = 0
	rfc6962NodePrefix = 1
)

// segmentStart checks a segment's header; false says its blocks cannot be followed.
func (v *verifier) segmentStart(it *vitem) bool {
	v.rep.Segments++
	name := it.name
	if it.head == nil {
		if errors.Is(it.herr, ErrCorrupt) {
			v.problem(name, -1, -1, 0, "header: %v", it.herr)
		} else {
			v.problem(name, -1, -1, -1, "%v", it.herr)
		}
		v.broken = true
		return false
	}
	h := it.head
	if h.Tenant != v.tenant {
		v.problem(name, -1, -1, 0, "header names tenant %q", h.Tenant)
	}
	// The one before is sealed: a checkpoint must cover it.
	if v.lastSeg != "" && v.segEnd > v.fileCP {
		if v.uncovered == "" {
			v.uncovered = v.lastSeg
		}
		v.uncoveredEnd = v.segEnd
	}
	v.lastSeg = name
	// Only a gap asks whether retention accounts for it: the check reads every deletion line.
	if h.First > v.next {
		if ds, ok := retentionCovers(v.deleted, v.next, h.First); ok {
			v.fillGap(ds)
			v.next = h.First
		}
	}
	if h.First != v.next {
		if h.First > v.next {
			gaps := retentionGaps(v.deleted, v.next, h.First)
			if len(gaps) == 0 { // lines for all of them, but not one after the other
				gaps = [][2]uint64{{v.next, h.First}}
			}
			for _, g := range gaps {
				v.problem(name, -1, int64(g[0]), 0, "records %d to %d are missing: deleted or cut off before this segment", g[0], g[1]-1)
			}
		} else {
			v.problem(name, -1, int64(h.First), 0, "starts at record %d, but the segments before hold up to record %d", h.First, v.next-1)
		}
		// The tree cannot be followed past a gap; the rest is still checked block by block.
		v.broken, v.next = true, h.First
	}
	if name != segName(h.First) {
		v.problem(name, -1, -1, 0, "file name does not match its first record %d (want %s)", h.First, segName(h.First))
	}
	if it.kerr != nil {
		v.problem(name, -1, -1, 0, "data key: %v", it.kerr)
		v.broken = true
		return false
	}
	return true
}

// block follows one block's records in the tree; false says the rest of its segment cannot be.
func (v *verifier) block(it *vitem) bool {
	name, seq, off, fr := it.name, it.seq, it.off, &it.fr
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
	if it.werr != "" {
		v.problem(name, seq, -1, off, "%s", it.werr)
		v.broken = true
		return false
	}
	v.rep.Plain += it.plain
	for i, rec := range it.recs {
		v.checkRetention(name, seq, off, i, rec)
	}
	first, end := fr.Head.First, fr.Head.First+uint64(fr.Head.Count)
	v.count += uint64(fr.Head.Count)
	if !v.broken {
		visit := v.visit(name, seq, off)
		tile0 := (first + tileSize - 1) &^ (tileSize - 1)
		for i := first; i < end; {
			if i%tileSize == 0 && i+tileSize <= end && !v.checkpointWithin(i, i+tileSize) {
				k := (i - tile0) / tileSize * 32
				root := it.tiles[k : k+32 : k+32]
				visit(compact.NewNodeID(tileStride, i/tileSize), root)
				r, err := v.fact.NewRange(i, i+tileSize, [][]byte{root})
				if err == nil {
					err = v.rng.AppendRange(r, visit)
				}
				if err != nil {
					v.problem(name, seq, int64(i), off, "follow the tree: %v", err)
					v.broken = true
					break
				}
				i += tileSize
			} else {
				k := (i - first) * 32
				v.rng.Append(it.hashes[k:k+32:k+32], visit)
				i++
			}
			v.checkpoints(name, seq, off)
		}
	}
	v.next, v.segEnd = end, end
	return true
}

// checkpointWithin reports whether a checkpoint still to be compared has a size in (begin, end).
func (v *verifier) checkpointWithin(begin, end uint64) bool {
	for _, cp := range v.cps[v.nextCP:] {
		if cp.Size > begin && cp.Size < end {
			return true
		}
		if cp.Size >= end {
			return false
		}
	}
	return false
}

// addKnown merges the known checkpoints into those of the file, by size; one that is the
// same note as one of the file's only confirms it.
func (v *verifier) addKnown() {
	for _, k := range v.known {
		if slices.ContainsFunc(v.cps, func(c checkpoint) bool { return bytes.Equal(c.Note, k.Note) }) {
			continue
		}
		if k.Size > v.fileCP {
			v.problem("checkpoints", -1, -1, -1, "%s, of %d records, is newer than the newest in the checkpoints file (%d records): checkpoints were removed",
				k.name, k.Size, v.fileCP)
		}
		i := sort.Search(len(v.cps), func(i int) bool { return v.cps[i].Size > k.Size })
		v.cps = slices.Insert(v.cps, i, k.checkpoint)
		v.cpNames = slices.Insert(v.cpNames, i, k.name)
		v.cpKnown = slices.Insert(v.cpKnown, i, true)
	}
}

// coveredSince reports whether the checkpoints file, read again, holds what it held when read
// first (b) and a checkpoint that covers the sealed segments: beside a running server, a
// segment may begin between the first reading and the listing of the segments, the
// checkpoint that sealed the one before it coming just after that reading.
func (v *verifier) coveredSince(b []byte) bool {
	now, err := os.ReadFile(filepath.Join(v.dir, "checkpoints"))
	if err != nil || !bytes.HasPrefix(now, b) {
		return false
	}
	cps, _, err := parseCheckpointLog(now[len(b):], v.vkey)
	return err == nil && len(cps) > 0 && slices.MaxFunc(cps, func(x, y checkpoint) int { return cmp.Compare(x.Size, y.Size) }).Size >= v.uncoveredEnd
}

// cpName names checkpoint i of v.cps in a problem.
func (v *verifier) cpName(i int) string { return v.cpNames[i] }

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
			v.problem(seg, block, int64(v.rng.End()-1), off, "the tree of %d records does not match %s: records up to here were altered, removed or reordered",
				v.rng.End(), v.cpName(v.nextCP))
		}
		v.nextCP++
	}
}
