package archive

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/omamori-project/omamori/internal/event"
)

// Retention. A tenant's records are kept for its retention period (RetainPolicy); Retain then
// deletes whole segments whose records are all older than that, and never the tenant's last
// segment. Segments begin and end at multiples of 256 records, so the stored subtree hashes
// (tree/L08 and above, never deleted) still give every hash that a proof of a remaining record
// needs, and let Verify follow the tree through the deleted records.
//
// A deletion is recorded before any file is removed, in this order, so that a crash at any
// point leaves a log that verifies and a job that the next Retain finishes:
//
//  1. a line of the tenant's file "retention" (JSON, a Deletion), fsynced: the segment, its
//     records [first, end), the root of the tenant's tree of end records, the hashes of the
//     segment's subtrees, and the index the retention record will have;
//  2. the retention record itself, appended to the tenant's log (dataset omamori.retention,
//     event.original the same JSON without Nodes), synced and covered by a newly signed
//     checkpoint;
//  3. the segment file is removed.
//
// A line whose record did not make it to the log (a crash between 1 and 2, the index then
// taken by other records) is stale: the next Retain finds that the record at that index is
// not the retention record of that segment, and writes a new line and record. For a segment,
// the last line counts.
//
// Checkpoints signed while a deleted segment was the end of the log have sizes inside it.
// Their roots need hashes below the stored 256-record subtrees; the retention line keeps
// those few (Nodes: at most 16 per checkpoint), so that Verify still checks every checkpoint
// and ConsistencyProof still proves from an old checkpoint to a new one.
//
// Verify accepts records missing between or before segments only when the retention lines
// account for every one of them, each line names a record of the log covered by a signed
// checkpoint, that record is a retention record naming the same segment and range, and the
// root it states is the root recomputed from the stored subtree hashes. A segment removed
// any other way is reported as missing records.

// RetentionDataset is the event.dataset of the records that note a deletion by retention.
const RetentionDataset = "omamori.retention"

const retentionFile = "retention"

// RetainPolicy says how long each tenant's records are kept.
type RetainPolicy struct {
	// Default applies to tenants not in Tenants; zero or negative keeps everything.
	Default time.Duration
	// Tenants overrides Default per tenant; zero or negative keeps everything.
	Tenants map[string]time.Duration
	// DryRun reports what would be deleted, and changes nothing.
	DryRun bool
}

func (p RetainPolicy) of(tenant string) time.Duration {
	if d, ok := p.Tenants[tenant]; ok {
		return d
	}
	return p.Default
}

// Deletion is one segment deleted (or, in a dry run, to be deleted) by retention. It is a
// line of the tenant's retention file; without Nodes it is the event.original of the
// retention record in the tenant's log.
type Deletion struct {
	Tenant  string `json:"tenant"`
	Segment string `json:"segment"`
	First   uint64 `json:"first"` // its first record
	End     uint64 `json:"end"`   // one past its last record
	// Latest is the latest time of its records (their event time, or when received when they
	// have none), and no earlier than when the segment was closed.
	Latest time.Time `json:"latest"`
	Bytes  int64     `json:"bytes"`
	// Root is the root hash of the tenant's tree of End records; Subtrees are the hashes of
	// the perfect subtrees that make up [First, End), left to right (RFC 6962 hashes).
	Root     HexBytes   `json:"root"`
	Subtrees []HexBytes `json:"subtrees"`
	// Reason says why: the retention period and the cutoff it gave.
	Reason  string    `json:"reason"`
	Deleted time.Time `json:"deleted"`
	Record  uint64    `json:"record"` // the index of the retention record that notes it
	// Nodes are the tree nodes below the stored subtrees that the checkpoints signed inside
	// [First, End) need; only in the retention file.
	Nodes []Node `json:"nodes,omitempty"`
}

// Node is one hash of a tenant's Merkle tree: the perfect subtree of leaves
// [Index<<Level, (Index+1)<<Level).
type Node struct {
	Level uint     `json:"level"`
	Index uint64   `json:"index"`
	Hash  HexBytes `json:"hash"`
}

