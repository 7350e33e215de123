package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

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
	if _, err := VerifyBundle(bytes.NewReader(bundle), ""); err != nil {
		t.Errorf("VerifyBundle without a pinned key = %v", err)
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
