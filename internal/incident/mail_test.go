package incident

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/mail"
	netsmtp "net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/selfsigned"
)

// mailbox is an SMTP server backend (go-smtp, a real server implementation) that requires
// STARTTLS and a password, can be told to refuse the next messages, and keeps what it
// accepts.
type mailbox struct {
	mu     sync.Mutex
	got    []received
	refuse []int // reply codes for the next DATA commands
}

type received struct {
	from string
	to   []string
	data []byte
}

func (m *mailbox) NewSession(c *smtp.Conn) (smtp.Session, error) { return &session{m: m}, nil }

type session struct {
	m      *mailbox
	authed bool
	msg    received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "omamori" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.msg.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if len(s.m.refuse) > 0 {
		code := s.m.refuse[0]
		s.m.refuse = s.m.refuse[1:]
		return &smtp.SMTPError{Code: code, Message: "refused for the test"}
	}
	s.msg.data = data
	s.m.got = append(s.m.got, s.msg)
	return nil
}
func (s *session) Reset()        { s.msg = received{} }
func (s *session) Logout() error { return nil }

// startSMTP runs the server on a loopback port with a self-signed certificate and returns
// its address and a TLS config that trusts it.
func startSMTP(t *testing.T, box *mailbox) (string, *tls.Config) {
	t.Helper()
	certPEM, keyPEM, err := selfsigned.Generate([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	srv := smtp.NewServer(box)
	srv.Domain = "mail.hospital.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// TestMailEscalation: the breach of a critical incident's clock reaches management's mailbox
// on a real SMTP server, over STARTTLS with a password, in Japanese, after a refusal the
// server said was temporary.
func TestMailEscalation(t *testing.T) {
	box := &mailbox{refuse: []int{451}}
	addr, tlsCfg := startSMTP(t, box)
	m := &Mail{Addr: addr, From: "omamori@hospital.test", Auth: netsmtp.PlainAuth("", "omamori", "s3cret", "127.0.0.1"),
		TLS: tlsCfg, Backoff: time.Millisecond,
		To: map[string][]string{"l1": {"oncall@hospital.test"}, "l2": {"l2@soc.test"}, "l3": {"l3@soc.test"}, "management": {"director@hospital.test", "cio@hospital.test"}}}
	t0 := time.Date(2026, 4, 1, 2, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{})
	var err error
	e.svc, err = NewService(e.st, Config{}, e.clock.Now, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.Ingest(t.Context(), alert("c1", "behavior.ransomware_burst", "critical", t0, detect.Entities{Host: "FS01"}), 1)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(5 * time.Minute)
	if err := e.svc.CheckClocks(t.Context()); err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	// The opening's first try was refused (451) and tried again; then the breach went to l2
	// (the escalation's next step) and to management.
	var rcpts []string
	for _, g := range box.got {
		rcpts = append(rcpts, strings.Join(g.to, ","))
	}
	if want := "oncall@hospital.test|l2@soc.test|director@hospital.test,cio@hospital.test"; strings.Join(rcpts, "|") != want {
		t.Fatalf("recipients = %v, want %s", rcpts, want)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(box.got[2].data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[critical] " + out.Incident + " の acknowledge 期限を超過しました (04/01 02:05): behavior.ransomware_burst"; subject != want {
		t.Errorf("Subject = %q, want %q", subject, want)
	}
	body, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, msg.Body))
	for _, want := range []string{"インシデント: " + out.Incident, "重要度: critical", "期限: 2026-04-01 02:05 JST（acknowledge）"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if msg.Header.Get("X-Omamori-Incident") != out.Incident || box.got[2].from != "omamori@hospital.test" {
		t.Errorf("headers %v from %s", msg.Header, box.got[2].from)
	}
}

func TestMailRefusals(t *testing.T) {
	box := &mailbox{refuse: []int{550}}
	addr, tlsCfg := startSMTP(t, box)
	n := Notification{Kind: "opened", Tier: "l1", Incident: "INC-1", Title: "x", Time: time.Now()}
	good := Mail{Addr: addr, From: "omamori@hospital.test", Auth: netsmtp.PlainAuth("", "omamori", "s3cret", "127.0.0.1"),
		TLS: tlsCfg, Backoff: time.Millisecond, To: map[string][]string{"l1": {"oncall@hospital.test"}}}

	m := good
	if err := m.Notify(t.Context(), n); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("Notify(server refuses with 550) = %v, want the refusal, not retried", err)
	}
	if len(box.refuse) != 0 || len(box.got) != 0 {
		t.Errorf("after a permanent refusal: %d refusals left, %d accepted", len(box.refuse), len(box.got))
	}
	m = good
	m.Auth = netsmtp.PlainAuth("", "omamori", "wrong", "127.0.0.1")
	if err := m.Notify(t.Context(), n); err == nil {
		t.Error("Notify(wrong password) = nil error, want one")
	}
	m = good
	if err := m.Notify(t.Context(), Notification{Tier: "nobody"}); err == nil {
		t.Error("Notify(tier without addresses) = nil error, want one")
	}
	m = good
	m.To = map[string][]string{"l1": {"not an address"}}
	if err := m.Notify(t.Context(), n); err == nil {
		t.Error("Notify(bad address) = nil error, want one")
	}
	m = good
	if err := m.Notify(t.Context(), n); err != nil || len(box.got) != 1 {
		t.Errorf("Notify() = %v with %d delivered, want one", err, len(box.got))
	}
}
