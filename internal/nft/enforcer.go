package nft

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table the Enforcer owns, in the inet family.
const TableName = "omamori"

// DefaultBatchSize is the number of prefixes sent to the kernel in one
// transaction when Config.BatchSize is zero.
const DefaultBatchSize = 8192

// chainPriority puts omamori's chains just before the usual filter chains
// (priority 0), so a drop here cannot be undone by an accept there.
const chainPriority = -10

// ErrNotSetUp is returned by calls made before Setup succeeded.
var ErrNotSetUp = errors.New("nft: enforcer is not set up (call Setup first)")

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("nft: enforcer is closed")

// Config says where and how an Enforcer works.
type Config struct {
	// NetNS is an open file descriptor of the network namespace to enforce
	// in. Zero means the namespace of the calling process.
	NetNS int
	// Management lists the addresses an isolated host may still reach and be
	// reached from (the administrators' jump host, the EDR console).
	Management []netip.Prefix
	// BatchSize is the most prefixes put into one kernel transaction;
	// DefaultBatchSize when zero.
	BatchSize int
	// Logger receives what the Enforcer does; slog.Default when nil.
	Logger *slog.Logger
}

// kind is one of the two decision kinds the Enforcer keeps sets for.
type kind int

const (
	kindBlock kind = iota
	kindIsolate
)

func (k kind) String() string { return [...]string{"block", "isolate"}[k] }

// kindState is what the Enforcer knows about one kind of set. live mirrors
// every entry it was asked to enforce (expiry in Unix nanoseconds, 0 for
// never), including nested ones the kernel does not hold, so that the kernel
// never has to be read back.
type kindState struct {
	gen       int
	sets      sets
	live      *mirror
	timers    map[netip.Prefix]*time.Timer
	purgeSize int
}

// Enforcer puts block and isolation decisions into the kernel. Its methods
// may be called concurrently; they are serialized. Each method returns once
// the kernel has acknowledged the change, so a blocked address's next packet
// is dropped.
type Enforcer struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	conn *nftables.Conn

	table            *nftables.Table
	input, forward   *nftables.Chain
	manage4, manage6 *nftables.Set
	kinds            [2]*kindState
	ready, closed    bool
}

// New opens a netlink connection to nftables in cfg.NetNS. It changes
// nothing in the kernel; call Setup next, then Reconcile with the decisions
// in force.
func New(cfg Config) (*Enforcer, error) {
	return newEnforcer(cfg)
}

// newEnforcer is New with extra connection options, for tests that capture
// the netlink messages instead of sending them to a kernel.
func newEnforcer(cfg Config, extra ...nftables.ConnOption) (*Enforcer, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	for _, p := range cfg.Management {
		if _, err := (Entry{Prefix: p}).check(); err != nil {
			return nil, fmt.Errorf("management address: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if cfg.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNS))
	}
	if len(extra) == 0 {
		opts = append(opts, nftables.WithSockOptions(bigBuffers))
	}
	opts = append(opts, extra...)
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink connection: %w", err)
	}
	e := &Enforcer{
		cfg:   cfg,
		log:   log.With("component", "nft"),
		conn:  conn,
		table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet},
	}
	e.input = e.chain("input", nftables.ChainHookInput)
	e.forward = e.chain("forward", nftables.ChainHookForward)
	e.manage4 = e.newSet("manage4", nftables.TypeIPAddr, false)
	e.manage6 = e.newSet("manage6", nftables.TypeIP6Addr, false)
	for k := range e.kinds {
		e.kinds[k] = &kindState{live: newMirror(), timers: map[netip.Prefix]*time.Timer{}}
	}
	return e, nil
}

// bigBuffers lets one transaction of BatchSize prefixes fit in the socket:
// the kernel refuses a batch larger than the send buffer (EMSGSIZE) and drops
// acknowledgements beyond the receive buffer (ENOBUFS).
func bigBuffers(c *netlink.Conn) error {
	if err := c.SetWriteBuffer(4 << 20); err != nil {
		return fmt.Errorf("set netlink send buffer: %w", err)
	}
	if err := c.SetReadBuffer(4 << 20); err != nil {
		return fmt.Errorf("set netlink receive buffer: %w", err)
	}
	return nil
}

