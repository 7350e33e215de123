package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// BenchResult is what Bench measured.
type BenchResult struct {
	Entries   int           // prefixes loaded
	BatchSize int           // prefixes per Block call and per transaction
	Load      time.Duration // time to load all of them
	PerSecond float64       // prefixes per second into the kernel
	// BlockOne is the median time of one Block call with one new address
	// into sets already holding Entries; BlockOneMax the slowest of them.
	BlockOne, BlockOneMax time.Duration
	// Reconcile is the time to load all Entries again as a new generation
	// and switch to it, as after a restart.
	Reconcile time.Duration
	// Counted is the number of prefixes found in the kernel afterwards, or
	// -1 when not verified.
	Counted int
}

// Bench measures how fast blocks reach the kernel. It makes a throw-away
// network namespace, so the gateway's own firewall is never touched: it
// loads n distinct IPv4 addresses with Block calls of batch entries each,
// times single-address Block calls, then reconciles to the same entries.
// With verify it asks the kernel for every one of them, which takes several
// times as long as the load.
func Bench(ctx context.Context, n, batch int, verify bool) (BenchResult, error) {
	if n < 1 || n > 1<<23 {
		return BenchResult{}, fmt.Errorf("bench: %d entries asked, want 1 to %d", n, 1<<23)
	}
	if batch < 1 {
		batch = DefaultBatchSize
	}
	ns, err := NewNetNS()
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	defer unix.Close(ns)
	e, err := New(Config{NetNS: ns, BatchSize: batch})
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	defer e.Close()
	if err := e.Setup(ctx); err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	res := BenchResult{Entries: n, BatchSize: batch, Counted: -1}
	entries := make([]Entry, 0, batch)
	start := time.Now()
	for i := 0; i < n; i++ {
		entries = append(entries, Entry{Prefix: netip.PrefixFrom(benchAddr(i), 32), TTL: time.Hour})
		if len(entries) == batch || i == n-1 {
			if err := e.Block(ctx, entries); err != nil {
				return res, fmt.Errorf("bench: %w", err)
			}
			entries = entries[:0]
		}
	}
	res.Load = time.Since(start)
	res.PerSecond = float64(n) / res.Load.Seconds()
	var ones []time.Duration
	for i := range 101 {
		one := []Entry{{Prefix: netip.PrefixFrom(benchAddr(n+i), 32), TTL: time.Hour}}
		t := time.Now()
		if err := e.Block(ctx, one); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		ones = append(ones, time.Since(t))
	}
	slices.Sort(ones)
	res.BlockOne, res.BlockOneMax = ones[len(ones)/2], ones[len(ones)-1]
	desired := make([]Entry, n+len(ones))
	for i := range desired {
		desired[i] = Entry{Prefix: netip.PrefixFrom(benchAddr(i), 32), TTL: time.Hour}
	}
	start = time.Now()
	if err := e.Reconcile(ctx, desired); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	res.Reconcile = time.Since(start)
	if verify {
		all := make([]netip.Prefix, len(desired))
		for i, d := range desired {
			all[i] = d.Prefix
		}
		if res.Counted, err = e.countPresent(kindBlock, all); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		if res.Counted != len(all) {
			return res, fmt.Errorf("bench: kernel holds %d of the %d prefixes", res.Counted, len(all))
		}
	}
	return res, nil
}

// benchAddr spreads addresses two apart over 10.0.0.0/8 and beyond, so no
// two intervals touch.
func benchAddr(i int) netip.Addr {
	v := uint32(10<<24) + uint32(2*i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// NewNetNS creates a new, empty network namespace and returns an open file
// descriptor to it (the caller closes it; the namespace goes with the last
// reference). The calling thread's own namespace is left as it was.
func NewNetNS() (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This goroutine's thread switches namespace; if it cannot switch
		// back it stays locked, so the runtime discards the thread.
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("open own network namespace: %w", err)}
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("create network namespace (needs root or CAP_SYS_ADMIN): %w", err)}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			ch <- result{-1, errors.Join(err, fmt.Errorf("return to own network namespace: %w", rerr))}
			return
		}
		runtime.UnlockOSThread()
		if err != nil {
			ch <- result{-1, fmt.Errorf("open new network namespace: %w", err)}
			return
		}
		ch <- result{fd, nil}
	}()
	r := <-ch
	return r.fd, r.err
}
