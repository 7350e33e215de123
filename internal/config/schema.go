package config

import (
	"time"

	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/severity"
)

// The doc comments on the fields below are the documentation of the config file: a test
// renders them into docs/omamori.example.yaml, so write them for the person editing that file.

// Config is the whole of omamori's configuration.
type Config struct {
	// Where omamori keeps everything it writes: the bus's file store, the metadata database,
	// generated certificates. A relative path is taken from the working directory.
	DataDir string `yaml:"data_dir"`
	// Time zone of log timestamps that carry none (classic syslog, FortiGate), and of reports.
	// An IANA name such as Asia/Tokyo or UTC.
	Timezone string `yaml:"timezone"`
	// What omamori writes about itself to standard error.
	Log Log `yaml:"log"`
	// The message bus (NATS JetStream) that carries events between the stages.
	Bus Bus `yaml:"bus"`
	// The HTTP server: API, health checks, Prometheus metrics.
	HTTP HTTP `yaml:"http"`
	// The metadata database: tenants, API tokens, the audit log.
	Store Store `yaml:"store"`
	// How logs come in.
	Ingest Ingest `yaml:"ingest"`
	// The archive: every event kept for years, compressed, encrypted and signed.
	Archive Archive `yaml:"archive"`
	// Detection: which rules and behavioural detectors run over the events.
	Detect Detect `yaml:"detect"`
	// Access decisions for the EHR: who may open which patient record, asked by the EHR
	// before it shows one (POST /api/v1/access/decide).
	Access Access `yaml:"access"`
	// Active response: which alerts block or isolate what, the guardrails that keep patient
	// care running, and the enforcers.
	Respond Respond `yaml:"respond"`
	// Incidents: how alerts are grouped into incidents and who is told.
	Incidents Incidents `yaml:"incidents"`

	origin map[string]string // dotted key → where Load took it from; see Origin
}

// Respond configures active response.
type Respond struct {
	// Record what the policies would do without doing it: for a hospital's first weeks.
	DryRun bool `yaml:"dry_run"`
	// Which alerts lead to which decisions, tried in order; the first that matches decides.
	Policies []ResponsePolicy `yaml:"policies"`
	// CSV file of the hospital's devices (address, name, category, department, protected),
	// for ingest.default_tenant. A life-support device is never blocked or isolated
	// automatically; a protected clinical service is held for a person's approval. Empty:
	// every automatic decision is held, since omamori cannot tell a ventilator from an attacker.
	Assets string `yaml:"assets"`
	// Networks (CIDR) never blocked automatically: the hospital's own, its DNS resolvers, the
	// EHR vendor's maintenance endpoint. detect.intel.warning_lists are added to them.
	Allow []string `yaml:"allow"`
	// Put block and isolation decisions into this machine's nftables (table inet omamori),
	// when omamori runs on the hospital's Linux gateway. Needs CAP_NET_ADMIN.
	Nftables bool `yaml:"nftables"`
	// Path of the network namespace whose nftables to use, such as /var/run/netns/gw, when the
	// gateway is a namespace or container beside omamori. Empty: omamori's own.
	Netns string `yaml:"nftables_netns"`
	// Networks (CIDR) an isolated host may still reach, such as the SOC's management hosts.
	Management []string `yaml:"management"`
	// Receivers of decision changes as JSON (POST, retried): a FortiGate automation stitch
	// filling an address group, an EDR's isolation API, a ticketing system. Each is sent only
	// the decisions in force unless its events say all. Each delivery is kept in the archive.
	Webhooks []Webhook `yaml:"webhooks"`
	// CrowdSec bouncers that pull decisions from /v1/decisions (their api_url is omamori's
	// address); each is given its key in its own configuration.
	Bouncers []Bouncer `yaml:"bouncers"`
}

// ResponsePolicy is one policy: which alerts, and what to do.
type ResponsePolicy struct {
	// A name for the decisions it makes.
	Name string `yaml:"name"`
	// Alert rule ids (a Sigma rule's id, behavior.<detector>, intel.<indicator>); empty: any.
	Rules []string `yaml:"rules"`
	// Detectors: sigma, sigma-correlation, behavior, intel; empty: any.
	Detectors []string `yaml:"detectors"`
	// Lowest alert level that matches; empty: any.
	MinLevel severity.Level `yaml:"min_level"`
	// block or isolate.
	Action decision.Action `yaml:"action"`
	// The alert's entity acted on: source, destination or host.
	Target string `yaml:"target"`
	// Widen an IPv4 address to its network of this length (0: the address alone).
	Prefix int `yaml:"prefix"`
	// Widen an IPv6 address to its network of this length (0: the address alone).
	PrefixV6 int `yaml:"prefix_v6"`
	// How long the decision applies.
	TTL time.Duration `yaml:"ttl"`
	// Go on to the next policies after this one matched, to take several actions on one alert.
	Continue bool `yaml:"continue"`
}

