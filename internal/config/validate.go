package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/tenant"
)

// Validate reports every problem with c as an *Error, or nil. The messages are for the person
// who runs omamori in a hospital, not for its developers: each says which key is wrong and,
// where it can, what to write instead. Load calls it; call it yourself on a Config you built.
func (c *Config) Validate() error {
	if ps := c.validate(); len(ps) > 0 {
		return &Error{Problems: ps}
	}
	return nil
}

// validTenant reports whether id is a tenant ID, by the rule every entry point applies.
func validTenant(id string) bool {
	_, err := tenant.Parse(id)
	return err == nil
}

func (c *Config) validate() []Problem {
	var ps []Problem
	bad := func(key, msg, hint string) { ps = append(ps, Problem{Key: key, Msg: msg, Hint: hint}) }

	if c.DataDir == "" {
		bad("data_dir", "must not be empty", "omamori needs a directory for its database and event store, e.g. /var/lib/omamori")
	}
	if c.Timezone == "" {
		bad("timezone", "must not be empty", "Japanese hospitals use Asia/Tokyo")
	} else if _, err := time.LoadLocation(c.Timezone); err != nil {
		bad("timezone", fmt.Sprintf("unknown time zone %q", c.Timezone), "use an IANA name such as Asia/Tokyo or UTC (not JST or +09:00)")
	}

	if _, err := parseLevel(c.Log.Level); err != nil {
		bad("log.level", fmt.Sprintf("unknown level %q", c.Log.Level), "use debug, info, warn or error")
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", fmt.Sprintf("unknown format %q", c.Log.Format), "use text or json")
	}

	if c.Bus.URL != "" {
		for u := range strings.SplitSeq(c.Bus.URL, ",") {
			u = strings.TrimSpace(u)
			p, err := url.Parse(u)
			if err != nil || p.Host == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, p.Scheme) {
				bad("bus.url", fmt.Sprintf("%q is not a NATS server URL", u), "write it as nats://host:4222 (tls://host:4222 for TLS); leave bus.url empty to run the embedded bus")
			}
		}
		if c.Bus.Listen != "" {
			bad("bus.listen", "is set together with bus.url", "bus.listen opens the embedded bus to other processes, which does not run when bus.url points at an external one; remove one of them")
		}
	}
	if c.Bus.Listen != "" {
		if msg := checkAddr(c.Bus.Listen); msg != "" {
			bad("bus.listen", msg, "write it as host:port, such as 127.0.0.1:4222")
		} else if !IsLoopback(c.Bus.Listen) {
			bad("bus.listen", fmt.Sprintf("%s is not a loopback address", c.Bus.Listen),
				"the embedded bus has no authentication, so it may listen only on 127.0.0.1 or ::1; for several machines run a NATS cluster and set bus.url")
		}
	}
	if _, _, err := c.Bus.SyncPolicy(); err != nil {
		bad("bus.sync", err.Error(), `use "batch" (the safe default), "always", or an interval such as 1s`)
	}
	if c.Bus.MaxAge < 0 {
		bad("bus.max_age", "must not be negative", "0 keeps events until max_bytes is reached; 2160h is 90 days")
	}
	if c.Bus.MaxBytes < 0 {
		bad("bus.max_bytes", "must not be negative", "0 means no limit but max_age")
	}

	if msg := checkAddr(c.HTTP.Listen); msg != "" {
		bad("http.listen", msg, "write it as host:port, such as 127.0.0.1:8443 (this machine only) or 0.0.0.0:8443 (every network, always HTTPS)")
	}
	ps = append(ps, checkPair("http", c.HTTP.TLSCert, c.HTTP.TLSKey)...)

	switch c.Store.Driver {
	case "sqlite":
	case "postgres":
		if c.Store.DSN == "" {
			bad("store.dsn", "is empty, and postgres needs one", "write it as postgres://user@host:5432/dbname?sslmode=verify-full")
		} else if u, err := url.Parse(c.Store.DSN); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("store.dsn", "is not a postgres:// URL", "write it as postgres://user@host:5432/dbname?sslmode=verify-full")
		}
	default:
		bad("store.driver", fmt.Sprintf("unknown driver %q", c.Store.Driver), "use sqlite (embedded, the default) or postgres")
	}

	in := c.Ingest
	if in.MaxRecord < 1024 || in.MaxRecord > 16<<20 {
		bad("ingest.max_record", fmt.Sprintf("%d is out of range", in.MaxRecord), "use between 1024 and 16777216 bytes; 65536 fits every syslog sender")
	}
	if in.MaxInflated < 1<<20 || in.MaxInflated > 16<<30 {
		bad("ingest.max_inflated", fmt.Sprintf("%d is out of range", in.MaxInflated), "use between 1048576 and 17179869184 bytes; 268435456 (256 MiB) is the default")
	}
	if in.BatchSize < 1 || in.BatchSize > 100_000 {
		bad("ingest.batch_size", fmt.Sprintf("%d is out of range", in.BatchSize), "use between 1 and 100000; 1000 is a good start")
	}
	if in.BatchWait <= 0 || in.BatchWait > 10*time.Second {
		bad("ingest.batch_wait", fmt.Sprintf("%v is out of range", in.BatchWait), "use more than 0 and at most 10s; 50ms is a good start")
	}
	if !validTenant(in.DefaultTenant) {
		bad("ingest.default_tenant", fmt.Sprintf("%q is not a tenant ID", in.DefaultTenant), tenantHint)
	}
	names := map[string]bool{}
	for i, l := range in.Syslog {
		key := "ingest.syslog." + strconv.Itoa(i)
		switch {
		case l.Name == "":
			bad(key+".name", "must not be empty", "give each listener a short name such as fw-udp")
		case names[l.Name]:
			bad(key+".name", fmt.Sprintf("%q is used by another listener", l.Name), "give each listener its own name")
		}
		names[l.Name] = true
		if !slices.Contains([]string{"udp", "tcp", "tls"}, l.Protocol) {
			bad(key+".protocol", fmt.Sprintf("unknown protocol %q", l.Protocol), "use udp, tcp or tls")
		}
		if msg := checkAddr(l.Listen); msg != "" {
			bad(key+".listen", msg, "write it as host:port, such as 0.0.0.0:514")
		}
		if l.Tenant != "" && !validTenant(l.Tenant) {
			bad(key+".tenant", fmt.Sprintf("%q is not a tenant ID", l.Tenant), tenantHint)
		}
		// The format name is checked by ingest against the decoder registry when it starts,
		// so config does not depend on which decoders exist.
		if l.Protocol == "tls" {
			ps = append(ps, checkPair(key, l.TLSCert, l.TLSKey)...)
		} else if l.TLSCert != "" || l.TLSKey != "" {
			bad(key+".tls_cert", "is set but the protocol is "+l.Protocol, "set protocol: tls to use the certificate, or remove tls_cert and tls_key")
		}
	}

	d := c.Detect
	for i, dir := range d.SigmaRules {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			bad("detect.sigma_rules."+strconv.Itoa(i), fmt.Sprintf("%q is not a directory omamori can read", dir),
				"give the directory of a rules checkout, such as /opt/sigma/rules")
		}
	}
	if _, err := severity.Parse(string(d.MinLevel)); err != nil {
		bad("detect.min_level", fmt.Sprintf("unknown level %q", d.MinLevel), "use informational, low, medium, high or critical (Sigma's levels)")
	}
	if d.DedupWindow < 0 {
		bad("detect.dedup_window", "must not be negative", "10m holds back repeats of an alert for ten minutes; 0 takes that default")
	}
	for i, n := range d.InternalNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			bad("detect.internal_networks."+strconv.Itoa(i), fmt.Sprintf("%q is not a network in CIDR notation", n), "write it as 10.0.0.0/8 or 2001:db8::/32")
		}
	}
	for i, f := range d.Intel.Files {
		if _, err := os.Stat(f); err != nil {
			bad("detect.intel.files."+strconv.Itoa(i), fmt.Sprintf("cannot read %s: %v", f, unwrapPath(err)), "give a STIX bundle, a MISP export or a plain list of indicators")
		}
	}
	for i, f := range d.Intel.TAXII {
		key := "detect.intel.taxii." + strconv.Itoa(i)
		if u, err := url.Parse(f.Discovery); err != nil || u.Scheme != "https" || u.Host == "" {
			bad(key+".discovery", fmt.Sprintf("%q is not an https URL", f.Discovery), "write it as https://taxii.example/taxii2/; credentials are never sent over plain http")
		}
		if f.APIRoot == "" || f.Collection == "" {
			bad(key+".collection", "api_root and collection must both be set", "the server's discovery document names its API roots, and each root's collections/ lists the ids")
		}
	}
	if d.Intel.WarningLists != "" {
		if fi, err := os.Stat(d.Intel.WarningLists); err != nil || !fi.IsDir() {
			bad("detect.intel.warning_lists", fmt.Sprintf("%q is not a directory omamori can read", d.Intel.WarningLists), "give the lists/ folder of a misp-warninglists checkout")
		}
	}
	if d.Intel.Refresh < time.Minute {
		bad("detect.intel.refresh", fmt.Sprintf("%v is too often", d.Intel.Refresh), "feeds change in hours; 15m is a good start, and TAXII servers limit how often they are polled")
	}

	for _, k := range []struct{ key, dir string }{{"access.policies", c.Access.Policies}, {"access.directory", c.Access.Directory}} {
		if k.dir == "" {
			continue
		}
		if fi, err := os.Stat(k.dir); err != nil || !fi.IsDir() {
			bad(k.key, fmt.Sprintf("%q is not a folder omamori can read", k.dir), "give a folder; 'omamori access policies DIR' writes a starting set of policies")
		}
	}
	if c.Access.ReviewSLA <= 0 {
		bad("access.review_sla", "must be more than 0", "72h gives the privacy officer three days to review a break-glass access")
	}

	for i, p := range c.Respond.Policies {
		key := "respond.policies." + strconv.Itoa(i)
		if p.Name == "" {
			bad(key+".name", "must not be empty", "name each policy; its decisions carry the name")
		}
		if p.Action != decision.ActionBlock && p.Action != decision.ActionIsolate {
			bad(key+".action", fmt.Sprintf("unknown action %q", p.Action), "use block or isolate")
		}
		if !slices.Contains([]string{"", "source", "destination", "host"}, p.Target) {
			bad(key+".target", fmt.Sprintf("unknown target %q", p.Target), "use source, destination or host")
		}
		if _, err := severity.Parse(string(p.MinLevel)); p.MinLevel != "" && err != nil {
			bad(key+".min_level", fmt.Sprintf("unknown level %q", p.MinLevel), "use informational, low, medium, high or critical")
		}
		if p.TTL <= 0 {
			bad(key+".ttl", "must be more than 0", "24h blocks an attacker for a day; a person can extend it")
		}
		if p.Prefix < 0 || p.Prefix > 32 || p.PrefixV6 < 0 || p.PrefixV6 > 128 {
			bad(key+".prefix", "is out of range", "0 acts on the address alone; 24 (IPv4) or 64 (IPv6) on its network")
		}
	}
	for _, l := range []struct {
		key  string
		nets []string
	}{{"respond.allow", c.Respond.Allow}, {"respond.management", c.Respond.Management}} {
		for i, n := range l.nets {
			if _, err := netip.ParsePrefix(n); err != nil {
				bad(l.key+"."+strconv.Itoa(i), fmt.Sprintf("%q is not a network in CIDR notation", n), "write it as 10.0.0.0/8, or 192.0.2.53/32 for one address")
			}
		}
	}
	if c.Respond.Assets != "" {
		if _, err := os.Stat(c.Respond.Assets); err != nil {
			bad("respond.assets", fmt.Sprintf("cannot read %s: %v", c.Respond.Assets, unwrapPath(err)), "give the CSV file of the hospital's devices")
		}
	}
	if c.Respond.Netns != "" {
		if _, err := os.Stat(c.Respond.Netns); err != nil {
			bad("respond.nftables_netns", fmt.Sprintf("cannot open %s: %v", c.Respond.Netns, unwrapPath(err)), "give the path of a network namespace, such as /var/run/netns/gw from 'ip netns add gw', or leave it empty for omamori's own")
		}
	}
	for i, b := range c.Respond.Bouncers {
		key := "respond.bouncers." + strconv.Itoa(i)
		if b.Name == "" {
			bad(key+".name", "must not be empty", "name the bouncer, such as gw-nftables")
		}
		if len(b.Key) < 16 {
			bad(key+".key", "is shorter than 16 characters", "generate one with: openssl rand -hex 24")
		}
		if b.Tenant != "" && !validTenant(b.Tenant) {
			bad(key+".tenant", fmt.Sprintf("%q is not a tenant ID", b.Tenant), tenantHint)
		}
	}
	for i, w := range c.Respond.Webhooks {
		key := "respond.webhooks." + strconv.Itoa(i)
		if w.Name == "" {
			bad(key+".name", "must not be empty", "name the receiver, such as fortigate-stitch")
		}
		if !secureURL(w.URL) {
			bad(key+".url", fmt.Sprintf("%q is not an https URL", w.URL), "decisions leave omamori only over https (http only to this machine)")
		}
		if w.Events != "" && w.Events != "enforced" && w.Events != "all" {
			bad(key+".events", fmt.Sprintf("unknown events %q", w.Events), "use enforced (decisions in force; for receivers that act on them) or all (held ones too; for ticketing)")
		}
	}
	for i, w := range c.Archive.Witnesses {
		key := "archive.witnesses." + strconv.Itoa(i)
		if !secureURL(w.URL) {
			bad(key+".url", fmt.Sprintf("%q is not an https URL", w.URL), "checkpoints go to a witness over https (http only to this machine)")
		}
		if w.Key == "" {
			bad(key+".key", "must not be empty", "the witness's operator gives its key: <name>+<key id>+<base64>")
		}
	}
	if c.Incidents.Window <= 0 {
		bad("incidents.window", "must be more than 0", "24h gathers a day's alerts about the same hosts into one incident")
	}
	if w := c.Incidents.Webhook; w != "" && !secureURL(w) {
		bad("incidents.webhook", fmt.Sprintf("%q is not an https URL", w), "incident details leave the hospital only over https (http only to this machine)")
	}

	seen := map[string]bool{}
	for i, h := range c.Incidents.Hospitals {
		key := "incidents.hospitals." + strconv.Itoa(i)
		switch {
		case !validTenant(h.Tenant):
			bad(key+".tenant", fmt.Sprintf("%q is not a tenant ID", h.Tenant), tenantHint)
		case seen[h.Tenant]:
			bad(key+".tenant", fmt.Sprintf("tenant %s has a profile already", h.Tenant), "give each hospital one entry")
		}
		seen[h.Tenant] = true
	}
	dl := c.Incidents.Deadlines
	for _, p := range []struct {
		key string
		v   int
	}{{"ppc_preliminary_days", dl.PPCPreliminaryDays}, {"ppc_final_days", dl.PPCFinalDays},
		{"ppc_final_unauthorized_days", dl.PPCFinalUnauthorizedDays}, {"mhlw_hours", dl.MHLWHours}, {"police_hours", dl.PoliceHours}} {
		if p.v <= 0 {
			bad("incidents.deadlines."+p.key, "must be more than 0", "every report has a deadline; docs/omamori.example.yaml gives the defaults")
		}
	}
	if dl.PPCFinalUnauthorizedDays < dl.PPCFinalDays {
		bad("incidents.deadlines.ppc_final_unauthorized_days", "is shorter than ppc_final_days",
			"the law gives a leak with an unlawful purpose longer (60 days) than another (30), not less")
	}

	ps = append(ps, c.checkConflicts()...)
	return ps
}

