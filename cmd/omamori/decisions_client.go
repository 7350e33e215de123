package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/text/width"

	"github.com/omamori-project/omamori/internal/config"
)

// This file holds what the API clients (omamori decisions, omamori incident) share: how they
// find the server, send the token and read the API's errors.

const defaultServer = "http://127.0.0.1:8443"

// serverUsage is the flags text of every API client command.
const serverUsage = `	-server URL
		the omamori server's API (default ` + defaultServer + `).
	-json
		print what the server answered, as JSON, instead of a table.

The API token is read from $OMAMORI_TOKEN (never a flag: it would show in ps); create one
with 'omamori token create -scope read,respond'.
`

// apiClient calls a running server's JSON API with the token of $OMAMORI_TOKEN.
type apiClient struct {
	base  *url.URL
	token string
	http  *http.Client
}

// clientFlags are the flags of every API client command.
type clientFlags struct {
	server string
	json   bool
}

func (cf *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&cf.server, "server", defaultServer, "")
	fs.BoolVar(&cf.json, "json", false, "")
}

// client checks the server URL and the token. A token goes in clear over http://, so plain
// HTTP is only for the server's own machine.
func (cf *clientFlags) client() (*apiClient, error) {
	u, err := url.Parse(cf.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, hint(fmt.Errorf("-server %q is not a URL", cf.server), "write it as "+defaultServer+" or https://omamori.hospital.example")
	}
	if u.Scheme == "http" && !config.IsLoopback(net.JoinHostPort(u.Hostname(), "0")) {
		return nil, hint(fmt.Errorf("-server %s: the token would cross the network unencrypted", cf.server),
			"use https:// (a TLS reverse proxy in front of omamori), or an SSH tunnel to "+defaultServer)
	}
	tok := strings.TrimSpace(os.Getenv("OMAMORI_TOKEN"))
	if tok == "" {
		return nil, hint(errors.New("no API token: $OMAMORI_TOKEN is empty"),
			"create one with 'omamori token create -name $USER -scope read,respond', then export OMAMORI_TOKEN=omm_...")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &apiClient{base: u, token: tok, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// call sends a request with body (JSON-encoded unless nil) and decodes a JSON answer into
// out (unless nil). An error answer becomes an error with the server's hint.
func (c *apiClient) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	raw, err := c.raw(ctx, method, path, query, body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	return nil
}

// raw is call without decoding: the answer's body as it came.
func (c *apiClient) raw(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, hint(fmt.Errorf("%s %s: %w", method, path, err),
			fmt.Sprintf("is 'omamori serve' running at %s? -server names another", c.base.Redacted()))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Hint string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		err := fmt.Errorf("%s %s: %s (%s)", method, path, e.Error, resp.Status)
		switch {
		case e.Hint != "":
			return nil, hint(err, e.Hint)
		case resp.StatusCode == http.StatusUnauthorized:
			return nil, hint(err, "$OMAMORI_TOKEN is not a valid token of this server (revoked or expired?)")
		case resp.StatusCode == http.StatusNotFound:
			return nil, hint(err, "the list command shows the IDs; another hospital's records are not visible with this token")
		case resp.StatusCode == http.StatusForbidden:
			return nil, hint(err, "the token lacks the scope: 'omamori token create -scope read,respond' makes one that may")
		}
		return nil, err
	}
	return b, nil
}

// parseArgs parses flags wherever they are among the arguments ("approve 12 -note ok" as
// well as "approve -note ok 12") and returns the others; after "--" everything is an argument.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// printJSON writes v indented, for -json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// when formats a time for a table in the machine's zone; "-" if unset.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// table lines up columns for a terminal, counting East Asian wide characters (漢字, かな) as
// two columns, as terminals show them; text/tabwriter counts them as one, which puts a
// Japanese authority's name or reason out of line.
type table struct {
	rows [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the rows, each column but the last padded to its widest cell plus two spaces.
func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], cellWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-cellWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cellWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
