package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/omamori-project/omamori/internal/event"
)

// exportBase archives the OpenSSH sample and exports the records of one address.
func exportBase(t *testing.T) (*Archive, []byte, Query, []event.Event) {
	t.Helper()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	a := openTest(t, t.TempDir(), testKeys(t), func(o *Options) { o.BlockBytes = 4 << 10 })
	t.Cleanup(func() { a.Close() })
	appendAll(t, a, "clinic-a", events, 100)
	q := Query{Tenant: "clinic-a", IP: netip.MustParseAddr("183.62.140.253")}
	var buf bytes.Buffer
	st, err := a.Export(context.Background(), q, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := range events {
		if q.Match(&events[i]) {
			want++
		}
	}
	if st.Records != want || want == 0 {
		t.Fatalf("Export wrote %d records, want %d (> 0)", st.Records, want)
	}
	return a, buf.Bytes(), q, events
}

func TestExportVerifyBundle(t *testing.T) {
	a, bundle, _, _ := exportBase(t)
	rep, err := VerifyBundle(bytes.NewReader(bundle), a.PublicKey())
	if err != nil {
		t.Fatalf("VerifyBundle(fresh export) = %v", err)
	}
	if rep.Records == 0 || rep.Checkpoint.Size != 2000 {
		t.Errorf("VerifyBundle = %d records at size %d, want > 0 at 2000", rep.Records, rep.Checkpoint.Size)
	}
	if !rep.KeyTrusted {
		t.Errorf("VerifyBundle(key given) says the key is not trusted")
	}
	rep, err = VerifyBundle(bytes.NewReader(bundle), "")
	if err != nil {
		t.Errorf("VerifyBundle without a pinned key = %v", err)
	} else if rep.KeyTrusted || rep.PublicKey != a.PublicKey() {
		t.Errorf("VerifyBundle without a pinned key = trusted %v, key %s; want untrusted, the bundle's key %s", rep.KeyTrusted, rep.PublicKey, a.PublicKey())
	}
}

// addFile returns bundle with one more file.
func addFile(t *testing.T, bundle []byte, name string, body []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(bundle))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
	tw.Write(body)
	tw.Close()
	return out.Bytes()
}

// TestVerifyBundleCoversEveryFile edits the README, the checkpoint and the public key, and adds
// files, with the key pinned and without: the manifest's signature covers every file.
func TestVerifyBundleCoversEveryFile(t *testing.T) {
	a, bundle, _, _ := exportBase(t)
	tests := []struct {
		name   string
		bundle []byte
		want   string
	}{
		{"README edited", rewrite(t, bundle, "README.md", func(b []byte) []byte {
			return bytes.Replace(b, []byte("Do not trust the key inside the bundle alone."), []byte("The key inside the bundle is enough."), 1)
		}), "README.md was changed"},
		{"README removed", rewrite(t, bundle, "README.md", func([]byte) []byte { return nil }), "README.md was changed"},
		{"file added", addFile(t, bundle, "instructions.txt", []byte("call +81-3-0000-0000 to verify\n")), "instructions.txt is not in the signed manifest"},
		{"file added in a directory", addFile(t, bundle, "extra/records.ndjson", []byte("{}\n")), "extra/records.ndjson is not in the signed manifest"},
		{"file given twice", addFile(t, bundle, "README.md", []byte("another README\n")), "README.md appears twice"},
	}
	for _, tt := range tests {
		for _, key := range []string{a.PublicKey(), ""} {
			t.Run(tt.name+"/pinned="+strconv.FormatBool(key != ""), func(t *testing.T) {
				_, err := VerifyBundle(bytes.NewReader(tt.bundle), key)
				if !errors.Is(err, ErrBundle) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("VerifyBundle(%s) = %v, want %v mentioning %q", tt.name, err, ErrBundle, tt.want)
				}
			})
		}
	}
}

