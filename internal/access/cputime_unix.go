//go:build unix

package access

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used, user and system: on a loaded
// machine it says what a decision costs regardless of how long it waited for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
