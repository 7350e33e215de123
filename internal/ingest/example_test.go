package ingest_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/ingest"
)

// A pipeline publishing to an embedded bus, fed records by hand as a listener does: Wait
// returns once every batch is durable, with what was accepted and what became a dead letter.
func Example() {
	dir, err := os.MkdirTemp("", "omamori-ingest")
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
	p, err := ingest.NewPipeline(b, ingest.Config{}, nil, nil)
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)

	s, err := p.NewStream("hospital-a", "example", "syslog", decode.Options{})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	s.Add([]byte("<38>May  1 10:00:00 gw sshd[7]: Failed password for invalid user admin from 198.51.100.7 port 40022 ssh2"), now)
	s.Add([]byte("<38>May  1 10:00:01 gw sshd[7]: Accepted publickey for alice from 10.0.0.5 port 50000 ssh2"), now)
	s.Add([]byte("\x16\x03\x01\x02\x00"), now) // not text: a dead letter
	counts, err := s.Wait(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("accepted %d, dead letters %d\n", counts.Accepted, counts.DeadLetters)

	err = b.ReadEvents(ctx, func(m bus.Msg) error {
		return event.DecodeBatch(m.Data, func(e *event.Event) error {
			fmt.Println(e.Source, e.Action, e.Outcome, e.User, e.SrcIP)
			return nil
		})
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// accepted 2, dead letters 1
	// example ssh_login failure admin 198.51.100.7
	// example ssh_login success alice 10.0.0.5
}
