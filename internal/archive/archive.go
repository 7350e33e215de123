// Package archive is omamori's memory: it keeps every event for years, compressed, encrypted
// and tamper-evident, and proves to an outsider that an extract is complete and unaltered. It
// sits at the end of the data path, as a consumer of the bus (Handle, a bus.Handler), and it also takes the
// records of omamori's own actions (Append), so that they share the same proof.
//
// Each tenant (hospital) has its own append-only log under Options.Dir/<tenant>:
//
//	seg-<first record, 20 digits>.oms   segments: blocks of records, zstd and AES-256-GCM
//	tree/L08, tree/L16, ...              stored hashes of the tenant's RFC 6962 Merkle tree
//	checkpoints                          every signed checkpoint, oldest first
//	retention                            the segments deleted by retention (see Retain)
//
// Record i of a tenant is leaf i of its Merkle tree. A leaf hashes a per-record salt with the
// record, so the sibling hashes in an exported proof reveal nothing of other patients' records.
// Checkpoints are C2SP signed notes (Ed25519) over the tree's size and root; anyone with the
// archive's public key can check a checkpoint, an inclusion proof under it, and a consistency
// proof between two of them, offline (see docs/archive-verification.md). Each new checkpoint
// is also given to witnesses outside the directory (AddWitness: the metadata store, C2SP
// tlog-witnesses), against which VerifyKnown finds a rollback that leaves the directory
// consistent in itself.
//
// # Durability
//
// Append buffers; Sync writes the sealed blocks, fsyncs the segments, then the tree files,
// then signs a checkpoint if one is due. Only then has a record been archived: the bus
// consumer acknowledges a batch after Sync. On Open, a torn tail (a block cut short or failing
// its checksum, or a batch whose last block is missing) is cut off, and Open says what it
// discarded; the bus delivers those batches again, and Mark tells the consumer which ones the
// archive already holds.
package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/note"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
	"github.com/omamori-project/omamori/internal/tenant"
)

var (
	// ErrCorrupt says stored data does not follow the format: damage or tampering.
	ErrCorrupt = errors.New("archive: corrupt data")
	// ErrAuth says a block failed authentication: it was altered, or the key is wrong.
	ErrAuth = errors.New("archive: block does not authenticate (altered, or wrong key)")
	// ErrLocked says another process has the archive open for writing.
	ErrLocked = errors.New("archive: in use by another omamori process")
	// ErrTenant says a tenant name is not a tenant ID (tenant.Parse), so it cannot name a
	// directory.
	ErrTenant = errors.New("archive: invalid tenant name")
	// ErrReadOnly says a write was asked of an archive opened read-only.
	ErrReadOnly = errors.New("archive: opened read-only")
)

