package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/keyring"
	"github.com/omamori-project/omamori/internal/store"
)

// tamperBase builds a small archive of several segments, signs a checkpoint, and returns its
// directory and keys. Every checkpoint is also given to a witness in a store of its own (as
// serve does), whose checkpoints a rollback of the directory cannot change.
func tamperBase(t *testing.T) (string, *keyring.Ring, *store.Store) {
	t.Helper()
	dir, keys := t.TempDir(), testKeys(t)
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := openTest(t, dir, keys, func(o *Options) { o.BlockBytes = 4 << 10; o.SegmentBytes = 6 << 10 })
	a.AddStoreWitness(st)
	appendAll(t, a, "clinic-a", sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a"), 200)
	if _, err := a.Checkpoint(context.Background(), "clinic-a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, keys, st
}

// storeKnown returns the checkpoints st keeps.
func storeKnown(t *testing.T, st *store.Store) []KnownCheckpoint {
	t.Helper()
	cps, err := st.ArchiveCheckpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []KnownCheckpoint
	for _, c := range cps {
		out = append(out, KnownCheckpoint{Source: "the store's checkpoint", Note: c.Note})
	}
	return out
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func verifyDir(t *testing.T, dir string, keys keyring.Wrapper) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), dir, keys, nil)
	if err != nil {
		t.Fatalf("Verify(%s) = %v", dir, err)
	}
	return rep
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "clinic-a", "seg-*.oms"))
	slices.Sort(m)
	if len(m) < 3 {
		t.Fatalf("want at least 3 segments for the tamper tests, have %d", len(m))
	}
	return m
}

// mentions reports whether any problem names the segment (by file name) and, if block >= 0,
// that block.
func mentions(rep *Report, seg string, block int) bool {
	for _, p := range rep.Problems {
		if (p.Segment == filepath.Base(seg) || seg == "") && (block < 0 || p.Block == block) {
			return true
		}
	}
	return false
}

func TestVerifyUntouched(t *testing.T) {
	dir, keys, _ := tamperBase(t)
	rep := verifyDir(t, dir, keys)
	if !rep.OK() || rep.Records != 2000 || rep.Checkpoints == 0 {
		t.Fatalf("Verify(untouched) = %d records, %d checkpoints, problems %v; want 2000 records, no problem", rep.Records, rep.Checkpoints, rep.Problems)
	}
}

func TestVerifyByteFlips(t *testing.T) {
	dir, keys, _ := tamperBase(t)
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() && d.Name() != "LOCK" && d.Name() != "signing.key" {
			files = append(files, p)
		}
		return nil
	})
	rnd := rand.New(rand.NewPCG(3, 4))
	n := 60
	if testing.Short() {
		n = 15
	}
	for range n {
		src := files[rnd.IntN(len(files))]
		b, _ := os.ReadFile(src)
		if len(b) == 0 {
			continue
		}
		off := rnd.IntN(len(b))
		bit := byte(1) << rnd.IntN(8)
		t.Run(filepath.Base(src)+"@"+strconv.Itoa(off), func(t *testing.T) {
			d := copyDir(t, dir)
			rel, _ := filepath.Rel(dir, src)
			p := filepath.Join(d, rel)
			b[off] ^= bit
			os.WriteFile(p, b, 0o600)
			b[off] ^= bit
			rep := verifyDir(t, d, keys)
			if rep.OK() {
				t.Fatalf("Verify after flipping bit %#x of byte %d of %s found nothing", bit, off, rel)
			}
			if strings.HasPrefix(filepath.Base(src), "seg-") && !mentions(rep, src, -1) {
				t.Errorf("Verify after a flip in %s = %v, want a problem naming the segment", rel, rep.Problems)
			}
		})
	}
}

// frames returns the frames of a segment file.
func framesOf(t *testing.T, path string) (int64, []frame) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	h, hlen, err := readSegHeader(f)
	if err != nil || h == nil {
		t.Fatal(err)
	}
	var out []frame
	off := hlen
	for off < fi.Size() {
		fr, _, _, err := readFrame(f, off, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fr)
		off += fr.Len
	}
	return hlen, out
}

