package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/store"
)

// busSource follows ALERTS on a real bus as a durable consumer does: from the first message
// not acknowledged, in groups, acknowledging a group when h returns nil. It stands in for
// bus.Bus.ConsumeAlerts over ReadAlerts, so that a test chooses the groups and the redelivery.
type busSource struct {
	b     *bus.Bus
	acked uint64
	group int
}

func (s *busSource) ConsumeAlerts(ctx context.Context, _ bus.ConsumeConfig, h bus.Handler) error {
	var msgs []bus.Msg
	err := s.b.ReadAlerts(ctx, func(m bus.Msg) error {
		if m.Seq > s.acked {
			msgs = append(msgs, m)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := 0; i < len(msgs); i += s.group {
		g := msgs[i:min(i+s.group, len(msgs))]
		if err := h.Handle(ctx, g); err != nil {
			return err
		}
		s.acked = g[len(g)-1].Seq
	}
	return nil
}

// TestFollow publishes the scenario's alerts on a real embedded bus, among messages that can
// never be incidents, and follows ALERTS into incidents; then everything is delivered again,
// as after a crash before the acknowledgement, and nothing changes.
func TestFollow(t *testing.T) {
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e := newEnv(t, scenarioStart.Add(20*time.Minute), Config{Hosts: inventory})
	ctx := t.Context()
	if _, err := e.st.CreateTenant(ctx, "test", store.Tenant{ID: "other-hospital"}); err != nil {
		t.Fatal(err)
	}
	publish := func(tenant string, data []byte) {
		t.Helper()
		if err := b.PublishAlert(ctx, tenant, data); err != nil {
			t.Fatal(err)
		}
	}
	alerts := scenarioAlerts(t)
	for i, a := range alerts {
		data, _ := json.Marshal(a)
		publish(tenant, data)
		switch i {
		case 2:
			publish(tenant, []byte("not json"))
		case 4:
			forged := a
			forged.Tenant = "other-hospital" // published under handa's subject
			data, _ := json.Marshal(forged)
			publish(tenant, data)
		case 6:
			stray := a
			stray.Tenant = "unknown"
			data, _ := json.Marshal(stray)
			publish("unknown", data)
		case 8:
			publish(tenant, []byte(`{"id":"x","tenant":"handa"}`)) // no rule, no time
		}
	}
	var logged bytes.Buffer
	e.svc, err = NewService(e.st, e.cfg, e.clock.Now, e.rec, slog.New(slog.NewJSONHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	src := &busSource{b: b, group: 4}
	if err := src.ConsumeAlerts(ctx, bus.ConsumeConfig{Durable: ConsumerName}, e.svc); err != nil {
		t.Fatal(err)
	}
	// Nothing is dropped silently: each of the four bad messages is logged as an error.
	if n := strings.Count(logged.String(), `"level":"ERROR","msg":"skip`); n != 4 {
		t.Errorf("%d skipped messages logged, want 4:\n%s", n, logged.String())
	}
	count := func() (incidents, onThem int) {
		list, err := e.svc.List(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range list {
			onThem += inc.Alerts
		}
		return len(list), onThem
	}
	n, on := count()
	if n != 1 || on != len(alerts) {
		t.Fatalf("after following ALERTS: %d incidents with %d alerts, want 1 with %d", n, on, len(alerts))
	}
	src.acked = 0
	src.group = 5
	if err := src.ConsumeAlerts(ctx, bus.ConsumeConfig{Durable: ConsumerName}, e.svc); err != nil {
		t.Fatal(err)
	}
	if n2, on2 := count(); n2 != n || on2 != on {
		t.Errorf("after redelivery: %d incidents with %d alerts, want %d with %d", n2, on2, n, on)
	}
	if list, _ := e.st.Tenant("other-hospital").Incidents(ctx, store.IncidentFilter{}); len(list) != 0 {
		t.Errorf("the forged alert opened %d incidents for other-hospital", len(list))
	}

	// A store that fails stops the group: it is not acknowledged, to come again.
	e.st.Close()
	src.acked = 0
	if err := src.ConsumeAlerts(ctx, bus.ConsumeConfig{Durable: ConsumerName}, e.svc); err == nil {
		t.Error("Follow with a closed store = nil error, want the store's")
	}
	if src.acked != 0 {
		t.Errorf("a failed group was acknowledged up to %d", src.acked)
	}
}
