package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "omamori.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsLoadAndValidate(t *testing.T) {
	c, err := Load(Sources{})
	if err != nil {
		t.Fatalf("Load(no sources) = %v", err)
	}
	if !filepath.IsAbs(c.DataDir) || filepath.Base(c.DataDir) != "omamori-data" {
		t.Errorf("DataDir = %q, want an absolute path ending in omamori-data", c.DataDir)
	}
	if want := filepath.Join(c.DataDir, "omamori.db"); c.Store.DSN != want {
		t.Errorf("Store.DSN = %q, want %q", c.Store.DSN, want)
	}
	if !IsLoopback(c.HTTP.Listen) {
		t.Errorf("HTTP.Listen = %q, want a loopback default", c.HTTP.Listen)
	}
	for _, l := range c.Ingest.Syslog {
		if !IsLoopback(l.Listen) || l.Tenant != "default" || l.Format != "syslog" {
			t.Errorf("default listener %+v: want loopback, tenant default, format syslog", l)
		}
	}
	if c.Location().String() != "Asia/Tokyo" {
		t.Errorf("Location() = %v, want Asia/Tokyo", c.Location())
	}
	d := Default()
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	// Load must not alias Default's slices.
	c.Ingest.Syslog[0].Listen = "changed"
	if Default().Ingest.Syslog[0].Listen == "changed" {
		t.Error("changing a loaded config changed Default()")
	}
}