const tenantHint = "a tenant ID is " + tenant.Rule + ", such as tokyo-general"

// checkAddr returns what is wrong with a host:port listen address, or "".
func checkAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	// Port 0 lets the kernel choose, as the demo and tests do; omamori logs the one it got.
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Sprintf("port %q is not a number from 0 to 65535", port)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Sprintf("host %q is not an IP address", host)
		}
	}
	return ""
}

// checkPair checks that a certificate and key are given together and can be read.
func checkPair(section, cert, key string) []Problem {
	var ps []Problem
	switch {
	case cert == "" && key == "":
		return nil
	case cert == "":
		return []Problem{{Key: section + ".tls_cert", Msg: "is empty but tls_key is set", Hint: "give both tls_cert and tls_key, or neither for a self-signed certificate"}}
	case key == "":
		return []Problem{{Key: section + ".tls_key", Msg: "is empty but tls_cert is set", Hint: "give both tls_cert and tls_key, or neither for a self-signed certificate"}}
	}
	for _, f := range []struct{ key, path string }{{"tls_cert", cert}, {"tls_key", key}} {
		if _, err := os.Stat(f.path); err != nil {
			ps = append(ps, Problem{Key: section + "." + f.key, Msg: fmt.Sprintf("cannot read %s: %v", f.path, unwrapPath(err)),
				Hint: "check the path and that the omamori user may read the file"})
		}
	}
	return ps
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// checkConflicts finds two TCP listeners, or two UDP listeners, on the same port and host.
func (c *Config) checkConflicts() []Problem {
	type use struct{ key, addr string }
	var tcp, udp []use
	tcp = append(tcp, use{"http.listen", c.HTTP.Listen})
	if c.Bus.URL == "" && c.Bus.Listen != "" {
		tcp = append(tcp, use{"bus.listen", c.Bus.Listen})
	}
	for i, l := range c.Ingest.Syslog {
		u := use{"ingest.syslog." + strconv.Itoa(i) + ".listen", l.Listen}
		switch l.Protocol {
		case "udp":
			udp = append(udp, u)
		case "tcp", "tls":
			tcp = append(tcp, u)
		}
	}
	var ps []Problem
	for _, uses := range [][]use{tcp, udp} {
		for i := range uses {
			for j := range i {
				if overlap(uses[i].addr, uses[j].addr) {
					ps = append(ps, Problem{Key: uses[i].key, Msg: fmt.Sprintf("%s is also used by %s", uses[i].addr, uses[j].key),
						Hint: "give each listener its own port"})
				}
			}
		}
	}
	return ps
}

func overlap(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false // port 0 gets a free port of its own
	}
	wild := func(h string) bool { ip := net.ParseIP(h); return h == "" || (ip != nil && ip.IsUnspecified()) }
	return ha == hb || wild(ha) || wild(hb)
}

// IsLoopback reports whether a host:port listen address accepts connections from this
// machine only. An empty host listens everywhere and is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// SyncPolicy interprets Sync: always reports "always"; otherwise interval is the fsync interval,
// zero for "batch" (the bus syncs after each batch, before acknowledging its sender).
func (b Bus) SyncPolicy() (always bool, interval time.Duration, err error) {
	switch b.Sync {
	case "batch":
		return false, 0, nil
	case "always":
		return true, 0, nil
	}
	d, err := time.ParseDuration(b.Sync)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("%q is neither batch, always nor a positive interval", b.Sync)
	}
	return false, d, nil
}

// SlogLevel returns Level as a slog.Level (info when it is not one of the four names).
func (l Log) SlogLevel() slog.Level {
	lv, _ := parseLevel(l.Level)
	return lv
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("unknown log level %q", s)
}

// secureURL reports whether s is an https URL, or an http one to this machine.
func secureURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http" && IsLoopback(net.JoinHostPort(u.Hostname(), "0")))
}