// HexBytes is a hash, written as hex in JSON.
type HexBytes []byte

func (h HexBytes) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h), nil }

func (h *HexBytes) UnmarshalText(b []byte) error {
	d, err := hex.AppendDecode(nil, b)
	*h = d
	return err
}

// RetentionReport says what Retain did.
type RetentionReport struct {
	// Deleted lists the segments deleted, or in a dry run those that would be, by tenant and
	// then oldest first.
	Deleted []Deletion
	// Resumed counts the deletions recorded by an earlier run that stopped before removing
	// their segment, and finished now.
	Resumed int
	// Records and Bytes total the records and segment bytes deleted.
	Records uint64
	Bytes   int64
}

// Retain deletes the expired segments of every tenant under policy, taking now as the time,
// and returns what it deleted. A segment is expired when every record in it is older than
// now less the tenant's retention period, by the record's time and by when it was archived
// (the segment was closed before the cutoff): a record that arrives late, or with a wrong
// year, is kept at least the retention period after it was archived. Segments expire each on
// its own: one kept for a young record does not hold back the older ones around it. The last
// segment of a tenant is never deleted.
//
// Retain is safe to call again after a crash or an error: it finishes what was recorded and
// deletes nothing twice. The holder of the Archive calls it periodically (RetainEvery).
func (a *Archive) Retain(ctx context.Context, now time.Time, policy RetainPolicy) (*RetentionReport, error) {
	if a.opts.ReadOnly && !policy.DryRun {
		return nil, ErrReadOnly
	}
	rep := &RetentionReport{}
	for _, name := range a.Tenants() {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		keep := policy.of(name)
		if keep <= 0 {
			continue
		}
		if err := a.retainTenant(ctx, name, now, keep, policy.DryRun, rep); err != nil {
			return rep, fmt.Errorf("retain tenant %s: %w", name, err)
		}
	}
	return rep, nil
}

