package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/store"
)

// tlogWitness is a witness of the C2SP tlog-witness protocol for the tests: it parses
// add-checkpoint as the protocol writes it, keeps checkpoints in a real store through
// StoreWitness, and answers with an Ed25519 cosignature/v1.
type tlogWitness struct {
	name string
	priv ed25519.PrivateKey
	w    *StoreWitness
	// forge, when set, signs with another key: the answer of something that is not the witness.
	forge bool
	// down, when set, answers 503, as a witness that is away; gate, when set, holds every
	// request until it is closed.
	down atomic.Bool
	gate chan struct{}
}

func newTLogWitness(t *testing.T, logKey string) (*tlogWitness, string) {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "witness.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	name := "witness.soc.example/w1"
	vkey := name + "+" + hex.EncodeToString(cosignerID(name, pub)) + "+" + base64.StdEncoding.EncodeToString(append([]byte{cosignatureType}, pub...))
	return &tlogWitness{name: name, priv: priv, w: NewStoreWitness(st, logKey)}, vkey
}

func (tw *tlogWitness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if tw.gate != nil {
		<-tw.gate
	}
	if tw.down.Load() {
		http.Error(w, "away", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
		http.NotFound(w, r)
		return
	}
	br := bufio.NewReader(r.Body)
	line, _ := br.ReadString('\n')
	old, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(line, "old "), "\n"), 10, 64)
	if err != nil || !strings.HasPrefix(line, "old ") {
		http.Error(w, "bad old size line", http.StatusBadRequest)
		return
	}
	var prf [][]byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			http.Error(w, "no checkpoint", http.StatusBadRequest)
			return
		}
		if line == "\n" {
			break
		}
		h, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(line, "\n"))
		if err != nil {
			http.Error(w, "bad proof line", http.StatusBadRequest)
			return
		}
		prf = append(prf, h)
	}
	var cp bytes.Buffer
	cp.ReadFrom(br)
	err = tw.w.AddCheckpoint(r.Context(), old, prf, cp.Bytes())
	var conflict *WitnessConflict
	switch {
	case errors.As(err, &conflict):
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", conflict.Size)
		return
	case err != nil && strings.Contains(err.Error(), "not signed by"):
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	priv := tw.priv
	if tw.forge {
		_, priv, _ = ed25519.GenerateKey(rand.Reader)
	}
	text, _, _ := bytes.Cut(cp.Bytes(), []byte("\n\n"))
	ts := uint64(time.Now().Unix())
	sig := binary.BigEndian.AppendUint64(cosignerID(tw.name, priv.Public().(ed25519.PublicKey)), ts)
	sig = append(sig, ed25519.Sign(priv, cosignedMessage(ts, append(text, '\n')))...)
	fmt.Fprintf(w, "— %s %s\n", tw.name, base64.StdEncoding.EncodeToString(sig))
}

