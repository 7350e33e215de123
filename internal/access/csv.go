package access

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The CSV files of a directory folder (LoadCSV), as HR and the EHR export them. Columns are
// named by the header row, in any order; docs/ehr-access-policy.md describes them.
const (
	StaffFile            = "staff.csv"
	AssignmentsFile      = "assignments.csv"
	CareTeamMembersFile  = "care_team_members.csv"
	CareTeamPatientsFile = "care_team_patients.csv"
	ConsultationsFile    = "consultations.csv"
)

type csvSpec struct {
	required, optional []string
}

var csvSpecs = map[string]csvSpec{
	StaffFile:            {[]string{"id", "role", "department"}, []string{"name", "qualifications", "last_training", "valid_from", "valid_until"}},
	AssignmentsFile:      {[]string{"staff_id", "patient_id"}, []string{"valid_from", "valid_until"}},
	CareTeamMembersFile:  {[]string{"team_id", "staff_id"}, []string{"valid_from", "valid_until"}},
	CareTeamPatientsFile: {[]string{"team_id", "patient_id"}, []string{"valid_from", "valid_until"}},
	ConsultationsFile:    {[]string{"id", "patient_id"}, []string{"from_department", "to_department", "consultant_id", "opened_at", "closed_at"}},
}

// LoadCSV reads the directory's CSV files from dir: staff.csv is required, the others are
// read when present. Times without a zone are in loc (nil: Asia/Tokyo). The result is
// checked (Entities.Check) before it is returned.
func LoadCSV(dir string, loc *time.Location) (Entities, error) {
	var e Entities
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation("Asia/Tokyo"); err != nil {
			return e, err
		}
	}
	open := func(name string, required bool) (*os.File, error) {
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && !required {
			return nil, nil
		}
		return f, err
	}
	for _, name := range []string{StaffFile, AssignmentsFile, CareTeamMembersFile, CareTeamPatientsFile, ConsultationsFile} {
		f, err := open(name, name == StaffFile)
		if err != nil {
			return e, fmt.Errorf("load directory: %w", err)
		}
		if f == nil {
			continue
		}
		err = ReadCSV(f, name, loc, &e)
		f.Close()
		if err != nil {
			return e, fmt.Errorf("load directory %s: %w", dir, err)
		}
	}
	if err := e.Check(); err != nil {
		return e, fmt.Errorf("load directory %s: %w", dir, err)
	}
	return e, nil
}

// ReadCSV reads one CSV file of the kind name (StaffFile, AssignmentsFile, ...) from r and
// appends its rows to e: the import an HR or EHR export posts to. Times without a zone
// are in loc. It does not check references between files; Entities.Check does.
func ReadCSV(r io.Reader, name string, loc *time.Location, e *Entities) error {
	spec, ok := csvSpecs[filepath.Base(name)]
	if !ok {
		return fmt.Errorf("read %s: %w: not a directory file (want one of %s, %s, %s, %s, %s)", name, ErrEntity,
			StaffFile, AssignmentsFile, CareTeamMembersFile, CareTeamPatientsFile, ConsultationsFile)
	}
	br := bufio.NewReader(r)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3) // Excel writes a byte-order mark
	}
	cr := csv.NewReader(br)
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w: empty file, want a header row (%s)", name, ErrEntity, strings.Join(spec.required, ","))
	}
	if err != nil {
		return fmt.Errorf("read %s: %w: %w", name, ErrEntity, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(spec.required, h) && !slices.Contains(spec.optional, h) {
			return fmt.Errorf("read %s: %w: unknown column %q (columns: %s)", name, ErrEntity, h,
				strings.Join(append(slices.Clone(spec.required), spec.optional...), ", "))
		}
		if _, dup := col[h]; dup {
			return fmt.Errorf("read %s: %w: column %q twice", name, ErrEntity, h)
		}
		col[h] = i
	}
	for _, h := range spec.required {
		if _, ok := col[h]; !ok {
			return fmt.Errorf("read %s: %w: no column %q", name, ErrEntity, h)
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w: %w", name, ErrEntity, err)
		}
		line, _ := cr.FieldPos(0)
		row := csvRow{rec: rec, col: col, loc: loc}
		for _, v := range rec {
			if !utf8.ValidString(v) {
				return fmt.Errorf("read %s line %d: %w: not UTF-8 (save the file as UTF-8, not Shift_JIS)", name, line, ErrEntity)
			}
		}
		if err := row.into(filepath.Base(name), e); err != nil {
			return fmt.Errorf("read %s line %d: %w: %w", name, line, ErrEntity, err)
		}
	}
}

type csvRow struct {
	rec []string
	col map[string]int
	loc *time.Location
	err error
}

func (r *csvRow) str(name string) string {
	i, ok := r.col[name]
	if !ok || i >= len(r.rec) {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

func (r *csvRow) time(name string) time.Time {
	t, err := ParseTime(r.str(name), r.loc)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %w", name, err)
	}
	return t
}

func (r *csvRow) into(kind string, e *Entities) error {
	for _, h := range csvSpecs[kind].required {
		if r.str(h) == "" {
			return fmt.Errorf("%s is empty", h)
		}
	}
	v := Validity{From: r.time("valid_from"), Until: r.time("valid_until")}
	switch kind {
	case StaffFile:
		var quals []string
		for q := range strings.SplitSeq(r.str("qualifications"), ";") {
			if q = strings.TrimSpace(q); q != "" {
				quals = append(quals, q)
			}
		}
		e.Staff = append(e.Staff, Staff{ID: r.str("id"), Name: r.str("name"), Role: strings.ToLower(r.str("role")),
			Department: r.str("department"), Qualifications: quals, LastTraining: r.time("last_training"), Validity: v})
	case AssignmentsFile:
		e.Assignments = append(e.Assignments, Assignment{Staff: r.str("staff_id"), Patient: r.str("patient_id"), Validity: v})
	case CareTeamMembersFile:
		e.CareTeamMembers = append(e.CareTeamMembers, CareTeamMember{Team: r.str("team_id"), Staff: r.str("staff_id"), Validity: v})
	case CareTeamPatientsFile:
		e.CareTeamPatients = append(e.CareTeamPatients, CareTeamPatient{Team: r.str("team_id"), Patient: r.str("patient_id"), Validity: v})
	case ConsultationsFile:
		e.Consultations = append(e.Consultations, Consultation{ID: r.str("id"), Patient: r.str("patient_id"),
			FromDepartment: r.str("from_department"), ToDepartment: r.str("to_department"), Consultant: r.str("consultant_id"),
			Validity: Validity{From: r.time("opened_at"), Until: r.time("closed_at")}})
	}
	return r.err
}

var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02", "2006/01/02 15:04", "2006/01/02"}

// ParseTime reads a time as the CSV files write it: RFC 3339, or a date or date and time
// without a zone (2026-04-01, 2026-04-01 08:30, 2026/04/01), taken in loc. Empty is zero.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, l := range timeLayouts[1:] {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a time (want 2026-04-01, 2026-04-01 08:30 or RFC 3339)", s)
}
