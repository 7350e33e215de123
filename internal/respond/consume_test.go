package respond

import (
	"encoding/json"
	"testing"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/store"
)

// TestHandle: a group of ALERTS messages becomes decisions; a message that does not decode
// or whose body claims another tenant than its subject is skipped without holding the group,
// and a store failure fails it, so that it comes again.
func TestHandle(t *testing.T) {
	s, st, _, _ := newService(t, false)
	ctx := t.Context()
	msg := func(seq uint64, subject string, data []byte) bus.Msg {
		return bus.Msg{Seq: seq, Subject: "alerts." + subject, Tenant: subject, Data: data}
	}
	good, _ := json.Marshal(bruteForce("a-1", "203.0.113.7"))
	forged, _ := json.Marshal(bruteForce("a-2", "203.0.113.8")) // tokyo's body on osaka's subject
	msgs := []bus.Msg{msg(1, "tokyo", []byte("not json")), msg(2, "osaka", forged), msg(3, "tokyo", good)}
	if err := s.Handle(ctx, msgs); err != nil {
		t.Fatalf("Handle = %v, want nil", err)
	}
	for _, tenant := range []string{"tokyo", "osaka"} {
		ds, err := s.List(ctx, tenant, store.DecisionFilter{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"tokyo": 1, "osaka": 0}[tenant]
		if len(ds) != want || want == 1 && ds[0].Value != "203.0.113.7" {
			t.Errorf("%s has decisions %+v, want %d (the block of 203.0.113.7 for tokyo)", tenant, ds, want)
		}
	}

	st.Close()
	again, _ := json.Marshal(bruteForce("a-3", "203.0.113.9"))
	if err := s.Handle(ctx, []bus.Msg{msg(4, "tokyo", again)}); err == nil {
		t.Error("Handle with a closed store = nil, want the store's error")
	}
}