// Options configure an archive.
type Options struct {
	// Dir holds the archive; created if missing (unless ReadOnly).
	Dir string
	// Keys wraps the segments' data keys and the signing key.
	Keys keyring.Wrapper
	// ReadOnly opens without the lock, for search, verify and export beside a running server.
	// Nothing is written, a torn tail is left in place and ignored.
	ReadOnly bool
	// SegmentBytes is the size after which a new segment begins (default 256 MiB).
	SegmentBytes int64
	// BlockBytes is the most record bytes in a block before it is sealed (default 1 MiB).
	BlockBytes int
	// CheckpointEvery is how often Sync signs a checkpoint of a tenant that grew (default 1
	// minute); a negative value signs at every Sync.
	CheckpointEvery time.Duration
	// Name names the archive in its signing key and checkpoint origins. Default: the name of the
	// existing key, or "omamori.archive/" and 8 random hex digits for a new one.
	Name string
	// Logger receives recovery notes; nil discards.
	Logger *slog.Logger
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

// Archive is an open archive. Its methods are safe for concurrent use; writes are serialized.
type Archive struct {
	opts    Options
	log     *slog.Logger
	lock    *os.File
	signer  note.Signer
	vkey    string
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	mu      sync.Mutex
	tenants map[string]*tenantLog
	// witnesses are given every new checkpoint (AddWitness); unwitnessed are those signed
	// (under mu) not yet given, kept only once there is a witness (witnessed). wmu serializes
	// giving them and guards witnesses and witnessSizes, what each witness was last known to
	// hold, by origin; witnessing counts the goroutines that give them (witnessLater).
	witnesses    []Witness
	witnessed    atomic.Bool
	unwitnessed  []witnessed
	wmu          sync.Mutex
	witnessSizes []map[string]uint64
	witnessing   sync.WaitGroup
	// Discarded lists what Open cut off torn tails.
	Discarded []Discard
}

// Discard describes a torn tail that Open cut off.
type Discard struct {
	Tenant, Segment string
	Offset, Bytes   int64
	Reason          string
}

func (d Discard) String() string {
	return fmt.Sprintf("tenant %s: discarded %d bytes at %s offset %d (%s)", d.Tenant, d.Bytes, d.Segment, d.Offset, d.Reason)
}

// Open opens or creates the archive in opts.Dir and recovers every tenant's log.
func Open(ctx context.Context, opts Options) (*Archive, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 256 << 20
	}
	if opts.BlockBytes <= 0 {
		opts.BlockBytes = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = time.Minute
	}
	if opts.Keys == nil {
		return nil, errors.New("open archive: no master keys")
	}
	a := &Archive{opts: opts, tenants: map[string]*tenantLog{}}
	a.log = opts.Logger
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("component", "archive")
	var err error
	if a.enc, err = zstdEncoder(); err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	if a.dec, err = zstdDecoder(); err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("open archive: %w", err)
		}
		if a.lock, err = lockFile(filepath.Join(opts.Dir, "LOCK")); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(opts.Dir); err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	if err := a.openSigner(); err != nil {
		a.Close()
		return nil, err
	}
	ents, err := os.ReadDir(opts.Dir)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("open archive: %w", err)
	}
	for _, e := range ents {
		if !isTenantDir(e) {
			continue
		}
		if err := ctx.Err(); err != nil {
			a.Close()
			return nil, err
		}
		t, err := a.openTenant(e.Name())
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("open archive: tenant %s: %w", e.Name(), err)
		}
		a.tenants[e.Name()] = t
	}
	return a, nil
}

// isTenantDir reports whether a directory entry is a tenant's log: a directory named by a
// tenant ID (tenant.Parse); anything else in the archive's directory is not the archive's.
func isTenantDir(e os.DirEntry) bool {
	_, err := tenant.Parse(e.Name())
	return e.IsDir() && err == nil
}

func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock archive: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, filepath.Dir(path))
		}
		return nil, fmt.Errorf("lock archive: %w", err)
	}
	return f, nil
}

// Close writes and syncs what is buffered (unless read-only) and closes the files.
func (a *Archive) Close() error {
	var err error
	if !a.opts.ReadOnly && a.tenants != nil {
		err = a.sync()
		// The last checkpoints reach the witnesses before the logs close.
		a.witnessing.Wait()
		a.witnessAll(context.Background())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tenants {
		t.close()
	}
	a.tenants = nil
	if a.enc != nil {
		a.enc.Close()
	}
	if a.dec != nil {
		a.dec.Close()
	}
	if a.lock != nil {
		a.lock.Close()
	}
	return err
}

// Tenants returns the tenants that have a log, sorted.
func (a *Archive) Tenants() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	ts := make([]string, 0, len(a.tenants))
	for t := range a.tenants {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// Mark returns the mark of the last complete batch of tenant that the archive holds (0 if
// none): the bus consumer skips batches at or below it when they are delivered again.
func (a *Archive) Mark(tenant string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := a.tenants[tenant]; t != nil {
		return t.mark
	}
	return 0
}

// Size returns the number of records of tenant, and how many of them are synced.
func (a *Archive) Size(tenant string) (all, synced uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := a.tenants[tenant]; t != nil {
		return t.tree.size(), t.synced
	}
	return 0, 0
}

// WaitSynced waits until the tenant's log holds at least n synced records, or ctx ends: for a
// caller that put records on the bus and wants to read or prove them (the archive consumes
// the bus on its own).
func (a *Archive) WaitSynced(ctx context.Context, tenant string, n uint64) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		all, synced := a.Size(tenant)
		if synced >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("archive of %s: %d records (%d synced), waiting for %d: %w", tenant, all, synced, n, ctx.Err())
		case <-t.C:
		}
	}
}

