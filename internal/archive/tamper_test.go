package archive

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/keyring"
)

// tamperBase builds a small archive of several segments, signs a checkpoint, and returns its
// directory and keys.
func tamperBase(t *testing.T) (string, *keyring.Ring) {
	t.Helper()
	dir, keys := t.TempDir(), testKeys(t)
	a := openTest(t, dir, keys, func(o *Options) { o.BlockBytes = 4 << 10; o.SegmentBytes = 6 << 10 })
	appendAll(t, a, "clinic-a", sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a"), 200)
	if _, err := a.Checkpoint(context.Background(), "clinic-a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, keys
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
	dir, keys := tamperBase(t)
	rep := verifyDir(t, dir, keys)
	if !rep.OK() || rep.Records != 2000 || rep.Checkpoints == 0 {
		t.Fatalf("Verify(untouched) = %d records, %d checkpoints, problems %v; want 2000 records, no problem", rep.Records, rep.Checkpoints, rep.Problems)
	}
}

func TestVerifyByteFlips(t *testing.T) {
	dir, keys := tamperBase(t)
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
	dir, keys := tamperBase(t)
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
