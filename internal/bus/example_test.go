package bus_test

import (
	"context"
	"fmt"
	"os"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
)

// An embedded bus in a data directory: publish a batch of events, and read it back.
func Example() {
	dir, err := os.MkdirTemp("", "omamori-bus")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	batch := event.AppendBatch(nil, []event.Event{
		{Tenant: "hospital-a", Host: "gw", Message: "Accepted publickey for alice"},
		{Tenant: "hospital-a", Host: "gw", Message: "Failed password for bob"},
	})
	// PublishEvents returns once JetStream holds the batch durably.
	if err := b.PublishEvents(ctx, "hospital-a", batch); err != nil {
		panic(err)
	}

	err = b.ReadEvents(ctx, func(m bus.Msg) error {
		fmt.Printf("message %d on %s\n", m.Seq, m.Subject)
		return event.DecodeBatch(m.Data, func(e *event.Event) error {
			fmt.Printf("  %s %s: %s\n", e.Tenant, e.Host, e.Message)
			return nil
		})
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// message 1 on events.hospital-a
	//   hospital-a gw: Accepted publickey for alice
	//   hospital-a gw: Failed password for bob
}
