package access

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"
)

// SyntheticHospital returns a hospital of the given size for benchmarks: staff in ten
// departments (doctors, nurses, pharmacists, technicians, clerks), each patient assigned
// to a doctor and a nurse and on a ward care team, and a consultation open for one
// patient in twenty. The same seed gives the same hospital.
func SyntheticHospital(staff, patients int, seed uint64) Entities {
	rng := rand.New(rand.NewPCG(seed, 1))
	depts := []string{"internal_medicine", "surgery", "cardiology", "psychiatry", "pediatrics", "orthopedics", "neurology", "emergency", "obstetrics", "oncology"}
	roles := []string{"doctor", "doctor", "nurse", "nurse", "nurse", "nurse", "pharmacist", "technician", "clerk"}
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	var e Entities
	var doctors, nurses []Staff
	for i := range staff {
		s := Staff{
			ID:             fmt.Sprintf("S%05d", i),
			Role:           roles[i%len(roles)],
			Department:     depts[rng.IntN(len(depts))],
			Qualifications: []string{"staff"},
			LastTraining:   base.AddDate(0, 0, -rng.IntN(400)),
		}
		e.Staff = append(e.Staff, s)
		switch s.Role {
		case "doctor":
			doctors = append(doctors, s)
		case "nurse":
			nurses = append(nurses, s)
		}
	}
	for p := range patients {
		pid := fmt.Sprintf("P%06d", p)
		d, n := doctors[rng.IntN(len(doctors))], nurses[rng.IntN(len(nurses))]
		e.Assignments = append(e.Assignments,
			Assignment{Staff: d.ID, Patient: pid, Validity: Validity{From: base.AddDate(0, 0, -10)}},
			Assignment{Staff: n.ID, Patient: pid, Validity: Validity{From: base.AddDate(0, 0, -10), Until: base.AddDate(0, 1, 0)}})
		e.CareTeamPatients = append(e.CareTeamPatients, CareTeamPatient{Team: fmt.Sprintf("ward-%d", p%40), Patient: pid})
		if p%20 == 0 {
			e.Consultations = append(e.Consultations, Consultation{ID: "C" + pid, Patient: pid, ToDepartment: depts[rng.IntN(len(depts))],
				Validity: Validity{From: base.AddDate(0, 0, -2), Until: base.AddDate(0, 0, 2)}})
		}
	}
	for i, s := range nurses {
		e.CareTeamMembers = append(e.CareTeamMembers, CareTeamMember{Team: fmt.Sprintf("ward-%d", i%40), Staff: s.ID})
	}
	return e
}

// syntheticRequests returns n requests against e: mostly assigned care, some unrelated
// lookups, sensitive data, remote devices and break-glass, as an EHR sends them.
func syntheticRequests(e Entities, n int, seed uint64) []Request {
	rng := rand.New(rand.NewPCG(seed, 2))
	types := []string{"chart", "chart", "chart", "lab", "lab", "prescription", "imaging", "psychiatric", "genetic", "billing"}
	actions := []string{ActionView, ActionView, ActionView, ActionView, ActionModify, ActionPrint}
	devices := []Device{
		{ID: "ward-pc", Managed: true, Compliant: true, Location: "ward", Network: NetworkWard},
		{ID: "ward-pc", Managed: true, Compliant: true, Location: "ward", Network: NetworkWard},
		{ID: "ward-pc", Managed: true, Compliant: true, Location: "ward", Network: NetworkWard},
		{ID: "laptop", Managed: true, Compliant: true, Location: "home", Network: NetworkVPN},
		{ID: "byod", Managed: false, Compliant: false, Location: "home", Network: NetworkHome},
	}
	t := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC) // 10:00 in Tokyo
	out := make([]Request, n)
	for i := range out {
		r := Request{Action: actions[rng.IntN(len(actions))], Device: devices[rng.IntN(len(devices))], PurposeOfUse: "TREAT",
			Time: t.Add(time.Duration(rng.IntN(20*3600)) * time.Second)}
		if i%3 != 0 && len(e.Assignments) > 0 { // an assigned patient
			a := e.Assignments[rng.IntN(len(e.Assignments))]
			r.Subject.ID, r.Resource.Patient = a.Staff, a.Patient
		} else {
			r.Subject.ID = e.Staff[rng.IntN(len(e.Staff))].ID
			r.Resource.Patient = fmt.Sprintf("P%06d", rng.IntN(max(1, len(e.CareTeamPatients))))
		}
		r.Resource.DataType = types[rng.IntN(len(types))]
		r.Resource.Department = "internal_medicine"
		if i%50 == 0 {
			r.Emergency, r.PurposeOfUse, r.Reason = true, "ETREAT", "救急搬送、既往歴の確認"
		}
		out[i] = r
	}
	return out
}

// BenchOptions size a Bench run.
type BenchOptions struct {
	Staff, Patients int // the synthetic hospital; zero: 2,000 staff and 20,000 patients
	N               int // decisions; zero: 200,000
	HTTP            bool
	HTTPN           int // decisions over HTTP; zero: 20,000
	Conns           int // concurrent HTTP clients; zero: 8
}

