package decode

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update makes the golden tests rewrite their files: go test ./internal/decode -update.
var update = flag.Bool("update", false, "rewrite golden files")

// sharedData returns the path of a file or directory under the shared test data, which lives
// beside the repository (../shared/data from its root), or skips the test when it is missing.
// Elements may hold slashes.
func sharedData(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "data")
	for _, e := range elem {
		p = filepath.Join(p, filepath.FromSlash(e))
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data %s not found (it lives beside the repository): %v", p, err)
	}
	return p
}