// Webhook is one receiver of decisions.
type Webhook struct {
	// A short name, for the record of deliveries.
	Name string `yaml:"name"`
	// Where decisions are posted. Must be https, or http to this machine.
	URL string `yaml:"url"`
	// Sent as "Authorization: Bearer TOKEN" when set; set it through OMAMORI_RESPOND_WEBHOOKS
	// rather than in this file.
	Token string `yaml:"token"`
	// Which changes it is sent. enforced (or empty): only decisions in force — made active or
	// approved, extended — and the revocation or expiry of one that had been; for a receiver
	// that acts on what it is sent, which must never isolate a ventilator a guardrail holds.
	// all: held and rejected decisions too, marked by their status and "live": false; for a
	// ticketing or notification receiver only.
	Events string `yaml:"events"`
}

// Bouncer is one CrowdSec bouncer.
type Bouncer struct {
	// Its name, unique within its tenant; omamori keeps its position in the decision stream.
	Name string `yaml:"name"`
	// The tenant whose decisions it enforces. Empty: ingest.default_tenant.
	Tenant string `yaml:"tenant"`
	// Its API key, at least 16 characters; set it through OMAMORI_RESPOND_BOUNCERS rather than
	// in this file.
	Key string `yaml:"key"`
}

// Incidents configures the incident workflow.
type Incidents struct {
	// How long after its last alert an incident still gathers alerts about the same hosts,
	// addresses and users.
	Window time.Duration `yaml:"window"`
	// URL to which openings and escalations are posted as JSON (a chat or paging gateway).
	// Empty: nobody is told outside omamori.
	Webhook string `yaml:"webhook"`
	// Each hospital's profile, as the report drafts to the authorities name the reporter: the
	// first values of its settings page (設定 › 病院情報, /t/TENANT/settings/hospital), where
	// the hospital's administrator keeps it up to date; once saved there, that copy is used
	// instead of this one. A field set in neither is drafted as （未設定）.
	Hospitals []Hospital `yaml:"hospitals"`
	// How long the hospital has for each report to the authorities, from when it became aware
	// of the incident (「知った」時点). The drafts and the reporting clocks use them.
	Deadlines Deadlines `yaml:"deadlines"`
}

// Hospital is one hospital's profile for the report drafts. It is package incident's Hospital
// too (incident.Hospital), the profile the drafts name and the settings page edits, whose JSON
// is what the store keeps: one type, here because incident depends on this package and not
// the other way round.
type Hospital struct {
	// The tenant (hospital) it describes.
	Tenant string `yaml:"tenant" json:"-"`
	// 医療機関名, as registered.
	Name string `yaml:"name" json:"name"`
	// 所在地.
	Address string `yaml:"address" json:"address"`
	// 代表電話番号.
	Phone string `yaml:"phone" json:"phone"`
	// 管理者 under 医療法 (usually the 院長), who answers for the reports.
	Administrator string `yaml:"administrator" json:"administrator"`
	// 医療情報システム安全管理責任者 (the MHLW guideline's security manager).
	SecurityManager string `yaml:"security_manager" json:"security_manager"`
	// How to reach the security manager: extension, mobile, e-mail.
	SecurityContact string `yaml:"security_contact" json:"security_contact"`
	// Who files the reports and answers the authority's questions (a person or an office).
	Reporter string `yaml:"reporter" json:"reporter"`
	// The reporter's telephone number.
	ReporterPhone string `yaml:"reporter_phone" json:"reporter_phone"`
	// The reporter's e-mail address.
	ReporterEmail string `yaml:"reporter_email" json:"reporter_email"`
}

