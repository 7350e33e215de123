// Package node assembles one omamori process from its parts: the bus; the archive and the
// detection stage that consume it; response and incidents, which follow the alerts; the
// metadata store; the ingest pipeline with its syslog listeners and the journal of omamori's
// own actions; and the HTTP server with the API, the EHR access decisions, the CrowdSec
// bouncer API and the web UI. It starts them in the order the data path needs (the bus before
// anything that publishes, listeners last) and stops them in reverse, so that every batch a
// sender was acknowledged for is on the bus before it closes.
//
// `omamori serve` and `omamori demo` run a Node; tests start one in-process.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/api"
	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/behavior"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/ingest"
	"github.com/omamori-project/omamori/internal/intel"
	"github.com/omamori-project/omamori/internal/journal"
	"github.com/omamori-project/omamori/internal/keyring"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/rules"
	"github.com/omamori-project/omamori/internal/selfsigned"
	"github.com/omamori-project/omamori/internal/store"
	"github.com/omamori-project/omamori/internal/tally"
	"github.com/omamori-project/omamori/internal/vuln"
	"github.com/omamori-project/omamori/internal/web"
)

// Node is a running omamori process.
type Node struct {
	Bus     *bus.Bus
	Store   *store.Store
	Archive *archive.Archive
	API     *api.Server
	// Journal records omamori's own actions into the archive, through the bus.
	Journal *journal.Journal
	// Access holds each tenant's EHR access decision point.
	Access access.Deciders
	// Respond makes and keeps block and isolation decisions; Incidents the SOC's workflow.
	Respond   *respond.Service
	Incidents *incident.Service
	// Accounts are the people who sign in to the web UI.
	Accounts *auth.Accounts

	// HTTPAddr is where the HTTP server listens, and HTTPS whether it speaks TLS.
	HTTPAddr net.Addr
	HTTPS    bool
	// Syslog maps each syslog listener's name to the address it is bound to (useful when the
	// configuration asks for port 0).
	Syslog map[string]net.Addr

	log         *slog.Logger
	inventories *inventories // each tenant's devices, for guardrails, incidents and the UI
	reviews     access.ReviewQueue
	pipeline    *ingest.Pipeline
	verifier    *auth.Verifier

	done         <-chan struct{}    // closed when the node should stop
	cancel       context.CancelFunc // stops listeners, the HTTP server and the verifier
	listeners    sync.WaitGroup     // syslog listeners and the HTTP server
	verifierDone chan struct{}

	shutdown    sync.Once
	shutdownErr error

	errMu sync.Mutex
	err   error // the first error of a part that stopped on its own

	bound atomic.Pointer[[]web.Listener] // the entry points of logs, once bound (entryPoints)
	allow []respond.Allowlist            // the networks never blocked automatically
}

