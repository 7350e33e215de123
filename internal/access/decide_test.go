package access

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var caseTime = time.Date(2026, 4, 1, 10, 0, 0, 0, mustTokyo())

func mustTokyo() *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return loc
}

// hospital returns a decider over testdata/hospital, with its review queue and a recorder.
func hospital(t testing.TB) (*Decider, *MemoryQueue, *memRecorder) {
	t.Helper()
	ents, err := LoadCSV("testdata/hospital", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := NewDirectory()
	if err := dir.Replace(ents); err != nil {
		t.Fatal(err)
	}
	q, rec := NewMemoryQueue(), &memRecorder{}
	d, err := New("tokyo-general", Options{Directory: dir, Reviews: q, Recorder: rec, ReviewSLA: 48 * time.Hour,
		Now: func() time.Time { return caseTime }})
	if err != nil {
		t.Fatal(err)
	}
	return d, q, rec
}

// memRecorder stands in for the archive: it keeps each decision as the JSON line the
// integrator appends.
type memRecorder struct {
	mu    sync.Mutex
	lines [][]byte
}

func (m *memRecorder) RecordDecision(ctx context.Context, d *Decision) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.lines = append(m.lines, b)
	m.mu.Unlock()
	return nil
}

var ward = Device{ID: "5E-PC-01", Managed: true, Compliant: true, Location: "ward-5E", Network: NetworkWard}

func breakGlassRequest() Request {
	return Request{
		Subject:      Subject{ID: "N002"},
		Action:       ActionView,
		Resource:     Resource{Patient: "P005", DataType: "chart", Department: "internal_medicine"},
		Device:       ward,
		Emergency:    true,
		PurposeOfUse: "ETREAT",
		Reason:       "意識障害で救急搬送、既往歴の確認のため",
	}
}

// TestBreakGlassToReview follows a break-glass access from the request to the review
// queue, to the reviewer's verdict, and to the record kept for the archive.
func TestBreakGlassToReview(t *testing.T) {
	ctx := context.Background()
	d, q, rec := hospital(t)
	dec := d.Decide(ctx, breakGlassRequest())
	if !dec.Allowed() || !dec.BreakGlass {
		t.Fatalf("Decide(break-glass) = %s break_glass=%v (%s), want an allowed break-glass", dec.Decision, dec.BreakGlass, dec.Reason)
	}
	if want := []string{ObligationLog, ObligationNotify, ObligationReview}; !slices.Equal(dec.Obligations, want) {
		t.Errorf("Obligations = %v, want %v", dec.Obligations, want)
	}
	pending, err := q.Pending(ctx, "tokyo-general")
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].ID != dec.ID {
		t.Fatalf("Pending = %+v, want the one break-glass decision %s", pending, dec.ID)
	}
	if due := caseTime.Add(48 * time.Hour); !pending[0].Due.Equal(due) {
		t.Errorf("Due = %v, want %v (the review SLA)", pending[0].Due, due)
	}
	if pending[0].Overdue(caseTime.Add(47*time.Hour)) || !pending[0].Overdue(caseTime.Add(49*time.Hour)) {
		t.Errorf("Overdue is wrong around the due time %v", pending[0].Due)
	}
	if other, _ := q.Pending(ctx, "osaka-central"); len(other) != 0 {
		t.Errorf("Pending(another hospital) = %d items, want none", len(other))
	}
	if _, err := q.Review(ctx, "osaka-central", dec.ID, OutcomeJustified, "privacy-officer", "", caseTime); !errors.Is(err, ErrReviewNotFound) {
		t.Errorf("Review from another hospital = %v, want ErrReviewNotFound", err)
	}
	it, err := q.Review(ctx, "tokyo-general", dec.ID, OutcomeJustified, "PO01", "救急外来での診療のため妥当", caseTime.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if it.Outcome != OutcomeJustified || it.Reviewer != "PO01" {
		t.Errorf("Review = %+v", it)
	}
	if _, err := q.Review(ctx, "tokyo-general", dec.ID, OutcomeNotJustified, "PO02", "", caseTime); !errors.Is(err, ErrReviewed) {
		t.Errorf("second Review = %v, want ErrReviewed", err)
	}
	if pending, _ := q.Pending(ctx, "tokyo-general"); len(pending) != 0 {
		t.Errorf("Pending after review = %d, want 0", len(pending))
	}

	// The record for the archive says who, what, which patient, why, and which policy.
	if len(rec.lines) != 1 {
		t.Fatalf("recorded %d decisions, want 1", len(rec.lines))
	}
	var got map[string]any
	if err := json.Unmarshal(rec.lines[0], &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"decision": "allow", "patient": "P005", "break_glass": true,
		"break_glass_reason": "意識障害で救急搬送、既往歴の確認のため", "id": dec.ID, "tenant": "tokyo-general"} {
		if got[k] != want {
			t.Errorf("archived %s = %v, want %v", k, got[k], want)
		}
	}
	if pol := got["policies"].([]any); len(pol) != 1 || pol[0] != "break-glass" {
		t.Errorf("archived policies = %v, want [break-glass]", pol)
	}
}