func (e *Enforcer) chain(name string, hook *nftables.ChainHook) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     name,
		Table:    e.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  hook,
		Priority: nftables.ChainPriorityRef(chainPriority),
		Policy:   &accept,
	}
}

func (e *Enforcer) newSet(name string, key nftables.SetDatatype, timeout bool) *nftables.Set {
	return &nftables.Set{Table: e.table, Name: name, KeyType: key, Interval: true, HasTimeout: timeout}
}

// sets are one kind's sets of one generation. Single addresses go into hash
// sets, networks into interval sets: the kernel (6.18 measured) spends time
// proportional to an interval set's size on every transaction that changes
// it (about 30 ms at 50,000 elements), while a hash set's cost stays flat,
// and nearly every decision is for one address.
type sets struct {
	addr4, addr6, net4, net6 *nftables.Set
}

func (s sets) all() []*nftables.Set { return []*nftables.Set{s.addr4, s.addr6, s.net4, s.net6} }

func (s sets) forPrefix(p netip.Prefix) *nftables.Set {
	switch {
	case p.IsSingleIP() && p.Addr().Is4():
		return s.addr4
	case p.IsSingleIP():
		return s.addr6
	case p.Addr().Is4():
		return s.net4
	default:
		return s.net6
	}
}

func (e *Enforcer) genSets(k kind, gen int) sets {
	g := "_g" + strconv.Itoa(gen)
	hash := func(name string, key nftables.SetDatatype) *nftables.Set {
		return &nftables.Set{Table: e.table, Name: name, KeyType: key, HasTimeout: true}
	}
	return sets{
		addr4: hash(k.String()+"4"+g, nftables.TypeIPAddr),
		addr6: hash(k.String()+"6"+g, nftables.TypeIP6Addr),
		net4:  e.newSet(k.String()+"net4"+g, nftables.TypeIPAddr, true),
		net6:  e.newSet(k.String()+"net6"+g, nftables.TypeIP6Addr, true),
	}
}

// Setup creates omamori's table, sets and chains where they are missing and
// brings the rules to the expected ones. Running it again changes nothing; it
// never touches another table. After a restart the sets from before are kept
// (their elements still expire on time) until Reconcile replaces them.
func (e *Enforcer) Setup(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set up nftables: %w", err)
	}
	e.conn.AddTable(e.table)
	if err := e.conn.Flush(); err != nil {
		return fmt.Errorf("create table inet %s: %w", TableName, err)
	}
	existing, err := e.conn.GetSets(e.table)
	if err != nil {
		return fmt.Errorf("list sets of table inet %s: %w", TableName, err)
	}
	names := map[string]bool{}
	byName := map[string]*nftables.Set{}
	for _, s := range existing {
		names[s.Name] = true
		byName[s.Name] = s
	}
	keep := map[string]bool{e.manage4.Name: true, e.manage6.Name: true}
	for k, ks := range e.kinds {
		if ks.gen == 0 {
			ks.gen = currentGen(kind(k), names)
			// Sets of another shape (an older omamori's) cannot be used:
			// start a new, empty generation; Reconcile fills it.
			for _, want := range e.genSets(kind(k), ks.gen).all() {
				if have := byName[want.Name]; have != nil && !sameShape(have, want) {
					e.log.Warn("existing set has another shape; starting a new generation", "set", want.Name)
					ks.gen++
					break
				}
			}
		}
		ks.sets = e.genSets(kind(k), ks.gen)
		for _, s := range ks.sets.all() {
			keep[s.Name] = true
		}
	}
	for _, s := range append([]*nftables.Set{e.manage4, e.manage6}, append(e.kinds[0].sets.all(), e.kinds[1].sets.all()...)...) {
		if !names[s.Name] {
			if err := e.conn.AddSet(s, nil); err != nil {
				return fmt.Errorf("add set %s: %w", s.Name, err)
			}
		}
	}
	e.conn.AddChain(e.input)
	e.conn.AddChain(e.forward)
	if err := e.conn.Flush(); err != nil {
		return fmt.Errorf("create sets and chains in inet %s: %w", TableName, err)
	}
	changed, err := e.ensureRules()
	if err != nil {
		return err
	}
	var stale []string
	for _, s := range existing {
		if !keep[s.Name] {
			e.conn.DelSet(s)
			stale = append(stale, s.Name)
		}
	}
	if len(stale) > 0 {
		if err := e.conn.Flush(); err != nil {
			return fmt.Errorf("delete stale sets %v: %w", stale, err)
		}
	}
	if err := e.ensureManagement(); err != nil {
		return err
	}
	e.ready = true
	e.log.Info("nftables set up", "table", "inet "+TableName, "rules_rewritten", changed, "stale_sets_deleted", len(stale),
		"block_gen", e.kinds[kindBlock].gen, "isolate_gen", e.kinds[kindIsolate].gen)
	return nil
}

