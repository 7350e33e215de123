//go:build !unix

package access

import "time"

func processCPU() time.Duration { return 0 }
