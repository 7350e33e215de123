package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/omamori-project/omamori/internal/keyring"
)

// FuzzSegmentReader feeds arbitrary bytes as a tenant's only segment to Open (which scans and
// recovers it) and to Verify: nothing may panic, and what Verify accepts must read back whole.
// (Seeds are made at start with random data keys, so each fuzz worker has its own.)
func FuzzSegmentReader(f *testing.F) {
	key := bytes.Repeat([]byte{7}, keyring.KeySize)
	keys, _ := keyring.New(key)
	seedDir := f.TempDir()
	a, err := Open(context.Background(), Options{Dir: seedDir, Keys: keys, BlockBytes: 1 << 10})
	if err != nil {
		f.Fatal(err)
	}
	events := sample(f, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "t")[:200]
	for i := 0; i < len(events); i += 50 {
		a.Append(context.Background(), "t", uint64(i+1), events[i:i+50])
		a.Sync(context.Background())
	}
	a.Close()
	seed, err := os.ReadFile(filepath.Join(seedDir, "t", segName(0)))
	if err != nil {
		f.Fatal(err)
	}
	signing, _ := os.ReadFile(filepath.Join(seedDir, signingKeyFile))
	pub, _ := os.ReadFile(filepath.Join(seedDir, publicKeyFile))
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte(segMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "t"), 0o700)
		os.WriteFile(filepath.Join(dir, signingKeyFile), signing, 0o600)
		os.WriteFile(filepath.Join(dir, publicKeyFile), pub, 0o600)
		os.WriteFile(filepath.Join(dir, "t", segName(0)), data, 0o600)
		rep, err := Verify(context.Background(), dir, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		// What Verify accepts, Open and Records read whole; what Verify rejects they may refuse,
		// but nothing panics.
		a, err := Open(context.Background(), Options{Dir: dir, Keys: keys})
		if err != nil {
			if rep.OK() {
				t.Fatalf("Verify accepts a segment that Open rejects: %v", err)
			}
			return
		}
		defer a.Close()
		n := uint64(0)
		err = a.Records(context.Background(), "t", 0, 1<<62, func(*Record) error { n++; return nil })
		if rep.OK() && (err != nil || n != rep.Records) {
			t.Errorf("Verify accepts %d records, Records read %d, %v", rep.Records, n, err)
		}
	})
}
