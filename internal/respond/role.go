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
	// RoleResponder also adds, extends and revokes decisions, and approves or rejects what a
	// guardrail held back: the on-call security responder or clinical engineer.
	RoleResponder Role = "responder"
	// RoleAdmin may do everything a responder may.
	RoleAdmin Role = "admin"
)

// Roles returns every role, from least to most allowed.
func Roles() []Role { return []Role{RoleViewer, RoleResponder, RoleAdmin} }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles(), r) {
		return "", fmt.Errorf("%w: unknown role %q (want viewer, responder or admin)", ErrInvalid, s)
	}
	return r, nil
}

// canDecide reports whether the role may create or change decisions.
func (r Role) canDecide() bool { return r == RoleResponder || r == RoleAdmin }

// Person is who acts on a decision by API or CLI.
type Person struct {
	Name string // as shown in the audit log
	Role Role
}

// Actor is how the person appears in the audit log.
func (p Person) Actor() string { return "person:" + p.Name }

// may returns an ErrNotAllowed error unless p may change decisions; what says what was tried.
func (p Person) may(what string) error {
	if p.Name == "" {
		return fmt.Errorf("%w: %s needs a named person", ErrNotAllowed, what)
	}
	if !p.Role.canDecide() {
		return fmt.Errorf("%w: %s has role %q; to %s a person needs role responder or admin",
			ErrNotAllowed, p.Name, p.Role, what)
	}
	return nil
}
