package vuln

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/store"
)

// Observation is a product version a device reported about itself in a log.
type Observation struct {
	Host    string // the device's name in its logs (FortiGate devname), matched to the inventory's name
	CPE     string // the product, for an inventory entry that names none
	Version string
}

// fortiOS is the CPE a FortiGate runs.
const fortiOS = "cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*"

// fortiGateVersionLogs are the FortiGate logs that carry the FortiOS version now running, in
// a field "version" (FortiOS Log Message Reference 7.2.9 and 7.6.1, docs.fortinet.com): event
// 22080 LOG_ID_PROVISION_LATEST_SUCCEEDED ("provisioning of latest firmware was completed")
// and 22091 LOG_ID_FEDERATED_UPGRADE_SUCCEEDED. Other logs' "version" fields mean other things,
// so only these are read. Log IDs are written type (01 event), subtype (00 system), message.
var fortiGateVersionLogs = map[string]bool{"0100022080": true, "0100022091": true}

var (
	fgLogID   = event.K("fortigate.logid")
	fgVersion = event.K("fortigate.version")
)

// Observe returns the product version e reports, if it is a log that reports one.
func Observe(e *event.Event) (Observation, bool) {
	if e.Format != "fortigate" || e.Host == "" {
		return Observation{}, false
	}
	id, _ := e.Get(fgLogID)
	v, ok := e.Get(fgVersion)
	if !ok || !fortiGateVersionLogs[id] {
		return Observation{}, false
	}
	if _, err := ParseVersion(v); err != nil {
		return Observation{}, false
	}
	return Observation{Host: strings.Clone(e.Host), CPE: fortiOS, Version: strings.Clone(v)}, true
}

// ConsumerName is the durable consumer the watcher follows EVENTS with.
const ConsumerName = "vuln"

var _ bus.Handler = (*Watcher)(nil)

// Watcher is the stage after the bus that keeps findings current with what devices say they
// run: when a FortiGate logs its FortiOS version, the inventory entry of that name is
// reassessed with it — its findings open, or close with the version that fixed them. It
// changes nothing else: the inventory kept is the hospital's, and the version learnt lives in
// the findings it made. It is safe for one consumer at a time.
type Watcher struct {
	st  *store.Store
	log *slog.Logger
}

// NewWatcher returns a watcher on the store's vulnerability data and findings.
func NewWatcher(st *store.Store, log *slog.Logger) *Watcher {
	return &Watcher{st: st, log: log.With("component", "vuln")}
}

// Handle reassesses the assets whose versions the events of msgs report, in order: the
// watcher is a bus.Handler, which follows EVENTS with the durable consumer ConsumerName. A
// batch that does not decode, and an observation of a device not in its tenant's inventory,
// are logged and skipped: retrying cannot help. A store error fails the group, to be
// delivered again; reassessing twice changes nothing.
func (w *Watcher) Handle(ctx context.Context, msgs []bus.Msg) error {
	type seen struct {
		tenant string
		o      Observation
	}
	var obs []seen
	for _, m := range msgs {
		err := event.DecodeBatch(m.Data, func(e *event.Event) error {
			if o, ok := Observe(e); ok {
				obs = append(obs, seen{m.Tenant, o})
			}
			return nil
		})
		if err != nil {
			w.log.Error("skip an undecodable batch", "seq", m.Seq, "subject", m.Subject, "err", err)
		}
	}
	if len(obs) == 0 {
		return nil
	}
	cat, err := Load(ctx, w.st)
	if err != nil {
		return err
	}
	for _, s := range obs {
		a, err := w.Apply(ctx, cat, s.tenant, s.o)
		if errors.Is(err, errNotInInventory) {
			w.log.Info("a device reported its version but is not in the inventory", "tenant", s.tenant, "host", s.o.Host, "version", s.o.Version)
			continue
		}
		if err != nil {
			return err
		}
		if a.Opened > 0 || a.Patched > 0 {
			w.log.Info("findings changed with a reported version", "tenant", s.tenant, "host", s.o.Host,
				"version", s.o.Version, "opened", a.Opened, "patched", a.Patched)
		}
	}
	return nil
}

var errNotInInventory = errors.New("vuln: device not in the inventory")

// Apply reassesses the tenant's inventory entry named o.Host as running o.Version (and o.CPE,
// if the entry names no product).
func (w *Watcher) Apply(ctx context.Context, cat *Catalog, tenant string, o Observation) (Assessment, error) {
	sc := w.st.Tenant(tenant)
	d, err := sc.Document(ctx, store.DocAssets)
	if errors.Is(err, store.ErrNotFound) {
		return Assessment{}, errNotInInventory
	}
	if err != nil {
		return Assessment{}, err
	}
	assets, err := asset.ParseCSV(strings.NewReader(string(d.Body)))
	if err != nil {
		return Assessment{}, fmt.Errorf("reassess %s: the kept inventory: %w", o.Host, err)
	}
	for _, a := range assets {
		if !strings.EqualFold(a.Name, o.Host) {
			continue
		}
		if a.CPE == "" {
			a.CPE = o.CPE
		}
		a.Version = o.Version
		one, err := asset.New([]asset.Asset{a})
		if err != nil {
			return Assessment{}, err
		}
		return Assess(ctx, sc, "vuln:"+o.Host+" reported "+o.Version, cat, one)
	}
	return Assessment{}, errNotInInventory
}