func TestVerifyStructuralTampering(t *testing.T) {
	dir, keys, _ := tamperBase(t)
	segs := segments(t, dir)
	mid := segs[1]
	tests := []struct {
		name  string
		do    func(t *testing.T, d string)
		seg   string // the segment the report must name ("" for any)
		block int
	}{
		{"truncate mid block", func(t *testing.T, d string) {
			p := filepath.Join(d, "clinic-a", filepath.Base(mid))
			_, frs := framesOf(t, p)
			os.Truncate(p, frs[1].Off+frs[1].Len/2)
		}, mid, 1},
		{"truncate last segment", func(t *testing.T, d string) {
			p := filepath.Join(d, "clinic-a", filepath.Base(segs[len(segs)-1]))
			_, frs := framesOf(t, p)
			os.Truncate(p, frs[0].Off+frs[0].Len)
		}, "", -1},
		{"swap blocks", func(t *testing.T, d string) {
			p := filepath.Join(d, "clinic-a", filepath.Base(mid))
			_, frs := framesOf(t, p)
			b, _ := os.ReadFile(p)
			a0, a1 := b[frs[0].Off:frs[0].Off+frs[0].Len], b[frs[1].Off:frs[1].Off+frs[1].Len]
			out := slices.Concat(b[:frs[0].Off], a1, a0, b[frs[1].Off+frs[1].Len:])
			os.WriteFile(p, out, 0o600)
		}, mid, 0},
		{"delete segment", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "clinic-a", filepath.Base(mid)))
		}, segs[2], -1},
		{"delete last segment", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "clinic-a", filepath.Base(segs[len(segs)-1])))
		}, "", -1},
		{"delete record (with the key)", func(t *testing.T, d string) {
			deleteRecord(t, filepath.Join(d, "clinic-a", filepath.Base(mid)), keys, 1, 3)
		}, mid, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t, dir)
			tt.do(t, d)
			rep := verifyDir(t, d, keys)
			if rep.OK() {
				t.Fatalf("Verify after %s found nothing", tt.name)
			}
			t.Logf("%s: %v", tt.name, rep.Problems)
			if !mentions(rep, tt.seg, tt.block) {
				t.Errorf("Verify after %s = %v, want a problem naming segment %s block %d", tt.name, rep.Problems, filepath.Base(tt.seg), tt.block)
			}
		})
	}
}

// deleteRecord removes record r of block bi of a segment as someone holding the master key
// could: decrypt, drop the record, re-seal with a fresh nonce and a corrected count.
func deleteRecord(t *testing.T, path string, keys keyring.Wrapper, bi, r int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := readSegHeader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	k, err := openKeys(keys, h)
	if err != nil {
		t.Fatal(err)
	}
	_, frs := framesOf(t, path)
	fr := frs[bi]
	_, _, body, err := readFrame(bytes.NewReader(b), fr.Off, nil)
	if err != nil {
		t.Fatal(err)
	}
	compressed, err := openBlock(nil, k, &fr, body)
	if err != nil {
		t.Fatal(err)
	}
	a := &Archive{}
	a.dec, _ = zstdDecoder()
	plain, _ := a.dec.DecodeAll(compressed, nil)
	var kept []byte
	splitRecords(plain, fr.Head.Count, func(i int, rec []byte) error {
		if i != r {
			kept = appendStr(kept, string(rec))
		}
		return nil
	})
	enc, _ := zstdEncoder()
	head := fr.Head
	head.Count--
	frame := sealBlock(nil, k, &head, enc.EncodeAll(kept, nil))
	out := slices.Concat(b[:fr.Off], frame, b[fr.Off+fr.Len:])
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyRollback removes the newest part of the archive's history in the three ways an
// intruder with the disk would, and checks that Verify finds each against the checkpoint the
// store keeps, naming the rollback; a consistent rollback passes without it, so only a
// checkpoint kept apart from the archive can find it.
func TestVerifyRollback(t *testing.T) {
	dir, keys, st := tamperBase(t)
	if k := storeKnown(t, st); len(k) != 1 || !strings.Contains(string(k[0].Note), "\n2000\n") {
		t.Fatalf("the store keeps %q, want the checkpoint of 2000 records", k)
	}
	if rep, err := VerifyKnown(context.Background(), dir, keys, storeKnown(t, st), nil); err != nil || !rep.OK() || rep.Known != 1 {
		t.Fatalf("VerifyKnown(untouched) = %+v, %v; want ok against 1 known checkpoint", rep, err)
	}
	tests := []struct {
		name string
		do   func(t *testing.T, d string)
		// alone says Verify finds it without the store's checkpoint.
		alone bool
		want  string
	}{
		{"delete the checkpoints file", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "clinic-a", "checkpoints"))
		}, true, "the checkpoints file is missing"},
		{"empty the checkpoints file", func(t *testing.T, d string) {
			os.Truncate(filepath.Join(d, "clinic-a", "checkpoints"), 0)
		}, true, "no checkpoint covers any of the records"},
		{"drop the newest checkpoint", func(t *testing.T, d string) {
			p := filepath.Join(d, "clinic-a", "checkpoints")
			cps := checkpointEntries(t, p)
			os.Truncate(p, cps[len(cps)-1])
		}, false, "is newer than the newest in the checkpoints file"},
		{"drop the checkpoints of the last two segments", func(t *testing.T, d string) {
			p := filepath.Join(d, "clinic-a", "checkpoints")
			cps := checkpointEntries(t, p)
			os.Truncate(p, cps[len(cps)-2])
		}, true, "no checkpoint covers records"},
		{"consistent rollback of the last segment", func(t *testing.T, d string) {
			rollback(t, d, keys, 1)
		}, false, "the archive was rolled back"},
		{"consistent rollback of the last three segments", func(t *testing.T, d string) {
			rollback(t, d, keys, 3)
		}, false, "the archive was rolled back"},
		{"delete the tenant's log", func(t *testing.T, d string) {
			os.RemoveAll(filepath.Join(d, "clinic-a"))
		}, false, "the archive has no log of this tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t, dir)
			tt.do(t, d)
			rep := verifyDir(t, d, keys)
			if alone := !rep.OK(); alone != tt.alone {
				t.Errorf("Verify(%s) without the store's checkpoint: found %v, want %v (%v)", tt.name, alone, tt.alone, rep.Problems)
			}
			rep, err := VerifyKnown(context.Background(), d, keys, storeKnown(t, st), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(rep.Problems, func(p Problem) bool { return strings.Contains(p.Message, tt.want) }) {
				t.Errorf("VerifyKnown(%s) = %v, want a problem saying %q", tt.name, rep.Problems, tt.want)
			}
			t.Logf("%s: %v", tt.name, rep.Problems)
		})
	}
}