// sameShape reports whether a set read from the kernel has the key type and
// flags of the one the Enforcer would create.
func sameShape(have, want *nftables.Set) bool {
	return have.KeyType.Name == want.KeyType.Name && have.Interval == want.Interval && have.HasTimeout == want.HasTimeout
}

// currentGen finds the newest generation of k's sets that exists for both
// families, or 1 when there is none.
func currentGen(k kind, names map[string]bool) int {
	best := 0
	for n := range names {
		rest, ok := strings.CutPrefix(n, k.String()+"4_g")
		if !ok {
			continue
		}
		g, err := strconv.Atoi(rest)
		if err == nil && g > best && names[k.String()+"6_g"+rest] {
			best = g
		}
	}
	return max(best, 1)
}

// rule is one rule the Enforcer wants, tagged so Setup can tell whether the
// kernel already holds it.
type rule struct {
	chain *nftables.Chain
	tag   string
	exprs []expr.Any
}

// wantRules lists the rules for the current sets of both kinds.
func (e *Enforcer) wantRules() []rule {
	b, iso := e.kinds[kindBlock], e.kinds[kindIsolate]
	var rs []rule
	for _, c := range []*nftables.Chain{e.input, e.forward} {
		for _, fam := range []struct {
			v6         bool
			block, iso []*nftables.Set
			mg         *nftables.Set
		}{
			{false, []*nftables.Set{b.sets.addr4, b.sets.net4}, []*nftables.Set{iso.sets.addr4, iso.sets.net4}, e.manage4},
			{true, []*nftables.Set{b.sets.addr6, b.sets.net6}, []*nftables.Set{iso.sets.addr6, iso.sets.net6}, e.manage6},
		} {
			for _, set := range fam.block {
				// An attacker's packets are dropped wherever they go.
				rs = append(rs, rule{c, "block saddr " + set.Name, dropIf(fam.v6, match{false, set, false})})
			}
			for _, set := range fam.iso {
				// An isolated host sends nothing except to management...
				rs = append(rs, rule{c, "isolate saddr " + set.Name, dropIf(fam.v6, match{false, set, false}, match{true, fam.mg, true})})
				if c == e.forward {
					// ... and receives nothing except from management.
					rs = append(rs, rule{c, "isolate daddr " + set.Name, dropIf(fam.v6, match{true, set, false}, match{false, fam.mg, true})})
				}
			}
		}
	}
	return rs
}

// match is one set lookup on the source or destination address.
type match struct {
	dst    bool
	set    *nftables.Set
	invert bool
}

func dropIf(v6 bool, ms ...match) []expr.Any {
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if v6 {
		proto, off, n = unix.NFPROTO_IPV6, 8, 16
	}
	ex := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
	for _, m := range ms {
		o := off
		if m.dst {
			o += n
		}
		ex = append(ex,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: o, Len: n},
			&expr.Lookup{SourceRegister: 1, SetName: m.set.Name, Invert: m.invert})
	}
	return append(ex, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
}

