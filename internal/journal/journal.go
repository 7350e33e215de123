// Package journal records omamori's own actions — response decisions, access decisions, the
// changes administrators make — as events on the bus. The archive consumes the bus, so these
// records land beside the logs under the same Merkle tree and signed checkpoints: ten years
// later a hospital can prove what omamori blocked, whom it let see which record, and who
// changed what, with the same bundle it hands over for the logs.
//
// A record is an event of a dataset under "omamori." (omamori.decision, omamori.access,
// omamori.audit), its JSON form kept as the raw bytes. Records go through the ingest pipeline
// like any sender's, batched (Run sends batches as they come due); Sync waits until every
// record so far is durable on the bus.
package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/ingest"
)

// Source names the journal as the sender of its records, in metrics and in each event.
const Source = "omamori"

// Journal writes records to the bus. It is safe for concurrent use.
type Journal struct {
	p       *ingest.Pipeline
	mu      sync.Mutex
	streams map[string]*ingest.Stream // by tenant
}

// New returns a journal writing through p.
func New(p *ingest.Pipeline) *Journal {
	return &Journal{p: p, streams: map[string]*ingest.Stream{}}
}

// Record adds one record of dataset for tenant: v is marshalled to JSON as the event's raw
// bytes, and action, actor and the time are set so that a search of the archive finds it.
// The record is batched; call Sync to know it is durable.
func (j *Journal) Record(tenant, dataset, action, actor string, at time.Time, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("journal: encode %s record: %w", dataset, err)
	}
	e := event.Event{Time: at, Received: at, Tenant: tenant, Dataset: dataset, Action: action, User: actor, Raw: raw}
	return j.Add(&e)
}

// Add adds an event already in its record form (such as access.Decision.Event's). Its
// Dataset must start with "omamori.".
func (j *Journal) Add(e *event.Event) error {
	if !strings.HasPrefix(e.Dataset, "omamori.") {
		return fmt.Errorf("journal: dataset %q does not start with omamori.", e.Dataset)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	s, err := j.stream(e.Tenant)
	if err != nil {
		return err
	}
	s.AddDecoded(e, nil)
	return nil
}

// Run flushes batches as they come due (ingest's batch delay) until ctx ends: a quiet
// journal's last record must not wait for the next one.
func (j *Journal) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			j.mu.Lock()
			for _, s := range j.streams {
				s.FlushIfDue(now)
			}
			j.mu.Unlock()
		}
	}
}

// Sync waits until every record added so far is durable on the bus.
func (j *Journal) Sync(ctx context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	for tenant, s := range j.streams {
		if _, err := s.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("journal of %s: %w", tenant, err))
		}
	}
	return errors.Join(errs...)
}

func (j *Journal) stream(tenant string) (*ingest.Stream, error) {
	if s := j.streams[tenant]; s != nil {
		return s, nil
	}
	// json: the record's own format, should the archive ever re-decode its raw bytes.
	s, err := j.p.NewStream(tenant, Source, "json", decode.Options{})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.streams[tenant] = s
	return s, nil
}
