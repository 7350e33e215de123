package behavior

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/severity"
)

// authTracker counts authentication failures per source address: brute force (many failures),
// password spraying (many user names) and a success after failures (the attack that opened
// Handa Hospital's and Osaka General Medical Center's VPNs).
type authTracker struct {
	cfg     *AuthConfig
	shard   Shard
	maxKeys int
	keys    map[netip.Addr]*authState
}

type authState struct {
	fails times
	users distinct[string]
	fired fired
	last  int64
}

const (
	firedBrute = iota
	firedSpray
	firedSuccess
)

func newAuthTracker(cfg *AuthConfig, shard Shard, maxKeys int) *authTracker {
	return &authTracker{cfg: cfg, shard: shard, maxKeys: maxKeys, keys: map[netip.Addr]*authState{}}
}

// countsAsAttempt reports whether an authentication event is one login attempt. sshd logs one
// failed password three times (invalid user, PAM, "Failed password"); only the last, action
// ssh_login, is counted.
func countsAsAttempt(e *event.Event) bool {
	if e.Dataset == "sshd" {
		return e.Action == "ssh_login"
	}
	return true
}

func (a *authTracker) observe(dst []Finding, e *event.Event) []Finding {
	if !e.SrcIP.IsValid() || e.Outcome == event.OutcomeUnknown || !countsAsAttempt(e) {
		return dst
	}
	src := e.SrcIP.Unmap()
	if !a.shard.OwnsAddr(src) {
		return dst
	}
	now := e.Time.UnixNano()
	st := a.keys[src]
	if st == nil {
		if e.Outcome != event.OutcomeFailure {
			return dst // a success from a source with no failures is not this detector's business
		}
		if len(a.keys) >= a.maxKeys {
			a.expire(e.Time)
			if len(a.keys) >= a.maxKeys {
				return dst
			}
		}
		st = &authState{}
		a.keys[src] = st
	}
	st.last = now
	w := a.cfg.Window
	finding := func(detector, title string, sev severity.Level, tech string, count int) Finding {
		return Finding{
			Detector: detector, Key: src.String(), Title: title, Severity: sev, Technique: tech,
			Source: src, Destination: e.DstIP, User: e.User, Host: e.Host, Count: count,
			First: time.Unix(0, st.fails.first()).UTC(), Last: e.Time,
		}
	}
	if e.Outcome == event.OutcomeSuccess {
		st.fails.prune(now, w)
		if n := len(st.fails.t); n >= a.cfg.SuccessAfter && st.fired.once(firedSuccess, now, w) {
			dst = append(dst, finding(DetectorLoginAfter,
				"login as "+e.User+" from "+src.String()+" after "+strconv.Itoa(st.fails.total)+" failures ("+e.Dataset+")",
				severity.Critical, "T1110", st.fails.total))
		}
		return dst
	}
	limit := max(a.cfg.Failures, a.cfg.SuccessAfter, a.cfg.SprayUsers) * 4
	n := st.fails.add(now, w, limit)
	if n >= a.cfg.Failures && st.fired.once(firedBrute, now, w) {
		dst = append(dst, finding(DetectorBruteForce,
			"brute force from "+src.String()+": "+strconv.Itoa(n)+" failed logins in "+w.String()+" ("+e.Dataset+")",
			severity.High, "T1110.001", n))
	}
	if e.User != "" {
		user := e.User
		if _, seen := st.users.seen[user]; !seen {
			user = strings.Clone(user) // e.User may share the event's buffer
		}
		u := st.users.add(user, now, w, a.cfg.SprayUsers*4)
		if u >= a.cfg.SprayUsers && st.fired.once(firedSpray, now, w) {
			f := finding(DetectorSpraying,
				"password spraying from "+src.String()+": "+strconv.Itoa(u)+" user names failed in "+w.String()+" ("+e.Dataset+")",
				severity.High, "T1110.003", u)
			f.User = ""
			dst = append(dst, f)
		}
	}
	return dst
}

func (a *authTracker) expire(now time.Time) {
	cut := now.Add(-a.cfg.Window).UnixNano()
	for k, st := range a.keys {
		if st.last < cut {
			delete(a.keys, k)
		}
	}
}
