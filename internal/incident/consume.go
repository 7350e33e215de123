package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/store"
)

// AlertSource delivers the ALERTS stream in groups, in order, acknowledging a group when fn
// returns nil and delivering it again (from its first message) when fn fails or the process
// stops first: the contract of bus.Bus.ConsumeEvents, for ALERTS.
type AlertSource interface {
	ConsumeAlerts(ctx context.Context, cfg bus.ConsumeConfig, fn func(ctx context.Context, msgs []bus.Msg) error) error
}

// DefaultDurable names the consumer of ALERTS that Follow uses by default.
const DefaultDurable = "incidents"

// Follow reads ALERTS from src with the durable consumer durable (empty: DefaultDurable) and
// puts every alert on an incident, until ctx ends or the store fails. A group is
// acknowledged only once every alert in it is on an incident, so a crash repeats alerts,
// which Ingest recognises, rather than losing them.
func (s *Service) Follow(ctx context.Context, src AlertSource, durable string) error {
	if durable == "" {
		durable = DefaultDurable
	}
	return src.ConsumeAlerts(ctx, bus.ConsumeConfig{Durable: durable}, s.HandleAlerts)
}

// HandleAlerts puts the alerts of msgs (detect.Alert JSON, one a message) on incidents, in
// order. A message that is not a valid alert, claims a tenant other than its subject's, or
// belongs to a tenant the store does not know is logged and skipped: it can never succeed,
// and holding the stream for it would stop every tenant's incidents. A store error stops the group, to be delivered again.
func (s *Service) HandleAlerts(ctx context.Context, msgs []bus.Msg) error {
	for _, m := range msgs {
		var a detect.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			s.log.Error("skip an undecodable alert", "seq", m.Seq, "subject", m.Subject, "err", err)
			continue
		}
		// The subject, which the publisher's credentials decide, says whose alert it is.
		if a.Tenant != m.Tenant {
			s.log.Error("skip an alert whose tenant differs from its subject's", "seq", m.Seq, "subject", m.Subject, "alert_tenant", a.Tenant)
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