// ensureRules rewrites a chain's rules only when they differ from the wanted
// ones, so a second Setup leaves rule handles and counters alone.
func (e *Enforcer) ensureRules() (bool, error) {
	want := e.wantRules()
	changed := false
	for _, c := range []*nftables.Chain{e.input, e.forward} {
		have, err := e.conn.GetRules(e.table, c)
		if err != nil {
			return false, fmt.Errorf("list rules of chain %s: %w", c.Name, err)
		}
		var haveTags, wantTags []string
		for _, r := range have {
			haveTags = append(haveTags, string(r.UserData))
		}
		for _, r := range want {
			if r.chain == c {
				wantTags = append(wantTags, ruleTag(r))
			}
		}
		if slices.Equal(haveTags, wantTags) {
			continue
		}
		changed = true
		e.queueRules(c, want)
	}
	if !changed {
		return false, nil
	}
	if err := e.conn.Flush(); err != nil {
		return false, fmt.Errorf("write rules of table inet %s: %w", TableName, err)
	}
	return true, nil
}

func ruleTag(r rule) string { return "omamori v1: " + r.tag }

// queueRules replaces c's rules with the wanted ones in the pending batch.
func (e *Enforcer) queueRules(c *nftables.Chain, want []rule) {
	e.conn.FlushChain(c)
	for _, r := range want {
		if r.chain == c {
			e.conn.AddRule(&nftables.Rule{Table: e.table, Chain: c, Exprs: r.exprs, UserData: []byte(ruleTag(r))})
		}
	}
}

// ensureManagement makes the management sets hold exactly cfg.Management.
// They are small, so reading them back is cheap.
func (e *Enforcer) ensureManagement() error {
	want := newMirror()
	for _, p := range e.cfg.Management {
		c, _ := canonical(p)
		want.set(c, 0)
	}
	for _, s := range []*nftables.Set{e.manage4, e.manage6} {
		have, err := e.conn.GetSetElements(s)
		if err != nil {
			return fmt.Errorf("list set %s: %w", s.Name, err)
		}
		var els []nftables.SetElement
		for p := range topLevel(want, time.Now()) {
			if p.Addr().Is6() == (s == e.manage6) {
				els = append(els, intervalElements(p, 0)...)
			}
		}
		if sameElements(have, els) {
			continue
		}
		if len(have) > 0 {
			for c := range slices.Chunk(keysOnly(have), maxElemsPerMsg) {
				if err := e.conn.SetDeleteElements(s, c); err != nil {
					return fmt.Errorf("delete elements of %s: %w", s.Name, err)
				}
			}
		}
		for c := range slices.Chunk(els, maxElemsPerMsg) {
			if err := e.conn.SetAddElements(s, c); err != nil {
				return fmt.Errorf("add elements to %s: %w", s.Name, err)
			}
		}
		if err := e.conn.Flush(); err != nil {
			return fmt.Errorf("write management addresses to %s: %w", s.Name, err)
		}
	}
	return nil
}

func keysOnly(els []nftables.SetElement) []nftables.SetElement {
	out := make([]nftables.SetElement, len(els))
	for i, el := range els {
		out[i] = nftables.SetElement{Key: el.Key, IntervalEnd: el.IntervalEnd}
	}
	return out
}

