package respond

import (
	"context"
	"errors"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/detect"
)

// ConsumerName is the durable consumer response follows ALERTS with.
const ConsumerName = "respond"

// Handle runs the policies on a group of ALERTS messages, in order, and returns once the
// decisions they lead to are stored: the group is acknowledged only then. It makes the
// Service a bus.Handler, which follows ALERTS with the durable consumer ConsumerName.
//
// An alert that does not decode, or claims a tenant other than its subject's, is logged and
// skipped: it cannot become a decision, and holding the stream for it would stop every later
// response. So is one a policy cannot act on (ErrInvalid: an isolation of a host the
// inventory does not know): it stays for people to act on. A store error stops the group, to
// be delivered again.
func (s *Service) Handle(ctx context.Context, msgs []bus.Msg) error {
	for _, m := range msgs {
		a, err := detect.ParseAlert(m)
		if err != nil {
			s.log.Error("no response to an alert that does not decode or is not its subject's tenant's", "seq", m.Seq, "subject", m.Subject, "err", err)
			continue
		}
		_, err = s.OnAlert(ctx, a)
		switch {
		case errors.Is(err, ErrInvalid):
			s.log.Info("no automatic response to alert", "alert", a.ID, "rule", a.RuleID, "err", err)
		case err != nil:
			return err // the store failed: the group comes again
		}
	}
	return nil
}
