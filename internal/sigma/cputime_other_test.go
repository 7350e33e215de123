//go:build !unix

package sigma

import "time"

func cpuTime() time.Duration { return 0 }
