package decode

import (
	"flag"
)

// update makes the golden tests rewrite their files: go test ./internal/decode -update.
var update = flag.Bool("update", false, "rewrite golden files")
