package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/omamori-project/omamori/internal/api"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/journal"
)

// TestNodeReceivesOverEveryListener starts a whole node on loopback ports, sends syslog over
// TLS (RFC 5425, checked against the certificate the node generated) and UDP, and finds every
// event on the bus; then it shuts down cleanly.
func TestNodeReceivesOverEveryListener(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(config.Sources{Set: []string{
		"data_dir=" + dir, "http.listen=127.0.0.1:0", "ingest.batch_wait=10ms",
		"ingest.syslog.0.listen=127.0.0.1:0", "ingest.syslog.1.listen=127.0.0.1:0", "ingest.syslog.2.listen=127.0.0.1:0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(t.Context())

	resp, err := http.Get("http://" + n.HTTPAddr.String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz = %s, want 200", resp.Status)
	}

	// TLS: trust exactly the certificate the node generated for the listener.
	pem, err := os.ReadFile(filepath.Join(dir, "tls", "syslog-syslog-tls.crt"))
	if err != nil {
		t.Fatalf("the TLS listener's generated certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := tls.Dial("tcp", n.Syslog["syslog-tls"].String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dial syslog over TLS: %v", err)
	}
	for i := range 5 {
		msg := fmt.Sprintf("<38>1 2024-05-01T10:00:0%dZ gw sshd %d - - Failed password for root from 198.51.100.7 port 22 ssh2", i, 100+i)
		fmt.Fprintf(c, "%d %s", len(msg), msg) // RFC 5425 octet counting
	}
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("no acknowledgement over TLS: %v", err)
	}
	c.Close()

	u, err := net.Dial("udp", n.Syslog["syslog-udp"].String())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		fmt.Fprintf(u, "<38>May  1 10:00:0%d gw sshd[%d]: Accepted publickey for deploy from 192.168.10.%d port 22 ssh2", i, 200+i, i)
	}
	u.Close()

	// UDP has no acknowledgement: wait until the events are on the bus.
	var byListener map[string]int
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		byListener = map[string]int{}
		err := n.Bus.ReadEvents(t.Context(), func(m bus.Msg) error {
			return event.DecodeBatch(m.Data, func(e *event.Event) error {
				if e.Source == journal.Source {
					return nil // omamori's own records, such as the tenant's creation in the audit log
				}
				byListener[e.Source]++
				if peer, _ := e.Get(event.K("log.source.address")); peer != "127.0.0.1" {
					t.Errorf("event from %s has log.source.address %q, want the sender 127.0.0.1", e.Source, peer)
				}
				if e.Tenant != "default" || e.User == "" || !e.SrcIP.IsValid() {
					t.Errorf("event from %s decoded as tenant %q user %q source %v", e.Source, e.Tenant, e.User, e.SrcIP)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if byListener["syslog-udp"] == 5 {
			break
		}
	}
	if byListener["syslog-tls"] != 5 || byListener["syslog-udp"] != 5 {
		t.Errorf("events on the bus by listener = %v, want 5 from syslog-tls and 5 from syslog-udp", byListener)
	}

	// The archive consumes the bus on its own: all ten reach it, synced (beside omamori's own
	// records).
	wctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := n.Archive.WaitSynced(wctx, "default", 10); err != nil {
		t.Errorf("the 10 events sent: %v", err)
	}
	// The counts of what arrived, per listener, reach the store for the dashboard's ingest
	// health; a binary datagram goes to the dead letters and is counted there.
	u, err = net.Dial("udp", n.Syslog["syslog-udp"].String())
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte{'<', '3', '8', '>', 0, 1, 2, 3})
	u.Close()
	want := map[string][2]int64{"syslog-tls": {5, 0}, "syslog-udp": {5, 1}}
	var got map[string][2]int64
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		counts, err := n.Store.Tenant("default").IngestCounts(t.Context(), time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got = map[string][2]int64{}
		for _, c := range counts {
			if c.Source != journal.Source {
				got[c.Source] = [2]int64{got[c.Source][0] + c.Events, got[c.Source][1] + c.DeadLetters}
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ingest counts by listener (events, dead letters) = %v, want %v", got, want)
	}
	if err := n.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// openAPIDoc is what the tests read of the served API description.
type openAPIDoc struct {
	Paths map[string]map[string]struct {
		Security  []map[string][]string `yaml:"security"`
		Responses map[string]struct {
			Content map[string]struct {
				Schema struct {
					Properties map[string]any `yaml:"properties"`
				} `yaml:"schema"`
			} `yaml:"content"`
		} `yaml:"responses"`
	} `yaml:"paths"`
}

// servedOpenAPI fetches the API description as a client does, from GET /api/v1/openapi.yaml.
func servedOpenAPI(t *testing.T, n *Node) openAPIDoc {
	t.Helper()
	resp := request(t, n, "GET", "/api/v1/openapi.yaml", issue(t, n, "default", "openapi-reader", auth.ScopeRead), "")
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.yaml = %d, %v", resp.StatusCode, err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

// TestOpenAPIDescribesEveryRoute checks the API description the server serves against the
// routes a node really serves, ingest included, so the description cannot fall behind the
// code: every route is described with its method and the scope its token needs, every
// operation described is served, and every route answering a decision describes each of
// its fields (respond.DecisionView).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	n := startNode(t, testConfig(t))
	defer n.Shutdown(t.Context())
	doc := servedOpenAPI(t, n)
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			described[strings.ToUpper(method)+" "+path] = true
		}
	}
	var fields []string
	rt := reflect.TypeFor[decision.View]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	for _, rt := range n.API.Routes() {
		if rt.Authn != "" {
			continue // mounted: the web UI, and CrowdSec's bouncer API, which CrowdSec documents
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("route %s is not in internal/api/openapi.yaml", rt.Pattern)
			continue
		}
		delete(described, rt.Pattern)
		// The security the operation names: [] for the public probes, else the token with the
		// route's scope.
		got, want := "none", fmt.Sprint([]map[string][]string{{"token": {string(rt.Scope)}}})
		if op.Security != nil {
			got = fmt.Sprint(op.Security)
		}
		if rt.Scope == api.Public {
			want = "[]"
		}
		if got != want {
			t.Errorf("openapi.yaml: %s has security %s, want %s", rt.Pattern, got, want)
		}
		if !strings.HasPrefix(path, "/api/v1/decisions") || method == "GET" && path == "/api/v1/decisions" {
			continue
		}
		ok200 := "200"
		if method == "POST" && path == "/api/v1/decisions" {
			ok200 = "201"
		}
		props := op.Responses[ok200].Content["application/json"].Schema.Properties
		for _, f := range fields {
			if _, ok := props[f]; !ok {
				t.Errorf("openapi.yaml: %s answers a decision without field %q", rt.Pattern, f)
			}
		}
		if len(props) != len(fields) {
			t.Errorf("openapi.yaml: %s describes %d decision fields, the handler serves %d", rt.Pattern, len(props), len(fields))
		}
	}
	for p := range described {
		t.Errorf("openapi.yaml describes %s, which no route serves", p)
	}
}
