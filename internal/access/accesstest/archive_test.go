package accesstest_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
)

// archiveRecorder is what the integrator wires: each decision appended to the archive.
type archiveRecorder struct{ a *archive.Archive }

func (r archiveRecorder) RecordDecision(ctx context.Context, d *access.Decision) error {
	ev, err := d.Event()
	if err != nil {
		return err
	}
	return r.a.Append(ctx, d.Tenant, 0, []event.Event{ev})
}

// TestBreakGlassToArchive follows a break-glass access from the request, through the review
// queue, into the real archive (sealed, encrypted, Merkle-proven), and back out of it by a
// search for the patient, as an auditor would ten years later.
func TestBreakGlassToArchive(t *testing.T) {
	ctx := context.Background()
	keys, err := keyring.New(keyring.Generate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(ctx, archive.Options{Dir: t.TempDir(), Keys: keys, CheckpointEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ents, err := access.LoadCSV(filepath.Join("..", "testdata", "hospital"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := access.NewDirectory()
	if err := dir.Replace(ents); err != nil {
		t.Fatal(err)
	}
	q := access.NewMemoryQueue()
	now := time.Date(2026, 4, 1, 10, 0, 0, 0, time.FixedZone("JST", 9*3600))
	d, err := access.New("tokyo-general", access.Options{Directory: dir, Reviews: q, Recorder: archiveRecorder{a}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ward := access.Device{ID: "ER-PC-02", Managed: true, Compliant: true, Location: "ER", Network: access.NetworkWard}
	dec := d.Decide(ctx, access.Request{Subject: access.Subject{ID: "N002"}, Action: access.ActionView,
		Resource: access.Resource{Patient: "P005", DataType: "chart", Department: "internal_medicine"}, Device: ward,
		Emergency: true, PurposeOfUse: "ETREAT", Reason: "意識障害で救急搬送、既往歴の確認のため"})
	d.Decide(ctx, access.Request{Subject: access.Subject{ID: "D001"}, Action: access.ActionView,
		Resource: access.Resource{Patient: "P001", DataType: "chart"}, Device: ward})
	if !dec.BreakGlass {
		t.Fatalf("Decide = %+v, want break-glass", dec)
	}
	if _, err := q.Review(ctx, "tokyo-general", dec.ID, access.OutcomeJustified, "PO01", "妥当", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	cond, err := archive.ParseCond("ehr.patient.id=P005")
	if err != nil {
		t.Fatal(err)
	}
	var found []access.Decision
	err = a.Search(ctx, archive.Query{Tenant: "tokyo-general", Where: []archive.Cond{cond}}, nil, func(r *archive.Record) error {
		var got access.Decision
		if err := json.Unmarshal(r.Event.Raw, &got); err != nil {
			return err
		}
		found = append(found, got)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 {
		t.Fatalf("archive search for patient P005 found %d decisions, want the one break-glass", len(found))
	}
	if diff := cmp.Diff(dec, found[0], cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("archived decision differs from the one returned (-returned +archived):\n%s", diff)
	}
	if all, _ := a.Size("tokyo-general"); all != 2 {
		t.Errorf("archive holds %d records, want 2: every decision, the allow of D001 too", all)
	}
}
