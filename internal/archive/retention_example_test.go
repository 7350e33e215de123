package archive_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
)

// Retention as whoever holds the Archive runs it: now and then, with the configured period
// (archive.retention), and with the time passed in. Here the log of a clinic holds one event a
// day from 2015 on, and retention runs in 2026 with a period of ten years.
func ExampleArchive_Retain() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "omamori-retention-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keys, err := keyring.New(keyring.Generate())
	if err != nil {
		log.Fatal(err)
	}
	day := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := archive.Options{Dir: dir, Keys: keys, BlockBytes: 2 << 10, SegmentBytes: 4 << 10,
		Now: func() time.Time { return day }}
	a, err := archive.Open(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	for batch := range 100 { // ten days a batch
		var events []event.Event
		for i := range 10 {
			events = append(events, event.Event{Time: day.AddDate(0, 0, i), Tenant: "clinic-a", Source: "example",
				Host: "gw1", Message: fmt.Sprintf("day %d: VPN login of user%03d", 10*batch+i, i)})
		}
		if err := a.Append(ctx, "clinic-a", uint64(batch+1), events); err != nil {
			log.Fatal(err)
		}
		if err := a.Sync(ctx); err != nil {
			log.Fatal(err)
		}
		day = day.AddDate(0, 0, 10)
	}

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rep, err := a.Retain(ctx, now, archive.RetainPolicy{Default: 10 * 365 * 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range rep.Deleted {
		fmt.Printf("deleted %s: records %d to %d, the latest of %s, noted by record %d\n",
			d.Segment, d.First, d.End-1, d.Latest.Format(time.DateOnly), d.Record)
	}
	if err := a.Close(); err != nil {
		log.Fatal(err)
	}

	v, err := archive.Verify(ctx, dir, keys, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("verify: %d records, %d segments deleted by retention, %d problems\n", v.Records, len(v.Retention), len(v.Problems))
	// Output:
	// deleted seg-00000000000000000000.oms: records 0 to 255, the latest of 2015-09-13, noted by record 1000
	// verify: 745 records, 1 segments deleted by retention, 0 problems
}
