package respond

import (
	"fmt"
	"slices"

	"github.com/omamori-project/omamori/internal/auth"
)

// Role is what a person may do with decisions. The API maps a caller's credentials to a role.
type Role string

const (
	// RoleViewer sees decisions, including held ones and how long they have waited.
	RoleViewer Role = "viewer"
	// RoleResponder also adds, extends and revokes decisions: the on-call security
	// responder, or a script with an API token.
	RoleResponder Role = "responder"
	// RoleApprover may also approve or reject what a guardrail held back: a person who
	// answers for the patient's safety (the clinical engineer, the CSIRT lead), signed in
	// with a second factor. An API token is never one.
	RoleApprover Role = "approver"
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
)

// Roles returns every role, from least to most allowed.
func Roles() []Role { return []Role{RoleViewer, RoleResponder, RoleApprover, RoleAdmin} }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles(), r) {
		return "", fmt.Errorf("%w: unknown role %q (want viewer, responder, approver or admin)", ErrInvalid, s)
	}
	return r, nil
}

// canDecide reports whether the role may create or change decisions.
func (r Role) canDecide() bool { return r == RoleResponder || r == RoleApprover || r == RoleAdmin }

// canApprove reports whether the role may approve or reject a held decision.
func (r Role) canApprove() bool { return r == RoleApprover || r == RoleAdmin }

// Person is who acts on a decision: a person signed in to the web UI, or a machine acting by
// an API token (a script, the CLI, a SOAR) in the token's name. Make one with SignedIn or
// ByToken, which take what the authentication proved and the tenant it holds for; only
// SignedIn can make a person who may approve a held decision. A Person written as a literal
// has proven nothing and is bound to no tenant, so it may do nothing but look, whatever its
// role says.
type Person struct {
	Name string // as shown in the audit log
	Role Role
	// tenant is the tenant Role is held in, when a constructor made the person: acting on
	// another tenant's decisions is refused.
	tenant string
	// secondFactor is set for a person who signed in to the web UI with password and TOTP.
	secondFactor bool
	token        bool // an API token acting, not a person
}

// SignedIn is the person of a web UI session acting in tenant. Their role comes from the one
// permission table (package auth): approver if they may approve decisions there, which the
// table grants only to a session opened with TOTP; responder if they may revoke them; viewer
// otherwise, as for a person who holds no role in tenant.
func SignedIn(id auth.Identity, tenant string) Person {
	p := Person{Name: id.Name, Role: RoleViewer, tenant: tenant, secondFactor: id.SecondFactor}
	switch {
	case id.Can(tenant, auth.ActionApproveDecisions):
		p.Role = RoleApprover
	case id.Can(tenant, auth.ActionRevokeDecisions):
		p.Role = RoleResponder
	}
	return p
}

// ByToken is the machine acting by API token p, in p's tenant: a responder if the token has
// scope respond, a viewer otherwise. A token is never a person, so it never approves a held
// decision nor overrides a guardrail, whatever its scopes.
func ByToken(p auth.Principal) Person {
	who := Person{Name: p.Actor(), Role: RoleViewer, tenant: p.Tenant, token: true}
	if p.Has(auth.ScopeRespond) {
		who.Role = RoleResponder
	}
	return who
}

// Actor is how the person appears in the audit log.
func (p Person) Actor() string { return "person:" + p.Name }

// may returns an ErrNotAllowed error unless p may change tenant's decisions; what says what
// was tried.
func (p Person) may(tenant, what string) error {
	if why := p.refusal(tenant, what, p.Role.canDecide(), "role responder, approver or admin"); why != "" {
		return fmt.Errorf("%w: %s", ErrNotAllowed, why)
	}
	return nil
}

// approverNeeds is what approving takes, as the refusals say it.
const approverNeeds = "role approver, signed in to the web UI with a second factor"

// mayApprove returns an ErrNotAllowed error unless p may approve or reject tenant's held
// decisions: a person with the approver role who signed in with a second factor.
func (p Person) mayApprove(tenant, what string) error {
	if why := p.approveRefusal(tenant, what); why != "" {
		return fmt.Errorf("%w: %s", ErrNotAllowed, why)
	}
	return nil
}

// approveRefusal says why p may not approve, reject or extend a guarded decision (what) in
// tenant, or "" if p may.
func (p Person) approveRefusal(tenant, what string) string {
	if p.token {
		return fmt.Sprintf("%s is an API token, whatever its scopes; to %s takes a person with %s", p.Name, what, approverNeeds)
	}
	if why := p.refusal(tenant, what, p.Role.canApprove(), approverNeeds); why != "" {
		return why
	}
	if !p.secondFactor {
		return fmt.Sprintf("%s has role %q but did not sign in to the web UI with a second factor; to %s a person needs %s",
			p.Name, p.Role, what, approverNeeds)
	}
	return ""
}

// refusal says why p may not do what in tenant — unnamed, bound to no tenant (a literal, not
// made by SignedIn or ByToken), of another tenant, or a role that lacks it (needs says what
// it takes) — or "" if p may.
func (p Person) refusal(tenant, what string, ok bool, needs string) string {
	switch {
	case p.Name == "":
		return what + " needs a named person"
	case p.tenant == "":
		return fmt.Sprintf("%s was not signed in or given by an API token (respond.SignedIn, respond.ByToken), so holds no role in %s", p.Name, tenant)
	case p.tenant != tenant:
		return fmt.Sprintf("%s acts for tenant %s, not %s", p.Name, p.tenant, tenant)
	case !ok:
		return fmt.Sprintf("%s has role %q; to %s a person needs %s", p.Name, p.Role, what, needs)
	}
	return ""
}
