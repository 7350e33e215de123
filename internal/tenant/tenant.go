// Package tenant names the hospitals omamori keeps apart. A tenant's ID is a token of a bus
// subject (EVENTS.<tenant>), the name of its archive directory, the key of its rows in the
// store and a segment of its web paths (/t/<tenant>/...), so one rule, Parse, says what an ID
// may be, and every entry point (ingest, the bus, the archive, the store, the API and the
// config) refuses what Parse refuses.
package tenant

import (
	"errors"
	"fmt"
)

// ID names a tenant: 1 to 63 lower-case letters, digits, '-' or '_', starting with a letter
// or digit, such as "tokyo-general". Lower case only, so that "Tokyo" and "tokyo" cannot be
// two hospitals whose archive directories collide on a case-insensitive file system; no '.',
// '*', '>' or white space, which would change the meaning of a subject.
type ID string

// Rule says in words what Parse accepts, for hints.
const Rule = "1 to 63 lower-case letters, digits, - or _, starting with a letter or digit"

// ErrInvalid is wrapped by the errors of Parse.
var ErrInvalid = errors.New("tenant: invalid ID")

// Parse returns s as an ID, or an error wrapping ErrInvalid that says the rule.
func Parse(s string) (ID, error) {
	if !valid(s) {
		return "", fmt.Errorf("%w %q: want %s", ErrInvalid, s, Rule)
	}
	return ID(s), nil
}

// valid is Parse's rule, written as a loop rather than a regular expression: the bus checks
// every batch it publishes.
func valid(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

func (id ID) String() string { return string(id) }
