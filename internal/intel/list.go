package intel

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// LoadList reads a plain list: one indicator per line — an address, a network, a domain, a
// URL or an MD5, SHA-1 or SHA-256 hash, the kind told by its shape (see Guess). Blank lines
// and lines starting with # are skipped, as is a " #" comment after a value. Every other
// line becomes an indicator or is returned as Rejected with its line number. Indicators from
// a list have no expiry and unknown confidence (-1).
func LoadList(r io.Reader, source string) ([]Indicator, []Rejected, error) {
	var (
		inds []Indicator
		rej  []Rejected
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" || line[0] == '#' {
			continue
		}
		id := fmt.Sprintf("%s:%d", source, n)
		k, v, err := Guess(line)
		if err != nil {
			rej = append(rej, reject(source, id, line, ReasonInvalid, err.Error()))
			continue
		}
		inds = append(inds, Indicator{Kind: k, Value: v, ID: id, Source: source, Confidence: -1})
	}
	if err := sc.Err(); err != nil {
		return inds, rej, fmt.Errorf("read list %s: %w", source, err)
	}
	return inds, rej, nil
}