// TestHTTPWitness gives an archive's checkpoints to a tlog-witness over HTTP: it keeps them
// as they grow, refuses those of the same archive rolled back, and an answer without the
// witness's cosignature is not taken for its.
func TestHTTPWitness(t *testing.T) {
	ctx := context.Background()
	dir, keys := t.TempDir(), testKeys(t)
	var logs bytes.Buffer
	mod := func(o *Options) {
		o.BlockBytes, o.SegmentBytes = 4<<10, 6<<10
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	}
	a := openTest(t, dir, keys, mod)
	tw, vkey := newTLogWitness(t, a.PublicKey())
	srv := httptest.NewServer(tw)
	defer srv.Close()
	w, err := NewHTTPWitness(srv.URL, vkey, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	a.AddWitness(w)
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	appendAll(t, a, "clinic-a", events[:1000], 200)
	if _, err := a.Checkpoint(ctx, "clinic-a"); err != nil {
		t.Fatal(err)
	}
	backup := copyDir(t, dir)
	appendAll(t, a, "clinic-a", events[1000:], 200)
	if _, err := a.Checkpoint(ctx, "clinic-a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if logs.Len() > 0 {
		t.Errorf("the witness refused checkpoints of a growing archive: %s", logs.String())
	}
	kept, err := tw.w.store.ArchiveCheckpoint(ctx, a.Origin("clinic-a"))
	if err != nil || !bytes.Contains(kept, []byte("\n2000\n")) {
		t.Fatalf("the witness keeps %q, %v; want the checkpoint of 2000 records", kept, err)
	}

	// The backup put back, as a restarted server would find it.
	b := openTest(t, backup, keys, mod)
	b.AddWitness(w)
	b.witnessing.Wait()
	if !strings.Contains(logs.String(), "rolled back") {
		t.Errorf("a rolled-back archive's witness logged %q, want a rollback", logs.String())
	}
	b.Close()

	// An answer signed by another key.
	logs.Reset()
	tw.forge = true
	c := openTest(t, dir, keys, mod)
	c.AddWitness(w)
	appendAll(t, c, "clinic-a", events[:10], 10)
	if _, err := c.Checkpoint(ctx, "clinic-a"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !strings.Contains(logs.String(), "no valid cosignature") {
		t.Errorf("a forged cosignature logged %q, want it refused", logs.String())
	}
}

func TestNewHTTPWitnessKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	name := "w.example/1"
	good := name + "+" + hex.EncodeToString(cosignerID(name, pub)) + "+" + base64.StdEncoding.EncodeToString(append([]byte{cosignatureType}, pub...))
	tests := []struct {
		vkey string
		ok   bool
	}{
		{good, true},
		{"w.example/1+00000000+" + base64.StdEncoding.EncodeToString(append([]byte{cosignatureType}, pub...)), false},                           // wrong id
		{name + "+" + hex.EncodeToString(cosignerID(name, pub)) + "+" + base64.StdEncoding.EncodeToString(append([]byte{0x01}, pub...)), false}, // a log's key type
		{"nonsense", false},
	}
	for _, tt := range tests {
		if _, err := NewHTTPWitness("http://127.0.0.1:1", tt.vkey, nil); (err == nil) != tt.ok {
			t.Errorf("NewHTTPWitness(%q) = %v, want ok %v", tt.vkey, err, tt.ok)
		}
	}
}

// TestWitnessAwayDoesNotHoldUpAndIsGivenAgain: AddWitness returns while the witness has not
// answered, and a checkpoint the witness did not take while away is given to it again, with
// the next delivery after a wait (driven by Sync) or at Close, though no newer one is signed.
func TestWitnessAwayDoesNotHoldUpAndIsGivenAgain(t *testing.T) {
	ctx := context.Background()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	for _, tc := range []string{"after a wait", "at close"} {
		t.Run(tc, func(t *testing.T) {
			dir, keys := t.TempDir(), testKeys(t)
			now := time.Now()
			clock := func() time.Time { return now }
			a := openTest(t, dir, keys, func(o *Options) { o.Now = clock })
			appendAll(t, a, "clinic-a", events[:100], 100)
			tw, vkey := newTLogWitness(t, a.PublicKey())
			tw.gate = make(chan struct{})
			tw.down.Store(true)
			srv := httptest.NewServer(tw)
			defer srv.Close()
			w, err := NewHTTPWitness(srv.URL, vkey, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			a.AddWitness(w) // returns though the witness holds the request
			close(tw.gate)
			a.witnessing.Wait()
			if a.witnessRetryAt.Load() == 0 {
				t.Fatal("the witness that was away has nothing to be given again")
			}
			tw.down.Store(false)
			if tc == "after a wait" {
				now = now.Add(maxWitnessRetry)
				if err := a.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				a.witnessing.Wait()
			} else if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			kept, err := tw.w.store.ArchiveCheckpoint(ctx, a.Origin("clinic-a"))
			if err != nil || !bytes.Contains(kept, []byte("\n100\n")) {
				t.Errorf("the witness keeps %q, %v; want the checkpoint of 100 records it missed while away", kept, err)
			}
			a.Close()
		})
	}
}
