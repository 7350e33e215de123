package shareddata

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how Path ends a test instead of ending the real one.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs fn on a recorder, in a goroutine of its own as the testing package runs a test,
// so that Fatalf and Skipf end only that goroutine.
func call(t *testing.T, fn func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

// TestMissing checks what a test that needs missing shared data does: it skips on a
// developer's checkout and fails under CI; with Optional it goes on without it, but still
// fails under CI.
func TestMissing(t *testing.T) {
	missing := []string{"no-such-folder", "no-such-file.log"}
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{
		{"", false},
		{"false", false},
		{"true", true},
		{"1", true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := call(t, func(t testing.TB) { Path(t, missing...) })
			switch {
			case tc.wantFatal && r.fatal == "":
				t.Errorf("Path(missing) with CI=%q did not fail the test (skip: %q)", tc.ci, r.skip)
			case !tc.wantFatal && r.skip == "":
				t.Errorf("Path(missing) with CI=%q did not skip the test (fatal: %q)", tc.ci, r.fatal)
			}
			if msg := r.fatal + r.skip; !strings.Contains(msg, filepath.Join("shared", "data", "no-such-folder", "no-such-file.log")) {
				t.Errorf("Path(missing) with CI=%q says %q, want the missing path", tc.ci, msg)
			}

			wentOn := false
			r = call(t, func(t testing.TB) {
				if _, ok := Optional(t, missing...); ok {
					t.Errorf("Optional(missing) with CI=%q = true, want false", tc.ci)
				}
				wentOn = true
			})
			switch {
			case tc.wantFatal && r.fatal == "":
				t.Errorf("Optional(missing) with CI=%q did not fail the test", tc.ci)
			case !tc.wantFatal && (!wentOn || r.skip != "" || r.fatal != ""):
				t.Errorf("Optional(missing) with CI=%q ended the test (skip %q, fatal %q), want it to go on", tc.ci, r.skip, r.fatal)
			}
		})
	}
}

// TestPresent checks that Path finds the shared data beside the repository from a package's
// folder, as a test's working directory is, and lets the test go on.
func TestPresent(t *testing.T) {
	top := t.TempDir()
	for name, data := range map[string]string{
		"repo/go.mod":               "module example.com/repo\n",
		"shared/data/sshd/auth.log": "Failed password for root from 192.0.2.1 port 22 ssh2\n",
	} {
		p := filepath.Join(top, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pkg := filepath.Join(top, "repo", "internal", "pkg")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(pkg)
	t.Setenv("CI", "true")
	want := filepath.Join("..", "..", "..", "shared", "data", "sshd", "auth.log")
	var p, opt string
	var ok bool
	r := call(t, func(t testing.TB) {
		p = Path(t, "sshd/auth.log")
		opt, ok = Optional(t, "sshd", "auth.log")
	})
	if r.fatal != "" || r.skip != "" {
		t.Fatalf("Path(sshd/auth.log) ended the test: fatal %q, skip %q", r.fatal, r.skip)
	}
	if p != want {
		t.Errorf("Path(sshd/auth.log) = %q, want %q", p, want)
	}
	if opt != want || !ok {
		t.Errorf("Optional(sshd, auth.log) = %q, %v, want %q, true", opt, ok, want)
	}
}