// Start starts every part of a node as cfg says, and returns once all of them listen. It stops
// what it started if a later part fails. The node runs until ctx is done or Shutdown is called.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Node, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n := &Node{log: log, done: runCtx.Done(), cancel: cancel, Syslog: map[string]net.Addr{}, verifierDone: make(chan struct{})}
	defer func() {
		if err != nil {
			n.Shutdown(context.Background())
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			n.cancel()
		case <-runCtx.Done():
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	always, interval, err := cfg.Bus.SyncPolicy()
	if err != nil {
		return nil, err
	}
	if always {
		interval = 0 // the bus fsyncs before every acknowledgement; batches make that cheap
	}
	n.Bus, err = bus.Open(ctx, bus.Config{
		URL: cfg.Bus.URL, DataDir: cfg.DataDir, Listen: cfg.Bus.Listen, SyncInterval: interval,
		MaxAge: cfg.Bus.MaxAge, MaxBytes: cfg.Bus.MaxBytes, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("start bus: %w", err)
	}

	keys, created, err := keyring.LoadOrCreate(cfg.Archive.KeyFile, os.Getenv("OMAMORI_MASTER_KEY"))
	if err != nil {
		return nil, fmt.Errorf("archive master key: %w", err)
	}
	if created {
		log.Warn("created the archive's master key: keep a copy apart from this server, or the archive cannot be read", "key_file", cfg.Archive.KeyFile)
	}
	n.Store, err = store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return nil, fmt.Errorf("open metadata store: %w", err)
	}
	n.Archive, err = archive.Open(ctx, archive.Options{Dir: cfg.Archive.Dir, Keys: keys,
		SegmentBytes: cfg.Archive.SegmentSize, CheckpointEvery: cfg.Archive.CheckpointInterval, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	// Each checkpoint is kept in the store too, apart from the archive's disk, so that a
	// rollback of the archive's directory shows in 'omamori archive verify'.
	n.Archive.AddWitness(ctx, archive.NewStoreWitness(n.Store, n.Archive.PublicKey()))
	for _, cw := range cfg.Archive.Witnesses {
		w, err := archive.NewHTTPWitness(cw.URL, cw.Key, &http.Client{Timeout: 10 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("archive.witnesses: %w", err)
		}
		n.Archive.AddWitness(ctx, w)
	}
	// The archive reads the bus as a consumer of its own, so events wait there while it is slow.
	n.goServe("archive", func() error {
		return n.Bus.ConsumeEvents(runCtx, bus.ConsumeConfig{Durable: archive.ConsumerName}, n.Archive)
	})

	// Detection follows the bus with its own consumer too, with omamori's hospital rules and
	// any the hospital adds.
	stage, err := newDetectStage(cfg.Detect, n.Bus, reg, log)
	if err != nil {
		return nil, err
	}
	n.goServe("detect", func() error {
		return n.Bus.ConsumeEvents(runCtx, bus.ConsumeConfig{Durable: detect.ConsumerName}, stage)
	})
	if in := cfg.Detect.Intel; len(in.Files) > 0 || len(in.TAXII) > 0 {
		feeds, err := newFeeds(in, log)
		if err != nil {
			return nil, err
		}
		n.goServe("intel", func() error { return feeds.Run(runCtx, in.Refresh, stage.SetIntel) })
	}
	// Records past the retention period go, whole segments at a time, each deletion recorded
	// in the archive itself.
	n.goServe("retention", func() error {
		n.Archive.RetainEvery(runCtx, 24*time.Hour, archive.RetainPolicy{Default: cfg.Archive.Retention})
		return nil
	})

	tenants := map[string]bool{cfg.Ingest.DefaultTenant: true}
	for _, l := range cfg.Ingest.Syslog {
		tenants[l.Tenant] = true
	}
	for _, b := range cfg.Respond.Bouncers {
		tenants[b.Tenant] = true
	}
	for t := range tenants {
		if _, err := n.Store.EnsureTenant(ctx, "system", store.Tenant{ID: t, Name: t}); err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t, err)
		}
	}
	// What arrived is counted by a consumer of its own too, for the dashboard's events over
	// time and ingest health.
	n.goServe("tally", func() error { return tally.Run(runCtx, n.Bus, n.Store, log) })
	// Devices that log the version they run (a FortiGate's FortiOS) keep their findings
	// current: a vulnerable version opens them, a fixed one closes them.
	n.goServe("vuln", func() error {
		return n.Bus.ConsumeEvents(runCtx, bus.ConsumeConfig{Durable: vuln.ConsumerName}, vuln.NewWatcher(n.Store, log))
	})

	n.pipeline, err = ingest.NewPipeline(n.Bus, ingest.Config{
		MaxEvents: cfg.Ingest.BatchSize, MaxDelay: cfg.Ingest.BatchWait, MaxRecord: cfg.Ingest.MaxRecord,
	}, reg, log)
	if err != nil {
		return nil, fmt.Errorf("start ingest: %w", err)
	}
	n.Journal = journal.New(n.pipeline)
	n.goServe("journal", func() error { n.Journal.Run(runCtx, cfg.Ingest.BatchWait); return nil })
	n.goServe("audit-copy", func() error {
		return n.copyAudit(runCtx, filepath.Join(cfg.DataDir, "audit-archived.json"), auditEvery)
	})

	n.verifier = auth.NewVerifier(n.Store, log)
	go func() {
		defer close(n.verifierDone)
		n.verifier.Run(runCtx, time.Minute)
	}()

	n.API, err = api.New(cfg.HTTP, cfg.DataDir, api.Deps{
		Store: n.Store, Verifier: n.verifier, Gatherer: reg, Registerer: reg, Log: log,
		Checks: []api.Check{
			{Name: "store", Ready: n.Store.Ping},
			{Name: "bus", Ready: n.Bus.Ping},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start http server: %w", err)
	}
	decodeOpts := decode.Options{Location: cfg.Location()}
	n.API.Handle("POST /api/v1/ingest", auth.ScopeIngest, &ingest.Handler{
		Pipeline:    n.pipeline,
		Decode:      decodeOpts,
		MaxInflated: cfg.Ingest.MaxInflated,
		Tenant: func(r *http.Request) (string, string, error) {
			p, err := tokenPrincipal(r)
			return p.Tenant, "api:" + p.Name, err
		},
	}, api.MaxBody(64<<20))
	n.mountArchive()
	tenantIDs := slices.Sorted(maps.Keys(tenants))
	if err := n.startAccess(ctx, cfg, tenantIDs); err != nil {
		return nil, err
	}
	if err := n.startResponse(runCtx, cfg, tenantIDs); err != nil {
		return nil, err
	}
	if err := n.startWeb(runCtx, cfg); err != nil {
		return nil, err
	}
	ln, err := n.API.Listen()
	if err != nil {
		return nil, fmt.Errorf("listen for http: %w", err)
	}
	n.HTTPAddr, n.HTTPS = ln.Addr(), cfg.HTTP.TLSCert != "" || !config.IsLoopback(cfg.HTTP.Listen)
	n.goServe("http", func() error { return n.API.Serve(runCtx, ln) })

	for _, l := range cfg.Ingest.Syslog {
		if err := n.startSyslog(runCtx, cfg, l, decodeOpts); err != nil {
			return nil, err
		}
	}
	n.setEntryPoints(cfg)
	log.Info("omamori is running", "data_dir", cfg.DataDir, "http", n.HTTPAddr.String(), "https", n.HTTPS,
		"bus", busWhere(cfg), "store", cfg.Store.Driver)
	return n, nil
}

func (n *Node) startSyslog(ctx context.Context, cfg *config.Config, l config.Listener, opts decode.Options) error {
	il := ingest.Listener{Tenant: l.Tenant, Source: l.Name, Format: l.Format, Decode: opts}
	if _, err := decode.Lookup(il.Format); err != nil && il.Format != "" {
		return fmt.Errorf("syslog listener %s: %w", l.Name, err)
	}
	switch l.Protocol {
	case "udp":
		pc, err := net.ListenPacket("udp", l.Listen)
		if err != nil {
			return fmt.Errorf("syslog listener %s: %w", l.Name, err)
		}
		n.Syslog[l.Name] = pc.LocalAddr()
		n.goServe(l.Name, func() error { return n.pipeline.ServeUDP(ctx, pc, il) })
	case "tcp", "tls":
		ln, err := net.Listen("tcp", l.Listen)
		if err != nil {
			return fmt.Errorf("syslog listener %s: %w", l.Name, err)
		}
		n.Syslog[l.Name] = ln.Addr()
		if l.Protocol == "tcp" {
			n.goServe(l.Name, func() error { return n.pipeline.ServeTCP(ctx, ln, il) })
			break
		}
		tc, err := syslogTLS(cfg, l)
		if err != nil {
			ln.Close()
			return err
		}
		n.goServe(l.Name, func() error { return n.pipeline.ServeTLS(ctx, ln, tc, il) })
	default:
		return fmt.Errorf("syslog listener %s: unknown protocol %q", l.Name, l.Protocol)
	}
	return nil
}

// syslogTLS returns the TLS configuration of an RFC 5425 listener: its own certificate, or
// one generated into the data directory, whose fingerprint senders can pin.
func syslogTLS(cfg *config.Config, l config.Listener) (*tls.Config, error) {
	certFile, keyFile := l.TLSCert, l.TLSKey
	if certFile == "" {
		hosts, err := selfsigned.Hosts(l.Listen)
		if err != nil {
			return nil, fmt.Errorf("syslog listener %s: %w", l.Name, err)
		}
		certFile, keyFile, err = selfsigned.Ensure(filepath.Join(cfg.DataDir, "tls"), "syslog-"+l.Name, hosts)
		if err != nil {
			return nil, fmt.Errorf("syslog listener %s: %w", l.Name, err)
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("syslog listener %s: load certificate: %w", l.Name, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// goServe runs a listener; one that stops with an error while the node runs stops the node.
func (n *Node) goServe(name string, serve func() error) {
	n.listeners.Add(1)
	go func() {
		defer n.listeners.Done()
		if err := serve(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, net.ErrClosed) {
			n.errMu.Lock()
			if n.err == nil {
				n.err = fmt.Errorf("%s: %w", name, err)
			}
			n.errMu.Unlock()
			n.log.Error("listener stopped", "name", name, "err", err)
			n.cancel()
		}
	}()
}

// Shutdown stops the node: listeners first, so nothing new arrives; then the pipeline, which
// publishes what it holds and waits for the bus to acknowledge it; then the bus and the store.
// It returns the first error of a part that had stopped on its own. Calls after the first
// return what the first returned.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdown.Do(func() { n.shutdownErr = n.stop(ctx) })
	return n.shutdownErr
}

func (n *Node) stop(ctx context.Context) error {
	n.cancel()
	n.listeners.Wait()
	var errs []error
	if n.Journal != nil {
		errs = append(errs, n.Journal.Sync(ctx))
	}
	if n.pipeline != nil {
		errs = append(errs, n.pipeline.Close(ctx))
	}
	if n.verifier != nil {
		<-n.verifierDone
	}
	if n.Archive != nil {
		errs = append(errs, n.Archive.Close()) // syncs what the consumer appended
	}
	if n.Bus != nil {
		errs = append(errs, n.Bus.Close())
	}
	if n.Store != nil {
		errs = append(errs, n.Store.Close())
	}
	n.errMu.Lock()
	errs = append([]error{n.err}, errs...)
	n.errMu.Unlock()
	return errors.Join(errs...)
}

// Done is closed when the node stops running: its context ended or a part failed. Call
// Shutdown then.
func (n *Node) Done() <-chan struct{} { return n.done }

func busWhere(cfg *config.Config) string {
	if cfg.Bus.URL != "" {
		return cfg.Bus.URL
	}
	return "embedded"
}

// newDetectStage compiles the rules and sets up the behavioural detectors as cfg says; the
// stage publishes its alerts to alerts.
func newDetectStage(cfg config.Detect, alerts detect.AlertPublisher, reg prometheus.Registerer, log *slog.Logger) (*detect.Stage, error) {
	ruleset, report, err := rules.Load(cfg.SigmaRules...)
	if err != nil {
		return nil, fmt.Errorf("load detection rules: %w", err)
	}
	for _, f := range report.Failed {
		log.Warn("detection rule not compiled", "rule", f.Path, "err", f.Err)
	}
	log.Info("detection rules loaded", "rules", ruleset.Rules(), "not_compiled", len(report.Failed))
	dc := detect.Config{MinLevel: cfg.MinLevel, Window: cfg.DedupWindow, Alerts: alerts}
	if cfg.Behavior {
		bc := behavior.DefaultConfig()
		if len(cfg.InternalNetworks) > 0 {
			bc.Internal = bc.Internal[:0]
			for _, n := range cfg.InternalNetworks {
				p, err := netip.ParsePrefix(n)
				if err != nil {
					return nil, fmt.Errorf("detect.internal_networks: %w", err)
				}
				bc.Internal = append(bc.Internal, p.Masked())
			}
		}
		dc.Behavior = &bc
	}
	return detect.New(ruleset, dc, reg, log)
}

// newFeeds sets up the threat-intelligence feeds cfg names.
func newFeeds(cfg config.Intel, log *slog.Logger) (*intel.Feeds, error) {
	f := &intel.Feeds{Files: cfg.Files, Log: log.With("component", "intel")}
	if cfg.WarningLists != "" {
		allow, err := intel.LoadWarningLists(cfg.WarningLists)
		if err != nil {
			return nil, fmt.Errorf("load MISP warning lists: %w", err)
		}
		f.Allow = allow
	}
	for _, t := range cfg.TAXII {
		f.TAXII = append(f.TAXII, intel.TAXIIFeed{Name: t.Name, APIRoot: t.APIRoot, Collection: t.Collection,
			Client: &intel.TAXIIClient{Discovery: t.Discovery, Username: t.Username, Password: t.Password, Token: t.Token}})
	}
	return f, nil
}

// tokenPrincipal is who a request behind the API's token guard comes from. The guard put it
// in the request's context, so its absence is a wiring mistake, not the caller's.
func tokenPrincipal(r *http.Request) (auth.Principal, error) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return auth.Principal{}, errors.New("no principal on an authenticated route")
	}
	return p, nil
}

// tokenActor is the tenant a token's request acts for, and the token as audit logs and
// incident timelines name it.
func tokenActor(r *http.Request) (tenant, actor string, err error) {
	p, err := tokenPrincipal(r)
	return p.Tenant, p.Actor(), err
}
