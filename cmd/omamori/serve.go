package main

import (
	"context"
	"flag"
	"time"

	"github.com/omamori-project/omamori/internal/node"
)

var serveCommand = command{
	name:    "serve",
	summary: "run omamori: collect, archive, detect, respond; the API and the web UI",
	usage: `usage: omamori serve [-config FILE] [-data-dir DIR] [-set KEY=VALUE]...

Serve runs omamori in one process: an embedded NATS JetStream bus with its files in
the data directory (or an external NATS when bus.url is set), the metadata store
(SQLite, or PostgreSQL), the syslog listeners, and the data path behind them: the
archive, detection (Sigma rules, behavioural detectors, threat intelligence),
response (decisions under the guardrails; nftables when respond.nftables is set,
CrowdSec bouncers at /v1/decisions, webhooks) and incidents. One HTTP server carries
the API under /api/v1 (with the EHR's access decisions), /healthz, /readyz,
/metrics, the CrowdSec bouncer API and the web UI at /.

By default everything listens on localhost only: syslog on 127.0.0.1:5514 (UDP and
TCP) and 6514 (TLS, RFC 5425), the API on 127.0.0.1:8443. To receive a firewall's
logs, set a listener's address to the interface it reaches, for example
-set ingest.syslog.1.listen=0.0.0.0:5514. Off localhost the API speaks only HTTPS.

Every API call needs a token: create one with 'omamori token create'.

A TCP or TLS sender's records are safe on disk once omamori has closed the
connection after the sender closed its side; an HTTP sender's once it has its 200
answer. On SIGTERM or Ctrl-C, serve stops taking new records, puts what it holds on
the bus, and exits.

Flags:

` + configFlagsUsage,
	run: runServe,
}

func runServe(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	var cf configFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, e)
	n, err := node.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	<-n.Done()
	log.Info("shutting down: draining batches in flight")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return n.Shutdown(shutdownCtx)
}
