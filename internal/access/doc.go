// Package access is omamori's access decision point for the electronic health record (EHR):
// before it shows a record, the EHR (or any clinical system) asks "may this member of staff
// do this to this part of this patient's record, now, from this device?", and Decide answers
// allow or deny, with the policies that decided, the obligations that follow (log, notify the
// privacy officer, review) and a reason a person can read. It sits beside the data path: the
// API serves it (POST /api/v1/access/decide, see Handler), and every Decision it returns is a
// record the integrator appends to the archive through a Recorder, so that ten years later
// it can be shown who saw which record and why.
//
// # Policies as code: Cedar, not OPA
//
// The rules are Cedar policies (github.com/cedar-policy/cedar-go), not Rego for OPA. Both
// are real policy languages a hospital can keep in version control. Cedar won because:
//   - speed: the issue measured a need-to-know policy at about 2.5 µs in Cedar against
//     30–60 µs in OPA; here the whole default set of 15 policies, with the directory
//     lookups, decides in a median of about 5 µs (9 µs of CPU, 35 allocations) on a
//     2-core EPYC shared with other work (see Bench and `omamori access bench`);
//   - a schema: policies are type-checked against policies/hospital.cedarschema when they
//     load, so a misspelt attribute is refused at load time, not silently false at 3 a.m.;
//   - its semantics are the ones a hospital asks for: deny by default, and a forbid always
//     wins over a permit, so a narrowing rule (unmanaged device, overdue training) cannot be
//     undone by adding a permit elsewhere; policies cannot loop or call out;
//   - it is small: cedar-go pulls two modules, where OPA pulls dozens.
//
// The default set (policies/hospital.cedar) is written for a Japanese hospital: need-to-know
// by assignment (主治医・担当看護師) and care team, consultations (対診) open for their time,
// night duty cover (当直), pharmacists' dispensing checks, medical clerks (医事課) without
// clinical detail, 要配慮個人情報 (psychiatric, genetic, HIV) kept to the patient's
// department, devices and networks narrowing access, security training older than a year
// narrowing access, and break-glass with a reason. A hospital edits a copy and loads it
// with LoadPolicies; each policy names itself (@id), explains itself (@reason) and may carry
// obligations (@obligations). RunCases (omamori access test) checks policies against a
// file of expected decisions.
//
// # What Go does and what Cedar does
//
// Facts that depend on time and on lists are computed in Go from the Directory at the time
// of the request: whether the patient is assigned to the subject, shares a care team with
// them, or has a consultation open to them, and how many days old their security training
// is. The policies decide what those facts allow. This keeps the per-request entity set
// to two entities and the evaluation in microseconds, and keeps validity windows (an
// assignment that ended yesterday, a consultation closed a minute ago) in one tested place.
//
// # Break-glass
//
// A doctor or nurse in an emergency (emergency flag, or FHIR PurposeOfUse ETREAT or BTG)
// who gives a reason is allowed by the break-glass policy. When only that policy allows an
// access, the decision is flagged BreakGlass, carries the obligations notify_privacy_officer
// and review, and goes to the ReviewQueue with a due time (ReviewSLA), where a reviewer
// marks it justified or not justified. BTG without a reason is denied. The review queue is
// an interface: StoreQueue keeps it in the metadata store (what serve uses), MemoryQueue in
// memory for tests and tools.
package access
