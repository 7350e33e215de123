package scenario_test

import (
	"bytes"
	"io/fs"
	"net/netip"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/sigma"
)

// TestHospitalFiles: the demo hospital's inventory names the scenario's ventilator as
// life-support, and its own rule finds the one connection to it in the attack and none in a
// day of routine traffic.
func TestHospitalFiles(t *testing.T) {
	data, err := fs.ReadFile(scenario.Hospital(), "assets.csv")
	if err != nil {
		t.Fatal(err)
	}
	assets, err := asset.ParseCSV(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := asset.New(assets)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := inv.Lookup(netip.MustParseAddr(scenario.Ventilator)); !ok || a.Category != asset.LifeSupport {
		t.Errorf("the ventilator in the inventory: %+v %v, want life-support", a, ok)
	}

	rs, rep, err := sigma.Load(scenario.Hospital(), sigma.Options{}, "rules")
	if err != nil || rep.Compiled != 1 {
		t.Fatalf("the hospital's rule: %v, %+v", err, rep)
	}
	m := rs.NewMatcher()
	matches := func(records []scenario.Record) (n int, ids []string) {
		for _, r := range records {
			d, err := decode.New(r.Format, decode.Options{Location: time.UTC})
			if err != nil {
				t.Fatal(err)
			}
			e := event.Event{Raw: r.Data, Received: r.At}
			if err := d.Decode(&e); err != nil {
				t.Fatal(err)
			}
			for _, mt := range m.Match(&e, nil) {
				n++
				ids = append(ids, mt.Rule.ID)
			}
		}
		return n, ids
	}
	if n, ids := matches(scenario.Ransomware(time.Now())); n != 1 || ids[0] != scenario.LifeSupportRule {
		t.Errorf("the attack: %d matches %v, want the one connection to the ventilator", n, ids)
	}
	var routine []scenario.Record
	for l := range bytes.Lines(scenario.Routine(5000)) {
		routine = append(routine, scenario.Record{At: time.Now(), Format: "syslog", Data: bytes.TrimSuffix(l, []byte("\n"))})
	}
	if n, _ := matches(routine); n != 0 {
		t.Errorf("routine traffic: %d matches, want none", n)
	}
}
