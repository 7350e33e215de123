package access

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadCSV(t *testing.T) {
	e, err := LoadCSV("testdata/hospital", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Staff) != 11 || len(e.Assignments) != 5 || len(e.CareTeamMembers) != 3 || len(e.CareTeamPatients) != 1 || len(e.Consultations) != 4 {
		t.Errorf("LoadCSV counts = %d staff, %d assignments, %d members, %d team patients, %d consultations",
			len(e.Staff), len(e.Assignments), len(e.CareTeamMembers), len(e.CareTeamPatients), len(e.Consultations))
	}
	d1 := e.Staff[0]
	if d1.ID != "D001" || d1.Name != "内科 一郎" || d1.Role != "doctor" || len(d1.Qualifications) != 2 ||
		!d1.LastTraining.Equal(time.Date(2026, 1, 10, 0, 0, 0, 0, mustTokyo())) || !d1.Until.IsZero() {
		t.Errorf("staff D001 = %+v", d1)
	}
	c2 := e.Consultations[1]
	if c2.ID != "CON-2" || !c2.Until.Equal(time.Date(2026, 4, 1, 9, 59, 0, 0, mustTokyo())) {
		t.Errorf("consultation CON-2 = %+v, want closed 2026-04-01 09:59 JST", c2)
	}
}

func TestReadCSVRefuses(t *testing.T) {
	tests := []struct {
		name, file, text, want string
	}{
		{"unknown file", "people.csv", "id\n", "not a directory file"},
		{"empty", StaffFile, "", "header row"},
		{"unknown column", StaffFile, "id,role,department,shoe_size\nD1,doctor,x,27\n", `unknown column "shoe_size"`},
		{"missing column", AssignmentsFile, "staff_id\nD1\n", `no column "patient_id"`},
		{"empty required", StaffFile, "id,role,department\nD1,,x\n", "line 2: access: invalid entity: role is empty"},
		{"bad time", AssignmentsFile, "staff_id,patient_id,valid_from\nD1,P1,yesterday\n", `cannot read "yesterday" as a time`},
		{"Shift_JIS", StaffFile, "id,role,department,name\nD1,doctor,x,\x93\xfa\x96\x7b\n", "not UTF-8"},
		{"ragged row", StaffFile, "id,role,department\nD1,doctor\n", "wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Entities
			err := ReadCSV(strings.NewReader(tt.text), tt.file, time.UTC, &e)
			if !errors.Is(err, ErrEntity) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadCSV(%q) = %v, want ErrEntity saying %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestReadCSVExcel(t *testing.T) {
	// Excel in Japan saves "CSV UTF-8" with a byte-order mark and CRLF.
	var e Entities
	err := ReadCSV(strings.NewReader("\ufeffid,role,department,last_training\r\nD1,Doctor,surgery,2025/04/01\r\n"), StaffFile, mustTokyo(), &e)
	if err != nil {
		t.Fatal(err)
	}
	if s := e.Staff[0]; s.ID != "D1" || s.Role != "doctor" || !s.LastTraining.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, mustTokyo())) {
		t.Errorf("ReadCSV(Excel) = %+v", s)
	}
}

func TestLoadCSVChecksReferences(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StaffFile), []byte("id,role,department\nD1,doctor,surgery\n"), 0o644)
	os.WriteFile(filepath.Join(dir, AssignmentsFile), []byte("staff_id,patient_id\nD2,P1\n"), 0o644)
	if _, err := LoadCSV(dir, nil); !errors.Is(err, ErrEntity) || !strings.Contains(err.Error(), `staff "D2" is not on the roster`) {
		t.Errorf("LoadCSV with an assignment to unknown staff = %v", err)
	}
	if _, err := LoadCSV(t.TempDir(), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadCSV without staff.csv = %v, want not exist", err)
	}
}

func FuzzReadCSV(f *testing.F) {
	files, _ := filepath.Glob("testdata/hospital/*.csv")
	if len(files) == 0 {
		f.Fatal("no seed files in testdata/hospital")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(name), string(b))
	}
	f.Fuzz(func(t *testing.T, name, text string) {
		var e Entities
		if err := ReadCSV(strings.NewReader(text), name, time.UTC, &e); err != nil {
			if !errors.Is(err, ErrEntity) {
				t.Fatalf("ReadCSV error %v does not wrap ErrEntity", err)
			}
			return
		}
		// Whatever reads must be checkable and installable, or refused whole.
		d := NewDirectory()
		if err := d.Replace(e); err != nil && !errors.Is(err, ErrEntity) {
			t.Fatalf("Replace error %v does not wrap ErrEntity", err)
		}
	})
}
