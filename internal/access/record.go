package access

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/omamori-project/omamori/internal/event"
)

// DecisionDataset is the event.dataset of decisions in the archive.
const DecisionDataset = "omamori.access.decision"

var (
	keyUserID          = event.K("user.id")
	keyUserRoles       = event.K("user.roles")
	keyUserDepartment  = event.K("ehr.user.department")
	keyPatientID       = event.K("ehr.patient.id")
	keyPatientDept     = event.K("ehr.patient.department")
	keyDataType        = event.K("ehr.data_type")
	keyPurpose         = event.K("ehr.purpose_of_use")
	keyOutcome         = event.K("ehr.outcome")
	keyTerminal        = event.K("ehr.terminal.id")
	keyBreakGlassUsed  = event.K("ehr.break_glass.used")
	keyBreakGlassWhy   = event.K("ehr.break_glass.reason")
	keyDecisionID      = event.K("access.decision.id")
	keyPolicies        = event.K("access.policies")
	keyObligations     = event.K("access.obligations")
	keySensitivity     = event.K("access.sensitivity")
	keyNetwork         = event.K("access.device.network")
	keyDeviceManaged   = event.K("access.device.managed")
	keyDeviceCompliant = event.K("access.device.compliant")
)

// Event returns d as the event the integrator appends to the archive: Raw is d's JSON
// form (the record of truth, read back with json.Unmarshal), and the fields searches need
// are set under the names the EHR access log uses (docs/ehr-access-log.md), so that one
// search by patient or by user finds both what the EHR logged and what omamori decided.
func (d *Decision) Event() (event.Event, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return event.Event{}, err
	}
	e := event.Event{
		Time:     d.Time,
		Received: d.Time,
		Tenant:   d.Tenant,
		Source:   "access",
		Format:   "access",
		Dataset:  DecisionDataset,
		Category: "database",
		Action:   d.Action,
		User:     d.Subject.ID,
		Message:  d.Reason,
		Outcome:  event.OutcomeFailure,
		Raw:      raw,
	}
	outcome := "denied"
	if d.Allowed() {
		e.Outcome, outcome = event.OutcomeSuccess, "allowed"
	}
	add := func(k event.Key, v string) {
		if v != "" {
			e.Add(k, v)
		}
	}
	add(keyDecisionID, d.ID)
	add(keyUserID, d.Subject.ID)
	add(keyUserRoles, d.Subject.Role)
	add(keyUserDepartment, d.Subject.Department)
	add(keyPatientID, d.Patient)
	add(keyPatientDept, d.Resource.Department)
	add(keyDataType, d.Resource.DataType)
	add(keySensitivity, d.Resource.Sensitivity)
	add(keyPurpose, d.Purpose)
	add(keyOutcome, outcome)
	add(keyTerminal, d.Device.ID)
	add(keyNetwork, d.Device.Network)
	add(keyDeviceManaged, strconv.FormatBool(d.Device.Managed))
	add(keyDeviceCompliant, strconv.FormatBool(d.Device.Compliant))
	add(keyPolicies, strings.Join(d.Policies, ","))
	add(keyObligations, strings.Join(d.Obligations, ","))
	add(keyBreakGlassUsed, strconv.FormatBool(d.BreakGlass))
	add(keyBreakGlassWhy, d.BreakGlassReason)
	return e, nil
}
