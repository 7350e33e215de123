package access

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// CasesFile is the form of a policy test file (YAML, or JSON, which is YAML too): a
// directory of staff and patients, and the decisions expected of the policies. Field
// names are those of the HTTP API's JSON. Times are RFC 3339.
//
//	x-devices:                         # keys starting x- are ignored: a place for YAML anchors
//	  ward: &ward {managed: true, compliant: true, network: ward}
//	time: 2026-04-01T10:00:00+09:00    # when every case happens, unless it says otherwise
//	directory: entities/               # optional: a folder of CSV files (LoadCSV), relative to this file
//	entities:                          # optional: entities inline, added to the folder's
//	  staff:
//	    - {id: D001, role: doctor, department: internal_medicine, last_training: 2026-01-10T00:00:00+09:00}
//	  assignments:
//	    - {staff: D001, patient: P001}
//	cases:
//	  - name: the attending doctor reads the chart
//	    request:
//	      subject: {id: D001}
//	      action: view
//	      resource: {patient: P001, data_type: chart, department: internal_medicine}
//	      device: *ward
//	    want: allow                    # allow or deny
//	    policies: [care-assigned]      # optional: exactly the policies that decide
//	    obligations: [log]             # optional: exactly these obligations
//	    break_glass: false             # optional
type CasesFile struct {
	Time      time.Time  `json:"time"`
	Directory string     `json:"directory,omitempty"`
	Entities  Entities   `json:"entities"`
	Cases     []TestCase `json:"cases"`
}

// TestCase is one expected decision.
type TestCase struct {
	Name        string    `json:"name"`
	Time        time.Time `json:"time,omitzero"`
	Request     Request   `json:"request"`
	Want        string    `json:"want"`
	Policies    *[]string `json:"policies,omitempty"`
	Obligations *[]string `json:"obligations,omitempty"`
	BreakGlass  *bool     `json:"break_glass,omitempty"`
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Name     string
	Decision Decision
	Problems []string // empty when the case passed
}

// CasesReport is the outcome of RunCases.
type CasesReport struct {
	Policies string // where the policies came from
	Results  []CaseResult
	Failed   int
}

// ReadCases reads a cases file.
func ReadCases(name string) (*CasesFile, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read cases %s: %w", name, err)
	}
	// Top-level keys starting "x-" hold YAML anchors (devices, subjects) that cases refer to.
	if m, ok := doc.(map[string]any); ok {
		for k := range m {
			if strings.HasPrefix(k, "x-") {
				delete(m, k)
			}
		}
	}
	// Through JSON, so that the API's field names and rules apply, and unknown fields
	// (a misspelt "policy") are refused rather than ignored.
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("read cases %s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var cf CasesFile
	if err := dec.Decode(&cf); err != nil {
		return nil, fmt.Errorf("read cases %s: %w", name, err)
	}
	if len(cf.Cases) == 0 {
		return nil, fmt.Errorf("read cases %s: no cases", name)
	}
	for i, c := range cf.Cases {
		if c.Want != "allow" && c.Want != "deny" {
			return nil, fmt.Errorf("read cases %s: case %d (%q): want is %q, not allow or deny", name, i+1, c.Name, c.Want)
		}
	}
	if cf.Directory != "" && !filepath.IsAbs(cf.Directory) {
		cf.Directory = filepath.Join(filepath.Dir(name), cf.Directory)
	}
	return &cf, nil
}

// RunCases decides every case of casesFile under the policies in policyDir (empty: the
// embedded defaults) and reports which ones did not decide as expected. An error means
// the policies or the cases could not be loaded; failed cases are counted in the report.
func RunCases(policyDir, casesFile string) (*CasesReport, error) {
	pol := DefaultPolicies()
	if policyDir != "" {
		var err error
		if pol, err = LoadPolicies(policyDir); err != nil {
			return nil, err
		}
	}
	cf, err := ReadCases(casesFile)
	if err != nil {
		return nil, err
	}
	return runCases(pol, cf)
}

func runCases(pol *Policies, cf *CasesFile) (*CasesReport, error) {
	ents := cf.Entities
	if cf.Directory != "" {
		fromCSV, err := LoadCSV(cf.Directory, nil)
		if err != nil {
			return nil, err
		}
		ents.Staff = append(fromCSV.Staff, ents.Staff...)
		ents.Assignments = append(fromCSV.Assignments, ents.Assignments...)
		ents.CareTeamMembers = append(fromCSV.CareTeamMembers, ents.CareTeamMembers...)
		ents.CareTeamPatients = append(fromCSV.CareTeamPatients, ents.CareTeamPatients...)
		ents.Consultations = append(fromCSV.Consultations, ents.Consultations...)
	}
	dir := NewDirectory()
	if err := dir.Replace(ents); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	d, err := New("cases", Options{Policies: pol, Directory: dir})
	if err != nil {
		return nil, err
	}
	rep := &CasesReport{Policies: pol.Source}
	for i, c := range cf.Cases {
		req := c.Request
		req.Time = cf.Time
		if !c.Time.IsZero() {
			req.Time = c.Time
		}
		if req.Time.IsZero() {
			return nil, fmt.Errorf("cases: case %d (%q) has no time, and the file none either", i+1, c.Name)
		}
		dec := d.Decide(context.Background(), req)
		res := CaseResult{Name: c.Name, Decision: dec}
		if c.Name == "" {
			res.Name = fmt.Sprintf("case %d", i+1)
		}
		if dec.Decision != c.Want {
			res.Problems = append(res.Problems, fmt.Sprintf("decision %s, want %s (%s)", dec.Decision, c.Want, dec.Reason))
		}
		if c.Policies != nil && !sameSet(dec.Policies, *c.Policies) {
			res.Problems = append(res.Problems, fmt.Sprintf("policies [%s], want [%s]", strings.Join(dec.Policies, " "), strings.Join(*c.Policies, " ")))
		}
		if c.Obligations != nil && !sameSet(dec.Obligations, *c.Obligations) {
			res.Problems = append(res.Problems, fmt.Sprintf("obligations [%s], want [%s]", strings.Join(dec.Obligations, " "), strings.Join(*c.Obligations, " ")))
		}
		if c.BreakGlass != nil && dec.BreakGlass != *c.BreakGlass {
			res.Problems = append(res.Problems, fmt.Sprintf("break_glass %v, want %v", dec.BreakGlass, *c.BreakGlass))
		}
		for _, e := range dec.Errors {
			res.Problems = append(res.Problems, "evaluation error: "+e)
		}
		if len(res.Problems) > 0 {
			rep.Failed++
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// Err returns an error naming the failed cases, or nil when all passed.
func (r *CasesReport) Err() error {
	if r.Failed == 0 {
		return nil
	}
	var errs []error
	for _, res := range r.Results {
		if len(res.Problems) > 0 {
			errs = append(errs, fmt.Errorf("%s: %s", res.Name, strings.Join(res.Problems, "; ")))
		}
	}
	return fmt.Errorf("%d of %d cases failed: %w", r.Failed, len(r.Results), errors.Join(errs...))
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