// BenchResult is what Bench measured.
type BenchResult struct {
	N                int
	PerSecond        float64 // in process, one goroutine
	P50, P99, Max    time.Duration
	CPUPerOp         time.Duration // process CPU time per decision (unix), whatever the load
	AllocsPerOp      float64
	BytesPerOp       float64
	Allowed          int
	HTTPN            int
	HTTPPerSecond    float64 // one decision per HTTP request, Conns clients at once
	HTTPP50, HTTPP99 time.Duration
	BatchPerSecond   float64 // decisions per second in batches of 100 over HTTP
}

// Bench measures Decide on a synthetic hospital: decisions per second, latency percentiles
// and allocations in process, and, with HTTP, decisions per second through Handler over
// loopback HTTP (what `omamori bench access` prints). Latencies are measured one by one,
// so they include the clock read (~50 ns).
func Bench(ctx context.Context, o BenchOptions) (BenchResult, error) {
	if o.Staff == 0 {
		o.Staff = 2000
	}
	if o.Patients == 0 {
		o.Patients = 20000
	}
	if o.N == 0 {
		o.N = 200_000
	}
	if o.HTTPN == 0 {
		o.HTTPN = 20_000
	}
	if o.Conns == 0 {
		o.Conns = 8
	}
	dir := NewDirectory()
	ents := SyntheticHospital(o.Staff, o.Patients, 1)
	if err := dir.Replace(ents); err != nil {
		return BenchResult{}, err
	}
	d, err := New("bench", Options{Directory: dir})
	if err != nil {
		return BenchResult{}, err
	}
	reqs := syntheticRequests(ents, 4096, 1)
	res := BenchResult{N: o.N}
	for i := range 2000 { // warm up
		d.Decide(ctx, reqs[i%len(reqs)])
	}
	lat := make([]time.Duration, o.N)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	start := time.Now()
	for i := range o.N {
		if i%4096 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		t0 := time.Now()
		dec := d.Decide(ctx, reqs[i%len(reqs)])
		lat[i] = time.Since(t0)
		if dec.Decision == "allow" {
			res.Allowed++
		}
	}
	el := time.Since(start)
	res.CPUPerOp = (processCPU() - cpu0) / time.Duration(o.N)
	runtime.ReadMemStats(&ms1)
	res.PerSecond = float64(o.N) / el.Seconds()
	res.AllocsPerOp = float64(ms1.Mallocs-ms0.Mallocs) / float64(o.N)
	res.BytesPerOp = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(o.N)
	res.P50, res.P99, res.Max = percentiles(lat)
	if !o.HTTP {
		return res, nil
	}
	return res, benchHTTP(ctx, d, reqs, o, &res)
}

func percentiles(lat []time.Duration) (p50, p99, maxv time.Duration) {
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
}

func benchHTTP(ctx context.Context, d *Decider, reqs []Request, o BenchOptions, res *BenchResult) error {
	// A plain server on a loopback port rather than net/http/httptest, which would put the
	// testing package into the binary: omamori bench runs this on the hospital's server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench access over HTTP: %w", err)
	}
	srv := &http.Server{Handler: Handler(func(*http.Request) (*Decider, error) { return d, nil }, nil)}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConnsPerHost: o.Conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	bodies := make([][]byte, len(reqs))
	for i, r := range reqs {
		r.Time = time.Time{}
		bodies[i], _ = json.Marshal(r)
	}
	post := func(body []byte) error {
		req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("bench access over HTTP: status %s", resp.Status)
		}
		return nil
	}
	run := func(n int, body func(i int) []byte, lat []time.Duration) (time.Duration, error) {
		var wg sync.WaitGroup
		errs := make(chan error, o.Conns)
		start := time.Now()
		for c := range o.Conns {
			wg.Go(func() {
				for i := c; i < n; i += o.Conns {
					t0 := time.Now()
					if err := post(body(i)); err != nil {
						errs <- err
						return
					}
					if lat != nil {
						lat[i] = time.Since(t0)
					}
				}
			})
		}
		wg.Wait()
		el := time.Since(start)
		close(errs)
		return el, <-errs
	}
	res.HTTPN = o.HTTPN
	lat := make([]time.Duration, o.HTTPN)
	el, err := run(o.HTTPN, func(i int) []byte { return bodies[i%len(bodies)] }, lat)
	if err != nil {
		return err
	}
	res.HTTPPerSecond = float64(o.HTTPN) / el.Seconds()
	res.HTTPP50, res.HTTPP99, _ = percentiles(lat)

	const batch = 100
	batches := make([][]byte, 8)
	for b := range batches {
		var sl []Request
		for i := range batch {
			r := reqs[(b*batch+i)%len(reqs)]
			r.Time = time.Time{}
			sl = append(sl, r)
		}
		batches[b], _ = json.Marshal(sl)
	}
	nb := max(1, o.HTTPN/batch)
	el, err = run(nb, func(i int) []byte { return batches[i%len(batches)] }, nil)
	if err != nil {
		return err
	}
	res.BatchPerSecond = float64(nb*batch) / el.Seconds()
	return nil
}