func TestOrdinaryDecisionIsNotQueued(t *testing.T) {
	d, q, rec := hospital(t)
	req := breakGlassRequest()
	req.Reason = ""
	req.PurposeOfUse = "BTG"
	dec := d.Decide(context.Background(), req)
	if dec.Allowed() {
		t.Fatalf("Decide(BTG without a reason) = allow, want deny")
	}
	if p, _ := q.Pending(context.Background(), "tokyo-general"); len(p) != 0 {
		t.Errorf("a denied request was queued for review: %+v", p)
	}
	if len(rec.lines) != 1 {
		t.Errorf("recorded %d decisions, want 1: denials are recorded too", len(rec.lines))
	}
}

// TestDecisionJSON holds the archived form of a decision to testdata/decision.golden.json:
// the archive keeps these for ten years, so a field must not change name unnoticed.
func TestDecisionJSON(t *testing.T) {
	d, _, _ := hospital(t)
	dec := d.Decide(context.Background(), breakGlassRequest())
	dec.ID = "0123456789abcdef0123456789abcdef"
	got, err := json.MarshalIndent(dec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "decision.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Decision JSON differs from %s (-want +got):\n%s\nrun go test -update if the change is meant", golden, diff)
	}
	var back Decision
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dec, back); diff != "" {
		t.Errorf("Decision JSON does not round-trip (-want +got):\n%s", diff)
	}
}

func TestShift(t *testing.T) {
	d, _, _ := hospital(t)
	tests := []struct {
		clock string
		want  string
	}{
		{"08:29", ShiftNight}, {"08:30", ShiftDay}, {"12:00", ShiftDay}, {"17:14", ShiftDay}, {"17:15", ShiftNight}, {"03:00", ShiftNight},
	}
	for _, tt := range tests {
		at, _ := time.ParseInLocation("2006-01-02 15:04", "2026-04-01 "+tt.clock, mustTokyo())
		if got := d.Shift(at.UTC()); got != tt.want {
			t.Errorf("Shift(%s Tokyo) = %s, want %s", tt.clock, got, tt.want)
		}
	}
}

