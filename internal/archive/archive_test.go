package archive

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// sample decodes a shared sample file into events of tenant.
func sample(t testing.TB, rel, tenant string) []event.Event {
	t.Helper()
	f, err := os.Open(shareddata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := decode.NewReader(f, "auto", decode.Options{Location: time.UTC, Year: 2015}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	received := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for {
		var e event.Event
		err := r.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if _, ok := errors.AsType[*decode.Error](err); ok {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		e.Tenant, e.Source, e.Received = tenant, "test", received
		out = append(out, *e.Clone())
	}
	if len(out) == 0 {
		t.Fatalf("no events in %s", rel)
	}
	return out
}

func testKeys(t testing.TB) *keyring.Ring {
	t.Helper()
	r, err := keyring.New(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func openTest(t testing.TB, dir string, keys keyring.Wrapper, mod ...func(*Options)) *Archive {
	t.Helper()
	o := Options{Dir: dir, Keys: keys, BlockBytes: 16 << 10, SegmentBytes: 64 << 10}
	for _, m := range mod {
		m(&o)
	}
	a, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	return a
}

// appendAll appends events in batches of n with marks 1, 2, ..., syncing after each.
func appendAll(t testing.TB, a *Archive, tenant string, events []event.Event, n int) {
	t.Helper()
	ctx := context.Background()
	for i, mark := 0, uint64(a.Mark(tenant)+1); i < len(events); i, mark = i+n, mark+1 {
		if err := a.Append(ctx, tenant, mark, events[i:min(i+n, len(events))]); err != nil {
			t.Fatal(err)
		}
		if err := a.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendReadProve(t *testing.T) {
	ctx := context.Background()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	dir := t.TempDir()
	keys := testKeys(t)
	a := openTest(t, dir, keys)
	appendAll(t, a, "clinic-a", events, 100)
	cp, err := a.Checkpoint(ctx, "clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != uint64(len(events)) {
		t.Errorf("checkpoint size = %d, want %d", cp.Size, len(events))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a = openTest(t, dir, keys)
	defer a.Close()
	if got := a.Mark("clinic-a"); got != uint64((len(events)+99)/100) {
		t.Errorf("Mark after reopen = %d, want %d", got, (len(events)+99)/100)
	}
	if _, err := ParseCheckpoint(cp.Note, a.PublicKey()); err != nil {
		t.Fatalf("ParseCheckpoint(own note) = %v", err)
	}
	var n int
	err = a.Records(ctx, "clinic-a", 0, 1<<62, func(r *Record) error {
		want := &events[r.Index]
		if string(r.Event.Raw) != string(want.Raw) || r.Event.Message != want.Message || r.Event.User != want.User {
			t.Errorf("record %d = %q, want %q", r.Index, r.Event.Raw, want.Raw)
		}
		if r.Index%97 == 0 {
			p, err := a.InclusionProof("clinic-a", r.Index, cp.Size)
			if err != nil {
				return err
			}
			if err := proof.VerifyInclusion(hasher, r.Index, cp.Size, r.LeafHash(), p, cp.Root); err != nil {
				t.Errorf("VerifyInclusion(record %d) = %v", r.Index, err)
			}
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(events) {
		t.Errorf("read %d records, want %d", n, len(events))
	}
}

func TestConsistencyBetweenCheckpoints(t *testing.T) {
	ctx := context.Background()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	dir := t.TempDir()
	a := openTest(t, dir, testKeys(t))
	defer a.Close()
	var cps []*Checkpoint
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(events); {
		n := 1 + rnd.IntN(300)
		appendAll(t, a, "clinic-a", events[i:min(i+n, len(events))], 64)
		i += n
		cp, err := a.Checkpoint(ctx, "clinic-a")
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, cp)
	}
	// Sync signs the first checkpoint itself; every one asked for is kept after it.
	if got := a.Checkpoints("clinic-a"); len(got) != len(cps)+1 || got[len(got)-1].Size != cps[len(cps)-1].Size {
		t.Errorf("Checkpoints kept %d, want %d ending at size %d", len(got), len(cps)+1, cps[len(cps)-1].Size)
	}
	for i := range cps {
		for j := i; j < len(cps); j++ {
			p, err := a.ConsistencyProof("clinic-a", cps[i].Size, cps[j].Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(hasher, cps[i].Size, cps[j].Size, p, cps[i].Root, cps[j].Root); err != nil {
				t.Errorf("VerifyConsistency(%d, %d) = %v", cps[i].Size, cps[j].Size, err)
			}
		}
	}
}

func TestTornTailRecovery(t *testing.T) {
	ctx := context.Background()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	dir := t.TempDir()
	keys := testKeys(t)
	a := openTest(t, dir, keys, func(o *Options) { o.SegmentBytes = 1 << 30 })
	appendAll(t, a, "clinic-a", events[:1000], 100)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, "clinic-a", segName(0))
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of writing the next group: half a block of garbage at the tail.
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0x4f, 0x4d, 0x42, 0x4b, 0, 0, 0x10, 0, 1, 2, 3})
	f.Close()

	a = openTest(t, dir, keys)
	if len(a.Discarded) != 1 || a.Discarded[0].Offset != fi.Size() || a.Discarded[0].Bytes != 11 {
		t.Errorf("Discarded = %v, want 11 bytes at offset %d", a.Discarded, fi.Size())
	}
	if all, synced := a.Size("clinic-a"); all != 1000 || synced != 1000 {
		t.Errorf("Size after recovery = %d, %d; want 1000, 1000", all, synced)
	}
	appendAll(t, a, "clinic-a", events[1000:], 100)
	cp, err := a.Checkpoint(ctx, "clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	a = openTest(t, dir, keys)
	defer a.Close()
	if len(a.Discarded) != 0 {
		t.Errorf("Discarded after a clean close = %v", a.Discarded)
	}
	if cp.Size != uint64(len(events)) {
		t.Errorf("checkpoint size = %d, want %d", cp.Size, len(events))
	}
	if err := a.Records(ctx, "clinic-a", 0, 1<<62, func(r *Record) error {
		if string(r.Event.Raw) != string(events[r.Index].Raw) {
			t.Errorf("record %d = %q, want %q", r.Index, r.Event.Raw, events[r.Index].Raw)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestIncompleteGroupIsDiscarded(t *testing.T) {
	ctx := context.Background()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	dir := t.TempDir()
	keys := testKeys(t)
	a := openTest(t, dir, keys, func(o *Options) { o.SegmentBytes = 1 << 30; o.BlockBytes = 4 << 10 })
	appendAll(t, a, "clinic-a", events[:500], 500)
	a.Close()
	seg := filepath.Join(dir, "clinic-a", segName(0))
	before, _ := os.Stat(seg)
	// Write a second group of many blocks, then cut its last block off as a crash would
	// (before a checkpoint covered it).
	a = openTest(t, dir, keys, func(o *Options) { o.SegmentBytes = 1 << 30; o.BlockBytes = 4 << 10; o.CheckpointEvery = time.Hour })
	if err := a.Append(ctx, "clinic-a", 2, events[500:1500]); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	tl := a.tenants["clinic-a"]
	last := tl.segs[0].frames[len(tl.segs[0].frames)-1]
	a.mu.Unlock()
	a.Close()
	if err := os.Truncate(seg, last.Off+last.Len/2); err != nil {
		t.Fatal(err)
	}
	a = openTest(t, dir, keys)
	defer a.Close()
	if all, _ := a.Size("clinic-a"); all != 500 {
		t.Errorf("Size after a torn group = %d, want 500 (the group is kept whole or not at all)", all)
	}
	if got := a.Mark("clinic-a"); got != 1 {
		t.Errorf("Mark = %d, want 1", got)
	}
	if len(a.Discarded) != 1 || a.Discarded[0].Offset != before.Size() {
		t.Errorf("Discarded = %v, want a cut at %d", a.Discarded, before.Size())
	}
}

func TestWrongMasterKey(t *testing.T) {
	dir := t.TempDir()
	a := openTest(t, dir, testKeys(t))
	appendAll(t, a, "clinic-a", sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")[:10], 10)
	a.Close()
	_, err := Open(context.Background(), Options{Dir: dir, Keys: testKeys(t)})
	if !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("Open with another master key = %v, want %v", err, keyring.ErrUnknownKey)
	}
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "master.keys")
	ring, err := keyring.Create(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	first := ring.Current()
	a := openTest(t, dir, ring)
	appendAll(t, a, "clinic-a", events[:1000], 100)
	a.Close()
	ring, second, err := keyring.Rotate(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatalf("Rotate kept key %s", first)
	}
	a = openTest(t, dir, ring)
	appendAll(t, a, "clinic-a", events[1000:], 100)
	if _, err := a.Checkpoint(ctx, "clinic-a"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	used := map[string]bool{}
	for _, p := range mustGlob(t, filepath.Join(dir, "clinic-a", "seg-*.oms")) {
		f, _ := os.Open(p)
		h, _, err := readSegHeader(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		used[h.KeyID] = true
	}
	if !used[first] || !used[second] {
		t.Errorf("segments use keys %v, want both %s (before rotation) and %s (after)", used, first, second)
	}
	rep := verifyDir(t, dir, ring)
	if !rep.OK() || rep.Records != uint64(len(events)) {
		t.Errorf("Verify after rotation = %d records, %v", rep.Records, rep.Problems)
	}
	// Without the old key, the old segments are a clear error, not garbage.
	newOnly, _ := keyring.Parse(readLastKeyLine(t, keyFile))
	rep = verifyDir(t, dir, newOnly)
	if rep.OK() || !strings.Contains(rep.Problems[0].Message, "master key not found") {
		t.Errorf("Verify without the old key = %v, want 'master key not found'", rep.Problems)
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("Glob(%s) = %v, %v", pattern, m, err)
	}
	return m
}

func readLastKeyLine(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