// continued marks a block sealed in the middle of a batch: a batch is recovered whole or,
// after a crash, not at all.
const continued = 1 << 63

// Append adds events to tenant's log as one batch with the given mark (a position the caller
// can resume from, such as the bus sequence; 0 for none). It buffers: the records are archived
// when Sync returns. events are not kept.
func (a *Archive) Append(ctx context.Context, tenant string, mark uint64, events []event.Event) error {
	return a.append(tenant, mark, func(t *tenantLog) error {
		for i := range events {
			if err := t.add(&events[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// append runs add on tenant's log under the lock and then records mark. An error of add
// breaks the log: what was added before it may be half written, so nothing more is taken
// until the archive is opened again.
func (a *Archive) append(name string, mark uint64, add func(t *tenantLog) error) error {
	if a.opts.ReadOnly {
		return ErrReadOnly
	}
	if _, err := tenant.Parse(name); err != nil {
		return fmt.Errorf("append: %w: %w", ErrTenant, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t, err := a.tenant(name)
	if err != nil {
		return err
	}
	if t.broken != nil {
		return t.broken
	}
	// A batch with a mark has blocks of its own, its mark on the last: so every bus batch's
	// sequence is in the archive, for Complete to compare with the bus.
	if mark != 0 {
		t.seal(false)
	}
	if err := add(t); err != nil {
		t.broken = err
		return err
	}
	if mark != 0 {
		t.mark = mark
		if t.w != nil && t.w.count > 0 {
			t.w.mark = mark
			t.seal(false)
		}
	}
	return nil
}

// Sync writes every buffered record, fsyncs it, and signs the checkpoints that are due, which
// it then gives to the witnesses in the background.
func (a *Archive) Sync(ctx context.Context) error {
	if a.opts.ReadOnly {
		return nil
	}
	err := a.sync()
	a.witnessLater()
	return err
}

func (a *Archive) sync() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, t := range a.tenants {
		if err := t.sync(); err != nil {
			t.broken = err
			errs = append(errs, fmt.Errorf("sync tenant %s: %w", t.name, err))
			continue
		}
		if t.synced > t.cpSize() && a.opts.Now().Sub(t.cpTime()) >= a.opts.CheckpointEvery {
			if _, err := t.checkpoint(); err != nil {
				errs = append(errs, fmt.Errorf("checkpoint tenant %s: %w", t.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// tenant returns the log of name, creating it.
func (a *Archive) tenant(name string) (*tenantLog, error) {
	if t := a.tenants[name]; t != nil {
		return t, nil
	}
	if err := os.MkdirAll(filepath.Join(a.opts.Dir, name), 0o700); err != nil {
		return nil, fmt.Errorf("create tenant %s: %w", name, err)
	}
	t, err := a.openTenant(name)
	if err != nil {
		return nil, err
	}
	a.tenants[name] = t
	return t, nil
}

// segInfo is one segment as found on disk.
type segInfo struct {
	path   string
	head   *segHeader
	hlen   int64
	keys   *segKeys // nil until needed
	frames []frame
	end    uint64 // tree index after its last record
	size   int64  // bytes of header and good frames
}

func (s *segInfo) name() string { return filepath.Base(s.path) }

// tenantLog is the log of one tenant.
type tenantLog struct {
	a      *Archive
	name   string
	dir    string
	segs   []*segInfo
	tree   *tree
	synced uint64 // records on disk
	mark   uint64
	w      *segWriter
	broken error // a failed write: the log takes no more until reopened
	cps    []checkpoint
	cpFile *os.File
	// cache of the last block read, for proofs and leaf hashes
	cacheBlock *frame
	cacheSeg   *segInfo
	cacheRecs  [][]byte
	cacheHash  [][]byte
}

func segName(first uint64) string { return fmt.Sprintf("seg-%020d.oms", first) }

func (a *Archive) openTenant(name string) (*tenantLog, error) {
	t := &tenantLog{a: a, name: name, dir: filepath.Join(a.opts.Dir, name)}
	ents, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "seg-") && strings.HasSuffix(e.Name(), ".oms") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	// Records deleted by retention leave gaps that the retention file accounts for.
	deleted, _, rerr := readRetention(t.dir)
	var next uint64
	for i, n := range names {
		s, disc, err := a.scanSegment(filepath.Join(t.dir, n), i == len(names)-1)
		if errors.Is(err, errEmptySegment) {
			disc.Tenant = name
			a.Discarded = append(a.Discarded, *disc)
			a.log.Warn("removed a segment whose header was never completed", "tenant", name, "segment", n)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("segment %s: %w", n, err)
		}
		if s.head.Tenant != name {
			return nil, fmt.Errorf("segment %s: %w: belongs to tenant %q", n, ErrCorrupt, s.head.Tenant)
		}
		if i > 0 && s.head.First != next && !retentionCovered(deleted, rerr, next, s.head.First) {
			return nil, fmt.Errorf("segment %s: %w: starts at record %d, the one before ends at %d (a segment is missing or damaged; run 'omamori archive verify')",
				n, ErrCorrupt, s.head.First, next)
		}
		if disc != nil {
			disc.Tenant = name
			a.Discarded = append(a.Discarded, *disc)
			a.log.Warn("discarded torn tail", "tenant", name, "segment", disc.Segment, "offset", disc.Offset,
				"bytes", disc.Bytes, "reason", disc.Reason)
		}
		t.segs = append(t.segs, s)
		next = s.end
		for _, f := range s.frames {
			if m := f.Head.Mark &^ continued; m != 0 {
				t.mark = max(t.mark, m)
			}
		}
	}
	t.synced = next
	t.tree, err = openTree(filepath.Join(t.dir, "tree"), next, t.leafHashes, a.opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	t.tree.kept = keptNodes(deleted)
	if err := t.openCheckpoints(); err != nil {
		t.close()
		return nil, err
	}
	if cp := t.cpSize(); cp > t.synced {
		t.close()
		return nil, fmt.Errorf("%w: the log holds %d records but a checkpoint of %d was signed: records were removed (run 'omamori archive verify')",
			ErrCorrupt, t.synced, cp)
	}
	return t, nil
}

// scanSegment reads a segment's header and frames. For the last segment of a writable
// archive, a bad frame and what follows it are cut off as a torn tail, as is a batch whose
// last block is missing; elsewhere a bad frame is an error.
func (a *Archive) scanSegment(path string, last bool) (*segInfo, *Discard, error) {
	flag := os.O_RDONLY
	if last && !a.opts.ReadOnly {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	head, hlen, err := readSegHeader(io.NewSectionReader(f, 0, fi.Size()))
	if err != nil {
		if last && fi.Size() < 4096 && !a.opts.ReadOnly {
			// A segment whose header was being written when the process died holds no record.
			d := &Discard{Segment: filepath.Base(path), Bytes: fi.Size(), Reason: "segment header incomplete: " + err.Error()}
			os.Remove(path)
			return nil, d, errEmptySegment
		}
		return nil, nil, err
	}
	s := &segInfo{path: path, head: head, hlen: hlen, end: head.First}
	off := hlen
	var buf []byte
	var bad error
	for {
		var fr frame
		fr, buf, _, err = readFrame(f, off, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bad = err
			break
		}
		if fr.Head.Seq != uint32(len(s.frames)) || fr.Head.First != s.end || fr.Head.Count == 0 {
			bad = fmt.Errorf("%w: block %d at offset %d says block %d, records %d+%d; want block %d, record %d",
				ErrCorrupt, len(s.frames), off, fr.Head.Seq, fr.Head.First, fr.Head.Count, len(s.frames), s.end)
			break
		}
		s.frames = append(s.frames, fr)
		s.end += uint64(fr.Head.Count)
		off += fr.Len
	}
	// A batch cut between its blocks is torn too: the last kept block must end its batch.
	keep := len(s.frames)
	if bad != nil || off < fi.Size() || (keep > 0 && s.frames[keep-1].Head.Mark&continued != 0) {
		if !last {
			if bad == nil {
				bad = fmt.Errorf("%w: %d bytes after the last block", ErrCorrupt, fi.Size()-off)
			}
			return nil, nil, fmt.Errorf("block %d at offset %d: %w", len(s.frames), off, bad)
		}
		for keep > 0 && s.frames[keep-1].Head.Mark&continued != 0 {
			keep--
		}
		reason := "incomplete batch"
		if bad != nil {
			reason = bad.Error()
		}
		cut := hlen
		if keep > 0 {
			cut = s.frames[keep-1].Off + s.frames[keep-1].Len
		}
		s.frames = s.frames[:keep]
		s.end = head.First
		for _, fr := range s.frames {
			s.end += uint64(fr.Head.Count)
		}
		d := &Discard{Segment: filepath.Base(path), Offset: cut, Bytes: fi.Size() - cut, Reason: reason}
		if !a.opts.ReadOnly {
			if err := f.Truncate(cut); err != nil {
				return nil, nil, fmt.Errorf("cut torn tail: %w", err)
			}
			if err := f.Sync(); err != nil {
				return nil, nil, fmt.Errorf("cut torn tail: %w", err)
			}
		} else {
			d = nil // nothing is changed; readers just stop there
		}
		s.size = cut
		return s, d, nil
	}
	s.size = off
	return s, nil, nil
}

var errEmptySegment = errors.New("archive: empty segment removed")

func (t *tenantLog) close() {
	if t.w != nil && t.w.f != nil {
		t.w.f.Close()
	}
	if t.tree != nil {
		t.tree.close()
	}
	if t.cpFile != nil {
		t.cpFile.Close()
	}
}

// keys returns the keys of a segment, unwrapping them the first time.
func (t *tenantLog) keys(s *segInfo) (*segKeys, error) {
	if s.keys != nil {
		return s.keys, nil
	}
	k, err := openKeys(t.a.opts.Keys, s.head)
	if err != nil {
		return nil, fmt.Errorf("segment %s: %w", s.name(), err)
	}
	s.keys = k
	return k, nil
}

// find returns the segment and block holding record i.
func (t *tenantLog) find(i uint64) (*segInfo, int, bool) {
	si := sort.Search(len(t.segs), func(k int) bool { return t.segs[k].end > i })
	if si == len(t.segs) || i < t.segs[si].head.First {
		return nil, 0, false
	}
	s := t.segs[si]
	bi := sort.Search(len(s.frames), func(k int) bool {
		return s.frames[k].Head.First+uint64(s.frames[k].Head.Count) > i
	})
	if bi == len(s.frames) {
		return nil, 0, false
	}
	return s, bi, true
}

// readBlock returns the records and leaf hashes of block bi of s, checking every layer.
func (t *tenantLog) readBlock(s *segInfo, bi int) ([][]byte, [][]byte, error) {
	fr := &s.frames[bi]
	if t.cacheSeg == s && t.cacheBlock == fr {
		return t.cacheRecs, t.cacheHash, nil
	}
	k, err := t.keys(s)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	recs, hashes, err := t.a.decodeBlock(f, k, fr, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s block %d: %w", s.name(), bi, err)
	}
	t.cacheSeg, t.cacheBlock, t.cacheRecs, t.cacheHash = s, fr, recs, hashes
	return recs, hashes, nil
}

// decodeBlock reads a frame, authenticates, decrypts and decompresses it, and splits its
// records, computing their leaf hashes.
func (a *Archive) decodeBlock(r io.ReaderAt, k *segKeys, fr *frame, buf []byte) ([][]byte, [][]byte, error) {
	f2, _, body, err := readFrame(r, fr.Off, buf)
	if err != nil {
		return nil, nil, err
	}
	f2.Off = fr.Off
	if f2.Head.Seq != fr.Head.Seq || f2.Head.First != fr.Head.First || f2.Head.Count != fr.Head.Count {
		return nil, nil, fmt.Errorf("%w: block changed since it was scanned", ErrCorrupt)
	}
	compressed, err := openBlock(nil, k, &f2, body)
	if err != nil {
		return nil, nil, err
	}
	plain, err := a.dec.DecodeAll(compressed, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
	}
	recs := make([][]byte, 0, fr.Head.Count)
	hashes := make([][]byte, 0, fr.Head.Count)
	var salt [saltSize]byte
	err = splitRecords(plain, fr.Head.Count, func(i int, rec []byte) error {
		k.saltOf(&salt, fr.Head.First+uint64(i))
		recs = append(recs, rec)
		hashes = append(hashes, leafHash(salt[:], rec))
		return nil
	})
	return recs, hashes, err
}

// leafHash is the RFC 6962 leaf hash of a record with its salt.
func leafHash(salt, rec []byte) []byte {
	var h rfc6962Hasher
	return h.appendSum(nil, leafPrefix, salt, rec)
}

// leafHashes implements leafSource from the segments.
func (t *tenantLog) leafHashes(begin, end uint64) ([][]byte, error) {
	var out [][]byte
	for i := begin; i < end; {
		s, bi, ok := t.find(i)
		if !ok {
			if t.w != nil && i >= t.w.first && i < t.w.first+uint64(len(t.w.hashes)) {
				// records not yet sealed into a block
				for ; i < end && i < t.w.first+uint64(len(t.w.hashes)); i++ {
					out = append(out, t.w.hashes[i-t.w.first])
				}
				continue
			}
			return nil, fmt.Errorf("%w: record %d is in no segment", ErrCorrupt, i)
		}
		_, hs, err := t.readBlock(s, bi)
		if err != nil {
			return nil, err
		}
		fr := s.frames[bi]
		for ; i < end && i < fr.Head.First+uint64(fr.Head.Count); i++ {
			out = append(out, hs[i-fr.Head.First])
		}
	}
	return out, nil
}

// segWriter appends to the last segment of a tenant.
type segWriter struct {
	f      *os.File
	seg    *segInfo
	keys   *segKeys
	bloomH *bloomHasher
	out    []byte // sealed frames not yet written
	// the block being filled
	plain      []byte
	count      uint32
	first      uint64
	minT, maxT int64
	mark       uint64
	hashes     [][]byte // leaf hashes of the records in plain, for proofs before sealing
	leaves     rfc6962Hasher
	salt       [saltSize]byte
	values     map[string]struct{}
	key        []byte
	rec        []byte
}

// add appends one event to the tenant's current block.
func (t *tenantLog) add(e *event.Event) error {
	i := t.tree.size()
	if t.w == nil || (i%tileSize == 0 && t.needRoll()) {
		if err := t.roll(i); err != nil {
			return err
		}
	}
	w := t.w
	if len(w.plain) >= t.a.opts.BlockBytes {
		t.seal(true)
	}
	if w.count == 0 {
		w.first, w.minT, w.maxT, w.mark = i, 1<<63-1, -1<<63, 0
	}
	w.rec = event.AppendBatch(w.rec[:0], []event.Event{*e})
	w.keys.saltOf(&w.salt, i)
	h := w.leaves.leaf(w.salt[:], w.rec)
	t.tree.append(h)
	w.hashes = append(w.hashes, h)
	w.plain = appendStr(w.plain, event.String(w.rec))
	w.count++
	ts := e.Time
	if ts.IsZero() {
		ts = e.Received
	}
	if !ts.IsZero() {
		n := ts.UnixNano()
		w.minT, w.maxT = min(w.minT, n), max(w.maxT, n)
	}
	if e.SrcIP.IsValid() {
		w.addr(e.SrcIP)
	}
	if e.DstIP.IsValid() {
		w.addr(e.DstIP)
	}
	if e.Host != "" {
		w.value(bloomHost, strings.ToLower(e.Host))
	}
	if e.User != "" {
		w.value(bloomUser, strings.ToLower(e.User))
	}
	return nil
}

func (w *segWriter) value(kind byte, v string) {
	w.key = append(append(w.key[:0], kind), v...)
	w.keep()
}

// addr is value for an address, written without a string of its own.
func (w *segWriter) addr(a netip.Addr) {
	w.key = a.Unmap().AppendTo(append(w.key[:0], bloomAddr))
	w.keep()
}

// keep adds w.key to the block's values, up to what its bloom filter holds.
func (w *segWriter) keep() {
	if len(w.values) >= maxBloom*8/bloomBitsPer {
		return
	}
	if _, ok := w.values[string(w.key)]; !ok {
		w.values[string(w.key)] = struct{}{}
	}
}

// seal closes the block being filled into w.out. more says the batch goes on.
func (t *tenantLog) seal(more bool) {
	w := t.w
	if w == nil || w.count == 0 {
		return
	}
	head := blockHead{
		Seq: uint32(len(w.seg.frames)), First: w.first, Count: w.count,
		MinT: w.minT, MaxT: w.maxT, Mark: w.mark,
		Bloom: buildBloom(w.bloomH, w.values),
	}
	if w.minT > w.maxT {
		head.MinT, head.MaxT = 0, 0
	}
	if more {
		head.Mark |= continued
	}
	compressed := t.a.enc.EncodeAll(w.plain, nil)
	off := w.seg.size + int64(len(w.out))
	start := len(w.out)
	w.out = sealBlock(w.out, w.keys, &head, compressed)
	fr := frame{Off: off, Len: int64(len(w.out) - start), Head: head, hlen: bheadFixed + len(head.Bloom)}
	w.seg.frames = append(w.seg.frames, fr)
	w.seg.end = w.first + uint64(w.count)
	w.plain, w.count, w.hashes = w.plain[:0], 0, nil
	clear(w.values)
}

// sync writes the tenant's sealed blocks and fsyncs them, then the tree.
func (t *tenantLog) sync() error {
	if t.broken != nil {
		return t.broken
	}
	if t.w == nil {
		return nil
	}
	t.seal(false)
	w := t.w
	if len(w.out) > 0 {
		if _, err := w.f.WriteAt(w.out, w.seg.size); err != nil {
			return fmt.Errorf("write segment %s: %w", w.seg.name(), err)
		}
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync segment %s: %w", w.seg.name(), err)
		}
		w.seg.size += int64(len(w.out))
		w.out = w.out[:0]
	}
	t.synced = w.seg.end
	return t.tree.sync()
}

func (t *tenantLog) needRoll() bool {
	w := t.w
	if w.seg.size+int64(len(w.out)+len(w.plain)) >= t.a.opts.SegmentBytes {
		return true
	}
	if c, ok := t.a.opts.Keys.(interface{ Current() string }); ok && c.Current() != w.seg.head.KeyID {
		return true // the master key was rotated: new segments use the new one
	}
	return false
}

// roll starts writing: continues the last segment when it is the current one, or begins a
// new segment at record first.
func (t *tenantLog) roll(first uint64) error {
	if t.w == nil && len(t.segs) > 0 {
		s := t.segs[len(t.segs)-1]
		c, ok := t.a.opts.Keys.(interface{ Current() string })
		if s.size < t.a.opts.SegmentBytes && (!ok || c.Current() == s.head.KeyID) || first%tileSize != 0 {
			return t.resume(s)
		}
	}
	if t.w != nil {
		// The old segment ends here, synced. Should the process die before the batch that
		// goes on in the new segment is synced, its first part stays and the bus delivers the
		// whole batch again: a rare duplicate, never a loss.
		if err := t.sync(); err != nil {
			return err
		}
		// Every segment but the last is covered by a checkpoint: records that no checkpoint
		// covers can only be at the end of the log, and 'archive verify' holds it to that.
		if _, err := t.checkpoint(); err != nil {
			return err
		}
		t.w.f.Close()
	}
	h, k, err := newSegment(t.a.opts.Keys, t.name, first, t.a.opts.Now())
	if err != nil {
		return err
	}
	path := filepath.Join(t.dir, segName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	hb := h.encode()
	if _, err := f.Write(hb); err != nil {
		f.Close()
		return fmt.Errorf("create segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("create segment: %w", err)
	}
	if err := syncDir(t.dir); err != nil {
		f.Close()
		return err
	}
	s := &segInfo{path: path, head: h, hlen: int64(len(hb)), keys: k, end: first, size: int64(len(hb))}
	t.segs = append(t.segs, s)
	t.w = &segWriter{f: f, seg: s, keys: k, bloomH: newBloomHasher(k.bloom), values: map[string]struct{}{}}
	return nil
}

func (t *tenantLog) resume(s *segInfo) error {
	k, err := t.keys(s)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	t.w = &segWriter{f: f, seg: s, keys: k, bloomH: newBloomHasher(k.bloom), values: map[string]struct{}{}}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

func zstdEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
}

// zstdDecoder returns a decoder for blocks; a block never decompresses to more than 256 MiB.
func zstdDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
}

// retentionCovered reports whether retention's deletion lines account for the records from
// next up to first. It is asked only of a gap: the check reads every deletion line.
func retentionCovered(deleted []Deletion, rerr error, next, first uint64) bool {
	if rerr != nil {
		return false
	}
	_, ok := retentionCovers(deleted, next, first)
	return ok
}
