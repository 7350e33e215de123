package behavior

import (
	"slices"
	"time"
)

// times is a sliding window of event times (unix nanoseconds), oldest first, holding at most
// a fixed number: a detector only needs to know that its threshold was crossed, so the times
// past the cap are dropped and the count kept.
type times struct {
	t     []int64
	total int // all events counted since the window was last empty
}

// add records t and drops the times older than the window before the newest; it returns how
// many remain. Events may come out of order (batches of one sender can overtake each other
// on the bus), so t is put in its place, and a late, old one counts only if it still falls
// within the window.
func (w *times) add(t int64, window time.Duration, limit int) int {
	i, _ := slices.BinarySearch(w.t, t)
	w.t = slices.Insert(w.t, i, t)
	w.prune(w.t[len(w.t)-1], window)
	if len(w.t) > limit {
		w.t = append(w.t[:0], w.t[len(w.t)-limit:]...)
	}
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
	seen   map[K]int64
	newest int64 // the newest sighting of any value
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
	if t > d.seen[k] { // a late, older sighting does not make a value older
		d.seen[k] = t
	}
	d.newest = max(d.newest, t)
	if d.newest-d.seen[k] > int64(window) {
		delete(d.seen, k) // already outside the window of the newest sighting
	}
	// Prune every time: the count decides a finding, so it must hold only the window's values
	// (there are at most limit of them, a few dozen).
	d.prune(d.newest, window)
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
