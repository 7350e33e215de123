package vuln

import (
	"fmt"
	"net/url"
	"strings"
)

// CPE is a CPE 2.3 name split into its attributes (NISTIR 7695, the formatted string
// binding): part (a application, o operating system, h hardware), vendor, product, version,
// update, edition, language, sw_edition, target_sw, target_hw, other. Values keep their CPE
// escapes ("\:" stays two bytes) and are lower case; "*" means any value, "-" none.
type CPE struct {
	Part, Vendor, Product, Version, Update, Edition, Language, SWEdition, TargetSW, TargetHW, Other string
}

// ParseCPE reads a CPE 2.3 formatted string, cpe:2.3:o:fortinet:fortios:6.0.4:*:*:*:*:*:*:*.
// Trailing attributes left out count as "*".
func ParseCPE(s string) (CPE, error) {
	const prefix = "cpe:2.3:"
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return CPE{}, fmt.Errorf("parse CPE %q: not a CPE 2.3 name (want cpe:2.3:part:vendor:product:…)", s)
	}
	var fields []string
	rest, start := s[len(prefix):], 0
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			if i+1 == len(rest) {
				return CPE{}, fmt.Errorf("parse CPE %q: ends in an escape", s)
			}
			i++ // the escaped byte is part of the value
		case ':':
			fields = append(fields, rest[start:i])
			start = i + 1
		}
	}
	fields = append(fields, rest[start:])
	if len(fields) > 11 {
		return CPE{}, fmt.Errorf("parse CPE %q: %d attributes, want at most 11", s, len(fields))
	}
	for len(fields) < 11 {
		fields = append(fields, "*")
	}
	for i, f := range fields {
		if f == "" {
			return CPE{}, fmt.Errorf("parse CPE %q: attribute %d is empty", s, i+1)
		}
		fields[i] = strings.ToLower(f)
	}
	if !strings.Contains("aoh*", fields[0]) || len(fields[0]) != 1 {
		return CPE{}, fmt.Errorf("parse CPE %q: part %q, want a, o, h or *", s, fields[0])
	}
	return CPE{fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7], fields[8], fields[9], fields[10]}, nil
}

// parseCPE22 reads a CPE 2.2 URI, cpe:/a:veritas:netbackup[:version…], as JVN iPedia gives
// them, into the 2.3 attributes it has (percent-decoded, the rest "*").
func parseCPE22(s string) (CPE, error) {
	const prefix = "cpe:/"
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return CPE{}, fmt.Errorf("parse CPE %q: not a CPE 2.2 URI (want cpe:/part:vendor:product)", s)
	}
	fields := strings.Split(s[len(prefix):], ":")
	if len(fields) < 3 || len(fields) > 7 {
		return CPE{}, fmt.Errorf("parse CPE %q: want part, vendor and product at least", s)
	}
	for i, f := range fields {
		d, err := url.PathUnescape(f)
		if err != nil {
			return CPE{}, fmt.Errorf("parse CPE %q: %w", s, err)
		}
		d = strings.ReplaceAll(strings.ToLower(d), " ", "_") // CPE 2.3 has no white space
		if d == "" {
			d = "*"
		}
		// Characters that CPE 2.3 escapes.
		d = strings.NewReplacer(`\`, `\\`, ":", `\:`, "*", `\*`, "?", `\?`).Replace(d)
		fields[i] = d
	}
	for len(fields) < 7 {
		fields = append(fields, "*")
	}
	if !strings.Contains("aoh", fields[0]) || len(fields[0]) != 1 {
		return CPE{}, fmt.Errorf("parse CPE %q: part %q, want a, o or h", s, fields[0])
	}
	c := CPE{Part: fields[0], Vendor: fields[1], Product: fields[2], Version: fields[3], Update: fields[4], Edition: fields[5], Language: fields[6]}
	c.SWEdition, c.TargetSW, c.TargetHW, c.Other = "*", "*", "*", "*"
	return c, nil
}

// String returns the formatted string binding.
func (c CPE) String() string {
	return "cpe:2.3:" + strings.Join([]string{c.Part, c.Vendor, c.Product, c.Version, c.Update, c.Edition,
		c.Language, c.SWEdition, c.TargetSW, c.TargetHW, c.Other}, ":")
}

// release is the version the CPE names, with its update when that carries the release's
// sub-version, as NVD writes Ivanti's 9.1R11.4 (version 9.1, update r11.4) and PAN-OS's
// 10.2.0-h1 (version 10.2.0, update h1). "" for "*" or "-".
func (c CPE) release() string {
	if c.Version == "*" || c.Version == "-" {
		return ""
	}
	if c.Update == "*" || c.Update == "-" {
		return unescape(c.Version)
	}
	return unescape(c.Version) + "-" + unescape(c.Update)
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
