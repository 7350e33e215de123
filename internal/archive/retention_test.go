package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
)

// The retention tests archive 2000 OpenSSH events in ten batches of 200, batch b dated
// retBase + 30·b days (as the events' time and the archive's clock when it writes them), except
// record retYoung, dated 20 years later: a log with a wrong year. Segments are small, so that the
// log has several.
var retBase = time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)

const (
	day      = 24 * time.Hour
	tenYears = 10 * 365 * day // config's default archive.retention
	retYoung = 300
)

// retNow is when retention runs: ten years and 125 days after retBase, so that batches 0 to 4
// (records 0 to 999) are older than the cutoff and the others not.
var retNow = retBase.Add(tenYears + 125*day)

// clock is the archive's clock in the tests.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

type retFixture struct {
	dir    string
	keys   *keyring.Ring
	clock  *clock
	events []event.Event
	leaves [][]byte // leaf hash of every record, read back before retention
	cps    []Checkpoint
}

func (f *retFixture) open(t testing.TB) *Archive {
	t.Helper()
	return openTest(t, f.dir, f.keys, func(o *Options) {
		o.BlockBytes, o.SegmentBytes, o.CheckpointEvery, o.Now = 4<<10, 6<<10, -1, f.clock.Now
	})
}

func retentionBase(t testing.TB, tenant string) *retFixture {
	t.Helper()
	f := &retFixture{dir: t.TempDir(), keys: testKeys(t), clock: &clock{}}
	f.events = sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", tenant)[:2000]
	for i := range f.events {
		f.events[i].Time = retBase.Add(time.Duration(i/200) * 30 * day)
		f.events[i].Received = f.events[i].Time
	}
	f.events[retYoung].Time = retBase.AddDate(20, 0, 0)
	a := f.open(t)
	for b := 0; b < 10; b++ {
		f.clock.t = f.events[200*b].Received
		appendAll(t, a, tenant, f.events[200*b:200*b+200], 50) // a checkpoint every 50 records
	}
	f.leaves = make([][]byte, len(f.events))
	if err := a.Records(context.Background(), tenant, 0, 1<<62, func(r *Record) error {
		f.leaves[r.Index] = r.LeafHash()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.cps = a.Checkpoints(tenant)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// segRange is a segment file as a test sees it.
type segRange struct {
	name         string
	first, end   uint64
	created      time.Time
	maxT, closed time.Time
}

// layout reads the segments of tenant from their files.
func layout(t *testing.T, dir, tenant string, total uint64) []segRange {
	t.Helper()
	var out []segRange
	m, _ := filepath.Glob(filepath.Join(dir, tenant, "seg-*.oms"))
	slices.Sort(m)
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := readSegHeader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, segRange{name: filepath.Base(p), first: h.First, created: h.Created})
	}
	for i := range out {
		out[i].end = total
		if i+1 < len(out) {
			out[i].end, out[i].closed = out[i+1].first, out[i+1].created
		}
	}
	return out
}

// expired lists the segments that hold only records older than cutoff and were closed
// before it, from the events' own times.
func expired(segs []segRange, events []event.Event, cutoff time.Time) []string {
	var out []string
	for _, s := range segs[:len(segs)-1] {
		ok := s.closed.Before(cutoff)
		for i := s.first; i < s.end; i++ {
			ok = ok && events[i].Time.Before(cutoff)
		}
		if ok {
			out = append(out, s.name)
		}
	}
	return out
}

func treeRoot(t *testing.T, leaves [][]byte) []byte {
	t.Helper()
	r := (&compact.RangeFactory{Hash: hasher.HashChildren}).NewEmptyRange(0)
	for _, l := range leaves {
		r.Append(l, nil)
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func names(ds []Deletion) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Segment)
	}
	return out
}

