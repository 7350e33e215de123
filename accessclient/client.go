// Package accessclient is the Go client an EHR (電子カルテ) or other clinical system uses
// to ask omamori whether a member of staff may open a patient's record: it calls
// POST /api/v1/access/decide on the omamori server and returns the decision. It depends
// only on the standard library, so an EHR vendor can vendor it as it is.
//
// # Behaviour
//
// Decide asks the server, with a short timeout (Options.Timeout, 500 ms by default).
//
// Cache: ordinary decisions (no emergency, no break-glass reason) are kept for
// Options.CacheTTL (5 s by default) under the whole request (subject, action, patient,
// data type, sensitivity, department, device, shift, purpose), so an EHR that opens the
// same record's tabs in a burst asks once. A cached decision is returned with Cached set;
// the server recorded it once, and the EHR's own access log records each opening.
// Break-glass requests are never cached: each one must reach the server's review queue.
//
// Emergency mode: when the server cannot be reached (connection refused, timeout, an
// answer 5xx or 429), the EHR must not stop. If the request carries a reason, Decide
// allows it in emergency mode: the Decision has Emergency and BreakGlass set, the
// obligations notify_privacy_officer and review, and a line is appended (and synced) to
// the local emergency log (Options.EmergencyLog) in omamori's EHR access log format
// (docs/ehr-access-log.md), with break_glass.used true and the reason. Without a reason,
// Decide denies and returns an error wrapping ErrReasonRequired, so the EHR asks the
// clinician for one and calls again. If the emergency log cannot be written, the access
// is still allowed (care comes first) and the failure is logged at error level.
//
// UploadEmergencyLog sends the emergency log to the server's ingest endpoint
// (POST /api/v1/ingest?format=ehr), where the accesses join the archive and the break-glass
// review; call it when the server is back (it is safe to call at any time). A token with
// the ingest scope is needed for it (Options.IngestToken).
//
// Any other answer (400 for a malformed request, 401 or 403 for a bad token) is returned
// as an error, without emergency mode: those are mistakes to fix, not outages.
package accessclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Subject is who asks; the server looks the rest up in its roster.
type Subject struct {
	ID             string    `json:"id"`
	Role           string    `json:"role,omitempty"`
	Department     string    `json:"department,omitempty"`
	Qualifications []string  `json:"qualifications,omitempty"`
	LastTraining   time.Time `json:"last_training,omitzero"`
}

// Device is the terminal the record would be shown on.
type Device struct {
	ID        string `json:"id,omitempty"`
	Managed   bool   `json:"managed"`
	Compliant bool   `json:"compliant"`
	Location  string `json:"location,omitempty"`
	Network   string `json:"network"` // ward, vpn or home
}

// Resource is the part of the patient's record asked for.
type Resource struct {
	Patient     string `json:"patient"`
	DataType    string `json:"data_type"`
	Sensitivity string `json:"sensitivity,omitempty"`
	Department  string `json:"department,omitempty"`
}

// Request is one question to the decision point.
type Request struct {
	Subject      Subject  `json:"subject"`
	Action       string   `json:"action"` // view, modify, print, export
	Resource     Resource `json:"resource"`
	Device       Device   `json:"device"`
	Shift        string   `json:"shift,omitempty"`
	Emergency    bool     `json:"emergency,omitempty"`
	PurposeOfUse string   `json:"purpose_of_use,omitempty"` // FHIR PurposeOfUse: TREAT, ETREAT, BTG, ...
	Reason       string   `json:"reason,omitempty"`         // the break-glass reason
}

// Decision is the server's answer (the fields an EHR needs; the server's JSON has more).
type Decision struct {
	ID               string    `json:"id"`
	Time             time.Time `json:"time"`
	Decision         string    `json:"decision"` // allow or deny
	Policies         []string  `json:"policies"`
	Obligations      []string  `json:"obligations"`
	Reason           string    `json:"reason"`
	BreakGlass       bool      `json:"break_glass,omitempty"`
	BreakGlassReason string    `json:"break_glass_reason,omitempty"`
	// Set by the client, not the server:
	Cached    bool `json:"-"` // answered from the cache
	Emergency bool `json:"-"` // allowed in emergency mode, the server unreachable
}

// Allowed reports whether the decision allows the access.
func (d *Decision) Allowed() bool { return d.Decision == "allow" }

// EmergencyPolicy names the decision of emergency mode in Decision.Policies.
const EmergencyPolicy = "accessclient-emergency-mode"

