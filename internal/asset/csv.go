package asset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// Columns are the CSV columns ParseCSV reads, in the header's words. The header line is
// required; columns may come in any order, and columns with other names are ignored (an export
// from a medical device management system usually has many more).
//
//	address     an IPv4 or IPv6 address, or a network in CIDR form (10.20.0.0/24)   required
//	name        for people: "ICU ventilator bed 3", "ehr.hospital.example"           required
//	category    life-support, diagnostic, information or infrastructure             required
//	department  such as ICU or Radiology                                            optional
//	protected   whether it is a protected clinical service: true/false, yes/no,
//	            1/0, or empty for false                                             optional
//	cpe         the product it runs, a CPE 2.3 name:
//	            cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*                           optional
//	vendor      instead of cpe: the CPE vendor and product words, such as
//	product     fortinet and fortios (lower case, '_' for spaces)                    optional
//	version     the product's version as the vendor writes it: 6.0.4, 9.1R11.4      optional
//	exposure    who can reach it: internet, vendor (a contractor's remote-
//	            maintenance line), internal, isolated; empty for not stated         optional
//	hostname    its DNS name, vent-01.icu.hospital.example, where name is for people optional
//
// The product columns are for vulnerability matching (package vuln); an inventory without
// them reads as before. Lines starting with '#' are comments.
var Columns = []string{"address", "name", "category", "department", "protected", "cpe", "version", "exposure", "hostname"}

// LineError is what is wrong with one line of a CSV import.
type LineError struct {
	Line int // 1-based, counting the header
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// maxLineErrors bounds the report of a file that is wrong throughout (the wrong file, say).
const maxLineErrors = 20

// ParseCSV reads an asset inventory in the format of Columns. A file with any bad line is
// refused whole, so that an import never half-protects a hospital: the error lists every bad
// line (up to 20) as a *LineError, joined with errors.Join.
func ParseCSV(r io.Reader) ([]Asset, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1 // checked here, with a better message
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("parse asset CSV: empty file (want a header line: " + strings.Join(Columns, ",") + ")")
	}
	if err != nil {
		return nil, fmt.Errorf("parse asset CSV: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) // Excel writes a BOM
		if _, dup := col[h]; dup && h != "" {
			return nil, fmt.Errorf("parse asset CSV: line 1: column %q appears twice", h)
		}
		col[h] = i
	}
	for _, need := range Columns[:3] {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("parse asset CSV: line 1: no %q column (the header needs address, name, category; has %q)",
				need, strings.Join(header, ","))
		}
	}
	field := func(rec []string, name string) string {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}

	var out []Asset
	var errs []error
	seen := map[netip.Prefix]int{} // prefix → line
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
				err = pe.Err
			}
			errs = append(errs, &LineError{Line: line, Err: err})
			if pe == nil || len(errs) >= maxLineErrors {
				break // an I/O error, or too many to be worth listing
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		a, err := parseRecord(rec, field)
		if err == nil {
			a.Prefix = normalize(a.Prefix)
			if first, dup := seen[a.Prefix]; dup {
				err = fmt.Errorf("address %s is already on line %d: %w", a.Prefix, first, ErrDuplicate)
			} else {
				seen[a.Prefix] = line
			}
		}
		if err != nil {
			errs = append(errs, &LineError{Line: line, Err: err})
			if len(errs) >= maxLineErrors {
				errs = append(errs, errors.New("more errors not shown"))
				break
			}
			continue
		}
		out = append(out, a)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("parse asset CSV: %w", errors.Join(errs...))
	}
	return out, nil
}

func parseRecord(rec []string, field func([]string, string) string) (Asset, error) {
	var a Asset
	addr := field(rec, "address")
	if addr == "" {
		return a, errors.New("address is empty")
	}
	p, err := parsePrefix(addr)
	if err != nil {
		return a, fmt.Errorf("address %q is not an IP address or CIDR network", addr)
	}
	a.Prefix = p
	if a.Name = field(rec, "name"); a.Name == "" {
		return a, fmt.Errorf("name is empty for %s", addr)
	}
	if a.Category, err = ParseCategory(field(rec, "category")); err != nil {
		return a, err
	}
	a.Department = field(rec, "department")
	if a.Protected, err = parseBool(field(rec, "protected")); err != nil {
		return a, err
	}
	if a.CPE, err = parseProduct(field(rec, "cpe"), field(rec, "vendor"), field(rec, "product")); err != nil {
		return a, err
	}
	a.Version = field(rec, "version")
	if a.Exposure, err = ParseExposure(field(rec, "exposure")); err != nil {
		return a, err
	}
	a.Hostname = field(rec, "hostname")
	return a, nil
}

// parseProduct returns the asset's CPE 2.3 name from the cpe column, or built from the vendor
// and product columns. Only the shape is checked here (the prefix and the number of fields);
// package vuln reads the name.
func parseProduct(cpe, vendor, product string) (string, error) {
	if cpe != "" {
		if vendor != "" || product != "" {
			return "", errors.New("give the product as cpe or as vendor and product, not both")
		}
		if !strings.HasPrefix(strings.ToLower(cpe), "cpe:2.3:") || strings.Count(strings.ReplaceAll(cpe, `\:`, ""), ":") != 12 {
			return "", fmt.Errorf("cpe %q is not a CPE 2.3 name (cpe:2.3:part:vendor:product:version:… with 13 fields)", cpe)
		}
		return cpe, nil
	}
	if vendor == "" && product == "" {
		return "", nil
	}
	if vendor == "" || product == "" {
		return "", errors.New("vendor and product go together (or give a cpe)")
	}
	word := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "_") }
	for _, w := range []string{vendor, product} {
		if strings.ContainsAny(w, `:*?\`) {
			return "", fmt.Errorf("vendor or product %q has a character CPE reserves (: * ? \\); give a cpe instead", w)
		}
	}
	return "cpe:2.3:*:" + word(vendor) + ":" + word(product) + ":*:*:*:*:*:*:*:*", nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if ip.Zone() != "" {
		return netip.Prefix{}, errors.New("zoned address")
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "", "false", "no", "n", "0":
		return false, nil
	case "true", "yes", "y", "1":
		return true, nil
	}
	return false, fmt.Errorf("protected %q: want true or false (yes/no, 1/0, or empty)", s)
}

// LoadCSV reads an inventory from a CSV file (see ParseCSV).
func LoadCSV(path string) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load assets: %w", err)
	}
	defer f.Close()
	assets, err := ParseCSV(f)
	if err != nil {
		return nil, fmt.Errorf("load assets %s: %w", path, err)
	}
	return New(assets)
}

// WriteCSV writes assets in the format ParseCSV reads, header first.
func WriteCSV(w io.Writer, assets []Asset) error {
	cw := csv.NewWriter(w)
	cw.Write(Columns)
	for _, a := range assets {
		addr := a.Prefix.String()
		if a.Prefix.IsSingleIP() {
			addr = a.Prefix.Addr().String()
		}
		cw.Write([]string{addr, a.Name, string(a.Category), a.Department, fmt.Sprint(a.Protected), a.CPE, a.Version, string(a.Exposure), a.Hostname})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write asset CSV: %w", err)
	}
	return nil
}
