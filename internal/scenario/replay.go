package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Target is a running omamori that a scenario is replayed into.
type Target struct {
	Syslog string // host:port of a TCP syslog listener
	API    string // base URL of the HTTP API, such as http://127.0.0.1:8443
	Token  string // an API token with the ingest scope
	// HTTPClient sends to the API; nil means http.Client with a timeout. An API on HTTPS
	// with a self-signed certificate needs a client that trusts it.
	HTTPClient *http.Client
}

// Replay sends records to t the way the hospital's devices would: syslog records over one TCP
// connection (newline-framed, RFC 6587), the others to POST /api/v1/ingest in their format,
// and returns once omamori has acknowledged all of them as durable. It returns how many
// records were sent.
func Replay(ctx context.Context, t Target, records []Record) (int, error) {
	var syslog bytes.Buffer
	bodies := map[string]*bytes.Buffer{}
	for _, r := range records {
		if r.Format == "syslog" {
			syslog.Write(r.Data)
			syslog.WriteByte('\n')
			continue
		}
		b := bodies[r.Format]
		if b == nil {
			b = &bytes.Buffer{}
			bodies[r.Format] = b
		}
		b.Write(r.Data)
		b.WriteByte('\n')
	}
	if syslog.Len() > 0 {
		if err := sendSyslog(ctx, t.Syslog, syslog.Bytes()); err != nil {
			return 0, err
		}
	}
	for format, body := range bodies {
		if err := t.post(ctx, format, body); err != nil {
			return 0, err
		}
	}
	return len(records), nil
}

// sendSyslog sends data over TCP and waits for omamori to close the connection after it has
// closed its own side: omamori's acknowledgement that everything is on the bus.
func sendSyslog(ctx context.Context, addr string, data []byte) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("replay syslog: %w", err)
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	if _, err := c.Write(data); err != nil {
		return fmt.Errorf("replay syslog: %w", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return fmt.Errorf("replay syslog: %w", err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return fmt.Errorf("replay syslog: no acknowledgement: %w", err)
	}
	return nil
}

func (t Target) post(ctx context.Context, format string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, "POST", t.API+"/api/v1/ingest?format="+url.QueryEscape(format), body)
	if err != nil {
		return fmt.Errorf("replay %s: %w", format, err)
	}
	req.Header.Set("Authorization", "Bearer "+t.Token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	client := t.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("replay %s: %w", format, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Accepted    int    `json:"accepted"`
		DeadLetters int    `json:"dead_letters"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return fmt.Errorf("replay %s: answer: %w", format, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("replay %s: %s: %s", format, resp.Status, answer.Error)
	}
	if answer.DeadLetters > 0 {
		return errors.New("replay " + format + ": omamori could not decode some records")
	}
	return nil
}