var (
	// ErrUnavailable is wrapped when the server could not be reached.
	ErrUnavailable = errors.New("accessclient: omamori unreachable")
	// ErrReasonRequired is wrapped when the server could not be reached and the request
	// had no reason to allow it in emergency mode.
	ErrReasonRequired = errors.New("accessclient: omamori unreachable; give a reason to continue in emergency mode")
)

// Options configure a Client.
type Options struct {
	HTTPClient *http.Client  // nil: a client with Timeout
	Timeout    time.Duration // for each decision; zero: 500 ms
	CacheTTL   time.Duration // zero: 5 s; negative: no cache
	CacheSize  int           // zero: 10,000 decisions
	// EmergencyLog is the file emergency-mode accesses are appended to. Required.
	EmergencyLog string
	// System names the EHR in the emergency log ("system" field).
	System      string
	IngestToken string // for UploadEmergencyLog; empty: the decision token
	Log         *slog.Logger
	Now         func() time.Time
}

// Client asks omamori for access decisions. It is safe for concurrent use.
type Client struct {
	url, token string
	o          Options
	mu         sync.Mutex // the cache
	cache      map[string]cached
	logMu      sync.Mutex // the emergency log
}

type cached struct {
	d       Decision
	expires time.Time
}

// New returns a client of the omamori server at baseURL (https://omamori.example:8443)
// using the API token token.
func New(baseURL, token string, o Options) (*Client, error) {
	if baseURL == "" || token == "" {
		return nil, errors.New("accessclient: need the server's URL and an API token")
	}
	if o.EmergencyLog == "" {
		return nil, errors.New("accessclient: Options.EmergencyLog is required: emergency mode must log locally")
	}
	if o.Timeout <= 0 {
		o.Timeout = 500 * time.Millisecond
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{} // each decision has its own deadline (Timeout)
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 5 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10_000
	}
	if o.IngestToken == "" {
		o.IngestToken = token
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{url: strings.TrimRight(baseURL, "/"), token: token, o: o, cache: map[string]cached{}}, nil
}

func breakGlass(r *Request) bool {
	return r.Emergency || r.Reason != "" || r.PurposeOfUse == "ETREAT" || r.PurposeOfUse == "BTG"
}

// Decide asks whether r may go ahead; see the package documentation for the cache and
// emergency mode. A non-nil error comes with a deny.
func (c *Client) Decide(ctx context.Context, r Request) (Decision, error) {
	var key string
	if c.o.CacheTTL > 0 && !breakGlass(&r) {
		k, _ := json.Marshal(r)
		key = string(k)
		c.mu.Lock()
		e, ok := c.cache[key]
		c.mu.Unlock()
		if ok && c.o.Now().Before(e.expires) {
			e.d.Cached = true
			return e.d, nil
		}
	}
	d, err := c.ask(ctx, r)
	if err == nil {
		if key != "" {
			c.put(key, d)
		}
		return d, nil
	}
	if !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
		return deny(err.Error()), err
	}
	return c.emergency(r, err)
}

func deny(reason string) Decision {
	return Decision{Decision: "deny", Policies: []string{}, Obligations: []string{"log"}, Reason: reason}
}

func (c *Client) put(key string, d Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cache) >= c.o.CacheSize {
		now := c.o.Now()
		for k, e := range c.cache {
			if !now.Before(e.expires) {
				delete(c.cache, k)
			}
		}
		if len(c.cache) >= c.o.CacheSize {
			clear(c.cache)
		}
	}
	c.cache[key] = cached{d: d, expires: c.o.Now().Add(c.o.CacheTTL)}
}

