//go:build unix

package sigma

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used, so a benchmark can report events per
// core-second, which other work on a shared machine does not distort as it does wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
