//go:build !linux

package intel

// threadCPU is not measured outside Linux.
func threadCPU() int64 { return 0 }
