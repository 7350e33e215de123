package incident

import (
	"context"
	"errors"
	"fmt"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/store"
)

// ConsumerName is the durable consumer incidents follow ALERTS with.
const ConsumerName = "incidents"

// Handle puts the alerts of a group of ALERTS messages on incidents, in order, and returns
// once every one of them is on an incident: the group is acknowledged only then, so a crash
// repeats alerts, which Ingest recognises, rather than losing them. It makes the Service a
// bus.Handler, which follows ALERTS with the durable consumer ConsumerName.
//
// A message that is not a valid alert, claims a tenant other than its subject's, or belongs
// to a tenant the store does not know is logged and skipped: it can never succeed, and
// holding the stream for it would stop every tenant's incidents. A store error stops the
// group, to be delivered again.
func (s *Service) Handle(ctx context.Context, msgs []bus.Msg) error {
	for _, m := range msgs {
		a, err := detect.ParseAlert(m)
		if err != nil {
			s.log.Error("skip an alert that does not decode or is not its subject's tenant's", "seq", m.Seq, "subject", m.Subject, "err", err)
			continue
		}
		out, err := s.Ingest(ctx, a, m.Seq)
		if errors.Is(err, ErrInvalidAlert) || errors.Is(err, store.ErrNotFound) {
			// Malformed, or for a tenant the store does not know: retrying cannot help.
			s.log.Error("skip an alert that cannot be put on an incident", "seq", m.Seq, "subject", m.Subject, "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("handle alert at %d: %w", m.Seq, err)
		}
		if out.Opened {
			s.log.Info("incident opened", "tenant", a.Tenant, "incident", out.Incident, "alert", a.ID, "level", a.Level)
		}
	}
	return nil
}