// RetainEvery applies policy now and then every interval until ctx is done, logging what it
// deleted and what failed.
func (a *Archive) RetainEvery(ctx context.Context, interval time.Duration, policy RetainPolicy) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		rep, err := a.Retain(ctx, time.Now(), policy)
		if rep != nil {
			for _, d := range rep.Deleted {
				a.log.Info("retention deleted an expired segment", "tenant", d.Tenant, "segment", d.Segment,
					"records", fmt.Sprintf("%d-%d", d.First, d.End-1), "latest", d.Latest, "bytes", d.Bytes,
					"record", d.Record)
			}
		}
		if err != nil && ctx.Err() == nil {
			a.log.Error("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

func (a *Archive) retainTenant(ctx context.Context, name string, now time.Time, keep time.Duration, dryRun bool, rep *RetentionReport) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tenants[name]
	if t == nil {
		return nil
	}
	if t.broken != nil {
		return t.broken
	}
	lines, _, err := readRetention(t.dir)
	if err != nil {
		return err
	}
	recorded := map[string]Deletion{}
	for _, d := range lines {
		recorded[d.Segment] = d // the last line of a segment counts
	}
	cutoff := now.Add(-keep)
	reason := fmt.Sprintf("retention period %s: every record older than %s", keep, cutoff.UTC().Format(time.RFC3339))
	type job struct {
		seg *segInfo
		d   Deletion
		new bool
	}
	var jobs []job
	for i := 0; i+1 < len(t.segs); i++ {
		s := t.segs[i]
		if t.w != nil && t.w.seg == s {
			break
		}
		latest, ok := segLatest(s, t.segs[i+1])
		if !ok || !latest.Before(cutoff) {
			continue
		}
		if d, ok := recorded[s.name()]; ok && !dryRun {
			if ok, err := t.isRetentionRecord(d); err != nil {
				return err
			} else if ok {
				jobs = append(jobs, job{seg: s, d: d})
				continue
			}
			// A stale line: its record never reached the log. Record the deletion again.
		}
		d, err := t.describe(s, latest, reason, now)
		if err != nil {
			return err
		}
		jobs = append(jobs, job{seg: s, d: d, new: true})
	}
	if dryRun {
		for _, j := range jobs {
			rep.Deleted = append(rep.Deleted, j.d)
			rep.Records += j.d.End - j.d.First
			rep.Bytes += j.d.Bytes
		}
		return nil
	}
	if len(jobs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// 1. The lines, naming the records about to be appended.
	var fresh []Deletion
	next := t.tree.size()
	for i := range jobs {
		if jobs[i].new {
			jobs[i].d.Record = next
			next++
			fresh = append(fresh, jobs[i].d)
		}
	}
	if len(fresh) > 0 {
		if err := appendRetention(t.dir, fresh); err != nil {
			return err
		}
	}
	// 2. The records, synced and signed.
	for _, j := range jobs {
		if !j.new {
			continue
		}
		e, err := retentionEvent(j.d)
		if err != nil {
			return err
		}
		if i := t.tree.size(); i != j.d.Record {
			return fmt.Errorf("%w: the retention record of %s would be record %d, not %d", ErrCorrupt, j.d.Segment, i, j.d.Record)
		}
		if err := t.add(e); err != nil {
			t.broken = err
			return err
		}
	}
	if err := t.sync(); err != nil {
		t.broken = err
		return err
	}
	if _, err := t.checkpoint(); err != nil {
		return fmt.Errorf("checkpoint the retention records: %w", err)
	}
	// 3. The segments. The log forgets each one it removes, even if a later removal fails.
	for _, j := range jobs {
		t.tree.keep(j.d.Nodes)
	}
	gone := map[*segInfo]bool{}
	defer func() {
		kept := t.segs[:0]
		for _, s := range t.segs {
			if !gone[s] {
				kept = append(kept, s)
			}
		}
		clear(t.segs[len(kept):])
		t.segs = kept
		t.cacheSeg, t.cacheBlock, t.cacheRecs, t.cacheHash = nil, nil, nil, nil
	}()
	for _, j := range jobs {
		if err := os.Remove(j.seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete segment: %w", err)
		}
		gone[j.seg] = true
		rep.Deleted = append(rep.Deleted, j.d)
		rep.Records += j.d.End - j.d.First
		rep.Bytes += j.d.Bytes
		if !j.new {
			rep.Resumed++
		}
	}
	return syncDir(t.dir)
}

// describe makes the deletion of segment s, computing the hashes that must outlive it.
func (t *tenantLog) describe(s *segInfo, latest time.Time, reason string, now time.Time) (Deletion, error) {
	d := Deletion{Tenant: t.name, Segment: s.name(), First: s.head.First, End: s.end, Latest: latest.UTC(),
		Bytes: s.size, Reason: reason, Deleted: now.UTC()}
	if d.First%tileSize != 0 || d.End%tileSize != 0 || d.End <= d.First {
		// Segments are rolled at multiples of 256 records; anything else cannot be deleted
		// without losing hashes that proofs of other records need.
		return d, fmt.Errorf("%w: segment %s holds records %d to %d, not whole 256-record subtrees", ErrCorrupt, d.Segment, d.First, d.End)
	}
	root, err := t.tree.root(d.End)
	if err != nil {
		return d, fmt.Errorf("root of %d records: %w", d.End, err)
	}
	d.Root = root
	for _, id := range compact.RangeNodes(d.First, d.End, nil) {
		h, err := t.tree.node(id)
		if err != nil {
			return d, err
		}
		d.Subtrees = append(d.Subtrees, h)
	}
	seen := map[compact.NodeID]bool{}
	for _, cp := range t.cps {
		if cp.Size <= d.First || cp.Size >= d.End || cp.Size%tileSize == 0 {
			continue
		}
		for _, id := range checkpointNodes(cp.Size) {
			if seen[id] {
				continue
			}
			seen[id] = true
			h, err := t.tree.node(id)
			if err != nil {
				return d, err
			}
			d.Nodes = append(d.Nodes, Node{Level: id.Level, Index: id.Index, Hash: h})
		}
	}
	return d, nil
}

// checkpointNodes returns the nodes inside the 256-record subtree holding the end of a tree
// of size records (size not a multiple of 256): those left of the end, which with the stored
// subtrees before them make its root, and those right of it, which with them make the stored
// hash of the subtree. Consistency proofs from or to that size need no other node below the
// stored ones.
func checkpointNodes(size uint64) []compact.NodeID {
	start := size &^ (tileSize - 1)
	ids := compact.RangeNodes(start, size, nil)
	return compact.RangeNodes(size, start+tileSize, ids)
}

// isRetentionRecord reports whether the record d names is in the log and is the retention
// record of d's segment.
func (t *tenantLog) isRetentionRecord(d Deletion) (bool, error) {
	if d.Record >= t.synced {
		return false, nil
	}
	s, bi, ok := t.find(d.Record)
	if !ok {
		return false, nil
	}
	recs, _, err := t.readBlock(s, bi)
	if err != nil {
		return false, err
	}
	return checkRetentionRecord(recs[d.Record-s.frames[bi].Head.First], d) == nil, nil
}

// retentionEvent is the record that notes deletion d.
func retentionEvent(d Deletion) (*event.Event, error) {
	d.Nodes = nil
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	e := &event.Event{Time: d.Deleted, Received: d.Deleted, Tenant: d.Tenant, Source: "omamori", Format: "omamori",
		Dataset: RetentionDataset, Category: "file", Action: "archive_retention_delete", Outcome: event.OutcomeSuccess,
		Message: fmt.Sprintf("retention deletes segment %s: records %d to %d, the latest of %s, %d bytes (%s)",
			d.Segment, d.First, d.End-1, d.Latest.Format(time.RFC3339), d.Bytes, d.Reason),
		Raw: raw}
	e.Set(event.K("archive.segment"), d.Segment)
	e.Set(event.K("archive.first"), strconv.FormatUint(d.First, 10))
	e.Set(event.K("archive.end"), strconv.FormatUint(d.End, 10))
	e.Set(event.K("archive.root"), hex.EncodeToString(d.Root))
	return e, nil
}

// checkRetentionRecord checks that rec (a stored record) is the retention record of d: same
// tenant, segment, range and root.
func checkRetentionRecord(rec []byte, d Deletion) error {
	var got *Deletion
	var dataset string
	err := event.DecodeBatch(rec, func(e *event.Event) error {
		dataset = e.Dataset
		if e.Dataset != RetentionDataset {
			return nil
		}
		got = &Deletion{}
		return json.Unmarshal(e.Raw, got)
	})
	switch {
	case err != nil:
		return fmt.Errorf("record %d does not decode as a retention record: %w", d.Record, err)
	case got == nil:
		return fmt.Errorf("record %d is not a retention record (dataset %q)", d.Record, dataset)
	case got.Tenant != d.Tenant || got.Segment != d.Segment || got.First != d.First || got.End != d.End:
		return fmt.Errorf("record %d notes the deletion of %s/%s, records %d to %d, not %s/%s, records %d to %d",
			d.Record, got.Tenant, got.Segment, got.First, got.End, d.Tenant, d.Segment, d.First, d.End)
	case !bytes.Equal(got.Root, d.Root):
		return fmt.Errorf("record %d states root %x for %d records, the retention file %x", d.Record, []byte(got.Root), d.End, []byte(d.Root))
	}
	return nil
}

// segLatest returns the latest time of s's records by their blocks' bounds, and no earlier
// than the creation of the segment after it (when s was closed). A segment without blocks has
// nothing to delete.
func segLatest(s, next *segInfo) (time.Time, bool) {
	if len(s.frames) == 0 {
		return time.Time{}, false
	}
	latest := next.head.Created.UnixNano()
	for _, fr := range s.frames {
		if fr.Head.MinT != 0 || fr.Head.MaxT != 0 {
			latest = max(latest, fr.Head.MaxT)
		}
	}
	return time.Unix(0, latest).UTC(), true
}

// readRetention reads a tenant's retention file: one JSON Deletion a line. A last line
// without its newline was torn by a crash while it was written; it is left out, and good
// says where it begins.
func readRetention(dir string) (ds []Deletion, good int64, err error) {
	b, err := os.ReadFile(filepath.Join(dir, retentionFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read retention file: %w", err)
	}
	return parseRetention(b)
}

// parseRetention parses the content of a retention file.
func parseRetention(b []byte) (ds []Deletion, good int64, err error) {
	for n := 1; len(b) > 0; n++ {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			break // torn
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var d Deletion
			if err := json.Unmarshal(line, &d); err != nil {
				return ds, good, fmt.Errorf("%w: retention file line %d: %v", ErrCorrupt, n, err)
			}
			ds = append(ds, d)
		}
		good += int64(len(line) + 1)
		b = rest
	}
	return ds, good, nil
}

// appendRetention appends lines to the retention file and fsyncs it, first cutting off a
// torn last line.
func appendRetention(dir string, ds []Deletion) error {
	_, good, err := readRetention(dir)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, retentionFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("write retention file: %w", err)
	}
	var buf []byte
	for _, d := range ds {
		b, err := json.Marshal(d)
		if err != nil {
			f.Close()
			return fmt.Errorf("write retention file: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	err = f.Truncate(good)
	if err == nil {
		_, err = f.WriteAt(buf, good)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write retention file: %w", err)
	}
	return syncDir(dir)
}

// retentionCovers reports whether deletions ds (a tenant's retention lines) account for
// every record in [begin, end), and returns the deletions that do, in order.
func retentionCovers(ds []Deletion, begin, end uint64) ([]Deletion, bool) {
	if end < begin {
		return nil, false
	}
	by := map[uint64]Deletion{}
	for _, d := range ds {
		if d.End > d.First {
			by[d.First] = d // the last line for a range counts
		}
	}
	var out []Deletion
	for i := begin; i < end; {
		d, ok := by[i]
		if !ok || d.End > end || d.Segment != segName(d.First) {
			return nil, false
		}
		out = append(out, d)
		i = d.End
	}
	return out, true
}

// retentionGaps returns the ranges in [begin, end) that deletions ds do not account for.
func retentionGaps(ds []Deletion, begin, end uint64) [][2]uint64 {
	var covered [][2]uint64
	for _, d := range ds {
		if d.End > d.First && d.Segment == segName(d.First) && d.First < end && d.End > begin {
			covered = append(covered, [2]uint64{max(d.First, begin), min(d.End, end)})
		}
	}
	slices.SortFunc(covered, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	var gaps [][2]uint64
	at := begin
	for _, c := range covered {
		if c[0] > at {
			gaps = append(gaps, [2]uint64{at, c[0]})
		}
		at = max(at, c[1])
	}
	if at < end {
		gaps = append(gaps, [2]uint64{at, end})
	}
	return gaps
}

// keptNodes returns the nodes of retention lines ds.
func keptNodes(ds []Deletion) map[compact.NodeID][]byte {
	m := map[compact.NodeID][]byte{}
	for _, d := range ds {
		for _, n := range d.Nodes {
			m[compact.NewNodeID(n.Level, n.Index)] = n.Hash
		}
	}
	return m
}

// keep adds nodes to those the tree keeps for records deleted by retention.
func (t *tree) keep(nodes []Node) {
	if t.kept == nil {
		t.kept = map[compact.NodeID][]byte{}
	}
	for _, n := range nodes {
		t.kept[compact.NewNodeID(n.Level, n.Index)] = n.Hash
	}
}

// String describes a deletion for people.
func (d Deletion) String() string {
	return fmt.Sprintf("tenant %s: %s, records %d to %d (latest %s, %d bytes) deleted by retention on %s, noted by record %d",
		d.Tenant, d.Segment, d.First, d.End-1, d.Latest.Format(time.RFC3339), d.Bytes, d.Deleted.Format(time.RFC3339), d.Record)
}