func sameElements(a, b []nftables.SetElement) bool {
	key := func(el nftables.SetElement) string { return fmt.Sprintf("%x/%v", el.Key, el.IntervalEnd) }
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, el := range a {
		ka[i] = key(el)
	}
	for i, el := range b {
		kb[i] = key(el)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// Block drops packets from every entry's addresses on input and forward
// until its TTL runs out or Unblock. Blocking an address again sets its TTL
// anew. Entries are applied in transactions of Config.BatchSize: when one
// fails, the ones before it stay applied and the error says how many.
func (e *Enforcer) Block(ctx context.Context, entries []Entry) error {
	return e.add(ctx, kindBlock, entries)
}

// Unblock lets the prefixes' packets through again. A prefix that was not
// blocked is ignored; traffic stays blocked where a wider blocked prefix
// covers it.
func (e *Enforcer) Unblock(ctx context.Context, prefixes []netip.Prefix) error {
	return e.remove(ctx, kindBlock, prefixes)
}

// Isolate cuts the hosts off in both directions through the gateway, except
// to and from the management addresses. Whether a host may be isolated at
// all (never a life-support device automatically) is decided before this
// call, in respond's guardrails.
func (e *Enforcer) Isolate(ctx context.Context, entries []Entry) error {
	return e.add(ctx, kindIsolate, entries)
}

// Release ends the isolation of the prefixes.
func (e *Enforcer) Release(ctx context.Context, prefixes []netip.Prefix) error {
	return e.remove(ctx, kindIsolate, prefixes)
}

// item is a validated entry with its expiry.
type item struct {
	p   netip.Prefix
	exp int64 // Unix nanoseconds; 0 for never
}

func live(exp int64, now int64) bool { return exp == 0 || exp > now }

// outlives reports whether expiry a is later than b.
func outlives(a, b int64) bool { return b != 0 && (a == 0 || a > b) }

func remaining(exp, now int64) time.Duration {
	if exp == 0 {
		return 0
	}
	return max(time.Duration(exp-now), time.Millisecond)
}

func (e *Enforcer) checkReady() error {
	if e.closed {
		return ErrClosed
	}
	if !e.ready {
		return ErrNotSetUp
	}
	return nil
}

func validate(entries []Entry) ([]Entry, error) {
	out := make([]Entry, len(entries))
	for i, en := range entries {
		p, err := en.check()
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out[i] = Entry{Prefix: p, TTL: en.TTL}
	}
	// Wide prefixes first, so nested narrower ones need no kernel change.
	slices.SortStableFunc(out, func(a, b Entry) int { return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()) })
	return out, nil
}

func (e *Enforcer) add(ctx context.Context, k kind, entries []Entry) error {
	valid, err := validate(entries)
	if err != nil {
		return fmt.Errorf("%s: %w", k, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.checkReady(); err != nil {
		return err
	}
	ks := e.kinds[k]
	for start := 0; start < len(valid); start += e.cfg.BatchSize {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %d of %d entries applied: %w", k, start, len(valid), err)
		}
		p := plan{ks: ks}
		now := time.Now().UnixNano()
		for _, en := range valid[start:min(start+e.cfg.BatchSize, len(valid))] {
			exp := int64(0)
			if en.TTL > 0 {
				exp = now + int64(max(en.TTL, time.Millisecond))
			}
			p.add(en.Prefix, exp, now)
		}
		if err := e.commit(&p); err != nil {
			return fmt.Errorf("%s: %d of %d entries applied: %w", k, start, len(valid), err)
		}
		e.armAll(k, p.handoffs)
	}
	e.maybePurge(ks)
	e.log.Debug("applied", "kind", k.String(), "entries", len(valid))
	return nil
}

func (e *Enforcer) remove(ctx context.Context, k kind, prefixes []netip.Prefix) error {
	valid := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		c, err := (Entry{Prefix: p}).check()
		if err != nil {
			return fmt.Errorf("un%s: entry %d: %w", k, i, err)
		}
		valid[i] = c
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.checkReady(); err != nil {
		return err
	}
	ks := e.kinds[k]
	for c := range slices.Chunk(valid, e.cfg.BatchSize) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("remove %s: %w", k, err)
		}
		p := plan{ks: ks}
		now := time.Now().UnixNano()
		for _, pfx := range c {
			p.remove(pfx, now)
		}
		if err := e.commit(&p); err != nil {
			return fmt.Errorf("remove %s: %w", k, err)
		}
		for _, pfx := range p.removed {
			if t := ks.timers[pfx]; t != nil {
				t.Stop()
				delete(ks.timers, pfx)
			}
		}
		e.armAll(k, p.handoffs)
	}
	return nil
}

// op is one run of element additions or deletions on one set.
type op struct {
	del bool
	set *nftables.Set
	els []nftables.SetElement
}

type undo struct {
	p   netip.Prefix
	exp int64
	had bool
}

// plan collects the kernel operations of one transaction while updating the
// mirror, and remembers how to undo the mirror if the kernel refuses.
type plan struct {
	ks       *kindState
	ops      []op
	undo     []undo
	handoffs []netip.Prefix
	removed  []netip.Prefix
}