func (c *Client) ask(ctx context.Context, r Request) (Decision, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Decision{}, fmt.Errorf("accessclient: encode request: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, "POST", c.url+"/api/v1/access/decide", bytes.NewReader(body))
	if err != nil {
		return Decision{}, fmt.Errorf("accessclient: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Decision{}, fmt.Errorf("%w: read answer: %w", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return Decision{}, fmt.Errorf("%w: %s", ErrUnavailable, resp.Status)
	case resp.StatusCode != http.StatusOK:
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		return Decision{}, fmt.Errorf("accessclient: omamori answered %s: %s", resp.Status, e.Error)
	}
	var d Decision
	if err := json.Unmarshal(b, &d); err != nil {
		return Decision{}, fmt.Errorf("%w: decode answer: %w", ErrUnavailable, err)
	}
	if d.Decision != "allow" && d.Decision != "deny" {
		return Decision{}, fmt.Errorf("%w: answer has decision %q", ErrUnavailable, d.Decision)
	}
	return d, nil
}

// emergencyRecord is one line of the emergency log: omamori's EHR access log format.
type emergencyRecord struct {
	Schema  string    `json:"schema"`
	Time    time.Time `json:"time"`
	EventID string    `json:"event_id"`
	System  string    `json:"system,omitempty"`
	User    struct {
		ID         string `json:"id"`
		Role       string `json:"role,omitempty"`
		Department string `json:"department,omitempty"`
	} `json:"user"`
	Patient struct {
		ID         string `json:"id"`
		Department string `json:"department,omitempty"`
	} `json:"patient"`
	DataType string `json:"data_type"`
	Action   string `json:"action"`
	Terminal struct {
		ID string `json:"id,omitempty"`
	} `json:"terminal"`
	PurposeOfUse string `json:"purpose_of_use"`
	Outcome      string `json:"outcome"`
	BreakGlass   struct {
		Used   bool   `json:"used"`
		Reason string `json:"reason"`
	} `json:"break_glass"`
	Message string `json:"message"`
}

func (c *Client) emergency(r Request, cause error) (Decision, error) {
	reason := strings.TrimSpace(r.Reason)
	if reason == "" {
		d := deny("omamori cannot be reached; give a reason to open the record in emergency mode")
		return d, fmt.Errorf("%w (%w)", ErrReasonRequired, cause)
	}
	var id [16]byte
	rand.Read(id[:])
	d := Decision{
		ID:               hex.EncodeToString(id[:]),
		Time:             c.o.Now(),
		Decision:         "allow",
		Policies:         []string{EmergencyPolicy},
		Obligations:      []string{"log", "notify_privacy_officer", "review"},
		Reason:           "omamori could not be reached: allowed in emergency mode with the reason given, logged locally for review",
		BreakGlass:       true,
		BreakGlassReason: reason,
		Emergency:        true,
	}
	var rec emergencyRecord
	rec.Schema, rec.Time, rec.EventID, rec.System = "omamori.ehr.access/1", d.Time, "emergency-"+d.ID, c.o.System
	rec.User.ID, rec.User.Role, rec.User.Department = r.Subject.ID, r.Subject.Role, r.Subject.Department
	rec.Patient.ID, rec.Patient.Department = r.Resource.Patient, r.Resource.Department
	rec.DataType, rec.Action, rec.Terminal.ID = r.Resource.DataType, r.Action, r.Device.ID
	rec.PurposeOfUse = r.PurposeOfUse
	if rec.PurposeOfUse == "" {
		rec.PurposeOfUse = "BTG"
	}
	rec.Outcome = "allowed"
	rec.BreakGlass.Used, rec.BreakGlass.Reason = true, reason
	rec.Message = "allowed by the EHR in emergency mode: " + cause.Error()
	if err := c.appendLog(rec); err != nil {
		c.o.Log.Error("emergency access NOT logged locally; allowed anyway so that care goes on",
			"component", "accessclient", "decision", d.ID, "err", err)
	}
	return d, nil
}

func (c *Client) appendLog(rec emergencyRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	c.logMu.Lock()
	defer c.logMu.Unlock()
	f, err := os.OpenFile(c.o.EmergencyLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open emergency log: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("write emergency log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync emergency log: %w", err)
	}
	return f.Close()
}

// UploadEmergencyLog sends the emergency log to omamori and, once the server has accepted
// it, removes it. It returns the number of records sent. Records logged while it runs are
// kept for the next upload. If the upload fails, the records stay in a file beside the log
// (EmergencyLog + ".upload") and are sent first next time.
func (c *Client) UploadEmergencyLog(ctx context.Context) (int, error) {
	pending := c.o.EmergencyLog + ".upload"
	c.logMu.Lock()
	_, err := os.Stat(pending)
	if errors.Is(err, os.ErrNotExist) {
		err = os.Rename(c.o.EmergencyLog, pending)
	}
	c.logMu.Unlock()
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // nothing logged
	}
	if err != nil {
		return 0, fmt.Errorf("upload emergency log: %w", err)
	}
	b, err := os.ReadFile(pending)
	if err != nil {
		return 0, fmt.Errorf("upload emergency log: %w", err)
	}
	n := bytes.Count(b, []byte("\n"))
	if n > 0 {
		req, err := http.NewRequestWithContext(ctx, "POST", c.url+"/api/v1/ingest?format=ehr", bytes.NewReader(b))
		if err != nil {
			return 0, fmt.Errorf("upload emergency log: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+c.o.IngestToken)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := c.o.HTTPClient.Do(req)
		if err != nil {
			return 0, fmt.Errorf("upload emergency log: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("upload emergency log: omamori answered %s", resp.Status)
		}
	}
	if err := os.Remove(pending); err != nil {
		return n, fmt.Errorf("upload emergency log: sent, but %w", err)
	}
	return n, nil
}
