package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/keyring"
	"github.com/omamori-project/omamori/internal/tenant"
)

// statusNotCompared is archive verify's exit status for an archive that verifies in itself
// but could not be compared with the bus (beside a running server that could not be asked):
// nothing wrong was found, and its completeness is not proven.
const statusNotCompared = 3

// verifyComplete compares the archive with the bus's EVENTS stream (archive.Complete) and
// prints what it found; it returns how many gaps and misfits there are, and whether every
// hospital of the archive was compared. The embedded bus is read directly when no server holds
// it. Beside a running server, which holds it, the server compares its own archive with it
// (GET /api/v1/archive/complete, with the token of $OMAMORI_TOKEN); failing that, the bus is
// reached through bus.listen if set. When the data directory has no bus at all (an archive
// copied alone), there is nothing to compare with, and verify says so.
func verifyComplete(ctx context.Context, e env, cfg *config.Config, keys keyring.Wrapper, server string) (int, bool, error) {
	if cfg.Bus.URL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "jetstream")); err != nil {
			fmt.Fprintf(e.stdout, "completeness against the bus: not checked: no bus in %s\n", cfg.DataDir)
			return 0, true, nil
		}
	}
	b, err := bus.Open(ctx, bus.Config{URL: cfg.Bus.URL, DataDir: cfg.DataDir})
	if errors.Is(err, bus.ErrInUse) {
		c, aerr := askComplete(ctx, server)
		if aerr == nil {
			return printCompleteness(e, cfg, c, "the server compared")
		}
		fmt.Fprintf(e.stderr, "note: could not ask the server to compare the archive with the bus: %v\n", aerr)
		if cfg.Bus.Listen != "" {
			b, err = bus.Open(ctx, bus.Config{URL: "nats://" + cfg.Bus.Listen})
		}
	}
	if errors.Is(err, bus.ErrInUse) {
		fmt.Fprintln(e.stdout, "completeness against the bus: NOT CHECKED: omamori serve holds the bus, and could not be asked")
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("archive verify: open the bus to compare: %w", err)
	}
	defer b.Close()
	a, err := archive.Open(ctx, archive.Options{Dir: cfg.Archive.Dir, Keys: keys, ReadOnly: true})
	if err != nil {
		return 0, false, fmt.Errorf("archive verify: %w", err)
	}
	defer a.Close()
	c, err := archive.Complete(ctx, a, b)
	if err != nil {
		return 0, false, fmt.Errorf("archive verify: %w", err)
	}
	return printCompleteness(e, cfg, c, "compared")
}

// askComplete asks the server at server to compare its archive with the bus.
func askComplete(ctx context.Context, server string) (*archive.Completeness, error) {
	cl, err := (&clientFlags{server: server}).client()
	if err != nil {
		return nil, err
	}
	var c archive.Completeness
	if err := cl.call(ctx, "GET", "/api/v1/archive/complete", nil, nil, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// printCompleteness prints c; it returns its gaps and misfits, and whether it covers every
// hospital with a log in the archive of cfg (a server compares only its token's, unless the
// token is an operator's).
func printCompleteness(e env, cfg *config.Config, c *archive.Completeness, how string) (int, bool, error) {
	fmt.Fprintf(e.stdout, "bus: EVENTS holds %d messages (%d-%d); the archive holds the bus up to %d; %s %d messages, %d not archived yet (%d records)\n",
		c.Messages, c.First, c.Last, c.Position, how, c.Checked, c.Pending, c.PendingRecords)
	for _, g := range c.Gaps {
		fmt.Fprintln(e.stdout, "FAIL", g)
	}
	for _, p := range c.Problems {
		fmt.Fprintln(e.stdout, "FAIL", p)
	}
	var missed []string
	ents, _ := os.ReadDir(cfg.Archive.Dir)
	for _, d := range ents {
		if _, err := tenant.Parse(d.Name()); err == nil && d.IsDir() && !slices.Contains(c.Tenants, d.Name()) {
			missed = append(missed, d.Name())
		}
	}
	if len(missed) > 0 {
		fmt.Fprintf(e.stdout, "completeness against the bus: NOT CHECKED for %v: the server compared only %v (an operator's token compares every hospital)\n", missed, c.Tenants)
	}
	if c.OK() && len(missed) == 0 {
		fmt.Fprintln(e.stdout, "complete: every message on the bus up to the archive's position is in the archive")
	}
	return len(c.Gaps) + len(c.Problems), len(missed) == 0, nil
}
