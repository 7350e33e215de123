package behavior

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedData returns the project's shared test data directory, ../shared/data from the
// repository root, or skips the test when it is not there.
func sharedData(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data not found at %s (it lives beside the repository): %v", dir, err)
	}
	return dir
}