// Deadlines are the periods of the reports to the authorities. Default holds the only copy
// of the periods omamori ships; package incident's obligations (reports/obligations.yaml)
// say how each is counted and take the periods from here (incident.Deadlines is this type).
type Deadlines struct {
	// 個人情報保護委員会への速報 (個人情報保護法第26条, 施行規則第8条第1項: 「速やかに」): days after
	// the day of awareness, weekends and holidays counting. The PPC's guidelines read
	// 「速やかに」 as about 3 to 5 days; 3 is what the material hospitals work from says.
	PPCPreliminaryDays int `yaml:"ppc_preliminary_days"`
	// 個人情報保護委員会への確報 (施行規則第8条第2項): days, the day of awareness being day 1; a
	// deadline on a day the PPC is closed moves to the next day it is open.
	PPCFinalDays int `yaml:"ppc_final_days"`
	// The 確報 when the leak may have been done with an unlawful purpose, such as
	// unauthorised access or ransomware (施行規則第7条第3号).
	PPCFinalUnauthorizedDays int `yaml:"ppc_final_unauthorized_days"`
	// 厚生労働省・都道府県への連絡, in hours: the MHLW asks for it 「速やかに」 and sets no period;
	// this is omamori's target, not law.
	MHLWHours int `yaml:"mhlw_hours"`
	// 警察への相談, in hours: no statutory period either.
	PoliceHours int `yaml:"police_hours"`
}

// Access configures the EHR access decisions.
type Access struct {
	// Folder of the hospital's Cedar policies (*.cedar and one *.cedarschema), checked
	// against the schema when omamori starts. Empty: the policies omamori ships for a
	// Japanese hospital; 'omamori access policies DIR' writes them out as a start.
	Policies string `yaml:"policies"`
	// Folder of the staff roster, assignments, care teams and consultations as CSV files
	// (staff.csv required; docs/ehr-access-policy.md lists the columns), for
	// ingest.default_tenant. Empty: nobody is on the roster, so every request is refused
	// until one is loaded.
	Directory string `yaml:"directory"`
	// How long the privacy officer has to review a break-glass access before it is overdue.
	ReviewSLA time.Duration `yaml:"review_sla"`
}

// Detect configures the detection stage.
type Detect struct {
	// Directories of Sigma rules to run besides omamori's own hospital rules, such as a
	// checkout of SigmaHQ's rules/ (every .yml under each). A rule that does not compile is
	// logged and skipped; the others run.
	SigmaRules []string `yaml:"sigma_rules"`
	// Lowest rule level that raises an alert: informational, low, medium, high or critical.
	// Rules below it still feed correlations (five failed logins make one brute-force alert).
	MinLevel severity.Level `yaml:"min_level"`
	// How long repeats of one alert about the same entities are held back after it is raised.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// Run the behavioural detectors: brute force and password spraying, C2 beaconing, port
	// scans, lateral movement, exfiltration volume and ransomware bursts.
	Behavior bool `yaml:"behavior"`
	// The hospital's own networks, in CIDR notation, for lateral movement (between them) and
	// exfiltration (out of them). Empty: the private ranges 10/8, 172.16/12, 192.168/16, fc00::/7.
	InternalNetworks []string `yaml:"internal_networks"`
	// Threat intelligence: known-bad addresses, domains, URLs and file hashes that every
	// event is checked against.
	Intel Intel `yaml:"intel"`
}

// Intel configures the threat-intelligence feeds.
type Intel struct {
	// Files of indicators, re-read at every refresh: STIX 2.1 bundles, MISP event exports
	// (JSON) or plain lists with one address, network, domain, URL or hash per line.
	Files []string `yaml:"files"`
	// TAXII 2.1 collections polled at every refresh for what was added since the last poll,
	// such as a national CSIRT's or an ISAC's feed.
	TAXII []TAXIIFeed `yaml:"taxii"`
	// Directory of MISP warning lists (the lists/ folder of a misp-warninglists checkout).
	// Indicators they name (public DNS resolvers, CDNs, the most visited domains) never
	// raise an alert, so a careless feed cannot flood the SOC. Empty: no warning lists.
	WarningLists string `yaml:"warning_lists"`
	// How often files are re-read and TAXII collections polled.
	Refresh time.Duration `yaml:"refresh"`
}

