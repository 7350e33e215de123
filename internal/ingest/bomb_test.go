package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// gzipBomb writes to w the gzip compression of total bytes made of block repeated, as it
// compresses them, so that many gigabytes cost nothing to hold. It counts in fed the bytes it
// has handed to the compressor, and stops when w refuses more.
func gzipBomb(w *io.PipeWriter, block []byte, total int64, fed *atomic.Int64) {
	zw := gzip.NewWriter(w)
	for fed.Load() < total {
		if _, err := zw.Write(block); err != nil {
			w.CloseWithError(err)
			return
		}
		fed.Add(int64(len(block)))
	}
	w.CloseWithError(zw.Close())
}

// TestHTTPGzipBomb posts gzip bodies that inflate to 16 GiB, of newlines and of one line that
// never ends, a few megabytes each as sent: the handler stops inflating at the limit and
// answers 413, having inflated no more than the limit and what the compressor had buffered.
func TestHTTPGzipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates the limit's worth of a gzip bomb")
	}
	const total = 16 << 30
	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{})
	h := &Handler{Pipeline: p, Tenant: func(*http.Request) (string, string, error) { return "hospital-a", "t", nil }}
	for _, tt := range []struct {
		name  string
		block []byte
	}{
		{"newlines", bytes.Repeat([]byte("\n"), 64<<10)},
		{"endless line", bytes.Repeat([]byte("x"), 64<<10)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			var fed atomic.Int64
			go gzipBomb(pw, tt.block, total, &fed)
			req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest", pr)
			req.Header.Set("Content-Encoding", "gzip")
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
			elapsed := time.Since(start)
			inflated := fed.Load()
			pr.CloseWithError(errors.New("the handler has answered"))

			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("response %q is not JSON: %v", rec.Body, err)
			}
			t.Logf("a gzip bomb of %d GiB of %s: %d %v after %.0f MiB inflated, in %v", total>>30, tt.name, rec.Code, got, mib(inflated), elapsed.Round(time.Millisecond))
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("POST %d GiB of %s as gzip = %d %v, want 413", total>>30, tt.name, rec.Code, got)
			}
			if msg, _ := got["error"].(string); !strings.Contains(msg, "limit") {
				t.Errorf("POST %d GiB of %s as gzip: error %q does not name the limit", total>>30, tt.name, msg)
			}
			if limit := int64(DefaultMaxInflated); inflated > limit+64<<20 {
				t.Errorf("POST %d GiB of %s as gzip: %.0f MiB fed to the compressor before the answer, want no more than the limit %d MiB and the compressor's buffers",
					total>>30, tt.name, mib(inflated), limit>>20)
			}
		})
	}
}