func (p *plan) queue(del bool, pfx netip.Prefix, ttl time.Duration) {
	s := p.ks.sets.forPrefix(pfx)
	els := elementsFor(pfx, ttl)
	if n := len(p.ops); n > 0 && p.ops[n-1].del == del && p.ops[n-1].set == s {
		p.ops[n-1].els = append(p.ops[n-1].els, els...)
		return
	}
	p.ops = append(p.ops, op{del: del, set: s, els: els})
}

// kernelPut adds pfx; when the kernel may already hold it, it is deleted
// first, since adding an existing element keeps its old timeout.
func (p *plan) kernelPut(pfx netip.Prefix, ttl time.Duration, mayExist bool) {
	if mayExist {
		p.kernelDel(pfx)
	}
	p.queue(false, pfx, ttl)
}

// kernelDel deletes pfx whether or not the kernel still holds it: deleting a
// missing element fails the whole transaction, so it is added first (a no-op
// when present).
func (p *plan) kernelDel(pfx netip.Prefix) {
	p.queue(false, pfx, time.Millisecond)
	p.queue(true, pfx, 0)
}

// cover returns the widest live strict supernet of pfx: the one the kernel
// holds while pfx is nested in it.
func (p *plan) cover(pfx netip.Prefix, now int64) (netip.Prefix, int64, bool) {
	if pfx.IsSingleIP() {
		return netip.Prefix{}, 0, false // in a hash set, beside any network
	}
	var top netip.Prefix
	var topExp int64
	for s, v := range p.ks.live.nets.Supernets(pfx) {
		if s.Bits() < pfx.Bits() && live(v, now) {
			top, topExp = s, v
		}
	}
	return top, topExp, top.IsValid()
}

func (p *plan) record(pfx netip.Prefix) {
	old, had := p.ks.live.get(pfx)
	p.undo = append(p.undo, undo{pfx, old, had})
}

func (p *plan) add(pfx netip.Prefix, exp, now int64) {
	_, had := p.ks.live.get(pfx)
	p.record(pfx)
	p.ks.live.set(pfx, exp)
	if top, topExp, covered := p.cover(pfx, now); covered {
		if outlives(exp, topExp) {
			p.handoffs = append(p.handoffs, top)
		}
		return
	}
	// pfx is now the widest: the narrower ones the kernel held must go.
	handoff := false
	for s, v := range p.ks.live.nets.Subnets(pfx) {
		if s == pfx || s.IsSingleIP() || !live(v, now) {
			continue
		}
		if outlives(v, exp) {
			handoff = true
		}
		if top, _, _ := p.cover(s, now); top == pfx {
			p.kernelDel(s)
		}
	}
	p.kernelPut(pfx, remaining(exp, now), had)
	if handoff {
		p.handoffs = append(p.handoffs, pfx)
	}
}

func (p *plan) remove(pfx netip.Prefix, now int64) {
	if _, had := p.ks.live.get(pfx); !had {
		return
	}
	p.record(pfx)
	p.ks.live.del(pfx)
	p.removed = append(p.removed, pfx)
	if _, _, covered := p.cover(pfx, now); covered {
		return
	}
	p.kernelDel(pfx)
	// The narrower entries pfx was hiding are now the widest: put them back.
	for s, v := range p.ks.live.nets.Subnets(pfx) {
		if s == pfx || s.IsSingleIP() || !live(v, now) {
			continue
		}
		if _, _, covered := p.cover(s, now); covered {
			continue
		}
		p.kernelPut(s, remaining(v, now), false)
		p.handoffs = append(p.handoffs, s)
	}
}

// commit sends the plan as one transaction, split into messages of at most
// maxElemsPerMsg elements. If the kernel refuses, the mirror is restored.
func (e *Enforcer) commit(p *plan) error {
	if len(p.ops) == 0 {
		return nil
	}
	var err error
	for _, o := range p.ops {
		for c := range slices.Chunk(o.els, maxElemsPerMsg) {
			if o.del {
				err = errors.Join(err, e.conn.SetDeleteElements(o.set, c))
			} else {
				err = errors.Join(err, e.conn.SetAddElements(o.set, c))
			}
		}
	}
	if err == nil {
		err = e.conn.Flush()
	} else {
		_ = e.conn.Flush() // never reached with valid keys; drop what was queued
	}
	if err != nil {
		for i := len(p.undo) - 1; i >= 0; i-- {
			u := p.undo[i]
			if u.had {
				p.ks.live.set(u.p, u.exp)
			} else {
				p.ks.live.del(u.p)
			}
		}
		return fmt.Errorf("kernel refused the change: %w", err)
	}
	return nil
}