// TestVerifyBundleResigned re-signs a bundle under an attacker's key, whole and consistent:
// it verifies under its own key, reported as untrusted, and fails against the archive's.
func TestVerifyBundleResigned(t *testing.T) {
	a, bundle, _, _ := exportBase(t)
	skey, vkey, _ := note.GenerateKey(rand.Reader, a.signerName())
	s, _ := note.NewSigner(skey)
	resign := func(b []byte) []byte {
		text, _, _ := strings.Cut(string(b), "\n\n")
		msg, _ := note.Sign(&note.Note{Text: text + "\n"}, s)
		return msg
	}
	forged := rewrite(t, bundle, "checkpoint", resign)
	forged = rewrite(t, forged, "pubkey.txt", func([]byte) []byte { return []byte(vkey + "\n") })
	// The manifest's digests of checkpoint and pubkey.txt change with them.
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(forged))
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		files[h.Name], _ = io.ReadAll(tr)
	}
	forged = rewrite(t, forged, "manifest", func(b []byte) []byte {
		text, _, _ := strings.Cut(string(b), "\n\n")
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			if name, _, ok := strings.Cut(l, " "); ok && files[name] != nil {
				sum := sha256.Sum256(files[name])
				lines[i] = name + " " + hex.EncodeToString(sum[:])
			}
		}
		msg, _ := note.Sign(&note.Note{Text: strings.Join(lines, "\n") + "\n"}, s)
		return msg
	})
	rep, err := VerifyBundle(bytes.NewReader(forged), "")
	if err != nil || rep.KeyTrusted || rep.PublicKey != vkey {
		t.Fatalf("VerifyBundle(re-signed, no key) = %+v, %v; want it to verify under its own key %s, untrusted", rep, err, vkey)
	}
	if _, err := VerifyBundle(bytes.NewReader(forged), a.PublicKey()); !errors.Is(err, ErrBundle) {
		t.Errorf("VerifyBundle(re-signed, archive's key) = %v, want %v", err, ErrBundle)
	}
	if KeyFingerprint(rep.PublicKey) == KeyFingerprint(a.PublicKey()) {
		t.Errorf("the attacker's key has the archive's fingerprint")
	}
}

// TestExportNewerThanCheckpoint exports from a read-only archive, as beside a running server,
// whose matching records are partly newer than its last checkpoint: Export refuses and says
// how many, ExportPartial writes the bundle and says so in it.
func TestExportNewerThanCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir, keys := t.TempDir(), testKeys(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	a := openTest(t, dir, keys, func(o *Options) { o.CheckpointEvery = time.Hour; o.Now = func() time.Time { return now } })
	appendAll(t, a, "clinic-a", events[:1000], 100)
	if _, err := a.Checkpoint(ctx, "clinic-a"); err != nil {
		t.Fatal(err)
	}
	appendAll(t, a, "clinic-a", events[1000:], 100) // synced, not yet due for a checkpoint
	defer a.Close()
	q := Query{Tenant: "clinic-a", IP: netip.MustParseAddr("183.62.140.253")}
	newer := 0
	for i := range events[1000:] {
		if q.Match(&events[1000+i]) {
			newer++
		}
	}
	if newer == 0 {
		t.Fatal("no matching record after the checkpoint: choose another address")
	}
	ro := openTest(t, dir, keys, func(o *Options) { o.ReadOnly = true })
	defer ro.Close()
	var buf bytes.Buffer
	_, err := ro.Export(ctx, q, &buf, nil)
	var inc *IncompleteError
	if !errors.As(err, &inc) || inc.Newer != newer || inc.Checkpoint != 1000 || buf.Len() != 0 {
		t.Fatalf("Export(read-only, %d newer matches) = %v, %d bytes written; want an IncompleteError of %d newer than 1000, nothing written", newer, err, buf.Len(), newer)
	}
	st, err := ro.ExportPartial(ctx, q, &buf, nil)
	if err != nil || st.Newer != newer {
		t.Fatalf("ExportPartial = %+v, %v; want %d newer left out", st, err, newer)
	}
	rep, err := VerifyBundle(bytes.NewReader(buf.Bytes()), ro.PublicKey())
	if err != nil || rep.NewerOmitted != newer || rep.Checkpoint.Size != 1000 {
		t.Errorf("VerifyBundle(partial) = %+v, %v; want newer_omitted %d at size 1000", rep, err, newer)
	}
	// Beside a server that signed the checkpoint of 1000 for this export, the records
	// archived after it are newer than the request: left out and counted, not a refusal.
	buf.Reset()
	st, err = ro.ExportCovering(ctx, q, &buf, nil, 1000)
	if err != nil || st.Newer != newer || st.Checkpoint.Size != 1000 {
		t.Fatalf("ExportCovering(1000) = %+v, %v; want the bundle at 1000 with %d newer counted", st, err, newer)
	}
	if rep, err := VerifyBundle(bytes.NewReader(buf.Bytes()), ro.PublicKey()); err != nil || rep.NewerOmitted != newer {
		t.Errorf("VerifyBundle(covering) = %+v, %v; want newer_omitted %d", rep, err, newer)
	}
	// A checkpoint of more than the archive read holds is not covered: a refusal.
	buf.Reset()
	if _, err := ro.ExportCovering(ctx, q, &buf, nil, 1500); !errors.As(err, &inc) || buf.Len() != 0 {
		t.Errorf("ExportCovering(1500) with a checkpoint of 1000 = %v, %d bytes; want an IncompleteError", err, buf.Len())
	}
	// The writer signs a fresh checkpoint: nothing is left out.
	buf.Reset()
	st, err = a.Export(ctx, q, &buf, nil)
	if err != nil || st.Newer != 0 || st.Checkpoint.Size != 2000 {
		t.Errorf("Export(writable) = %+v, %v; want a checkpoint of 2000 and nothing left out", st, err)
	}
}

