package behavior

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config holds every threshold of the behavioural detectors. DefaultConfig gives values for a
// 500-bed hospital: about 3,000 staff accounts, 5,000 endpoints and medical devices, one
// SSL-VPN for vendors and remote staff, a few hundred servers.
type Config struct {
	// Internal are the hospital's own networks. Lateral movement is between internal hosts;
	// exfiltration is from an internal host to anything outside.
	Internal []netip.Prefix

	Auth         AuthConfig
	Beacon       BeaconConfig
	PortScan     PortScanConfig
	Lateral      LateralConfig
	Exfiltration ExfilConfig
	Ransomware   RansomConfig
	MaxKeys      int // per detector; beyond it the stalest key is evicted. Bounds memory under a flood of spoofed sources.
}

// AuthConfig: brute force, password spraying and success after failures, per source address.
type AuthConfig struct {
	// Window over which failures are counted. 10 minutes: a person who mistypes a password
	// retries a few times in a minute or two; tools keep going.
	Window time.Duration
	// Failures from one source within Window that make a brute force. 10: FortiGate and
	// Windows lock out after 5 by default, so 10 failures from one address is not a person.
	Failures int
	// Distinct user names failed from one source within Window that make password spraying.
	// 5: one workstation is used by a handful of staff on a shift, but they do not all fail
	// within ten minutes.
	SprayUsers int
	// A success from a source that failed at least this often within Window is reported as a
	// likely compromised account (critical). 5: matches the lockout thresholds above.
	SuccessAfter int
}

// BeaconConfig: C2 beaconing scored as RITA scores it, per (source, destination) pair, where the
// destination is an address or, for connections through a web proxy, the requested host name.
type BeaconConfig struct {
	Window         time.Duration // connections kept per pair: 24 hours, RITA's span
	MinConnections int           // distinct connection timestamps before a pair is scored: 4 (RITA)
	MaxConnections int           // timestamps kept per pair: 86,400 (RITA's cap, one a second)
	Threshold      float64       // score at or above which a finding is raised: 0.8 (RITA's "high")
	// Weights of the four sub-scores; they sum to 1. RITA's defaults: 0.25 each.
	TimestampWeight, DataSizeWeight, DurationWeight, HistogramWeight float64
	// Histogram and duration parameters, RITA's defaults: 0.05 of the largest hourly count
	// groups bars of similar height; 1 outlier bar dropped and 11 hours needed for the bimodal
	// fit; 6 hours needed for a duration score; 12 consecutive hours is a perfect one.
	HistModeSensitivity float64
	HistBimodalOutliers int
	HistBimodalMinHours int
	DurMinHours         int
	DurIdealConsecutive int
	// ProxyPorts: connections to these ports whose HTTP log names a host are scored per host
	// name, not per proxy address (3128, 8080: Squid and most hospital proxies).
	ProxyPorts []uint16
}

// PortScanConfig: one source probing many ports or hosts.
type PortScanConfig struct {
	// Window 5 minutes; Ports 100 distinct destination ports (a vertical scan: no client talks
	// to a hundred services in five minutes); Hosts 64 distinct destinations on one port (a
	// sweep: more than a /26 of a hospital VLAN; PACS and backup servers go in Exempt).
	Window time.Duration
	Ports  int
	Hosts  int
	Exempt []netip.Prefix // vulnerability scanners and monitoring (Nessus, Zabbix)
}

// LateralConfig: one internal host opening admin sessions (SMB, RDP, WinRM, SSH) to many
// internal hosts.
type LateralConfig struct {
	// Window 15 minutes, Hosts 4: a clinical workstation or an application server does not
	// open SMB/RDP/WinRM/SSH to four different internal hosts in a quarter of an hour; the
	// machines that do (domain controllers, SCCM, backup, jump hosts) go in Exempt.
	Window time.Duration
	Hosts  int
	Ports  []uint16 // 445 SMB, 3389 RDP, 5985/5986 WinRM, 22 SSH, 135 RPC
	Exempt []netip.Prefix
}

// ExfilConfig: an internal host's outbound volume per Interval against its own baseline.
type ExfilConfig struct {
	Interval time.Duration // 1 hour buckets
	// Sigmas above the host's mean hourly volume: 3 standard deviations.
	Sigmas float64
	// MinBytes in one interval before anything is reported: 1 GiB an hour. Below that, an
	// imaging workstation's upload to a cloud PACS or an update burst is not worth an alert.
	MinBytes uint64
	// MinHistory intervals of baseline before a host is judged: 24 (one day of hours).
	MinHistory int
	// History is the span of the exponentially weighted baseline, in intervals: 168 (a week).
	History int
}

