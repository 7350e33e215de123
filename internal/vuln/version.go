package vuln

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrNotComparable means two versions are not in an order omamori can know: a number stands
// where the other has letters (9.1R1 against 9.1.1), or their letters differ (10.2-d against
// 10.2-sv). A match that needs the comparison is then "possible", never guessed either way.
var ErrNotComparable = errors.New("vuln: versions not comparable")

// Version is a product version as vendors write it, split for comparison: runs of digits
// (compared as numbers, so 6.0.10 > 6.0.9) and runs of letters, with the separators . - _ +
// dropped. 6.0.4 is [6 0 4]; 9.1R11.4 is [9 1 r 11 4]; 13.0-92.19 is [13 0 92 19];
// 10.2.0.5-d-29sv is [10 2 0 5 d 29 sv]; 10.2.0-h3 is [10 2 0 h 3].
//
// A leading "v" and a FortiOS-style build tail are not part of the version: "v6.0.4,build0231
// (GA)" reads as 6.0.4, because vulnerability data names the release, not its build number.
type Version struct {
	raw   string
	parts []string // each all digits (leading zeros removed) or all lower-case letters
}

// buildTail is what follows a release in a firmware string: ",build0231", " build 231",
// " (GA)", ",190107".
var buildTail = regexp.MustCompile(`(?i)([ ,]+build\s*\d+.*|\s*\(.*\)\s*$|,\d+.*)$`)

// ParseVersion splits s. It fails on an empty version and on the CPE values "*" (any) and
// "-" (none), which are not versions.
func ParseVersion(s string) (Version, error) {
	raw := strings.TrimSpace(s)
	v := buildTail.ReplaceAllString(raw, "")
	v = strings.ToLower(strings.TrimSpace(v))
	if len(v) > 1 && v[0] == 'v' && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	if v == "" || v == "*" || v == "-" {
		return Version{}, fmt.Errorf("parse version %q: no version", s)
	}
	var parts []string
	for i := 0; i < len(v); {
		c := v[i]
		j := i + 1
		switch {
		case isDigit(c):
			for j < len(v) && isDigit(v[j]) {
				j++
			}
			n := strings.TrimLeft(v[i:j], "0")
			if n == "" {
				n = "0"
			}
			parts = append(parts, n)
		case isLetter(c):
			for j < len(v) && isLetter(v[j]) {
				j++
			}
			parts = append(parts, v[i:j])
		case c == '.' || c == '-' || c == '_' || c == '+' || c == ' ':
		default:
			return Version{}, fmt.Errorf("parse version %q: unexpected %q", s, c)
		}
		i = j
	}
	if len(parts) == 0 {
		return Version{}, fmt.Errorf("parse version %q: no version", s)
	}
	return Version{raw: raw, parts: parts}, nil
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }

// String returns the version as it was written.
func (v Version) String() string { return v.raw }

// preRelease words mark a version before the release it extends: 7.0.0-beta1 < 7.0.0.
var preRelease = map[string]bool{"alpha": true, "beta": true, "rc": true, "pre": true, "preview": true, "dev": true}

// Compare returns -1, 0 or +1 as v is before, equal to or after w, or ErrNotComparable. A
// version that extends another is after it (10.2.0-h1 > 10.2.0; 13.0-92.19 > 13.0), unless
// what extends it is zeros (6.0 = 6.0.0) or a pre-release word (7.0.0rc1 < 7.0.0).
func (v Version) Compare(w Version) (int, error) {
	for i := 0; ; i++ {
		switch {
		case i == len(v.parts) && i == len(w.parts):
			return 0, nil
		case i == len(v.parts):
			return -tail(w.parts[i:]), nil
		case i == len(w.parts):
			return tail(v.parts[i:]), nil
		}
		a, b := v.parts[i], w.parts[i]
		an, bn := isDigit(a[0]), isDigit(b[0])
		switch {
		case an && bn:
			if c := compareNumbers(a, b); c != 0 {
				return c, nil
			}
		case !an && !bn:
			if a != b {
				return 0, fmt.Errorf("%w: %s and %s (%q against %q)", ErrNotComparable, v, w, a, b)
			}
		default:
			return 0, fmt.Errorf("%w: %s and %s (%q against %q)", ErrNotComparable, v, w, a, b)
		}
	}
}

// tail is the sign of a version that goes on with rest where the other has ended: zeros
// add nothing (6.0 = 6.0.0), a pre-release word goes before, anything else after.
func tail(rest []string) int {
	for _, p := range rest {
		if p != "0" {
			if preRelease[p] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// compareNumbers compares decimal strings without leading zeros, of any length.
func compareNumbers(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
