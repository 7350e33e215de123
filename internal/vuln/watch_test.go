package vuln

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/store"
)

// fortigateBatch decodes FortiGate log lines as ingestion does and makes them a bus message.
func fortigateBatch(t *testing.T, seq uint64, lines ...string) bus.Msg {
	t.Helper()
	dec, err := decode.New("fortigate", decode.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for _, l := range lines {
		e := event.Event{Raw: []byte(l), Tenant: "handa"}
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("decode %q: %v", l, err)
		}
		evs = append(evs, e)
	}
	return bus.Msg{Seq: seq, Tenant: "handa", Subject: "events.handa", Data: event.AppendBatch(nil, evs)}
}

// The case: the inventory has the FortiGate but no version; its log reporting a
// vulnerable FortiOS opens the finding, a later one reporting the fixed version closes it.
// The version lines have the fields FortiOS documents for event 22080; the traffic line is
// from internal/decode's real-format sample.
func TestWatcherFollowsReportedVersions(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateTenant(ctx, "test", store.Tenant{ID: "handa"}); err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for _, f := range []string{"testdata/kev.json", "testdata/nvd/CVE-2024-21762.json", "testdata/nvd/CVE-2018-13379.json"} {
		b, _ := os.ReadFile(f)
		r, _, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
	}
	if _, err := Keep(ctx, st, recs); err != nil {
		t.Fatal(err)
	}
	inv := "address,name,category,cpe,exposure\n203.0.113.1,FGT60F-HOSP,infrastructure," + fortiOS + ",internet\n"
	if err := st.Tenant("handa").PutDocument(ctx, "test", store.DocAssets, []byte(inv), "1 asset"); err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(st, slog.New(slog.DiscardHandler))
	traffic := `date=2024-05-01 time=10:20:30 devname="FGT60F-HOSP" devid="FGT60FTK2109AAAA" eventtime=1714526430123456789 tz="+0900" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=192.168.10.21 srcport=50522 dstip=203.0.113.80 dstport=443 action="close" policyid=12 service="HTTPS" sentbyte=15320 rcvdbyte=88210`
	version := func(v string) string {
		return `date=2024-05-02 time=03:00:00 devname="FGT60F-HOSP" devid="FGT60FTK2109AAAA" eventtime=1714618800000000000 tz="+0900" logid="0100022080" type="event" subtype="system" level="information" vd="root" logdesc="Provisioning of latest firmware was completed" version="` + v + `" upgradedevice="FGT60FTK2109AAAA" msg="Provisioning of latest firmware was completed"`
	}
	findings := func() []store.Finding {
		fs, err := st.Tenant("handa").Findings(ctx, store.FindingOpen, store.FindingPatched)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}

	if err := w.Handle(ctx, []bus.Msg{fortigateBatch(t, 1, traffic)}); err != nil || len(findings()) != 0 {
		t.Fatalf("Handle(traffic) = %v, %d findings; want none", err, len(findings()))
	}
	if err := w.Handle(ctx, []bus.Msg{fortigateBatch(t, 2, traffic, version("v7.2.6"))}); err != nil {
		t.Fatal(err)
	}
	got := findings()
	if len(got) != 1 || got[0].CVE != "CVE-2024-21762" || got[0].State != store.FindingOpen || got[0].Asset != "203.0.113.1" {
		t.Fatalf("after FortiOS v7.2.6 reported: %+v, want CVE-2024-21762 open", got)
	}
	f, _ := Decode(got[0])
	if !f.Exploited || !f.Ransomware || f.Product != "fortinet fortios v7.2.6" || !strings.Contains(f.Why, "<7.2.7") {
		t.Errorf("finding = %+v, want exploited by ransomware, for fortios v7.2.6 in [7.2.0, 7.2.7)", f)
	}
	// Redelivered: nothing changes.
	if err := w.Handle(ctx, []bus.Msg{fortigateBatch(t, 2, traffic, version("v7.2.6"))}); err != nil || len(findings()) != 1 {
		t.Fatalf("Handle(again) = %v, %d findings; want the same one", err, len(findings()))
	}
	if err := w.Handle(ctx, []bus.Msg{fortigateBatch(t, 3, version("v7.2.7"))}); err != nil {
		t.Fatal(err)
	}
	got = findings()
	if len(got) != 1 || got[0].State != store.FindingPatched || got[0].StateReason != "no longer matches: the asset runs fortinet fortios v7.2.7" ||
		got[0].StateBy != "vuln:FGT60F-HOSP reported v7.2.7" {
		t.Errorf("after FortiOS v7.2.7 reported: %+v, want the finding patched, saying so", got)
	}
	// A device not in the inventory, and a batch that does not decode, are skipped.
	other := strings.ReplaceAll(version("v7.2.6"), "FGT60F-HOSP", "FGT-ELSEWHERE")
	if err := w.Handle(ctx, []bus.Msg{fortigateBatch(t, 4, other), {Seq: 5, Tenant: "handa", Data: []byte("junk")}}); err != nil {
		t.Errorf("Handle(unknown device, junk) = %v, want them skipped", err)
	}
}

func TestObserve(t *testing.T) {
	e := event.Event{Format: "fortigate", Host: "FGT"}
	e.Add(fgLogID, "0100022080")
	if _, ok := Observe(&e); ok {
		t.Error("Observe(22080 without version) = ok")
	}
	e.Add(fgVersion, "v7.2.6")
	if o, ok := Observe(&e); !ok || o.Version != "v7.2.6" || o.CPE != fortiOS {
		t.Errorf("Observe(22080 v7.2.6) = %+v, %v", o, ok)
	}
	e.Fields = nil
	e.Add(fgLogID, "0101039426") // an SSL-VPN login: its fields mean nothing about firmware
	e.Add(fgVersion, "v7.2.6")
	if _, ok := Observe(&e); ok {
		t.Error("Observe(a log other than 22080/22091) = ok")
	}
}