// RansomConfig: mass file writes or renames with one extension on a host, and shadow-copy
// deletion.
type RansomConfig struct {
	// Window 1 minute, Files 25: 25 files created or renamed to one unusual extension in a
	// minute on one host. LockBit does thousands a minute; a person saving documents does not
	// reach 25 with an extension outside Ordinary.
	Window time.Duration
	Files  int
	// Ordinary extensions never count (lower case, with the dot): what hospital servers write
	// in bulk on their own (DICOM, logs, temp files, office documents, images).
	Ordinary []string
}

// DefaultConfig returns the thresholds for a 500-bed hospital, as documented on each field.
func DefaultConfig() Config {
	return Config{
		Internal: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("172.16.0.0/12"),
			netip.MustParsePrefix("192.168.0.0/16"),
			netip.MustParsePrefix("fc00::/7"),
		},
		Auth: AuthConfig{Window: 10 * time.Minute, Failures: 10, SprayUsers: 5, SuccessAfter: 5},
		Beacon: BeaconConfig{
			Window: 24 * time.Hour, MinConnections: 4, MaxConnections: 86400, Threshold: 0.8,
			TimestampWeight: 0.25, DataSizeWeight: 0.25, DurationWeight: 0.25, HistogramWeight: 0.25,
			HistModeSensitivity: 0.05, HistBimodalOutliers: 1, HistBimodalMinHours: 11,
			DurMinHours: 6, DurIdealConsecutive: 12,
			ProxyPorts: []uint16{3128, 8080},
		},
		PortScan: PortScanConfig{Window: 5 * time.Minute, Ports: 100, Hosts: 64},
		Lateral: LateralConfig{
			Window: 15 * time.Minute, Hosts: 4,
			Ports: []uint16{445, 3389, 5985, 5986, 22, 135},
		},
		Exfiltration: ExfilConfig{Interval: time.Hour, Sigmas: 3, MinBytes: 1 << 30, MinHistory: 24, History: 168},
		Ransomware: RansomConfig{
			Window: time.Minute, Files: 25,
			Ordinary: []string{".dcm", ".tmp", ".log", ".etl", ".evtx", ".pf", ".dat", ".db", ".ldf", ".mdf",
				".bak", ".trn", ".xml", ".json", ".txt", ".csv", ".htm", ".html", ".jpg", ".jpeg", ".png",
				".gif", ".bmp", ".tif", ".tiff", ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx",
				".dll", ".exe", ".sys", ".cab", ".msi", ".lnk", ".ini", ".cache", ".lock"},
		},
		MaxKeys: 1 << 20,
	}
}

// Validate reports the first threshold that cannot work.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, ok bool) {
		if !ok {
			errs = append(errs, fmt.Errorf("behavior config: %s must be positive", name))
		}
	}
	pos("auth.window", c.Auth.Window > 0)
	pos("auth.failures", c.Auth.Failures > 0)
	pos("auth.spray_users", c.Auth.SprayUsers > 0)
	pos("auth.success_after", c.Auth.SuccessAfter > 0)
	pos("beacon.window", c.Beacon.Window > 0)
	pos("beacon.min_connections", c.Beacon.MinConnections >= 4)
	pos("beacon.max_connections", c.Beacon.MaxConnections >= c.Beacon.MinConnections)
	pos("port_scan.window", c.PortScan.Window > 0)
	pos("port_scan.ports", c.PortScan.Ports > 0)
	pos("port_scan.hosts", c.PortScan.Hosts > 0)
	pos("lateral.window", c.Lateral.Window > 0)
	pos("lateral.hosts", c.Lateral.Hosts > 0)
	pos("exfiltration.interval", c.Exfiltration.Interval > 0)
	pos("exfiltration.history", c.Exfiltration.History > 1)
	pos("ransomware.window", c.Ransomware.Window > 0)
	pos("ransomware.files", c.Ransomware.Files > 0)
	pos("max_keys", c.MaxKeys > 0)
	b := c.Beacon
	if w := b.TimestampWeight + b.DataSizeWeight + b.DurationWeight + b.HistogramWeight; w < 0.999 || w > 1.001 {
		errs = append(errs, fmt.Errorf("behavior config: beacon weights sum to %g, want 1", w))
	}
	return errors.Join(errs...)
}

func inAny(prefixes []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
