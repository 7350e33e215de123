package intel_test

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/intel"
)

// A feed's indicators become a Set, and the detector asks the Set about each event.
func ExampleSet_Match() {
	allow, err := intel.LoadWarningLists("../../../shared/data/intel/misp-warninglists/lists")
	if err != nil {
		panic(err)
	}
	feed := `[domain-name:value = 'mongoles.3322.org' OR ipv4-addr:value = '123.183.210.28']`
	bundle := `{"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator", "spec_version": "2.1",
		"id": "indicator--7e4b4d24-6fa1-4ab0-9d5f-3f1bd5b5a7a1", "name": "PoisonIvy C2", "confidence": 85,
		"indicator_types": ["malicious-activity"], "pattern_type": "stix", "valid_from": "2015-05-15T09:12:16Z",
		"pattern": "` + feed + `"},
		{"type": "indicator", "spec_version": "2.1", "id": "indicator--33fe3b22-0201-47cf-85d0-97c02164528d",
		"pattern_type": "stix", "valid_from": "2014-05-08T09:00:00Z", "pattern": "[ipv4-addr:value = '8.8.8.8']"}]}`
	inds, rejected, err := intel.LoadSTIX(strings.NewReader(bundle), "isac")
	if err != nil {
		panic(err)
	}
	set, report := intel.NewSet(inds, intel.SetOptions{Allow: allow, Now: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)})
	fmt.Println("indexed", report.Indexed, "rejected", len(rejected))
	for _, a := range report.Allowlisted {
		fmt.Println("never alerts:", a.Indicator.String(), "on", a.List)
	}

	// A Zeek DNS record, as decode fills it.
	e := &event.Event{Time: time.Date(2024, 4, 1, 3, 0, 0, 0, time.UTC),
		SrcIP: netip.MustParseAddr("10.8.0.61"), DstIP: netip.MustParseAddr("8.8.8.8")}
	e.Add(event.K("dns.question.name"), "mongoles.3322.org")
	e.Add(event.K("zeek.dns.answers"), "123.183.210.28")
	for _, h := range set.Match(e, nil) {
		fmt.Printf("%s %s matched %s (%s, confidence %d, %s)\n", h.Field, h.Value, h.Indicator.Value,
			h.Indicator.Name, h.Indicator.Confidence, h.Indicator.Source)
	}
	// Output:
	// indexed 2 rejected 0
	// never alerts: ip:8.8.8.8 on List of known IPv4 public DNS resolvers
	// dns.question.name mongoles.3322.org matched mongoles.3322.org (PoisonIvy C2, confidence 85, isac)
	// zeek.dns.answers 123.183.210.28 matched 123.183.210.28 (PoisonIvy C2, confidence 85, isac)
}