// TestDirectoryReplaceWhileDeciding decides from many goroutines while the directory is
// replaced and updated: every decision sees either the old or the new directory whole.
func TestDirectoryReplaceWhileDeciding(t *testing.T) {
	d, _, _ := hospital(t)
	dir := d.Directory()
	before := dir.Entities()
	req := Request{Subject: Subject{ID: "D002"}, Action: ActionView, Resource: Resource{Patient: "P009", DataType: "chart"}, Device: ward}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				dec := d.Decide(context.Background(), req)
				if dec.Decision == "allow" && !slices.Equal(dec.Policies, []string{"consultation-open"}) {
					t.Errorf("allowed by %v, want consultation-open", dec.Policies)
					return
				}
			}
		})
	}
	for i := range 50 {
		if err := dir.PutConsultation(Consultation{ID: "CON-9", Patient: "P009", ToDepartment: "cardiology"}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := dir.Replace(before); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if got := d.Decide(context.Background(), req); !got.Allowed() {
		t.Errorf("after PutConsultation, Decide = %s (%s), want allow", got.Decision, got.Reason)
	}
	if err := dir.PutConsultation(Consultation{ID: "CON-9", Patient: "P009", ToDepartment: "cardiology", Validity: Validity{Until: caseTime.Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if got := d.Decide(context.Background(), req); got.Allowed() {
		t.Errorf("after closing the consultation a minute ago, Decide = allow, want deny")
	}
}

func TestDirectoryRefusesBadEntities(t *testing.T) {
	dir := NewDirectory()
	if err := dir.PutStaff(Staff{ID: "D1", Role: "doctor", Department: "surgery"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func() error
	}{
		{"assignment to unknown staff", func() error { return dir.AddAssignment(Assignment{Staff: "D9", Patient: "P1"}) }},
		{"staff without role", func() error { return dir.PutStaff(Staff{ID: "D2"}) }},
		{"consultation to nobody", func() error { return dir.PutConsultation(Consultation{ID: "C1", Patient: "P1"}) }},
		{"validity backwards", func() error {
			return dir.AddAssignment(Assignment{Staff: "D1", Patient: "P1", Validity: Validity{From: caseTime, Until: caseTime.Add(-time.Hour)}})
		}},
		{"care team member unknown", func() error { return dir.AddCareTeam([]CareTeamMember{{Team: "T", Staff: "X"}}, nil) }},
	}
	for _, tt := range tests {
		if err := tt.fn(); !errors.Is(err, ErrEntity) {
			t.Errorf("%s: err = %v, want ErrEntity", tt.name, err)
		}
	}
	if got := dir.Entities(); len(got.Staff) != 1 || len(got.Assignments) != 0 || len(got.Consultations) != 0 {
		t.Errorf("after refused updates the directory holds %+v, want only D1", got)
	}
}

func TestRequestCheck(t *testing.T) {
	good := breakGlassRequest()
	tests := []struct {
		name string
		edit func(*Request)
	}{
		{"no subject", func(r *Request) { r.Subject.ID = "" }},
		{"unknown action", func(r *Request) { r.Action = "delete" }},
		{"no patient", func(r *Request) { r.Resource.Patient = "" }},
		{"no data type", func(r *Request) { r.Resource.DataType = "" }},
		{"bad sensitivity", func(r *Request) { r.Resource.Sensitivity = "secret" }},
		{"bad network", func(r *Request) { r.Device.Network = "wifi" }},
		{"bad shift", func(r *Request) { r.Shift = "evening" }},
	}
	if err := good.Check(); err != nil {
		t.Fatalf("Check(good) = %v", err)
	}
	d, _, _ := hospital(t)
	for _, tt := range tests {
		r := good
		tt.edit(&r)
		if err := r.Check(); !errors.Is(err, ErrRequest) {
			t.Errorf("%s: Check = %v, want ErrRequest", tt.name, err)
		}
		if dec := d.Decide(context.Background(), r); dec.Allowed() || dec.Reason == "" {
			t.Errorf("%s: Decide = %s (%q), want a deny with the reason", tt.name, dec.Decision, dec.Reason)
		}
	}
}

func TestBench(t *testing.T) {
	res, err := Bench(context.Background(), BenchOptions{Staff: 200, Patients: 1000, N: 2000, HTTP: true, HTTPN: 200, Conns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.PerSecond <= 0 || res.P50 <= 0 || res.P99 < res.P50 || res.HTTPPerSecond <= 0 || res.BatchPerSecond <= 0 {
		t.Errorf("Bench = %+v, want positive rates and p99 >= p50", res)
	}
	if res.Allowed == 0 || res.Allowed == res.N {
		t.Errorf("Bench allowed %d of %d: the workload should mix allows and denies", res.Allowed, res.N)
	}
}

func BenchmarkDecide(b *testing.B) {
	ents := SyntheticHospital(2000, 20000, 1)
	dir := NewDirectory()
	if err := dir.Replace(ents); err != nil {
		b.Fatal(err)
	}
	d, err := New("bench", Options{Directory: dir})
	if err != nil {
		b.Fatal(err)
	}
	reqs := syntheticRequests(ents, 4096, 1)
	ctx := context.Background()
	b.ReportAllocs()
	lat := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		t0 := time.Now()
		d.Decide(ctx, reqs[i%len(reqs)])
		lat = append(lat, time.Since(t0))
		i++
	}
	if len(lat) > 100 {
		p50, p99, _ := percentiles(lat)
		b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
	}
}

func BenchmarkDecideParallel(b *testing.B) {
	ents := SyntheticHospital(2000, 20000, 1)
	dir := NewDirectory()
	if err := dir.Replace(ents); err != nil {
		b.Fatal(err)
	}
	d, _ := New("bench", Options{Directory: dir})
	reqs := syntheticRequests(ents, 4096, 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			d.Decide(context.Background(), reqs[i%len(reqs)])
			i++
		}
	})
}

var _ = bytes.MinRead
