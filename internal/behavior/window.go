package behavior

import "time"

// times is a sliding window of event times (unix nanoseconds), oldest first, holding at most
// a fixed number: a detector only needs to know that its threshold was crossed, so the times
// past the cap are dropped and the count kept.
type times struct {
	t     []int64
	total int // all events counted since the window was last empty
}

// add records t and drops the times older than t-window; it returns how many remain.
func (w *times) add(t int64, window time.Duration, limit int) int {
	w.prune(t, window)
	if len(w.t) >= limit {
		w.t = append(w.t[:0], w.t[1:]...)
	}
	w.t = append(w.t, t)
	w.total++
	return len(w.t)
}

func (w *times) prune(now int64, window time.Duration) {
	cut := now - int64(window)
	i := 0
	for i < len(w.t) && w.t[i] < cut {
		i++
	}
	if i > 0 {
		w.t = append(w.t[:0], w.t[i:]...)
	}
	if len(w.t) == 0 {
		w.total = 0
	}
}

func (w *times) first() int64 {
	if len(w.t) == 0 {
		return 0
	}
	return w.t[0]
}

// distinct remembers distinct values with the last time each was seen, up to a cap.
type distinct[K comparable] struct {
	seen map[K]int64
}

func (d *distinct[K]) add(k K, t int64, window time.Duration, limit int) int {
	if d.seen == nil {
		d.seen = make(map[K]int64, 4)
	}
	if _, ok := d.seen[k]; !ok && len(d.seen) >= limit {
		d.prune(t, window)
		if len(d.seen) >= limit {
			return len(d.seen) // full: already past any threshold that fits under the cap
		}
	}
	d.seen[k] = t
	if len(d.seen)%8 == 0 {
		d.prune(t, window)
	}
	return len(d.seen)
}

func (d *distinct[K]) prune(now int64, window time.Duration) {
	cut := now - int64(window)
	for k, t := range d.seen {
		if t < cut {
			delete(d.seen, k)
		}
	}
}

// count returns the distinct values seen within window of now.
func (d *distinct[K]) count(now int64, window time.Duration) int {
	d.prune(now, window)
	return len(d.seen)
}

// fired remembers when a key last raised each kind of finding, so one attack raises one
// finding per window, not one per event.
type fired struct{ at [4]int64 }

func (f *fired) once(kind int, now int64, window time.Duration) bool {
	if f.at[kind] != 0 && now-f.at[kind] < int64(window) {
		return false
	}
	f.at[kind] = now
	return true
}
