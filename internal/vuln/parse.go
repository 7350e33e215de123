package vuln

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format names a file format Parse reads.
type Format string

const (
	FormatKEV Format = "kev" // known_exploited_vulnerabilities.json
	FormatNVD Format = "nvd" // an NVD CVE API 2.0 response, or one of its cve objects
	FormatJVN Format = "jvn" // MyJVN getVulnDetailInfo: a VULDEF-Document
)

// maxInputBytes bounds one file: a whole NVD year is about 100 MB, so beyond this it is the
// wrong file.
const maxInputBytes = 512 << 20

// ErrFormat means the input is none of the formats Parse reads.
var ErrFormat = errors.New("vuln: unknown file format (want the KEV catalogue JSON, NVD CVE API 2.0 JSON, or MyJVN VULDEF XML)")

// Parse reads one file of vulnerability data, telling its format from its content: JSON with
// catalogVersion is the KEV catalogue; JSON with vulnerabilities[].cve, or a single cve object
// (as the fkie-cad/nvd-json-data-feeds files are), is NVD; XML whose root is VULDEF-Document
// is JVN. Records come in file order; the caller owns them.
func Parse(r io.Reader) ([]Record, Format, error) {
	br := bufio.NewReader(io.LimitReader(r, maxInputBytes+1))
	first, err := firstByte(br)
	if err != nil {
		return nil, "", err
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, "", fmt.Errorf("read vulnerability data: %w", err)
	}
	if len(data) > maxInputBytes {
		return nil, "", fmt.Errorf("read vulnerability data: more than %d MB", maxInputBytes>>20)
	}
	switch first {
	case '<':
		recs, err := parseJVN(data)
		return recs, FormatJVN, err
	case '{':
	default:
		return nil, "", ErrFormat
	}
	var probe struct {
		CatalogVersion  string            `json:"catalogVersion"`
		ID              string            `json:"id"`
		Vulnerabilities []json.RawMessage `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, "", fmt.Errorf("parse vulnerability data: %w", err)
	}
	switch {
	case probe.CatalogVersion != "":
		recs, err := parseKEV(data)
		return recs, FormatKEV, err
	case strings.HasPrefix(probe.ID, "CVE-"):
		rec, err := parseNVDCVE(data)
		if err != nil {
			return nil, FormatNVD, err
		}
		return []Record{rec}, FormatNVD, nil
	case len(probe.Vulnerabilities) > 0 && bytes.Contains(probe.Vulnerabilities[0], []byte(`"cve"`)):
		recs, err := parseNVDResponse(probe.Vulnerabilities)
		return recs, FormatNVD, err
	}
	return nil, "", ErrFormat
}

// firstByte returns the first byte that is not white space or a UTF-8 byte order mark,
// leaving it unread.
func firstByte(br *bufio.Reader) (byte, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return 0, fmt.Errorf("read vulnerability data: empty input: %w", ErrFormat)
		}
		if err != nil {
			return 0, fmt.Errorf("read vulnerability data: %w", err)
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			br.UnreadByte()
			return c, nil
		}
	}
}