// armAll schedules a handoff for every prefix that hides a longer-lived
// narrower one: when it expires, the narrower one goes into the kernel.
func (e *Enforcer) armAll(k kind, prefixes []netip.Prefix) {
	ks := e.kinds[k]
	for _, pfx := range prefixes {
		exp, ok := ks.live.get(pfx)
		if !ok || exp == 0 {
			continue
		}
		if t := ks.timers[pfx]; t != nil {
			t.Stop()
		}
		ks.timers[pfx] = time.AfterFunc(time.Until(time.Unix(0, exp)), func() { e.handoff(k, pfx, exp) })
	}
}

func (e *Enforcer) handoff(k kind, pfx netip.Prefix, exp int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ks := e.kinds[k]
	if e.closed || ks.timers[pfx] == nil {
		return
	}
	if v, ok := ks.live.get(pfx); !ok || v != exp {
		return // changed since; whoever changed it re-armed the timer
	}
	delete(ks.timers, pfx)
	p := plan{ks: ks}
	p.remove(pfx, time.Now().UnixNano())
	if err := e.commit(&p); err != nil {
		e.log.Error("narrower entries not enforced after a wider one expired", "kind", k.String(), "expired", pfx, "err", err)
		return
	}
	e.armAll(k, p.handoffs)
}

// maybePurge drops long-expired entries from the mirror once it has doubled
// since the last purge, keeping memory bounded at amortized constant cost.
// Entries expired less than a minute ago stay, as the kernel may still hold
// them for a few milliseconds.
func (e *Enforcer) maybePurge(ks *kindState) {
	if ks.live.size() < max(ks.purgeSize*2, 1024) {
		return
	}
	cut := time.Now().Add(-time.Minute).UnixNano()
	var old []netip.Prefix
	for p, v := range ks.live.all {
		if v != 0 && v < cut {
			old = append(old, p)
		}
	}
	for _, p := range old {
		ks.live.del(p)
	}
	ks.purgeSize = ks.live.size()
}

// topLevel yields the live entries of m that the kernel holds: every
// address, and the networks no other live network covers.
func topLevel(m *mirror, now time.Time) func(func(netip.Prefix, int64) bool) {
	n := now.UnixNano()
	return func(yield func(netip.Prefix, int64) bool) {
		for a, v := range m.addrs {
			if live(v, n) && !yield(netip.PrefixFrom(a, a.BitLen()), v) {
				return
			}
		}
		for p, v := range m.nets.All() {
			if !live(v, n) {
				continue
			}
			covered := false
			for s, sv := range m.nets.Supernets(p) {
				if s.Bits() < p.Bits() && live(sv, n) {
					covered = true
					break
				}
			}
			if !covered && !yield(p, v) {
				return
			}
		}
	}
}

// Reconcile makes the kernel enforce exactly desired blocks, as after a
// restart, from omamori's own store. It loads them into a new generation of
// sets and switches the rules over in one transaction, so what was blocked
// stays blocked until the switch and nothing is read back from the kernel.
// Each entry's TTL counts from this call.
func (e *Enforcer) Reconcile(ctx context.Context, desired []Entry) error {
	return e.reconcile(ctx, kindBlock, desired)
}

// ReconcileIsolated does for isolated hosts what Reconcile does for blocks.
func (e *Enforcer) ReconcileIsolated(ctx context.Context, desired []Entry) error {
	return e.reconcile(ctx, kindIsolate, desired)
}

