package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/webhook"
)

// Notification tells a tier about an incident: that it opened, or that one of its clocks is
// about to lapse (warning) or has (breach).
type Notification struct {
	Kind     string         `json:"kind"`             // "opened", "warning", "breach"
	Tier     string         `json:"tier"`             // who: "l1", "l2", "csirt-lead", "management"
	Shift    string         `json:"shift,omitempty"`  // the roster's shift at Time
	People   []string       `json:"people,omitempty"` // on call in Tier during Shift
	Tenant   string         `json:"tenant"`
	Incident string         `json:"incident"`
	Title    string         `json:"title"`
	Severity severity.Level `json:"severity"`
	State    State          `json:"state"`
	Assignee string         `json:"assignee,omitempty"`
	Clock    string         `json:"clock,omitempty"`
	Deadline time.Time      `json:"deadline,omitzero"`
	Time     time.Time      `json:"time"`
	Text     string         `json:"text"` // one line for people (and Slack/Teams' "text")
}

func (n Notification) text() string {
	t := n.line()
	if len(n.People) > 0 {
		t += " （当番: " + strings.Join(n.People, "、") + "）"
	}
	return t
}

func (n Notification) line() string {
	switch n.Kind {
	case "opened":
		return fmt.Sprintf("[%s] 新規インシデント %s: %s", n.Severity, n.Incident, n.Title)
	case "warning":
		return fmt.Sprintf("[%s] %s の %s 期限が近づいています (%s): %s", n.Severity, n.Incident, n.Clock,
			n.Deadline.In(jst).Format("01/02 15:04"), n.Title)
	case "breach":
		return fmt.Sprintf("[%s] %s の %s 期限を超過しました (%s): %s", n.Severity, n.Incident, n.Clock,
			n.Deadline.In(jst).Format("01/02 15:04"), n.Title)
	}
	return n.Incident + ": " + n.Title
}

// Notifier delivers notifications. Notify may be called from several goroutines at once; it
// returns when the notification is delivered or has failed, and an error means it was not
// delivered and will be tried again.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, Notification) error { return nil }

// Recorder is a Notifier that keeps what it is told, for tests, drills and the demo.
type Recorder struct {
	mu   sync.Mutex
	sent []Notification
	// Fail, if set, is returned instead of recording.
	Fail error
}

// Notify records n.
func (r *Recorder) Notify(_ context.Context, n Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return r.Fail
	}
	r.sent = append(r.sent, n)
	return nil
}

// Sent returns what was recorded, oldest first.
func (r *Recorder) Sent() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Notification(nil), r.sent...)
}

// Webhook posts each notification as JSON to URL: the Notification's fields, whose "text"
// Slack's and Teams' incoming webhooks display as the message. It tries Attempts times
// (default 3), waiting Backoff (default 1s) and then twice as long between tries, on
// network errors, 429 and 5xx; any other status is final.
type Webhook struct {
	URL      string
	Client   *http.Client // default: 10-second timeout
	Attempts int
	Backoff  time.Duration
	// Header is added to each request, such as an Authorization for the receiver.
	Header http.Header
}

// ErrWebhook is wrapped by a webhook's refusal.
var ErrWebhook = errors.New("incident: webhook refused the notification")

// Notify posts n.
func (w *Webhook) Notify(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	attempts := max(w.Attempts, 1)
	if w.Attempts == 0 {
		attempts = 3
	}
	backoff := w.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	status, _, err := webhook.Post(ctx, client, webhook.Target{URL: w.URL, Header: w.Header}, body, attempts, backoff)
	if err != nil && status != 0 { // the receiver answered, and not with yes
		return fmt.Errorf("%w: %w", ErrWebhook, err)
	}
	if err != nil {
		return fmt.Errorf("post to webhook: %w", err)
	}
	return nil
}

// retry calls try up to attempts times, waiting backoff (default 1s) and then twice as long
// before each further try, until it succeeds, says its failure is final (again false), or
// ctx ends: the mail notifier's schedule, the same as webhook.Post's. op names the work in
// the error of a cancelled wait.
func retry(ctx context.Context, op string, attempts int, backoff time.Duration, try func() (again bool, err error)) error {
	if backoff <= 0 {
		backoff = time.Second
	}
	var last error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %w (after %v)", op, ctx.Err(), last)
			case <-time.After(backoff << (i - 1)):
			}
		}
		again, err := try()
		if err == nil {
			return nil
		}
		last = err
		if !again {
			break
		}
	}
	return last
}

// Tiers sends each notification to the Notifier of its tier, or to Default when the tier has
// none; a tier without either is an error, so no escalation is lost unnoticed.
type Tiers struct {
	By      map[string]Notifier
	Default Notifier
}

// Notify routes n.
func (t Tiers) Notify(ctx context.Context, n Notification) error {
	if nt, ok := t.By[n.Tier]; ok {
		return nt.Notify(ctx, n)
	}
	if t.Default != nil {
		return t.Default.Notify(ctx, n)
	}
	return fmt.Errorf("incident: nobody to notify for tier %q", n.Tier)
}
