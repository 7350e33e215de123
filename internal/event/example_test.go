package event_test

import (
	"net/netip"
	"os"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

func ExampleAppendECS() {
	raw := []byte("<38>May  1 10:00:00 gw sshd[7]: Failed password for alice from 198.51.100.7 port 40022 ssh2")
	e := event.Event{
		Time: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), Tenant: "hospital-a", Format: "syslog",
		Host: "gw", Process: "sshd", PID: 7, Message: event.String(raw[32:]),
		Category: "authentication", Action: "ssh_login", Outcome: event.OutcomeFailure, User: "alice",
		SrcIP: netip.MustParseAddr("198.51.100.7"), SrcPort: 40022, Raw: raw,
	}
	e.Add(event.K("ssh.method"), "password")
	os.Stdout.Write(event.AppendECS(nil, &e))
	// Output:
	// {"@timestamp":"2024-05-01T10:00:00Z","organization.id":"hospital-a","event.module":"syslog","event.category":"authentication","event.action":"ssh_login","event.outcome":"failure","host.name":"gw","process.name":"sshd","process.pid":7,"user.name":"alice","source.ip":"198.51.100.7","source.port":40022,"message":"Failed password for alice from 198.51.100.7 port 40022 ssh2","ssh.method":"password","event.original":"<38>May  1 10:00:00 gw sshd[7]: Failed password for alice from 198.51.100.7 port 40022 ssh2"}
}
