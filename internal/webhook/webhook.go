// Package webhook delivers response decisions to what no CrowdSec bouncer reaches: a
// FortiGate's automation stitch that fills an address group, an EDR's isolation API, a
// ticketing system. It sits at the end of the response path beside the nftables enforcer and
// the bouncer API: respond reports each decision change, and a Sender posts it as JSON to
// the configured targets, retrying, and reports each delivery (the node journals them into
// the archive, so the hospital can show when each system was told). A target that enforces
// what it is sent is sent only what is enforced: a decision a guardrail holds, such as an
// isolation of a ventilator, goes only to targets that asked for every message (Target.All),
// such as a ticketing system.
//
// Sending never blocks response: changes wait in a bounded queue, and a change that finds the
// queue full is reported as a failed delivery rather than holding up the decision.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Target is one receiver.
type Target struct {
	Name   string
	URL    string
	Header http.Header // added to each request, such as Authorization
	// All sends the target every message. Without it, it is sent only the messages sent as
	// enforced, since a receiver that acts on whatever it receives (a firewall's address
	// group, an EDR's isolation) would act on a held decision too.
	All bool
}

// Delivery is the outcome of sending one message to one target.
type Delivery struct {
	Target   string    `json:"target"`
	Tenant   string    `json:"tenant"`
	Subject  string    `json:"subject"` // what was sent, such as "decision 42 active"
	Status   int       `json:"status,omitempty"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	Time     time.Time `json:"time"`
}

// OK reports whether the target accepted the message.
func (d Delivery) OK() bool { return d.Error == "" }

// Config configures a Sender. Zero values take the defaults.
type Config struct {
	Targets  []Target
	Client   *http.Client  // default: 10-second timeout
	Attempts int           // default 4
	Backoff  time.Duration // default 1s, doubled after each failed try
	Queue    int           // default 1024 messages
	// Delivered is called after each delivery, successful or not (nil: only logged).
	Delivered func(Delivery)
	Log       *slog.Logger
}

// Sender posts messages to every target, from one goroutine (Run), in order.
type Sender struct {
	cfg   Config
	queue chan message
}

type message struct {
	tenant, subject string
	enforced        bool
	body            []byte
}

// takes reports whether t is sent m.
func (t Target) takes(m message) bool { return m.enforced || t.All }

// New returns a Sender; Run must be running for anything to be sent.
func New(cfg Config) *Sender {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Sender{cfg: cfg, queue: make(chan message, cfg.Queue)}
}

// Send queues v, marshalled to JSON, for the targets. It does not wait. Enforced says that v
// tells of something enforced — a decision in force, or the end of one that was — which every
// target is sent; anything else (a decision held or rejected) goes only to the targets with All.
func (s *Sender) Send(tenant, subject string, enforced bool, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("webhook: encode %s: %w", subject, err)
	}
	m := message{tenant, subject, enforced, body}
	select {
	case s.queue <- m:
		return nil
	default:
		for _, t := range s.cfg.Targets {
			if t.takes(m) {
				s.delivered(Delivery{Target: t.Name, Tenant: tenant, Subject: subject, Error: "queue full: not sent", Time: time.Now()})
			}
		}
		return fmt.Errorf("webhook: queue full, %s not sent", subject)
	}
}

// Run sends queued messages until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.queue:
			for _, t := range s.cfg.Targets {
				if t.takes(m) {
					s.delivered(s.deliver(ctx, t, m))
				}
			}
		}
	}
}

func (s *Sender) delivered(d Delivery) {
	if d.OK() {
		s.cfg.Log.Debug("webhook delivered", "target", d.Target, "subject", d.Subject, "attempts", d.Attempts)
	} else {
		s.cfg.Log.Warn("webhook not delivered", "target", d.Target, "subject", d.Subject, "attempts", d.Attempts, "err", d.Error)
	}
	if s.cfg.Delivered != nil {
		s.cfg.Delivered(d)
	}
}

// ErrRefused is wrapped by Post's error when the receiver answered with a status another try
// will not change (a 4xx other than 429).
var ErrRefused = errors.New("refused")

func (s *Sender) deliver(ctx context.Context, t Target, m message) Delivery {
	d := Delivery{Target: t.Name, Tenant: m.tenant, Subject: m.subject}
	var err error
	d.Status, d.Attempts, err = Post(ctx, s.cfg.Client, t, m.body, s.cfg.Attempts, s.cfg.Backoff)
	d.Time = time.Now()
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

// Post sends body to t as one JSON POST, trying up to attempts times and waiting backoff,
// then twice as long, before each further try, on network errors, 429 and 5xx; any other
// status is final (ErrRefused). It returns the last status (0 if none came), how many tries
// it made and the error of the last. The Sender delivers with it, and so do other notifiers
// (incidents' escalations) that post synchronously.
func Post(ctx context.Context, client *http.Client, t Target, body []byte, attempts int, backoff time.Duration) (status, tries int, err error) {
	for tries < max(attempts, 1) {
		if tries > 0 {
			select {
			case <-ctx.Done():
				return status, tries, fmt.Errorf("stopped before delivery: %w", err)
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		tries++
		status, err = post(ctx, client, t, body)
		if err == nil || errors.Is(err, ErrRefused) {
			break
		}
	}
	return status, tries, err
}

func post(ctx context.Context, client *http.Client, t Target, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "omamori-webhook")
	for k, vs := range t.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return resp.StatusCode, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return resp.StatusCode, fmt.Errorf("answered %s", resp.Status)
	default:
		return resp.StatusCode, fmt.Errorf("%w: answered %s", ErrRefused, resp.Status)
	}
}