// rewrite returns bundle with file name changed by fn.
func rewrite(t *testing.T, bundle []byte, name string, fn func([]byte) []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(bundle))
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == name {
			b, found = fn(b), true
		}
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	if !found {
		t.Fatalf("no %s in the bundle", name)
	}
	return out.Bytes()
}

func TestVerifyBundleRejectsTampering(t *testing.T) {
	a, bundle, _, _ := exportBase(t)
	_, other, _ := note.GenerateKey(rand.Reader, "someone.else/key")
	otherSigner, _ := func() (note.Signer, string) {
		skey, vkey, _ := note.GenerateKey(rand.Reader, a.signerName())
		s, _ := note.NewSigner(skey)
		return s, vkey
	}()
	tests := []struct {
		name, file string
		fn         func([]byte) []byte
		want       string
	}{
		{"record changed", "records.ndjson", func(b []byte) []byte {
			return bytes.Replace(b, []byte("183.62.140.253"), []byte("183.62.140.254"), 1)
		}, "records.ndjson was changed"},
		{"record removed", "records.ndjson", func(b []byte) []byte {
			_, rest, _ := bytes.Cut(b, []byte("\n"))
			return rest
		}, "records.ndjson was changed"},
		{"proof removed", "proofs.ndjson", func(b []byte) []byte {
			_, rest, _ := bytes.Cut(b, []byte("\n"))
			return rest
		}, "proofs.ndjson was changed"},
		{"checkpoint from another key", "checkpoint", func(b []byte) []byte {
			text, _, _ := strings.Cut(string(b), "\n\n")
			msg, _ := note.Sign(&note.Note{Text: text + "\n"}, otherSigner)
			return msg
		}, "checkpoint"},
		{"query changed", "query.json", func(b []byte) []byte {
			return bytes.Replace(b, []byte("183.62.140.253"), []byte("10.0.0.1"), 1)
		}, "query.json was changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyBundle(bytes.NewReader(rewrite(t, bundle, tt.file, tt.fn)), a.PublicKey())
			if !errors.Is(err, ErrBundle) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("VerifyBundle(%s) = %v, want %v mentioning %q", tt.name, err, ErrBundle, tt.want)
			}
		})
	}
	// A bundle signed under another key fails against the archive's own key.
	if _, err := VerifyBundle(bytes.NewReader(bundle), other); !errors.Is(err, ErrBundle) {
		t.Errorf("VerifyBundle(pinned to another key) = %v, want %v", err, ErrBundle)
	}
}

func TestSearchUsesBlockFilters(t *testing.T) {
	ctx := context.Background()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	a := openTest(t, t.TempDir(), testKeys(t), func(o *Options) { o.BlockBytes = 2 << 10 })
	defer a.Close()
	appendAll(t, a, "clinic-a", events, 100)
	from := events[500].Time
	to := events[600].Time
	tests := []Query{
		{Tenant: "clinic-a", User: "root"},
		{Tenant: "clinic-a", IP: netip.MustParseAddr("183.62.140.253")},
		{Tenant: "clinic-a", From: from, To: to},
		{Tenant: "clinic-a", Host: "LabSZ", Where: []Cond{{"event.outcome", "=", "failure"}}},
		{Tenant: "clinic-a", IP: netip.MustParseAddr("192.0.2.1")},
	}
	total := a.TenantBytes("clinic-a")
	for _, q := range tests {
		want := 0
		for i := range events {
			if q.Match(&events[i]) {
				want++
			}
		}
		var got int
		err := a.search(ctx, q, 0, 1<<63, nil, func(r *Record) error {
			got++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Search(%+v) = %d records, want %d", q, got, want)
		}
	}
	// An address that never occurs reads (almost) no block.
	var readBytes int64
	filterCount := 0
	a.mu.Lock()
	tl := a.tenants["clinic-a"]
	a.mu.Unlock()
	for _, s := range tl.segs {
		k, _ := tl.keys(s)
		bh := newBloomHasher(k.bloom)
		h1, h2 := bh.hash(bloomAddr, "192.0.2.1")
		for _, f := range s.frames {
			if bloomMay(f.Head.Bloom, h1, h2) {
				filterCount++
				readBytes += f.Len
			}
		}
	}
	if readBytes*10 > total {
		t.Errorf("a search for an absent address would read %d of %d bytes (%d blocks), want under 10%%", readBytes, total, filterCount)
	}
}