// TAXIIFeed is one TAXII 2.1 collection.
type TAXIIFeed struct {
	// A short name; it says where an alert's indicator came from.
	Name string `yaml:"name"`
	// The server's discovery URL, such as https://taxii.example/taxii2/. Must be https.
	Discovery string `yaml:"discovery"`
	// The API root, as the discovery document lists it (a URL, or a path on the server).
	APIRoot string `yaml:"api_root"`
	// The collection's id.
	Collection string `yaml:"collection"`
	// HTTP basic authentication; prefer setting the password through the environment
	// variable rather than in this file.
	Username string `yaml:"username"`
	// Password for username.
	Password string `yaml:"password"`
	// A bearer token instead of username and password.
	Token string `yaml:"token"`
}

// Archive configures the archive.
type Archive struct {
	// Where the archive keeps its segments. Empty: data_dir/archive.
	Dir string `yaml:"dir"`
	// The file of master keys that encrypt the archive's data keys, created on first use.
	// Empty: data_dir/keys/archive-master.keys. Keep a copy apart from the data: without it
	// the archive cannot be read. The environment variable OMAMORI_MASTER_KEY (base64 keys
	// separated by commas, the last one current) is used instead of the file when set.
	KeyFile string `yaml:"key_file"`
	// How often a signed checkpoint of each hospital's log is made, for as long as it grows.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Size in bytes at which a segment file is closed and a new one begun.
	SegmentSize int64 `yaml:"segment_size"`
	// How long records are kept. Only whole segments whose records are all older are deleted,
	// and each deletion is itself recorded in the archive.
	Retention time.Duration `yaml:"retention"`
	// Witnesses apart from this server (a regional SOC's, an authority's) that are given every
	// checkpoint by the C2SP tlog-witness protocol, so that a rollback of the archive's disk
	// shows even if the store is lost with it. Each must trust the archive's public key
	// ('omamori archive pubkey') for its origins. The store is always a witness besides.
	Witnesses []ArchiveWitness `yaml:"witnesses"`
}

// ArchiveWitness is one C2SP tlog-witness.
type ArchiveWitness struct {
	// Its submission prefix (add-checkpoint is appended). Must be https, or http to this
	// machine.
	URL string `yaml:"url"`
	// Its cosignature/v1 key: <name>+<key id>+<base64 of 0x04 and an Ed25519 public key>.
	Key string `yaml:"key"`
}

// Log configures omamori's own log.
type Log struct {
	// debug, info, warn or error.
	Level string `yaml:"level"`
	// text (for people) or json (for a log collector).
	Format string `yaml:"format"`
}

// Bus configures the NATS JetStream bus.
type Bus struct {
	// Address of an external NATS server or cluster (nats://host:4222, several separated by
	// commas). Empty: run an embedded NATS server with its files under data_dir.
	URL string `yaml:"url"`
	// Where the embedded NATS server accepts clients, for omamori nodes on this machine.
	// Empty: in-process only, no port is opened. Must be a loopback address.
	Listen string `yaml:"listen"`
	// When the bus forces written events to disk: "batch" (after every batch of events, before
	// the sender is acknowledged), "always" (after every message), or an interval such as
	// "1s" (faster, but a power cut can lose acknowledged events of the last interval).
	Sync string `yaml:"sync"`
	// How long events stay on the bus before they are dropped (they are in the archive by then).
	// 0 keeps them until max_bytes is reached.
	MaxAge time.Duration `yaml:"max_age"`
	// Most bytes of events the bus keeps; the oldest go first. 0: no limit but max_age.
	MaxBytes int64 `yaml:"max_bytes"`
}

// HTTP configures the HTTP server.
type HTTP struct {
	// Address and port to listen on. On a loopback address (127.0.0.1, ::1, localhost) plain
	// HTTP is allowed; on any other address omamori always speaks HTTPS.
	Listen string `yaml:"listen"`
	// PEM certificate (with its chain) for HTTPS. Empty while listening off localhost: a
	// self-signed certificate is generated into data_dir/tls and its fingerprint is logged.
	TLSCert string `yaml:"tls_cert"`
	// PEM private key for tls_cert.
	TLSKey string `yaml:"tls_key"`
}

// Store configures the metadata database.
type Store struct {
	// sqlite (embedded, nothing to install) or postgres.
	Driver string `yaml:"driver"`
	// For sqlite a file path, empty meaning data_dir/omamori.db. For postgres a URL such as
	// postgres://omamori@db.example:5432/omamori?sslmode=verify-full (required).
	DSN string `yaml:"dsn"`
}

