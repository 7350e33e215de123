package access

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

// ErrEntity is wrapped by errors about roster, assignment, care team or consultation data.
var ErrEntity = errors.New("access: invalid entity")

// Validity is the time something holds: from From (inclusive) until Until (exclusive).
// A zero From means since always; a zero Until means until further notice.
type Validity struct {
	From  time.Time `json:"from,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// Active reports whether t falls within v.
func (v Validity) Active(t time.Time) bool {
	return (v.From.IsZero() || !t.Before(v.From)) && (v.Until.IsZero() || t.Before(v.Until))
}

func (v Validity) check() error {
	if !v.From.IsZero() && !v.Until.IsZero() && !v.Until.After(v.From) {
		return fmt.Errorf("valid_until %s is not after valid_from %s", v.Until.Format(time.RFC3339), v.From.Format(time.RFC3339))
	}
	return nil
}

// Staff is a member of staff from the roster (HR).
type Staff struct {
	ID             string    `json:"id"`
	Name           string    `json:"name,omitempty"`
	Role           string    `json:"role"`       // doctor, nurse, pharmacist, technician, therapist, clerk, ...
	Department     string    `json:"department"` // internal_medicine, psychiatry, emergency, pharmacy, ...
	Qualifications []string  `json:"qualifications,omitempty"`
	LastTraining   time.Time `json:"last_training,omitzero"` // the last security training; zero if never
	Validity                 // employment
}

// Assignment puts a patient in the care of one member of staff (主治医, 担当看護師).
type Assignment struct {
	Staff   string `json:"staff"`
	Patient string `json:"patient"`
	Validity
}

// CareTeamMember puts a member of staff on a care team (チーム医療: a ward team, the NST, ...).
type CareTeamMember struct {
	Team  string `json:"team"`
	Staff string `json:"staff"`
	Validity
}

// CareTeamPatient puts a patient in a care team's care.
type CareTeamPatient struct {
	Team    string `json:"team"`
	Patient string `json:"patient"`
	Validity
}

// Consultation (対診, 他科依頼) opens a patient's record to another department, or to one
// consultant, while it is open.
type Consultation struct {
	ID             string `json:"id"`
	Patient        string `json:"patient"`
	FromDepartment string `json:"from_department,omitempty"`
	ToDepartment   string `json:"to_department,omitempty"`
	Consultant     string `json:"consultant,omitempty"` // a staff ID, when it is asked of one person
	Validity              // opened (From) until closed (Until)
}

// Entities is everything the directory knows, as plain lists: what CSV import and the API
// produce and what Directory.Replace takes.
type Entities struct {
	Staff            []Staff           `json:"staff,omitempty"`
	Assignments      []Assignment      `json:"assignments,omitempty"`
	CareTeamMembers  []CareTeamMember  `json:"care_team_members,omitempty"`
	CareTeamPatients []CareTeamPatient `json:"care_team_patients,omitempty"`
	Consultations    []Consultation    `json:"consultations,omitempty"`
}

// Check reports every problem in e: missing keys, staff named but not on the roster,
// validity that ends before it starts, a staff ID listed twice.
func (e *Entities) Check() error {
	var errs []error
	bad := func(what string, i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %d: %w: %s", what, i+1, ErrEntity, fmt.Sprintf(format, args...)))
	}
	staff := make(map[string]bool, len(e.Staff))
	for i, s := range e.Staff {
		switch {
		case s.ID == "":
			bad("staff", i, "no id")
		case staff[s.ID]:
			bad("staff", i, "id %q listed twice", s.ID)
		case s.Role == "":
			bad("staff", i, "%s has no role", s.ID)
		}
		if err := s.check(); err != nil {
			bad("staff", i, "%s: %v", s.ID, err)
		}
		staff[s.ID] = true
	}
	for i, a := range e.Assignments {
		if a.Staff == "" || a.Patient == "" {
			bad("assignment", i, "needs staff and patient")
		} else if !staff[a.Staff] {
			bad("assignment", i, "staff %q is not on the roster", a.Staff)
		}
		if err := a.check(); err != nil {
			bad("assignment", i, "%v", err)
		}
	}
	for i, m := range e.CareTeamMembers {
		if m.Team == "" || m.Staff == "" {
			bad("care team member", i, "needs team and staff")
		} else if !staff[m.Staff] {
			bad("care team member", i, "staff %q is not on the roster", m.Staff)
		}
		if err := m.check(); err != nil {
			bad("care team member", i, "%v", err)
		}
	}
	for i, p := range e.CareTeamPatients {
		if p.Team == "" || p.Patient == "" {
			bad("care team patient", i, "needs team and patient")
		}
		if err := p.check(); err != nil {
			bad("care team patient", i, "%v", err)
		}
	}
	for i, c := range e.Consultations {
		switch {
		case c.Patient == "":
			bad("consultation", i, "no patient")
		case c.ToDepartment == "" && c.Consultant == "":
			bad("consultation", i, "needs to_department or consultant")
		case c.Consultant != "" && !staff[c.Consultant]:
			bad("consultation", i, "consultant %q is not on the roster", c.Consultant)
		}
		if err := c.check(); err != nil {
			bad("consultation", i, "%v", err)
		}
	}
	return errors.Join(errs...)
}

// Directory holds the current entities of one hospital. Reads (every decision) take no
// lock: they load an immutable snapshot, which writers replace atomically. Writers are
// serialized among themselves; a reader sees either the old or the new whole snapshot.
type Directory struct {
	cur atomic.Pointer[snapshot]
	mu  sync.Mutex // serializes writers
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	d := &Directory{}
	s, _ := build(Entities{})
	d.cur.Store(s)
	return d
}

// Replace checks e and, if it is sound, makes it the directory's content in one step.
// On error the directory keeps what it had. The directory keeps e; do not change it after.
func (d *Directory) Replace(e Entities) error {
	if err := e.Check(); err != nil {
		return fmt.Errorf("replace directory: %w", err)
	}
	s, err := build(e)
	if err != nil {
		return fmt.Errorf("replace directory: %w", err)
	}
	d.mu.Lock()
	d.cur.Store(s)
	d.mu.Unlock()
	return nil
}

// Update applies fn to a copy of the current entities and installs the result, as Replace
// does: the API's way to add, change or end one assignment or consultation without
// reloading everything. fn must not keep the pointer.
func (d *Directory) Update(fn func(e *Entities) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.cur.Load().entities.clone()
	if err := fn(&e); err != nil {
		return fmt.Errorf("update directory: %w", err)
	}
	if err := e.Check(); err != nil {
		return fmt.Errorf("update directory: %w", err)
	}
	s, err := build(e)
	if err != nil {
		return fmt.Errorf("update directory: %w", err)
	}
	d.cur.Store(s)
	return nil
}

// PutStaff adds members of staff to the roster or replaces those with the same ID.
func (d *Directory) PutStaff(staff ...Staff) error {
	return d.Update(func(e *Entities) error {
		for _, s := range staff {
			if i := slices.IndexFunc(e.Staff, func(x Staff) bool { return x.ID == s.ID }); i >= 0 {
				e.Staff[i] = s
			} else {
				e.Staff = append(e.Staff, s)
			}
		}
		return nil
	})
}

// AddAssignment records that a patient is in a staff member's care.
func (d *Directory) AddAssignment(a Assignment) error {
	return d.Update(func(e *Entities) error { e.Assignments = append(e.Assignments, a); return nil })
}

// AddCareTeam records care team membership of staff and of patients.
func (d *Directory) AddCareTeam(members []CareTeamMember, patients []CareTeamPatient) error {
	return d.Update(func(e *Entities) error {
		e.CareTeamMembers = append(e.CareTeamMembers, members...)
		e.CareTeamPatients = append(e.CareTeamPatients, patients...)
		return nil
	})
}

// PutConsultation opens a consultation, or replaces the one with the same ID (to close it,
// set its Until).
func (d *Directory) PutConsultation(c Consultation) error {
	return d.Update(func(e *Entities) error {
		if c.ID != "" {
			if i := slices.IndexFunc(e.Consultations, func(x Consultation) bool { return x.ID == c.ID }); i >= 0 {
				e.Consultations[i] = c
				return nil
			}
		}
		e.Consultations = append(e.Consultations, c)
		return nil
	})
}

// Entities returns a copy of the directory's content.
func (d *Directory) Entities() Entities { return d.cur.Load().entities.clone() }

func (e Entities) clone() Entities {
	return Entities{
		Staff:            slices.Clone(e.Staff),
		Assignments:      slices.Clone(e.Assignments),
		CareTeamMembers:  slices.Clone(e.CareTeamMembers),
		CareTeamPatients: slices.Clone(e.CareTeamPatients),
		Consultations:    slices.Clone(e.Consultations),
	}
}

// snapshot is an immutable, indexed copy of Entities.
type snapshot struct {
	entities      Entities
	staff         map[string]*staffEntry
	assigned      map[pair][]Validity         // staff, patient
	teamsOf       map[string][]CareTeamMember // by staff
	teamPatients  map[pair][]Validity         // team, patient
	consultations map[string][]Consultation   // by patient
}

type pair struct{ a, b string }

type staffEntry struct {
	Staff
	trainingDay int64        // dayNumber(LastTraining), 0 if never
	entity      cedar.Entity // built once: Staff::"id" in Role::"role", with its attributes
}

func build(e Entities) (*snapshot, error) {
	s := &snapshot{
		entities:      e,
		staff:         make(map[string]*staffEntry, len(e.Staff)),
		assigned:      make(map[pair][]Validity, len(e.Assignments)),
		teamsOf:       map[string][]CareTeamMember{},
		teamPatients:  make(map[pair][]Validity, len(e.CareTeamPatients)),
		consultations: map[string][]Consultation{},
	}
	for _, st := range e.Staff {
		quals := make([]types.Value, len(st.Qualifications))
		for i, q := range st.Qualifications {
			quals[i] = types.String(q)
		}
		var day int64
		if !st.LastTraining.IsZero() {
			day = dayNumber(st.LastTraining)
		}
		s.staff[st.ID] = &staffEntry{
			Staff:       st,
			trainingDay: day,
			entity: cedar.Entity{
				UID:     types.NewEntityUID(entityStaff, types.String(st.ID)),
				Parents: types.NewEntityUIDSet(types.NewEntityUID(entityRole, types.String(st.Role))),
				Attributes: types.NewRecord(types.RecordMap{
					"role":           types.String(st.Role),
					"department":     types.String(st.Department),
					"qualifications": types.NewSet(quals...),
					"trainingDay":    types.Long(day),
				}),
			},
		}
	}
	for _, a := range e.Assignments {
		k := pair{a.Staff, a.Patient}
		s.assigned[k] = append(s.assigned[k], a.Validity)
	}
	for _, m := range e.CareTeamMembers {
		s.teamsOf[m.Staff] = append(s.teamsOf[m.Staff], m)
	}
	for _, p := range e.CareTeamPatients {
		k := pair{p.Team, p.Patient}
		s.teamPatients[k] = append(s.teamPatients[k], p.Validity)
	}
	for _, c := range e.Consultations {
		s.consultations[c.Patient] = append(s.consultations[c.Patient], c)
	}
	return s, nil
}

func anyActive(vs []Validity, t time.Time) bool {
	for _, v := range vs {
		if v.Active(t) {
			return true
		}
	}
	return false
}

// relations are what the directory says about a member of staff and a patient at one time.
type relations struct {
	assigned, careTeam, consultation bool
}

func (s *snapshot) relations(st *staffEntry, patient string, t time.Time) relations {
	var r relations
	r.assigned = anyActive(s.assigned[pair{st.ID, patient}], t)
	for _, m := range s.teamsOf[st.ID] {
		if m.Active(t) && anyActive(s.teamPatients[pair{m.Team, patient}], t) {
			r.careTeam = true
			break
		}
	}
	for _, c := range s.consultations[patient] {
		if c.Active(t) && ((c.Consultant != "" && c.Consultant == st.ID) ||
			(c.Consultant == "" && c.ToDepartment != "" && c.ToDepartment == st.Department)) {
			r.consultation = true
			break
		}
	}
	return r
}
