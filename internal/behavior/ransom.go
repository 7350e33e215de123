package behavior

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/severity"
)

var (
	keyTargetFilename = event.K("winlog.event_data.TargetFilename")
	keyFilePath       = event.K("file.path")
	keyCommandLine    = event.K("winlog.event_data.CommandLine")
	keyProcessCmd     = event.K("process.command_line")
)

// ransomTracker counts files written or renamed with one extension per host, and flags
// commands that delete the backups ransomware deletes first.
type ransomTracker struct {
	cfg     *RansomConfig
	shard   Shard
	maxKeys int
	keys    map[string]*ransomState
}

type ransomState struct {
	exts  map[string]*times
	fired fired
	last  int64
}

func newRansomTracker(cfg *RansomConfig, shard Shard, maxKeys int) *ransomTracker {
	return &ransomTracker{cfg: cfg, shard: shard, maxKeys: maxKeys, keys: map[string]*ransomState{}}
}

func (r *ransomTracker) observe(dst []Finding, e *event.Event) []Finding {
	if e.Category == "process" {
		return r.process(dst, e)
	}
	name, ok := e.Get(keyTargetFilename)
	if !ok {
		name, ok = e.Get(keyFilePath)
	}
	if !ok || e.Host == "" || !r.shard.OwnsString(e.Host) {
		return dst
	}
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(name, `\`, "/")))
	if ext == "" || len(ext) > 16 || slices.Contains(r.cfg.Ordinary, ext) {
		return dst
	}
	now := e.Time.UnixNano()
	st := r.keys[e.Host]
	if st == nil {
		if len(r.keys) >= r.maxKeys {
			r.expire(e.Time)
			if len(r.keys) >= r.maxKeys {
				return dst
			}
		}
		st = &ransomState{exts: map[string]*times{}}
		r.keys[strings.Clone(e.Host)] = st
	}
	st.last = now
	w := st.exts[ext]
	if w == nil {
		if len(st.exts) >= 64 {
			for k, v := range st.exts {
				if v.prune(now, r.cfg.Window); len(v.t) == 0 {
					delete(st.exts, k)
				}
			}
			if len(st.exts) >= 64 {
				return dst
			}
		}
		w = &times{}
		st.exts[strings.Clone(ext)] = w
	}
	n := w.add(now, r.cfg.Window, r.cfg.Files)
	if n >= r.cfg.Files && st.fired.once(0, now, r.cfg.Window) {
		dst = append(dst, Finding{
			Detector: DetectorRansomware, Key: e.Host, Severity: severity.Critical, Technique: "T1486",
			Title: "ransomware on " + e.Host + ": " + strconv.Itoa(n) + " files written as *" + ext + " in " + r.cfg.Window.String(),
			User:  e.User, Host: e.Host, Count: n, First: time.Unix(0, w.first()).UTC(), Last: e.Time,
		})
	}
	return dst
}

// shadowCommands are what ransomware runs to delete shadow copies and backups (ATT&CK T1490),
// as lower-case substrings that must all appear.
var shadowCommands = [][]string{
	{"vssadmin", "delete", "shadows"},
	{"vssadmin", "resize", "shadowstorage"},
	{"wmic", "shadowcopy", "delete"},
	{"win32_shadowcopy", "delete"},
	{"wbadmin", "delete", "catalog"},
	{"wbadmin", "delete", "systemstatebackup"},
	{"bcdedit", "recoveryenabled", "no"},
	{"diskshadow", "delete", "shadows"},
}

func (r *ransomTracker) process(dst []Finding, e *event.Event) []Finding {
	cmd, ok := e.Get(keyCommandLine)
	if !ok {
		cmd, ok = e.Get(keyProcessCmd)
	}
	if !ok || e.Host == "" || !r.shard.OwnsString(e.Host) {
		return dst
	}
	low := strings.ToLower(cmd)
	for _, words := range shadowCommands {
		all := true
		for _, w := range words {
			if !strings.Contains(low, w) {
				all = false
				break
			}
		}
		if all {
			return append(dst, Finding{
				Detector: DetectorShadowCopy, Key: e.Host, Severity: severity.Critical, Technique: "T1490",
				Title: "backups deleted on " + e.Host + ": " + cmd,
				User:  e.User, Host: e.Host, Count: 1, First: e.Time, Last: e.Time,
			})
		}
	}
	return dst
}

func (r *ransomTracker) expire(now time.Time) {
	cut := now.Add(-r.cfg.Window).UnixNano()
	for k, st := range r.keys {
		if st.last < cut {
			delete(r.keys, k)
		}
	}
}