// Ingest configures how logs come in.
type Ingest struct {
	// Longest record accepted, in bytes. A longer one goes to the dead letters, truncated.
	MaxRecord int `yaml:"max_record"`
	// Most bytes a gzip-compressed HTTP ingest body may inflate to; a larger one is answered
	// 413 as soon as it reaches the limit, so that a compression bomb costs no more. The body
	// as sent is limited to 64 MiB.
	MaxInflated int64 `yaml:"max_inflated"`
	// Most events put on the bus in one batch.
	BatchSize int `yaml:"batch_size"`
	// Longest time an event waits for its batch to fill before the batch is sent anyway.
	BatchWait time.Duration `yaml:"batch_wait"`
	// Tenant (hospital) of events whose listener or token names none.
	DefaultTenant string `yaml:"default_tenant"`
	// Syslog listeners. Point a firewall, VPN appliance or server at one of them. An empty list
	// opens no syslog port.
	Syslog []Listener `yaml:"syslog"`
}

// Listener is one syslog listener.
type Listener struct {
	// A short name, unique among listeners; it labels this source in metrics and events.
	Name string `yaml:"name"`
	// udp, tcp (newline or octet-counted framing, RFC 6587) or tls (RFC 5425).
	Protocol string `yaml:"protocol"`
	// Address and port to listen on. 0.0.0.0 accepts from every network.
	Listen string `yaml:"listen"`
	// Tenant of the events that arrive here. Empty: ingest.default_tenant.
	Tenant string `yaml:"tenant"`
	// How records are decoded: syslog (RFC 3164 and 5424, the default) or another format
	// that `omamori decode --help` lists.
	Format string `yaml:"format"`
	// For tls: PEM certificate. Empty: a self-signed one is generated into data_dir/tls.
	TLSCert string `yaml:"tls_cert"`
	// For tls: PEM private key for tls_cert.
	TLSKey string `yaml:"tls_key"`
}

// Default returns the configuration omamori runs with when nothing is configured: everything
// on localhost, embedded bus and SQLite store.
func Default() Config {
	return Config{
		DataDir:  "./omamori-data",
		Timezone: "Asia/Tokyo",
		Log:      Log{Level: "info", Format: "text"},
		Bus: Bus{
			Sync:   "batch",
			MaxAge: 90 * 24 * time.Hour,
		},
		HTTP:  HTTP{Listen: "127.0.0.1:8443"},
		Store: Store{Driver: "sqlite"},
		Ingest: Ingest{
			MaxRecord:     64 << 10,
			MaxInflated:   256 << 20,
			BatchSize:     1000,
			BatchWait:     50 * time.Millisecond,
			DefaultTenant: "default",
			Syslog: []Listener{
				{Name: "syslog-udp", Protocol: "udp", Listen: "127.0.0.1:5514", Format: "syslog"},
				{Name: "syslog-tcp", Protocol: "tcp", Listen: "127.0.0.1:5514", Format: "syslog"},
				{Name: "syslog-tls", Protocol: "tls", Listen: "127.0.0.1:6514", Format: "syslog"},
			},
		},
		Archive: Archive{
			CheckpointInterval: time.Minute,
			SegmentSize:        256 << 20,
			Retention:          3653 * 24 * time.Hour, // ten years, however many leap days they hold
		},
		Detect: Detect{
			MinLevel:    "low",
			DedupWindow: 10 * time.Minute,
			Behavior:    true,
			Intel:       Intel{Refresh: 15 * time.Minute},
		},
		Access: Access{ReviewSLA: 72 * time.Hour},
		Respond: Respond{
			Policies: []ResponsePolicy{
				{Name: "isolate-lateral-movement", Rules: []string{"behavior.lateral_movement"}, Action: "isolate", Target: "source", TTL: 4 * time.Hour},
				{Name: "isolate-encrypting-hosts", Rules: []string{"behavior.ransomware_burst", "behavior.shadow_copy_deletion"}, Action: "isolate", Target: "host", TTL: 4 * time.Hour},
				{Name: "block-attackers", Detectors: []string{"sigma", "sigma-correlation", "behavior", "intel"}, MinLevel: "high",
					Action: "block", Target: "source", TTL: 24 * time.Hour},
			},
			Allow: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"},
		},
		Incidents: Incidents{Window: 24 * time.Hour, Deadlines: Deadlines{PPCPreliminaryDays: 3, PPCFinalDays: 30,
			PPCFinalUnauthorizedDays: 60, MHLWHours: 24, PoliceHours: 24}},
	}
}
