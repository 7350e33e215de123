// Package behavior holds omamori's behavioural detectors: analytics that keep state per key
// (a source address, a host, a pair of hosts) over a window of events, for attacks that no
// single log line shows: brute force and password spraying, C2 beaconing, port scans, lateral
// movement fan-out, exfiltration volume and ransomware bursts.
//
// It sits on the detect side of the data path, beside the Sigma and threat-intel matchers: an
// Engine reads events from the bus and returns Findings, which the detect stage turns into
// alerts. State is partitioned by key (see Partition) so several detector nodes can share a
// stream: each node reads every event and keeps state only for the keys it owns.
package behavior

import (
	"net/netip"
	"time"

	"github.com/omamori-project/omamori/internal/severity"
)

// Detector names, as Finding.Detector carries them.
const (
	DetectorBruteForce   = "brute_force"
	DetectorSpraying     = "password_spraying"
	DetectorLoginAfter   = "login_after_failures"
	DetectorBeacon       = "beacon"
	DetectorPortScan     = "port_scan"
	DetectorLateral      = "lateral_movement"
	DetectorExfiltration = "exfiltration"
	DetectorRansomware   = "ransomware_burst"
	DetectorShadowCopy   = "shadow_copy_deletion"
)

// Finding is what a detector reports: one suspicious behaviour of one key. The detect stage
// turns it into an alert.
type Finding struct {
	Detector  string // one of the Detector constants
	Key       string // the state key that fired: an address, a host, "src->dst"
	Title     string // one line for a person
	Severity  severity.Level
	Technique string // MITRE ATT&CK technique id, such as T1110.001

	Source      netip.Addr
	Destination netip.Addr
	Domain      string // a destination known by name, such as a host asked of a proxy
	User        string
	Host        string // the host the behaviour happened on

	Count int     // evidence events (failures, connections, files, ...)
	Score float64 // for scored detectors (beacon 0..1, exfiltration in standard deviations); else 0
	First time.Time
	Last  time.Time
}
