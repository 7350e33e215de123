package deadletter_test

import (
	"fmt"

	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

// A record the syslog decoder cannot read becomes a dead letter that says why.
func ExampleFromError() {
	dec, err := decode.New("syslog", decode.Options{})
	if err != nil {
		panic(err)
	}
	e := &event.Event{Tenant: "hospital-a", Source: "syslog-udp", Raw: []byte("\x16\x03\x01\x02\x00")}
	if err := dec.Decode(e); err != nil {
		r := deadletter.FromError(e, "syslog", err)
		fmt.Printf("%s %s %s: %s\n", r.Source, r.Format, r.Reason, r.Detail)
	}
	// Output: syslog-udp syslog binary: control bytes in a text record
}
