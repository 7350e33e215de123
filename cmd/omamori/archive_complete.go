package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/keyring"
)

// verifyComplete compares the archive with the bus's EVENTS stream (archive.Complete) and
// prints what it found; it returns how many gaps and misfits there are. The embedded bus is
// reached directly when no server holds it, through bus.listen when one does; without either,
// or when the data directory has no bus (an archive copied alone), the comparison is not
// made, and verify says so.
func verifyComplete(ctx context.Context, e env, cfg *config.Config, keys keyring.Wrapper) (int, error) {
	if cfg.Bus.URL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "jetstream")); err != nil {
			fmt.Fprintf(e.stdout, "completeness against the bus: not checked: no bus in %s\n", cfg.DataDir)
			return 0, nil
		}
	}
	b, err := bus.Open(ctx, bus.Config{URL: cfg.Bus.URL, DataDir: cfg.DataDir})
	if errors.Is(err, bus.ErrInUse) && cfg.Bus.Listen != "" {
		b, err = bus.Open(ctx, bus.Config{URL: "nats://" + cfg.Bus.Listen})
	}
	if errors.Is(err, bus.ErrInUse) {
		fmt.Fprintln(e.stdout, "completeness against the bus: not checked: omamori serve holds the bus (stop it, or set bus.listen, to compare)")
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("archive verify: open the bus to compare: %w", err)
	}
	defer b.Close()
	a, err := archive.Open(ctx, archive.Options{Dir: cfg.Archive.Dir, Keys: keys, ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("archive verify: %w", err)
	}
	defer a.Close()
	c, err := archive.Complete(ctx, a, b)
	if err != nil {
		return 0, fmt.Errorf("archive verify: %w", err)
	}
	fmt.Fprintf(e.stdout, "bus: EVENTS holds %d messages (%d-%d); the archive holds the bus up to %d; %d messages compared, %d not archived yet (%d records)\n",
		c.Messages, c.First, c.Last, c.Position, c.Checked, c.Pending, c.PendingRecords)
	for _, g := range c.Gaps {
		fmt.Fprintln(e.stdout, "FAIL", g)
	}
	for _, p := range c.Problems {
		fmt.Fprintln(e.stdout, "FAIL", p)
	}
	if c.OK() {
		fmt.Fprintln(e.stdout, "complete: every message on the bus up to the archive's position is in the archive")
	}
	return len(c.Gaps) + len(c.Problems), nil
}
