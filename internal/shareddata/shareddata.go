// Package shareddata finds, for tests, the real test data that lives beside the repository in
// ../shared/data (SigmaHQ's regression events, Zeek captures, loghub's OpenSSH and Linux logs,
// STIX examples, MISP warning lists; see its SOURCES.md). A checkout without it skips the tests
// that need it, saying so; under CI (CI=true, as .ci/run sets) those tests fail instead, so that
// a CI run cannot pass with the real-data tests left out.
//
// It is imported only by tests.
package shareddata

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Path returns the path of elem under the shared test data, relative to the test's working
// directory (its package). Elements may hold slashes. When the path does not exist, Path
// skips the test, or, when the environment variable CI is true, fails it.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := find(elem)
	if err != nil {
		failInCI(t, p, err)
		t.Skipf("shared test data %s not found (it lives in ../shared beside the repository): %v", p, err)
	}
	return p
}

// Optional is Path for data that only adds to a test which has data of its own, such as fuzz
// seeds or one more case: when the path does not exist it returns false and the test goes on
// without it, saying so in its log; under CI it fails the test, as Path does.
func Optional(t testing.TB, elem ...string) (string, bool) {
	t.Helper()
	p, err := find(elem)
	if err != nil {
		failInCI(t, p, err)
		t.Logf("shared test data %s not found (it lives in ../shared beside the repository), going on without it: %v", p, err)
		return "", false
	}
	return p, true
}

// find returns the path of elem under the shared test data, and the error of its stat.
func find(elem []string) (string, error) {
	p := filepath.Join(root(), "..", "shared", "data")
	for _, e := range elem {
		p = filepath.Join(p, filepath.FromSlash(e))
	}
	_, err := os.Stat(p)
	return p, err
}

// failInCI fails t when the environment says it runs in CI, where all the data must be there.
func failInCI(t testing.TB, p string, err error) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("shared test data %s is missing, and CI is set: put ../shared beside the repository (%v)", p, err)
	}
}

// root returns the repository's root relative to the working directory: the nearest folder
// upwards that holds go.mod, or "." when there is none.
func root() string {
	dir := "."
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		abs, err := filepath.Abs(dir)
		if err != nil || filepath.Dir(abs) == abs {
			return "."
		}
		dir = filepath.Join(dir, "..")
	}
}