func TestLoadFileEnvSetPrecedence(t *testing.T) {
	file := writeFile(t, `
data_dir: /var/lib/omamori
http:
  listen: 127.0.0.1:9000
bus:
  max_age: 720h
  sync: 2s
ingest:
  batch_wait: 20ms
  syslog:
    - name: fw
      protocol: udp
      listen: 0.0.0.0:514
      tenant: tokyo-general
`)
	c, err := Load(Sources{
		File: file,
		Env: []string{
			"PATH=/usr/bin",
			"OMAMORI_CONFIG=/etc/omamori.yaml", // not a key: left to the caller
			"OMAMORI_HTTP_LISTEN=127.0.0.1:9100",
			"OMAMORI_INGEST_BATCH_SIZE=500",
			"OMAMORI_STORE_DSN=/tmp/x.db?_pragma=a#b: c", // verbatim, not YAML
		},
		Set: []string{"http.listen=127.0.0.1:9200", "ingest.syslog.0.listen=0.0.0.0:1514", "log.format=json"},
	})
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir from file", c.DataDir, "/var/lib/omamori"},
		{"http.listen: set beats env beats file", c.HTTP.Listen, "127.0.0.1:9200"},
		{"bus.max_age from file", c.Bus.MaxAge, 720 * time.Hour},
		{"bus.sync from file", c.Bus.Sync, "2s"},
		{"bus.max_bytes default", c.Bus.MaxBytes, int64(0)},
		{"ingest.batch_wait from file", c.Ingest.BatchWait, 20 * time.Millisecond},
		{"ingest.batch_size from env", c.Ingest.BatchSize, 500},
		{"ingest.max_record default", c.Ingest.MaxRecord, 65536},
		{"ingest.max_inflated default", c.Ingest.MaxInflated, int64(256 << 20)},
		{"store.dsn verbatim from env", c.Store.DSN, "/tmp/x.db?_pragma=a#b: c"},
		{"listener list replaced by file", len(c.Ingest.Syslog), 1},
		{"listener listen from set", c.Ingest.Syslog[0].Listen, "0.0.0.0:1514"},
		{"listener format filled", c.Ingest.Syslog[0].Format, "syslog"},
		{"listener tenant from file", c.Ingest.Syslog[0].Tenant, "tokyo-general"},
		{"log.format from set", c.Log.Format, "json"},
		{"log.level default", c.Log.Level, "info"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestEnvListAndEmptyList(t *testing.T) {
	c, err := Load(Sources{Env: []string{`OMAMORI_INGEST_SYSLOG=[{name: fw, protocol: tcp, listen: "0.0.0.0:601"}]`}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{{Name: "fw", Protocol: "tcp", Listen: "0.0.0.0:601", Tenant: "default", Format: "syslog"}}
	if diff := cmp.Diff(want, c.Ingest.Syslog); diff != "" {
		t.Errorf("OMAMORI_INGEST_SYSLOG: listeners differ (-want +got):\n%s", diff)
	}
	c, err = Load(Sources{Env: []string{"OMAMORI_DETECT_SIGMA_RULES=[" + t.TempDir() + "]"}, Set: []string{"detect.internal_networks=[10.1.0.0/16]"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Detect.SigmaRules) != 1 || !slices.Equal(c.Detect.InternalNetworks, []string{"10.1.0.0/16"}) {
		t.Errorf("lists of text from the environment and -set: sigma_rules %q, internal_networks %q", c.Detect.SigmaRules, c.Detect.InternalNetworks)
	}
	c, err = Load(Sources{Set: []string{"ingest.syslog="}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ingest.Syslog) != 0 {
		t.Errorf("-set ingest.syslog= left %d listeners, want 0", len(c.Ingest.Syslog))
	}
}

// Every key has its own environment variable: no two keys map to the same name.
func TestEnvNamesUnique(t *testing.T) {
	seen := map[string]string{}
	for _, k := range keys(reflect.TypeFor[Config]()) {
		n := envName(k)
		if prev, ok := seen[n]; ok {
			t.Errorf("keys %s and %s both map to %s", prev, k, n)
		}
		seen[n] = k
	}
	if seen["OMAMORI_HTTP_LISTEN"] != "http.listen" || seen["OMAMORI_DATA_DIR"] != "data_dir" || seen["OMAMORI_BUS_URL"] != "bus.url" {
		t.Errorf("env names = %v, want OMAMORI_HTTP_LISTEN, OMAMORI_DATA_DIR, OMAMORI_BUS_URL among them", seen)
	}
}

// problems returns the problems of an *Error as strings, failing if err is another kind.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want *config.Error", err, err)
	}
	return ce.Problems
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name   string
		file   string // YAML; "" for none
		env    []string
		set    []string
		source string // want Problem.Source
		key    string // want Problem.Key
		msg    string // want in Problem.Msg
		hint   string // want in Problem.Hint
	}{
		{
			name:   "unknown key names its line",
			file:   "http:\n  listen: 127.0.0.1:8443\n  lisen: 0.0.0.0:80\n",
			source: "omamori.yaml line 3", key: "http.lisen", msg: "unknown key", hint: "did you mean http.listen?",
		},
		{
			name:   "unknown top-level key",
			file:   "data_dir: /x\nloglevel: debug\n",
			source: "omamori.yaml line 2", key: "loglevel", msg: "unknown key", hint: "keys at the top level",
		},
		{
			name:   "unknown key inside a list item",
			file:   "ingest:\n  syslog:\n    - name: fw\n      protocol: udp\n      listen: 0.0.0.0:514\n      tennant: a\n",
			source: "omamori.yaml line 6", key: "ingest.syslog.0.tennant", msg: "unknown key", hint: "did you mean ingest.syslog.0.tenant?",
		},
		{
			name:   "number where a duration belongs",
			file:   "ingest:\n  batch_wait: 50\n",
			source: "omamori.yaml line 2", key: "ingest.batch_wait", msg: "want a duration such as 50ms", hint: "",
		},
		{
			name:   "text where a number belongs",
			file:   "ingest:\n  batch_size: lots\n",
			source: "omamori.yaml line 2", key: "ingest.batch_size", msg: `want a whole number, found "lots"`,
		},
		{
			name:   "section where a list of text belongs",
			file:   "detect:\n  sigma_rules:\n    dir: /opt/sigma\n",
			source: "omamori.yaml line 3", key: "detect.sigma_rules", msg: "want a list, found a section of keys",
		},
		{
			name:   "list item of the wrong kind",
			file:   "detect:\n  internal_networks:\n    - [10.0.0.0/8]\n",
			source: "omamori.yaml line 3", key: "detect.internal_networks.0", msg: "want text, found a list",
		},
		{
			name:   "section given a value",
			file:   "http: 0.0.0.0:8443\n",
			source: "omamori.yaml line 1", key: "http", msg: "want a section of keys",
		},
		{
			name:   "broken YAML",
			file:   "http:\n\tlisten: x\n",
			source: "omamori.yaml", msg: "line 2", hint: "spaces, not tabs",
		},
		{
			name:   "typo in environment variable",
			env:    []string{"OMAMORI_HTTP_LISTN=0.0.0.0:1"},
			source: "OMAMORI_HTTP_LISTN", msg: "names no config key", hint: "did you mean OMAMORI_HTTP_LISTEN?",
		},
		{
			name:   "bad value from environment",
			env:    []string{"OMAMORI_BUS_MAX_AGE=90days"},
			source: "OMAMORI_BUS_MAX_AGE", key: "bus.max_age", msg: "want a duration",
		},
		{
			name:   "unknown key from -set",
			set:    []string{"http.port=80"},
			source: "-set http.port", key: "http.port", msg: "unknown key", hint: "keys in http: listen, tls_cert, tls_key",
		},
		{
			name:   "-set indexes past the list",
			set:    []string{"ingest.syslog.7.listen=0.0.0.0:1"},
			source: "-set ingest.syslog.7.listen", key: "ingest.syslog.7", msg: "no item", hint: "numbered from 0",
		},
		{
			name:   "-set without =",
			set:    []string{"http.listen"},
			source: "-set", msg: "want key=value",
		},
		{
			name:   "validation names where the value came from",
			file:   "timezone: JST\n",
			source: "omamori.yaml line 1", key: "timezone", msg: `unknown time zone "JST"`, hint: "Asia/Tokyo",
		},
		{
			name:   "validation of a value from env",
			env:    []string{"OMAMORI_STORE_DRIVER=mysql"},
			source: "OMAMORI_STORE_DRIVER", key: "store.driver", msg: `unknown driver "mysql"`, hint: "sqlite",
		},
		{
			name:   "missing config file",
			file:   "\x00missing", // replaced below by a path that does not exist
			source: "missing.yaml", msg: "no such file", hint: "-config",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Sources{Env: tt.env, Set: tt.set}
			switch tt.file {
			case "":
			case "\x00missing":
				src.File = filepath.Join(t.TempDir(), "missing.yaml")
			default:
				src.File = writeFile(t, tt.file)
			}
			_, err := Load(src)
			if err == nil {
				t.Fatalf("Load(%+v) = nil error, want a problem", tt)
			}
			ps := problems(t, err)
			if len(ps) != 1 {
				t.Fatalf("Load: %d problems, want 1:\n%v", len(ps), err)
			}
			p := ps[0]
			if p.Source != tt.source || p.Key != tt.key || !strings.Contains(p.Msg, tt.msg) || !strings.Contains(p.Hint, tt.hint) {
				t.Errorf("Load problem = %#v\nwant Source %q, Key %q, Msg containing %q, Hint containing %q", p, tt.source, tt.key, tt.msg, tt.hint)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	certDir := t.TempDir()
	cert := filepath.Join(certDir, "c.pem")
	os.WriteFile(cert, []byte("x"), 0o600)
	tests := []struct {
		name   string
		modify func(c *Config)
		keys   []string // want problem keys, in order; nil for valid
		hint   string   // want in the first problem's hint
	}{
		{"default", func(c *Config) {}, nil, ""},
		{"everything off loopback with TLS", func(c *Config) {
			c.HTTP.Listen = "0.0.0.0:8443"
			c.Ingest.Syslog[0].Listen = "0.0.0.0:514"
		}, nil, ""},
		{"postgres", func(c *Config) {
			c.Store = Store{Driver: "postgres", DSN: "postgres://omamori@db:5432/omamori"}
		}, nil, ""},
		{"external bus", func(c *Config) { c.Bus.URL = "nats://a:4222, tls://b:4222" }, nil, ""},
		{"sync interval", func(c *Config) { c.Bus.Sync = "1s" }, nil, ""},
		{"sync nonsense", func(c *Config) { c.Bus.Sync = "sometimes" }, []string{"bus.sync"}, "batch"},
		{"sync negative", func(c *Config) { c.Bus.Sync = "-1s" }, []string{"bus.sync"}, ""},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, []string{"data_dir"}, "/var/lib/omamori"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, []string{"log.level"}, "debug, info"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, []string{"log.format"}, "text or json"},
		{"bus url scheme", func(c *Config) { c.Bus.URL = "http://nats:4222" }, []string{"bus.url"}, "nats://host:4222"},
		{"bus listen off loopback", func(c *Config) { c.Bus.Listen = "0.0.0.0:4222" }, []string{"bus.listen"}, "no authentication"},
		{"bus listen with url", func(c *Config) { c.Bus.URL = "nats://a:4222"; c.Bus.Listen = "127.0.0.1:4222" }, []string{"bus.listen"}, ""},
		{"negative max age", func(c *Config) { c.Bus.MaxAge = -time.Hour }, []string{"bus.max_age"}, ""},
		{"negative max bytes", func(c *Config) { c.Bus.MaxBytes = -1 }, []string{"bus.max_bytes"}, ""},
		{"sigma rules and networks", func(c *Config) {
			c.Detect.SigmaRules = []string{certDir}
			c.Detect.InternalNetworks = []string{"10.0.0.0/8", "2001:db8::/32"}
		}, nil, ""},
		{"sigma rules missing", func(c *Config) { c.Detect.SigmaRules = []string{certDir, cert} }, []string{"detect.sigma_rules.1"}, "rules checkout"},
		{"taxii over http", func(c *Config) {
			c.Detect.Intel.TAXII = []TAXIIFeed{{Discovery: "http://taxii.example/taxii2/", APIRoot: "/api1/", Collection: "x"}}
		}, []string{"detect.intel.taxii.0.discovery"}, "never sent over plain http"},
		{"taxii without collection", func(c *Config) {
			c.Detect.Intel.TAXII = []TAXIIFeed{{Discovery: "https://taxii.example/taxii2/"}}
		}, []string{"detect.intel.taxii.0.collection"}, "collections/"},
		{"intel refresh too often", func(c *Config) { c.Detect.Intel.Refresh = time.Second }, []string{"detect.intel.refresh"}, "15m"},
		{"response policy", func(c *Config) {
			c.Respond.Policies = []ResponsePolicy{{Name: "x", Action: "ban", Target: "attacker", TTL: 0}}
		}, []string{"respond.policies.0.action", "respond.policies.0.target", "respond.policies.0.ttl"}, "block or isolate"},
		{"bouncer key too short", func(c *Config) { c.Respond.Bouncers = []Bouncer{{Name: "gw", Key: "secret"}} }, []string{"respond.bouncers.0.key"}, "openssl rand"},
		{"allow not a network", func(c *Config) { c.Respond.Allow = []string{"dns"} }, []string{"respond.allow.0"}, "192.0.2.53/32"},
		{"webhook over http", func(c *Config) { c.Incidents.Webhook = "http://chat.example/hook" }, []string{"incidents.webhook"}, "https"},
		{"webhook to this machine", func(c *Config) { c.Incidents.Webhook = "http://127.0.0.1/hook" }, nil, ""},
		{"hospital profiles", func(c *Config) {
			c.Incidents.Hospitals = []Hospital{{Tenant: "tokyo", Name: "東京総合病院"}, {Tenant: "osaka", Name: "大阪病院"}}
		}, nil, ""},
		{"hospital profile twice", func(c *Config) {
			c.Incidents.Hospitals = []Hospital{{Tenant: "tokyo", Name: "東京総合病院"}, {Tenant: "tokyo", Name: "東京病院"}}
		}, []string{"incidents.hospitals.1.tenant"}, "one entry"},
		{"hospital profile without a tenant", func(c *Config) { c.Incidents.Hospitals = []Hospital{{Name: "東京総合病院"}} },
			[]string{"incidents.hospitals.0.tenant"}, "tenant ID"},
		{"no deadline", func(c *Config) { c.Incidents.Deadlines.PPCPreliminaryDays = 0 }, []string{"incidents.deadlines.ppc_preliminary_days"}, "defaults"},
		{"final with unlawful purpose shorter", func(c *Config) { c.Incidents.Deadlines.PPCFinalUnauthorizedDays = 20 },
			[]string{"incidents.deadlines.ppc_final_unauthorized_days"}, "60 days"},
		{"decision webhook of unknown events", func(c *Config) {
			c.Respond.Webhooks = []Webhook{{Name: "edr", URL: "https://edr.hospital.example/isolate", Events: "held"}}
		}, []string{"respond.webhooks.0.events"}, "enforced"},
		{"decision webhooks of either events", func(c *Config) {
			c.Respond.Webhooks = []Webhook{{Name: "edr", URL: "https://edr.hospital.example/isolate", Events: "enforced"},
				{Name: "tickets", URL: "http://127.0.0.1:8080/hook", Events: "all"}}
		}, nil, ""},
		{"decision webhook over http", func(c *Config) {
			c.Respond.Webhooks = []Webhook{{Name: "fgt", URL: "http://fortigate.hospital.example/stitch"}}
		}, []string{"respond.webhooks.0.url"}, "https"},
		{"archive witness over http, without a key", func(c *Config) {
			c.Archive.Witnesses = []ArchiveWitness{{URL: "http://witness.soc.example/"}}
		}, []string{"archive.witnesses.0.url", "archive.witnesses.0.key"}, "https"},
		{"nftables netns missing", func(c *Config) { c.Respond.Netns = "/run/netns/no-such-namespace" }, []string{"respond.nftables_netns"}, ""},
		{"min level", func(c *Config) { c.Detect.MinLevel = "severe" }, []string{"detect.min_level"}, "Sigma's levels"},
		{"internal network", func(c *Config) { c.Detect.InternalNetworks = []string{"10.0.0.0"} }, []string{"detect.internal_networks.0"}, "10.0.0.0/8"},
		{"http listen no port", func(c *Config) { c.HTTP.Listen = "0.0.0.0" }, []string{"http.listen"}, "host:port"},
		{"http listen host name", func(c *Config) { c.HTTP.Listen = "omamori.local:8443" }, []string{"http.listen"}, ""},
		{"http port range", func(c *Config) { c.HTTP.Listen = "127.0.0.1:70000" }, []string{"http.listen"}, ""},
		{"cert without key", func(c *Config) { c.HTTP.TLSCert = cert }, []string{"http.tls_key"}, "both"},
		{"unreadable cert", func(c *Config) { c.HTTP.TLSCert = "/nonexistent/c.pem"; c.HTTP.TLSKey = cert }, []string{"http.tls_cert"}, "may read"},
		{"postgres without dsn", func(c *Config) { c.Store.Driver = "postgres" }, []string{"store.dsn"}, "postgres://"},
		{"postgres with file dsn", func(c *Config) { c.Store = Store{Driver: "postgres", DSN: "/tmp/x.db"} }, []string{"store.dsn"}, ""},
		{"max record", func(c *Config) { c.Ingest.MaxRecord = 10 }, []string{"ingest.max_record"}, "65536"},
		{"max inflated", func(c *Config) { c.Ingest.MaxInflated = 1000 }, []string{"ingest.max_inflated"}, "256 MiB"},
		{"batch size", func(c *Config) { c.Ingest.BatchSize = 0 }, []string{"ingest.batch_size"}, ""},
		{"batch wait", func(c *Config) { c.Ingest.BatchWait = 0 }, []string{"ingest.batch_wait"}, "50ms"},
		{"tenant id", func(c *Config) { c.Ingest.DefaultTenant = "Tokyo General" }, []string{"ingest.default_tenant"}, "lower-case"},
		{"listener name", func(c *Config) { c.Ingest.Syslog[1].Name = c.Ingest.Syslog[0].Name }, []string{"ingest.syslog.1.name"}, "own name"},
		{"listener protocol", func(c *Config) { c.Ingest.Syslog[0].Protocol = "sctp" }, []string{"ingest.syslog.0.protocol"}, "udp, tcp or tls"},
		{"listener tenant", func(c *Config) { c.Ingest.Syslog[0].Tenant = "A B" }, []string{"ingest.syslog.0.tenant"}, ""},
		{"cert on udp", func(c *Config) { c.Ingest.Syslog[0].TLSCert = cert }, []string{"ingest.syslog.0.tls_cert"}, "protocol: tls"},
		{"port clash", func(c *Config) { c.Ingest.Syslog[2].Listen = "0.0.0.0:8443" }, []string{"ingest.syslog.2.listen"}, "own port"},
		{"udp and tcp share a port", func(c *Config) {}, nil, ""},
		{"several problems at once", func(c *Config) { c.Log.Level = "x"; c.Store.Driver = "y" }, []string{"log.level", "store.driver"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c)
			err := c.Validate()
			if tt.keys == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want problems with %v", tt.keys)
			}
			ps := problems(t, err)
			var got []string
			for _, p := range ps {
				got = append(got, p.Key)
			}
			if diff := cmp.Diff(tt.keys, got); diff != "" {
				t.Fatalf("Validate() problem keys differ (-want +got):\n%s\n%v", diff, err)
			}
			if !strings.Contains(ps[0].Hint, tt.hint) {
				t.Errorf("Validate() hint = %q, want it to contain %q", ps[0].Hint, tt.hint)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	one := &Error{Problems: []Problem{{Key: "http.listen", Source: "omamori.yaml line 3", Msg: "bad", Hint: "fix it"}}}
	if got, want := one.Error(), "config: omamori.yaml line 3: http.listen: bad\n  hint: fix it"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	two := &Error{Problems: []Problem{{Key: "a", Msg: "x"}, {Key: "b", Msg: "y", Hint: "z"}}}
	if got, want := two.Error(), "config: 2 problems:\n  a: x\n  b: y\n    hint: z"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSetFlags(t *testing.T) {
	var s SetFlags
	for _, v := range []string{"http.listen=0.0.0.0:8443", "store.dsn=a=b"} {
		if err := s.Set(v); err != nil {
			t.Errorf("Set(%q) = %v, want nil", v, err)
		}
	}
	for _, v := range []string{"http.listen", "=x"} {
		if err := s.Set(v); err == nil {
			t.Errorf("Set(%q) = nil, want error", v)
		}
	}
	c, err := Load(Sources{Set: s})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "0.0.0.0:8443" || c.Store.DSN != "a=b" {
		t.Errorf("after -set: listen %q, dsn %q; want 0.0.0.0:8443, a=b", c.HTTP.Listen, c.Store.DSN)
	}
}

func TestSyncPolicy(t *testing.T) {
	tests := []struct {
		sync     string
		always   bool
		interval time.Duration
		ok       bool
	}{
		{"batch", false, 0, true},
		{"always", true, 0, true},
		{"250ms", false, 250 * time.Millisecond, true},
		{"0s", false, 0, false},
		{"", false, 0, false},
	}
	for _, tt := range tests {
		always, interval, err := Bus{Sync: tt.sync}.SyncPolicy()
		if always != tt.always || interval != tt.interval || (err == nil) != tt.ok {
			t.Errorf("SyncPolicy(%q) = %v, %v, %v; want %v, %v, ok=%v", tt.sync, always, interval, err, tt.always, tt.interval, tt.ok)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8443": true, "[::1]:8443": true, "localhost:1": true, "127.1.2.3:1": true,
		"0.0.0.0:8443": false, ":8443": false, "192.0.2.1:1": false, "[::]:1": false, "junk": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "omamori")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "omamori.yaml")
	os.WriteFile(file, []byte("http:\n  listen: 0.0.0.0:8443\ningest:\n  default_tenant: tokyo-general\n"), 0o600)

	c, err := Load(Sources{
		File: file,
		Env:  []string{"OMAMORI_LOG_LEVEL=debug"},
		Set:  []string{"data_dir=" + dir},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(c.HTTP.Listen, c.Log.Level, c.Ingest.Syslog[0].Tenant, filepath.Base(c.Store.DSN))

	_, err = Load(Sources{Env: []string{"OMAMORI_HTTP_LISTEN=8443"}})
	fmt.Println(err)
	// Output:
	// 0.0.0.0:8443 debug tokyo-general omamori.db
	// config: OMAMORI_HTTP_LISTEN: http.listen: "8443" is not host:port
	//   hint: write it as host:port, such as 127.0.0.1:8443 (this machine only) or 0.0.0.0:8443 (every network, always HTTPS)
}

// TestOrigin: Load says where data_dir came from, with the precedence it applies — the
// file, the environment, -data-dir, -set — and nothing for the default.
func TestOrigin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "omamori.yaml")
	if err := os.WriteFile(file, []byte("timezone: UTC\ndata_dir: /srv/omamori\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  Sources
		want string
	}{
		{"default", Sources{}, ""},
		{"file", Sources{File: file}, "omamori.yaml line 2"},
		{"environment over the file", Sources{File: file, Env: []string{"OMAMORI_DATA_DIR=/var/lib/omamori"}}, "OMAMORI_DATA_DIR"},
		{"-data-dir over the environment", Sources{File: file, Env: []string{"OMAMORI_DATA_DIR=/x"}, DataDir: "/y"}, "-data-dir"},
		{"-set over -data-dir", Sources{DataDir: "/y", Set: []string{"data_dir=/z"}}, "-set data_dir"},
	}
	for _, tt := range tests {
		c, err := Load(tt.src)
		if err != nil {
			t.Fatalf("%s: Load: %v", tt.name, err)
		}
		if got := c.Origin("data_dir"); got != tt.want {
			t.Errorf("%s: Origin(data_dir) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
