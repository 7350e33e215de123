package auth

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
)

// Role is what a person does for a tenant. A person holds roles per tenant: a regional SOC's
// analyst may be analyst_l2 for three hospitals and viewer for a fourth.
type Role string

const (
	RoleViewer           Role = "viewer"            // reads the dashboard, alerts, incidents, decisions
	RoleAnalystL1        Role = "analyst_l1"        // triages alerts, searches events
	RoleAnalystL2        Role = "analyst_l2"        // also works incidents
	RoleIncidentLead     Role = "incident_lead"     // L3: also leads incidents, drafts reports
	RoleApprover         Role = "approver"          // approves or rejects what a guardrail held back
	RoleAuditor          Role = "auditor"           // reads everything, the audit log included; changes nothing
	RoleAdmin            Role = "admin"             // manages the tenant's users, tokens and settings
	RoleAuthorityLiaison Role = "authority_liaison" // answers authorities: exports with proofs, statutory reports
)

// Roles returns every role, in a fixed order.
func Roles() []Role {
	return []Role{RoleViewer, RoleAnalystL1, RoleAnalystL2, RoleIncidentLead, RoleApprover, RoleAuditor, RoleAdmin, RoleAuthorityLiaison}
}

// ParseRole returns the role named name, or an error naming the known ones.
func ParseRole(name string) (Role, error) {
	r := Role(name)
	if !slices.Contains(Roles(), r) {
		return "", fmt.Errorf("unknown role %q (known: %v)", name, Roles())
	}
	return r, nil
}

// RequiresTOTP reports whether holding r requires a second factor: the roles whose mistakes
// or theft cost most — changing who may do what, and releasing an action a guardrail held
// back near a life-support device.
func (r Role) RequiresTOTP() bool { return r == RoleAdmin || r == RoleApprover }

// Action is one thing a person may do in a tenant. Every UI route and API route names the
// action it needs; the permission table below is the one place that says which roles allow it.
type Action string

const (
	ActionViewDashboard    Action = "dashboard.view"
	ActionViewAlerts       Action = "alerts.view"
	ActionTriageAlerts     Action = "alerts.triage"
	ActionSearchEvents     Action = "events.search"
	ActionViewIncidents    Action = "incidents.view"
	ActionWorkIncidents    Action = "incidents.work"
	ActionLeadIncidents    Action = "incidents.lead"
	ActionDraftReports     Action = "reports.draft"
	ActionViewDecisions    Action = "decisions.view"
	ActionApproveDecisions Action = "decisions.approve"
	ActionRevokeDecisions  Action = "decisions.revoke"
	ActionViewAssets       Action = "assets.view"
	ActionExportArchive    Action = "archive.export"
	ActionViewAudit        Action = "audit.view"
	ActionManageUsers      Action = "users.manage"
	ActionManageTokens     Action = "tokens.manage"
	ActionManageSettings   Action = "settings.manage"
	// Who saw which patient's record is itself personal information: the access log and the
	// break-glass review queue are for the privacy officer (given auditor) and the admin.
	ActionViewAccess   Action = "access.view"
	ActionReviewAccess Action = "access.review"
)

// Actions returns every action, in a fixed order.
func Actions() []Action {
	return []Action{ActionViewDashboard, ActionViewAlerts, ActionTriageAlerts, ActionSearchEvents, ActionViewIncidents,
		ActionWorkIncidents, ActionLeadIncidents, ActionDraftReports, ActionViewDecisions, ActionApproveDecisions,
		ActionRevokeDecisions, ActionViewAssets, ActionExportArchive, ActionViewAudit, ActionManageUsers, ActionManageTokens, ActionManageSettings,
		ActionViewAccess, ActionReviewAccess}
}

// read is what every role that works in a tenant may see.
var read = []Action{ActionViewDashboard, ActionViewAlerts, ActionViewIncidents, ActionViewDecisions, ActionViewAssets}

// permissions is the permission table: role → actions. Roles do not inherit implicitly; each
// line lists what it adds to the ones it builds on, so the table reads in one place.
var permissions = func() map[Role][]Action {
	l1 := append(slices.Clone(read), ActionTriageAlerts, ActionSearchEvents)
	// Working incidents includes lifting a block that turns out wrong; approving what a
	// guardrail held back near a life-support device stays with the approver.
	l2 := append(slices.Clone(l1), ActionWorkIncidents, ActionRevokeDecisions)
	l3 := append(slices.Clone(l2), ActionLeadIncidents, ActionDraftReports)
	return map[Role][]Action{
		RoleViewer:       read,
		RoleAnalystL1:    l1,
		RoleAnalystL2:    l2,
		RoleIncidentLead: l3,
		RoleApprover:     append(slices.Clone(read), ActionApproveDecisions, ActionRevokeDecisions),
		// An auditor changes nothing in omamori; judging a break-glass access justified or
		// not is the privacy officer's review of what others did, so it is theirs.
		RoleAuditor: append(slices.Clone(read), ActionSearchEvents, ActionViewAudit, ActionViewAccess, ActionReviewAccess),
		RoleAdmin: append(slices.Clone(read), ActionViewAudit, ActionManageUsers, ActionManageTokens, ActionManageSettings,
			ActionViewAccess, ActionReviewAccess),
		// An authority liaison prepares what an authority asked for; it sees incidents and
		// drafts reports but does not triage or act.
		RoleAuthorityLiaison: {ActionViewDashboard, ActionViewIncidents, ActionSearchEvents, ActionExportArchive, ActionDraftReports},
	}
}()

// Allows reports whether r permits a.
func (r Role) Allows(a Action) bool { return slices.Contains(permissions[r], a) }

// Identity is a signed-in person as a request sees them: who they are and which roles they
// hold in which tenants.
type Identity struct {
	UserID       string
	Name         string
	DisplayName  string
	Home         string            // home tenant
	Roles        map[string][]Role // tenant → roles held there
	SecondFactor bool              // signed in with TOTP
	// MustChangePassword: the password is one someone else chose; until the person sets
	// their own, the UI lets them do nothing else.
	MustChangePassword bool
}

// Can reports whether the person may do a in tenant. Roles that require TOTP count only when
// the session was opened with it, so a gap elsewhere cannot turn a password into an admin.
func (id Identity) Can(tenant string, a Action) bool {
	for _, r := range id.Roles[tenant] {
		if r.RequiresTOTP() && !id.SecondFactor {
			continue
		}
		if r.Allows(a) {
			return true
		}
	}
	return false
}

// Tenants returns the tenants where the person holds any role, sorted.
func (id Identity) Tenants() []string { return slices.Sorted(maps.Keys(id.Roles)) }

// Actor names the person in the audit log.
func (id Identity) Actor() string { return "user:" + id.UserID }

// LogValue keeps log lines short.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", id.UserID), slog.String("name", id.Name))
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the person a request acts for; false if none signed in.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
