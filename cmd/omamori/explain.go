package main

import (
	"bufio"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/omamori-project/omamori/internal/decode"
)

// explainRecord writes record n's ECS fields one a line, each with the key=value pairs of the
// record it comes from, as decode.Explain finds them by asking the decoder, and the pairs the
// record is not read without.
func explainRecord(w *bufio.Writer, n int, format string, raw []byte, opts decode.Options) error {
	origins, needed, err := decode.Explain(format, raw, opts)
	if err != nil {
		return fmt.Errorf("explain record %d: %w", n, err)
	}
	fmt.Fprintf(w, "record %d: %s\n", n, explainShort(string(raw), 100))
	if len(needed) > 0 {
		fmt.Fprintf(w, "  read as this vendor's only with: %s\n", strings.Join(needed, " "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, o := range origins {
		from := "(no single pair: the header, or the decoder's own)"
		if len(o.Pairs) > 0 {
			short := make([]string, len(o.Pairs))
			for i, p := range o.Pairs {
				short[i] = explainShort(p, 40)
			}
			from = "← " + strings.Join(short, " ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", o.Field, explainShort(o.Value, 40), from)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return w.WriteByte('\n')
}

// explainShort cuts a long value for a line of the explanation.
func explainShort(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