func (e *Enforcer) reconcile(ctx context.Context, k kind, desired []Entry) error {
	valid, err := validate(desired)
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", k, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.checkReady(); err != nil {
		return err
	}
	start := time.Now()
	now := start.UnixNano()
	next := newMirror()
	for _, en := range valid {
		exp := int64(0)
		if en.TTL > 0 {
			exp = now + int64(max(en.TTL, time.Millisecond))
		}
		if old, ok := next.get(en.Prefix); ok && !outlives(exp, old) {
			continue // the same prefix twice: the longer decision wins
		}
		next.set(en.Prefix, exp)
	}
	ks := e.kinds[k]
	gen := ks.gen + 1
	nextSets := e.genSets(k, gen)
	// Left over from an interrupted Reconcile, perhaps: start empty.
	for _, s := range nextSets.all() {
		if err := e.conn.AddSet(s, nil); err != nil {
			return fmt.Errorf("reconcile %s: add set %s: %w", k, s.Name, err)
		}
		e.conn.DelSet(s)
		if err := e.conn.AddSet(s, nil); err != nil {
			return fmt.Errorf("reconcile %s: add set %s: %w", k, s.Name, err)
		}
	}
	if err := e.conn.Flush(); err != nil {
		return fmt.Errorf("reconcile %s: create sets generation %d: %w", k, gen, err)
	}
	abandon := func(cause error) error {
		for _, s := range nextSets.all() {
			e.conn.DelSet(s)
		}
		if err := e.conn.Flush(); err != nil {
			e.log.Warn("new sets left behind; the next Setup deletes them", "gen", gen, "err", err)
		}
		return fmt.Errorf("reconcile %s: %w", k, cause)
	}
	load := &kindState{sets: nextSets, live: next}
	var tops []item
	for p, v := range topLevel(next, start) {
		tops = append(tops, item{p, v})
	}
	var handoffs []netip.Prefix
	for c := range slices.Chunk(tops, e.cfg.BatchSize) {
		if err := ctx.Err(); err != nil {
			return abandon(err)
		}
		p := plan{ks: load}
		n := time.Now().UnixNano()
		for _, it := range c {
			if !live(it.exp, n) {
				continue
			}
			p.queue(false, it.p, remaining(it.exp, n))
			for s, sv := range next.nets.Subnets(it.p) {
				if s != it.p && !s.IsSingleIP() && !it.p.IsSingleIP() && outlives(sv, it.exp) {
					handoffs = append(handoffs, it.p)
					break
				}
			}
		}
		if err := e.commit(&p); err != nil {
			return abandon(err)
		}
	}
	// The switch: rules point at the new sets and the old ones go, atomically.
	old := ks.sets
	ks.sets = nextSets
	want := e.wantRules()
	e.queueRules(e.input, want)
	e.queueRules(e.forward, want)
	for _, s := range old.all() {
		e.conn.DelSet(s)
	}
	if err := e.conn.Flush(); err != nil {
		ks.sets = old
		return abandon(fmt.Errorf("switch to sets generation %d: %w", gen, err))
	}
	for _, t := range ks.timers {
		t.Stop()
	}
	ks.gen, ks.live, ks.timers, ks.purgeSize = gen, next, map[netip.Prefix]*time.Timer{}, next.size()
	e.armAll(k, handoffs)
	e.log.Info("reconciled", "kind", k.String(), "entries", len(valid), "in_kernel", len(tops), "gen", gen, "took", time.Since(start))
	return nil
}

// Close stops pending handoffs and closes the netlink connection. The table
// stays: its elements keep protecting and expire on their own.
func (e *Enforcer) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	for _, ks := range e.kinds {
		for _, t := range ks.timers {
			t.Stop()
		}
	}
	if err := e.conn.CloseLasting(); err != nil {
		return fmt.Errorf("close nftables netlink connection: %w", err)
	}
	return nil
}

// Teardown deletes omamori's table and everything in it, ending every block
// and isolation at once. It is for uninstalling, not for shutdown.
func (e *Enforcer) Teardown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tear down: %w", err)
	}
	e.conn.AddTable(e.table) // so the deletion cannot fail on a missing table
	e.conn.DelTable(e.table)
	if err := e.conn.Flush(); err != nil {
		return fmt.Errorf("delete table inet %s: %w", TableName, err)
	}
	for k := range e.kinds {
		for _, t := range e.kinds[k].timers {
			t.Stop()
		}
		e.kinds[k] = &kindState{live: newMirror(), timers: map[netip.Prefix]*time.Timer{}}
	}
	e.ready = false
	return nil
}
