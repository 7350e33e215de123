package incident

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// Mail sends each notification as an e-mail over SMTP, to the addresses of its tier: the
// way a small hospital without a chat tool reaches its on-call person and management. The
// client is the standard library's net/smtp; it insists on STARTTLS before authenticating
// unless the server is on the loopback interface (as net/smtp's PlainAuth does).
type Mail struct {
	Addr string              // host:port of the submission server, such as "mail.hospital.example:587"
	From string              // sender address
	To   map[string][]string // tier → addresses
	Auth smtp.Auth           // nil: no authentication
	// TLS configures STARTTLS; nil uses the server's name from Addr. STARTTLS is used
	// whenever the server offers it.
	TLS      *tls.Config
	Attempts int           // default 3
	Backoff  time.Duration // default 1s, doubling
	Timeout  time.Duration // per attempt, default 30s
}

// Notify sends n to the addresses of n.Tier, retrying failures that may pass (connection
// errors and 4xx replies).
func (m *Mail) Notify(ctx context.Context, n Notification) error {
	to := m.To[n.Tier]
	if len(to) == 0 {
		return fmt.Errorf("incident: no e-mail address for tier %q", n.Tier)
	}
	msg, err := m.message(n, to)
	if err != nil {
		return err
	}
	attempts := m.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	return retry(ctx, "send mail", attempts, m.Backoff, func() (bool, error) {
		err := m.send(ctx, to, msg)
		var tp *smtpError
		// A 5xx reply is permanent: the server will say the same again.
		return !errors.As(err, &tp) || tp.code < 500, err
	})
}

// smtpError is a reply from the server that refused a command.
type smtpError struct {
	code int
	err  error
}

func (e *smtpError) Error() string { return e.err.Error() }
func (e *smtpError) Unwrap() error { return e.err }

func (m *Mail) send(ctx context.Context, to []string, msg []byte) error {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	host, _, _ := net.SplitHostPort(m.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("send mail: %w", classifySMTP(err))
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := m.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("send mail: starttls: %w", classifySMTP(err))
		}
	}
	if m.Auth != nil {
		if err := c.Auth(m.Auth); err != nil {
			return fmt.Errorf("send mail: authenticate: %w", classifySMTP(err))
		}
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("send mail: from %s: %w", m.From, classifySMTP(err))
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("send mail: to %s: %w", rcpt, classifySMTP(err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("send mail: %w", classifySMTP(err))
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("send mail: %w", classifySMTP(err))
	}
	return c.Quit()
}

// classifySMTP keeps the server's reply code, which says whether trying again can help.
func classifySMTP(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &smtpError{code: te.Code, err: err}
	}
	return err
}

// message writes the e-mail: a Japanese subject (RFC 2047) and a UTF-8 body in base64.
func (m *Mail) message(n Notification, to []string) ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("incident: sender address %q: %w", m.From, err)
	}
	for _, a := range to {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, fmt.Errorf("incident: address %q of tier %s: %w", a, n.Tier, err)
		}
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.BEncoding.Encode("utf-8", n.line()))
	header("Date", n.Time.Format(time.RFC1123Z))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "base64")
	header("X-Omamori-Incident", n.Incident)
	b.WriteString("\r\n")
	body := mailBody(n)
	enc := base64.StdEncoding.EncodeToString([]byte(body))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes(), nil
}

func mailBody(n Notification) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", n.text())
	fmt.Fprintf(&b, "インシデント: %s\n", n.Incident)
	fmt.Fprintf(&b, "病院（テナント）: %s\n", n.Tenant)
	fmt.Fprintf(&b, "重要度: %s\n状態: %s\n", n.Severity, n.State)
	if n.Assignee != "" {
		fmt.Fprintf(&b, "担当者: %s\n", n.Assignee)
	}
	if n.Clock != "" {
		fmt.Fprintf(&b, "期限: %s（%s）\n", n.Deadline.In(jst).Format("2006-01-02 15:04 MST"), n.Clock)
	}
	if len(n.People) > 0 {
		fmt.Fprintf(&b, "当番（%s）: %s\n", n.Shift, strings.Join(n.People, "、"))
	}
	return b.String()
}
