package respond

import (
	"fmt"
	"slices"
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

// Person is who acts on a decision by API or CLI.
type Person struct {
	Name string // as shown in the audit log
	Role Role
}

// Actor is how the person appears in the audit log.
func (p Person) Actor() string { return "person:" + p.Name }

// may returns an ErrNotAllowed error unless p may change decisions; what says what was tried.
func (p Person) may(what string) error {
	return p.allowed(what, p.Role.canDecide(), "role responder, approver or admin")
}

// mayApprove returns an ErrNotAllowed error unless p may approve or reject held decisions.
func (p Person) mayApprove(what string) error {
	return p.allowed(what, p.Role.canApprove(), "role approver, signed in to the web UI with a second factor")
}

// allowed returns an ErrNotAllowed error, saying what the role lacks (needs), unless p is
// named and ok.
func (p Person) allowed(what string, ok bool, needs string) error {
	if p.Name == "" {
		return fmt.Errorf("%w: %s needs a named person", ErrNotAllowed, what)
	}
	if !ok {
		return fmt.Errorf("%w: %s has role %q; to %s a person needs %s", ErrNotAllowed, p.Name, p.Role, what, needs)
	}
	return nil
}