// checkpointEntries returns the offset of each entry of a checkpoints file.
func checkpointEntries(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := 0; off+4 <= len(b); off += 4 + int(binary.BigEndian.Uint32(b[off:])) {
		offs = append(offs, int64(off))
	}
	if len(offs) < 3 {
		t.Fatalf("%s holds %d checkpoints, want several", path, len(offs))
	}
	return offs
}

// rollback removes the last n segments of clinic-a with everything that would betray them:
// the checkpoints of more records than remain, and the stored subtree hashes they made. What
// is left is the archive as it was when those segments were not yet written; Verify alone
// must find it whole.
func rollback(t *testing.T, dir string, keys keyring.Wrapper, n int) {
	t.Helper()
	tdir := filepath.Join(dir, "clinic-a")
	segs := segments(t, dir)
	removed := segs[len(segs)-n:]
	h, _, err := readSegHeader(mustOpen(t, filepath.Join(tdir, filepath.Base(removed[0]))))
	if err != nil {
		t.Fatal(err)
	}
	end := h.First
	for _, s := range removed {
		os.Remove(filepath.Join(tdir, filepath.Base(s)))
	}
	p := filepath.Join(tdir, "checkpoints")
	b, _ := os.ReadFile(p)
	cps, _, err := parseCheckpointLog(b, "")
	if err != nil {
		t.Fatal(err)
	}
	var kept []byte
	for _, c := range cps {
		if c.Size <= end {
			kept = binary.BigEndian.AppendUint32(kept, uint32(len(c.Note)))
			kept = append(kept, c.Note...)
		}
	}
	os.WriteFile(p, kept, 0o600)
	for j := range maxLevels {
		lf := levelFile(filepath.Join(tdir, "tree"), j)
		if _, err := os.Stat(lf); err == nil {
			os.Truncate(lf, int64(32*(end>>((j+1)*tileStride))))
		}
	}
	if rep := verifyDir(t, dir, keys); !rep.OK() {
		t.Fatalf("the rollback to %d records is not consistent: Verify alone finds %v", end, rep.Problems)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestWitnessRefusesRollback reopens a rolled-back archive with the store's witness, as a
// restarted server would: the witness refuses its checkpoints, before and after the log grows
// past the size it keeps, and keeps the checkpoint that shows the rollback.
func TestWitnessRefusesRollback(t *testing.T) {
	ctx := context.Background()
	dir, keys, st := tamperBase(t)
	d := copyDir(t, dir)
	rollback(t, d, keys, 2)
	var logs bytes.Buffer
	a := openTest(t, d, keys, func(o *Options) {
		o.BlockBytes = 4 << 10
		o.SegmentBytes = 6 << 10
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	a.AddStoreWitness(st)
	a.witnessing.Wait()
	if !strings.Contains(logs.String(), "a witness did not take") || !strings.Contains(logs.String(), "rolled back") {
		t.Errorf("AddWitness(rolled-back archive) logged %q, want the witness's refusal naming a rollback", logs.String())
	}
	logs.Reset()
	appendAll(t, a, "clinic-a", sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a"), 200)
	c, err := a.Checkpoint(ctx, "clinic-a")
	if err != nil || c.Size <= 2000 {
		t.Fatalf("Checkpoint = %v, %v; want one past 2000 records", c, err)
	}
	if err := a.Close(); err != nil { // and the witnesses have answered
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "does not extend the checkpoint of size 2000") {
		t.Errorf("a checkpoint past the witness's size logged %q, want the witness's refusal of an inconsistent tree", logs.String())
	}
	kept, err := st.ArchiveCheckpoint(ctx, a.Origin("clinic-a"))
	if err != nil || !bytes.Contains(kept, []byte("\n2000\n")) {
		t.Errorf("the store keeps %q, %v; want the checkpoint of 2000 records still", kept, err)
	}
	rep, err := VerifyKnown(ctx, d, keys, storeKnown(t, st), nil)
	if err != nil || !slices.ContainsFunc(rep.Problems, func(p Problem) bool {
		return strings.Contains(p.Message, "does not match the store's checkpoint")
	}) {
		t.Errorf("VerifyKnown(rolled back, then grown) = %v, %v; want the tree of 2000 records not to match the store's checkpoint", rep.Problems, err)
	}
}

// TestStoreWitness follows the witness's answers to a writer that believes it holds another
// size, as a second node or a restart would.
func TestStoreWitness(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := openTest(t, t.TempDir(), testKeys(t))
	defer a.Close()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	appendAll(t, a, "clinic-a", events[:500], 100)
	c1, _ := a.Checkpoint(ctx, "clinic-a")
	appendAll(t, a, "clinic-a", events[500:], 100)
	c2, _ := a.Checkpoint(ctx, "clinic-a")
	w := NewStoreWitness(st, a.PublicKey())
	prf := func(old, size uint64) [][]byte {
		p, err := a.ConsistencyProof("clinic-a", old, size)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var conflict *WitnessConflict
	steps := []struct {
		name  string
		old   uint64
		proof [][]byte
		note  []byte
		check func(err error) bool
	}{
		{"first", 0, nil, c1.Note, func(err error) bool { return err == nil }},
		{"from the wrong size", 0, nil, c2.Note, func(err error) bool { return errors.As(err, &conflict) && conflict.Size == c1.Size }},
		{"with a proof from elsewhere", c1.Size, prf(c1.Size-1, c2.Size), c2.Note, func(err error) bool { return err != nil && !errors.As(err, &conflict) }},
		{"signed by another key", c1.Size, prf(c1.Size, c2.Size), []byte(strings.Replace(string(c2.Note), "\n2000\n", "\n2001\n", 1)), func(err error) bool { return err != nil && !errors.As(err, &conflict) }},
		{"consistent", c1.Size, prf(c1.Size, c2.Size), c2.Note, func(err error) bool { return err == nil }},
		{"older", c2.Size, prf(c1.Size, c1.Size), c1.Note, func(err error) bool { return errors.Is(err, ErrRollback) }},
	}
	for _, s := range steps {
		if err := w.AddCheckpoint(ctx, s.old, s.proof, s.note); !s.check(err) {
			t.Errorf("AddCheckpoint(%s) = %v", s.name, err)
		}
	}
	if kept, _ := st.ArchiveCheckpoint(ctx, c2.Origin); !bytes.Equal(kept, c2.Note) {
		t.Errorf("the store keeps %q, want the checkpoint of %d records", kept, c2.Size)
	}
}

// TestVerifyCoveredSince: a sealed segment that the checkpoints read first do not cover is no
// fault if the file, read again, only grew by a checkpoint that covers it (a segment begun
// beside a running server while verify read); it is if the file was rewritten.
func TestVerifyCoveredSince(t *testing.T) {
	dir, _, _ := tamperBase(t)
	p := filepath.Join(dir, "clinic-a", "checkpoints")
	b, _ := os.ReadFile(p)
	offs := checkpointEntries(t, p)
	pub, _ := os.ReadFile(filepath.Join(dir, publicKeyFile))
	v := verifier{dir: filepath.Join(dir, "clinic-a"), vkey: strings.TrimSpace(string(pub)), uncoveredEnd: 2000}
	if !v.coveredSince(b[:offs[len(offs)-1]]) {
		t.Errorf("coveredSince(the file before its last checkpoint) = false, want true")
	}
	if !v.coveredSince(b[:offs[len(offs)-2]]) {
		t.Errorf("coveredSince(the file before its last two checkpoints) = false, want true")
	}
	other := bytes.Clone(b[:offs[len(offs)-1]])
	other[10] ^= 1
	if v.coveredSince(other) {
		t.Errorf("coveredSince(another file) = true, want false")
	}
	v.uncoveredEnd = 2001
	if v.coveredSince(b[:offs[len(offs)-1]]) {
		t.Errorf("coveredSince(records beyond every checkpoint) = true, want false")
	}
}