func TestRetainMixedAges(t *testing.T) {
	ctx := context.Background()
	f := retentionBase(t, "clinic-a")
	before := layout(t, f.dir, "clinic-a", 2000)
	want := expired(before, f.events, retNow.Add(-tenYears))
	young := ""
	for _, s := range before {
		if s.first <= retYoung && retYoung < s.end {
			young = s.name
		}
	}
	if len(want) < 2 || slices.Contains(want, young) || want[len(want)-1] < young {
		t.Fatalf("test setup: expired segments %v, the young record in %s; want some on both sides of it", want, young)
	}

	a := f.open(t)
	f.clock.t = retNow
	rep, err := a.Retain(ctx, retNow, RetainPolicy{Default: tenYears})
	if err != nil {
		t.Fatalf("Retain = %v", err)
	}
	if got := names(rep.Deleted); !slices.Equal(got, want) {
		t.Errorf("Retain deleted %v, want %v", got, want)
	}
	var wantRecs uint64
	for _, s := range before {
		_, err := os.Stat(filepath.Join(f.dir, "clinic-a", s.name))
		if gone := os.IsNotExist(err); gone != slices.Contains(want, s.name) {
			t.Errorf("segment %s: deleted = %v, want %v", s.name, gone, !gone)
		}
		if slices.Contains(want, s.name) {
			wantRecs += s.end - s.first
		}
	}
	if rep.Records != wantRecs || rep.Resumed != 0 {
		t.Errorf("report: %d records, %d resumed; want %d, 0", rep.Records, rep.Resumed, wantRecs)
	}

	// Each deletion is a record of the log, after the 2000, stating the root of the tree up to
	// the segment's end and the hashes of its subtrees.
	size, _ := a.Size("clinic-a")
	if size != 2000+uint64(len(want)) {
		t.Fatalf("log size after retention = %d, want %d", size, 2000+len(want))
	}
	fact := compact.RangeFactory{Hash: hasher.HashChildren}
	var noted []string
	err = a.Records(ctx, "clinic-a", 2000, size, func(r *Record) error {
		var d Deletion
		if r.Event.Dataset != RetentionDataset || json.Unmarshal(r.Event.Raw, &d) != nil {
			t.Fatalf("record %d = %s %q, want a retention record", r.Index, r.Event.Dataset, r.Event.Raw)
		}
		noted = append(noted, d.Segment)
		if !bytes.Equal(d.Root, treeRoot(t, f.leaves[:d.End])) {
			t.Errorf("retention record of %s: root %x, want the root of records 0 to %d", d.Segment, []byte(d.Root), d.End-1)
		}
		sub := fact.NewEmptyRange(d.First)
		for _, l := range f.leaves[d.First:d.End] {
			sub.Append(l, nil)
		}
		if got := d.Subtrees; len(got) != len(sub.Hashes()) || !bytes.Equal(got[0], sub.Hashes()[0]) {
			t.Errorf("retention record of %s: subtrees %x, want %x", d.Segment, got, sub.Hashes())
		}
		if !d.Deleted.Equal(retNow) || d.Reason == "" || d.Record != r.Index {
			t.Errorf("retention record %d: deleted %v, reason %q, record %d", r.Index, d.Deleted, d.Reason, d.Record)
		}
		if v, _ := r.Event.Get(event.K("archive.segment")); v != d.Segment {
			t.Errorf("retention record %d: archive.segment = %q, want %q", r.Index, v, d.Segment)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(noted, want) {
		t.Errorf("retention records note %v, want %v", noted, want)
	}
	cp, err := a.Checkpoint(ctx, "clinic-a")
	if err != nil || cp.Size != size {
		t.Fatalf("Checkpoint after retention = %v, %v; want size %d", cp, err, size)
	}
	checkAfterRetention(t, a, f, before, want, cp)
	a.Close()

	// The same after reopening, and Verify accounts for the deleted records.
	a = f.open(t)
	checkAfterRetention(t, a, f, before, want, cp)
	a.Close()
	vr := verifyDir(t, f.dir, f.keys)
	if !vr.OK() || !slices.Equal(names(vr.Retention), want) || vr.Records != 2000+uint64(len(want))-wantRecs {
		t.Errorf("Verify after retention = %d records, retention %v, problems %v; want %d records, retention %v, no problem",
			vr.Records, names(vr.Retention), vr.Problems, 2000+uint64(len(want))-wantRecs, want)
	}
}

// checkAfterRetention checks what remains: the records, their inclusion proofs under the new
// checkpoint and the old ones, and consistency from every old checkpoint to the new.
func checkAfterRetention(t *testing.T, a *Archive, f *retFixture, before []segRange, deleted []string, cp *Checkpoint) {
	t.Helper()
	ctx := context.Background()
	gone := func(i uint64) bool {
		for _, s := range before {
			if s.first <= i && i < s.end {
				return slices.Contains(deleted, s.name)
			}
		}
		return false
	}
	var got []uint64
	err := a.Records(ctx, "clinic-a", 0, 2000, func(r *Record) error {
		got = append(got, r.Index)
		if string(r.Event.Raw) != string(f.events[r.Index].Raw) || !bytes.Equal(r.LeafHash(), f.leaves[r.Index]) {
			t.Errorf("record %d = %q, want %q", r.Index, r.Event.Raw, f.events[r.Index].Raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for i := range uint64(2000) {
		if !gone(i) {
			want = append(want, i)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Records after retention: %d records, want %d (all but the deleted segments')", len(got), len(want))
	}
	for _, i := range want {
		if i%37 != 0 {
			continue
		}
		p, err := a.InclusionProof("clinic-a", i, cp.Size)
		if err == nil {
			err = proof.VerifyInclusion(hasher, i, cp.Size, f.leaves[i], p, cp.Root)
		}
		if err != nil {
			t.Errorf("inclusion of record %d in the checkpoint after retention: %v", i, err)
		}
		for _, old := range f.cps {
			if old.Size <= i || old.Size%7 != 0 {
				continue
			}
			p, err := a.InclusionProof("clinic-a", i, old.Size)
			if err == nil {
				err = proof.VerifyInclusion(hasher, i, old.Size, f.leaves[i], p, old.Root)
			}
			if err != nil {
				t.Errorf("inclusion of record %d in the checkpoint of %d records before retention: %v", i, old.Size, err)
			}
		}
	}
	for i, old := range f.cps {
		p, err := a.ConsistencyProof("clinic-a", old.Size, cp.Size)
		if err == nil {
			err = proof.VerifyConsistency(hasher, old.Size, cp.Size, p, old.Root, cp.Root)
		}
		if err != nil {
			t.Errorf("consistency of the checkpoint of %d records (before retention) with %d: %v", old.Size, cp.Size, err)
		}
		// and between two checkpoints signed before retention
		if i+3 < len(f.cps) {
			newer := f.cps[i+3]
			p, err := a.ConsistencyProof("clinic-a", old.Size, newer.Size)
			if err == nil {
				err = proof.VerifyConsistency(hasher, old.Size, newer.Size, p, old.Root, newer.Root)
			}
			if err != nil {
				t.Errorf("consistency of the checkpoints of %d and %d records (before retention): %v", old.Size, newer.Size, err)
			}
		}
	}
	// An export for an authority still verifies offline.
	var buf bytes.Buffer
	st, err := a.Export(ctx, Query{Tenant: "clinic-a", User: "root"}, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	br, err := VerifyBundle(bytes.NewReader(buf.Bytes()), a.PublicKey())
	if err != nil || br.Records != st.Records || st.Records == 0 {
		t.Errorf("VerifyBundle(export after retention) = %v, %v; want %d records", br, err, st.Records)
	}
}

// retained returns the fixture after a retention run at retNow, with a copy of its directory
// from before the run, and the deletions.
func retained(t *testing.T) (f *retFixture, pre string, ds []Deletion) {
	t.Helper()
	f = retentionBase(t, "clinic-a")
	pre = copyDir(t, f.dir)
	a := f.open(t)
	f.clock.t = retNow
	rep, err := a.Retain(context.Background(), retNow, RetainPolicy{Default: tenYears})
	if err != nil || len(rep.Deleted) < 2 {
		t.Fatalf("Retain = %v, %v; want at least two deletions", rep, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return f, pre, rep.Deleted
}

// editRetention rewrites the retention file of dir's clinic-a with fn applied to its lines.
func editRetention(t *testing.T, dir string, fn func([]Deletion) []Deletion) {
	t.Helper()
	tdir := filepath.Join(dir, "clinic-a")
	ds, _, err := readRetention(tdir)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(tdir, retentionFile))
	if err := appendRetention(tdir, fn(ds)); err != nil {
		t.Fatal(err)
	}
}

func TestRetainVerifyStillFindsTampering(t *testing.T) {
	f, _, ds := retained(t)
	segs := layout(t, f.dir, "clinic-a", 2000)
	if segs[0].first != ds[0].End || segs[1].first != ds[1].End || ds[0].First != 0 {
		t.Fatalf("test setup: kept %v, deleted %v; want the first kept segment between two deleted ones", segs, names(ds))
	}
	seg := func(d, name string) string { return filepath.Join(d, "clinic-a", name) }
	tests := []struct {
		name string
		do   func(t *testing.T, d string)
		want string // what a problem must say
	}{
		{"a kept segment between deleted ones removed without a record", func(t *testing.T, d string) {
			os.Remove(seg(d, segs[0].name))
		}, fmt.Sprintf("records %d to %d are missing", segs[0].first, ds[1].First-1)},
		{"a later segment removed without a record", func(t *testing.T, d string) {
			os.Remove(seg(d, segs[2].name))
		}, fmt.Sprintf("records %d to %d are missing", segs[2].first, segs[2].end-1)},
		{"retention file removed", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "clinic-a", retentionFile))
		}, fmt.Sprintf("records 0 to %d are missing", ds[0].End-1)},
		{"a segment removed with a forged line naming another retention record", func(t *testing.T, d string) {
			os.Remove(seg(d, segs[2].name))
			editRetention(t, d, func(ls []Deletion) []Deletion {
				forged := ls[0]
				forged.Segment, forged.First, forged.End, forged.Nodes = segs[2].name, segs[2].first, segs[2].end, nil
				return append(ls, forged)
			})
		}, "notes the deletion of clinic-a/" + ds[0].Segment},
		{"a segment removed with a forged line naming an ordinary record", func(t *testing.T, d string) {
			os.Remove(seg(d, segs[2].name))
			editRetention(t, d, func(ls []Deletion) []Deletion {
				return append(ls, Deletion{Tenant: "clinic-a", Segment: segs[2].name, First: segs[2].first, End: segs[2].end, Record: 1900})
			})
		}, "record 1900 is not a retention record"},
		{"a segment removed with a forged line naming a record beyond the log", func(t *testing.T, d string) {
			os.Remove(seg(d, segs[2].name))
			editRetention(t, d, func(ls []Deletion) []Deletion {
				return append(ls, Deletion{Tenant: "clinic-a", Segment: segs[2].name, First: segs[2].first, End: segs[2].end, Record: 5000})
			})
		}, "the log holds no such record"},
		{"a stored hash of deleted records altered", func(t *testing.T, d string) {
			p := filepath.Join(d, "clinic-a", "tree", "L08")
			b, _ := os.ReadFile(p)
			b[ds[0].First/tileSize*32] ^= 1
			os.WriteFile(p, b, 0o600)
		}, "(tree/L08 #0)"},
		{"a hash kept for an old checkpoint altered", func(t *testing.T, d string) {
			editRetention(t, d, func(ls []Deletion) []Deletion {
				ls[0].Nodes[0].Hash[0] ^= 1
				return ls
			})
		}, "the hashes kept for checkpoint"},
		{"a retention line's root altered", func(t *testing.T, d string) {
			editRetention(t, d, func(ls []Deletion) []Deletion {
				ls[1].Root[0] ^= 1
				return ls
			})
		}, "states root"},
	}
	rep := verifyDir(t, f.dir, f.keys)
	if !rep.OK() || !slices.Equal(names(rep.Retention), names(ds)) {
		t.Fatalf("Verify after retention = retention %v, problems %v; want %v, no problem", names(rep.Retention), rep.Problems, names(ds))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t, f.dir)
			tt.do(t, d)
			rep := verifyDir(t, d, f.keys)
			if rep.OK() {
				t.Fatalf("Verify after %s found nothing", tt.name)
			}
			for _, p := range rep.Problems {
				if strings.Contains(p.String(), tt.want) {
					return
				}
			}
			t.Errorf("Verify after %s = %v, want a problem saying %q", tt.name, rep.Problems, tt.want)
		})
	}
}

func fileBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}

// TestRetainCrashAndRerun builds the states a crash can leave a retention run in, checks that
// each verifies, and that running Retain again finishes the job without noting a deletion twice.
func TestRetainCrashAndRerun(t *testing.T) {
	ctx := context.Background()
	f, pre, ds := retained(t)
	done := copyDir(t, f.dir)
	tdir := func(d string) string { return filepath.Join(d, "clinic-a") }
	restore := func(t *testing.T, d string, segs ...string) {
		for _, s := range segs {
			if err := os.WriteFile(filepath.Join(tdir(d), s), fileBytes(t, filepath.Join(tdir(pre), s)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		state   func(t *testing.T) string // the directory as the crash left it
		resumed int                       // deletions the rerun finishes
		fresh   int                       // deletions the rerun records anew
	}{
		{"after the records, before any deletion", func(t *testing.T) string {
			d := copyDir(t, done)
			restore(t, d, names(ds)...)
			return d
		}, len(ds), 0},
		{"after the records, before they were signed", func(t *testing.T) string {
			d := copyDir(t, done)
			restore(t, d, names(ds)...)
			p := filepath.Join(tdir(d), "checkpoints")
			cps := fileBytes(t, p)
			var last int
			for off := 0; off < len(cps); off += 4 + int(binary.BigEndian.Uint32(cps[off:])) {
				last = off
			}
			if err := os.Truncate(p, int64(last)); err != nil {
				t.Fatal(err)
			}
			return d
		}, len(ds), 0},
		{"after the first deletion", func(t *testing.T) string {
			d := copyDir(t, done)
			restore(t, d, names(ds)[1:]...)
			return d
		}, len(ds) - 1, 0},
		{"after the lines, before the records; their indexes since taken by other records", func(t *testing.T) string {
			d := copyDir(t, pre)
			a := openTest(t, d, f.keys)
			dry, err := a.Retain(ctx, retNow, RetainPolicy{Default: tenYears, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			for i := range dry.Deleted {
				dry.Deleted[i].Record = 2000 + uint64(i)
			}
			if err := appendRetention(tdir(d), dry.Deleted); err != nil {
				t.Fatal(err)
			}
			appendAll(t, a, "clinic-a", f.events[1990:], 10) // records 2000 to 2009
			a.Close()
			return d
		}, 0, len(ds)},
		{"in the middle of writing a line", func(t *testing.T) string {
			d := copyDir(t, pre)
			os.WriteFile(filepath.Join(tdir(d), retentionFile), []byte(`{"tenant":"clinic-a","segm`), 0o600)
			return d
		}, 0, len(ds)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.state(t)
			if rep := verifyDir(t, d, f.keys); !rep.OK() {
				t.Fatalf("Verify after a crash %s = %v, want no problem", tt.name, rep.Problems)
			}
			a := openTest(t, d, f.keys)
			defer a.Close()
			size, _ := a.Size("clinic-a")
			rep, err := a.Retain(ctx, retNow, RetainPolicy{Default: tenYears})
			if err != nil {
				t.Fatalf("Retain after a crash %s = %v", tt.name, err)
			}
			after, _ := a.Size("clinic-a")
			want := names(ds)[len(ds)-tt.resumed-tt.fresh:]
			if !slices.Equal(names(rep.Deleted), want) || rep.Resumed != tt.resumed || after-size != uint64(tt.fresh) {
				t.Errorf("Retain after a crash %s: deleted %v, resumed %d, %d new records; want %v, %d, %d",
					tt.name, names(rep.Deleted), rep.Resumed, after-size, want, tt.resumed, tt.fresh)
			}
			// And once more: nothing left to do.
			again, err := a.Retain(ctx, retNow.Add(day), RetainPolicy{Default: tenYears})
			if size2, _ := a.Size("clinic-a"); err != nil || len(again.Deleted) != 0 || size2 != after {
				t.Errorf("Retain again = %v, deleted %v, log %d -> %d records; want nothing done", err, names(again.Deleted), after, size2)
			}
			a.Close()
			vr := verifyDir(t, d, f.keys)
			if !vr.OK() || !slices.Equal(names(vr.Retention), names(ds)) {
				t.Errorf("Verify after the rerun = retention %v, problems %v; want %v, no problem", names(vr.Retention), vr.Problems, names(ds))
			}
			for _, s := range ds {
				if _, err := os.Stat(filepath.Join(tdir(d), s.Segment)); !os.IsNotExist(err) {
					t.Errorf("segment %s still there after the rerun (%v)", s.Segment, err)
				}
			}
		})
	}
}

func TestRetainIsIdempotent(t *testing.T) {
	ctx := context.Background()
	f, _, ds := retained(t)
	tdir := filepath.Join(f.dir, "clinic-a")
	lines := fileBytes(t, filepath.Join(tdir, retentionFile))
	a := f.open(t)
	defer a.Close()
	size, _ := a.Size("clinic-a")
	for _, now := range []time.Time{retNow, retNow.Add(time.Hour)} {
		rep, err := a.Retain(ctx, now, RetainPolicy{Default: tenYears})
		if err != nil || len(rep.Deleted) != 0 {
			t.Errorf("Retain(%v) again = %v, %v; want nothing deleted", now, names(rep.Deleted), err)
		}
	}
	if got, _ := a.Size("clinic-a"); got != size {
		t.Errorf("log size after Retain again = %d, want %d", got, size)
	}
	if got := fileBytes(t, filepath.Join(tdir, retentionFile)); !bytes.Equal(got, lines) {
		t.Errorf("retention file changed by a Retain with nothing to do")
	}
	if len(ds) == 0 {
		t.Fatal("test setup: nothing deleted the first time")
	}
}

func TestRetainDryRunChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := retentionBase(t, "clinic-a")
	before := copyDir(t, f.dir)
	want := expired(layout(t, f.dir, "clinic-a", 2000), f.events, retNow.Add(-tenYears))
	for _, ro := range []bool{false, true} {
		a := openTest(t, f.dir, f.keys, func(o *Options) { o.ReadOnly = ro })
		rep, err := a.Retain(ctx, retNow, RetainPolicy{Default: tenYears, DryRun: true})
		if err != nil || !slices.Equal(names(rep.Deleted), want) {
			t.Errorf("Retain(dry run, read-only %v) = %v, %v; want %v", ro, names(rep.Deleted), err, want)
		}
		if !ro {
			a.Close()
			continue
		}
		if _, err := a.Retain(ctx, retNow, RetainPolicy{Default: tenYears}); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Retain on a read-only archive = %v, want %v", err, ErrReadOnly)
		}
		a.Close()
	}
	for _, s := range layout(t, before, "clinic-a", 2000) {
		p := filepath.Join("clinic-a", s.name)
		if !bytes.Equal(fileBytes(t, filepath.Join(f.dir, p)), fileBytes(t, filepath.Join(before, p))) {
			t.Errorf("dry run changed %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "clinic-a", retentionFile)); !os.IsNotExist(err) {
		t.Errorf("dry run wrote a retention file (%v)", err)
	}
}

// TestRetainTenantsApart archives the same records for two tenants, dated so that only
// clinic-a's have expired, and checks that retention leaves clinic-b's files as they were;
// then that a tenant's own policy keeps its records.
func TestRetainTenantsApart(t *testing.T) {
	ctx := context.Background()
	f := retentionBase(t, "clinic-a")
	a := f.open(t)
	b := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-b")[:2000]
	for i := range b {
		b[i].Time = retBase.AddDate(8, 0, i/200)
	}
	f.clock.t = b[0].Time
	appendAll(t, a, "clinic-b", b, 200)
	a.Close()
	snapshot := func() map[string][]byte {
		m := map[string][]byte{}
		files, _ := filepath.Glob(filepath.Join(f.dir, "clinic-b", "*"))
		tree, _ := filepath.Glob(filepath.Join(f.dir, "clinic-b", "tree", "*"))
		for _, p := range append(files, tree...) {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				m[p] = fileBytes(t, p)
			}
		}
		return m
	}
	bBefore := snapshot()
	aBefore := copyDir(t, f.dir)

	a = f.open(t)
	// clinic-a keeps everything by its own policy; clinic-b has nothing expired.
	rep, err := a.Retain(ctx, retNow, RetainPolicy{Default: tenYears, Tenants: map[string]time.Duration{"clinic-a": 0}})
	if err != nil || len(rep.Deleted) != 0 {
		t.Errorf("Retain with clinic-a kept = %v, %v; want nothing deleted", names(rep.Deleted), err)
	}
	rep, err = a.Retain(ctx, retNow, RetainPolicy{Default: tenYears})
	if err != nil {
		t.Fatal(err)
	}
	want := expired(layout(t, aBefore, "clinic-a", 2000), f.events, retNow.Add(-tenYears))
	if len(want) == 0 || !slices.Equal(names(rep.Deleted), want) {
		t.Errorf("Retain = %v, want clinic-a's %v", names(rep.Deleted), want)
	}
	for _, d := range rep.Deleted {
		if d.Tenant != "clinic-a" {
			t.Errorf("Retain deleted %s of tenant %s", d.Segment, d.Tenant)
		}
	}
	if n, _ := a.Size("clinic-b"); n != 2000 {
		t.Errorf("clinic-b holds %d records after retention, want 2000", n)
	}
	a.Close()
	bAfter := snapshot()
	if len(bAfter) != len(bBefore) {
		t.Errorf("clinic-b has %d files after retention, %d before", len(bAfter), len(bBefore))
	}
	for p, b := range bBefore {
		if !bytes.Equal(bAfter[p], b) {
			t.Errorf("retention changed %s", p)
		}
	}
	if vr := verifyDir(t, f.dir, f.keys); !vr.OK() || vr.Tenants != 2 {
		t.Errorf("Verify = %d tenants, problems %v", vr.Tenants, vr.Problems)
	}
}

// BenchmarkRetain measures a retention run that deletes two of eight segments of 256 OpenSSH
// records: reading the retention file, the hashes kept for the 10 checkpoints inside them,
// two retention records synced and signed, two files removed.
func BenchmarkRetain(b *testing.B) {
	f := retentionBase(b, "clinic-a")
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		d := b.TempDir()
		if err := os.CopyFS(d, os.DirFS(f.dir)); err != nil {
			b.Fatal(err)
		}
		a := openTest(b, d, f.keys, func(o *Options) { o.BlockBytes, o.SegmentBytes = 4<<10, 6<<10 })
		b.StartTimer()
		rep, err := a.Retain(ctx, retNow, RetainPolicy{Default: tenYears})
		if err != nil || len(rep.Deleted) != 2 {
			b.Fatalf("Retain = %v, %v", rep, err)
		}
		b.StopTimer()
		a.Close()
		b.StartTimer()
	}
}
