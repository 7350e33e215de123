package archive

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
)

// Checkpoints kept only in the archive's directory prove nothing against whoever can rewrite
// that directory: remove the last segments, the checkpoints after them and the tree hashes
// they made, and what is left is a consistent, shorter log. So each new checkpoint is also
// given to witnesses outside the directory, in the manner of C2SP tlog-witness
// (https://c2sp.org/tlog-witness): a witness holds the newest checkpoint of each log and takes
// a newer one only with a consistency proof from the one it holds. 'omamori archive verify'
// then fails when the archive holds less than a witness does (VerifyKnown).

// A Witness keeps checkpoints of the archive's logs outside its directory. AddCheckpoint may be
// called from one goroutine at a time.
type Witness interface {
	// AddCheckpoint gives the witness checkpoint, a signed note, with the consistency proof
	// from size old (the size the caller believes the witness holds for the checkpoint's
	// origin, 0 for none) to the checkpoint's size. A *WitnessConflict says the witness holds
	// another size: the caller asks again from that size. Any other error says the witness
	// refused the checkpoint (a bad signature or proof) or could not be reached.
	AddCheckpoint(ctx context.Context, old uint64, proof [][]byte, checkpoint []byte) error
}

// WitnessConflict is a witness's answer that it holds a checkpoint of another size than the
// caller gave (tlog-witness's 409 Conflict).
type WitnessConflict struct {
	Size uint64
}

func (e *WitnessConflict) Error() string {
	return fmt.Sprintf("witness: it holds a checkpoint of size %d", e.Size)
}

// ErrRollback says a witness holds a checkpoint of more records than the archive has: the
// archive's directory was put back to an earlier state.
var ErrRollback = errors.New("archive: a witness holds a newer checkpoint than the archive: the archive was rolled back")

// A CheckpointStore keeps one checkpoint note per origin; package store's Store is one.
type CheckpointStore interface {
	// ArchiveCheckpoint returns the note kept for origin, or nil if none is.
	ArchiveCheckpoint(ctx context.Context, origin string) ([]byte, error)
	// AdvanceArchiveCheckpoint keeps note, of size records, if the one kept has size old (or
	// none is kept and old is 0), and reports whether it did.
	AdvanceArchiveCheckpoint(ctx context.Context, origin string, old, size uint64, note []byte) (bool, error)
}

// StoreWitness is a witness in the metadata store: another database, often another machine,
// than the archive's disk. It checks what a remote witness would (the archive's signature, the
// consistency proof) before it keeps a checkpoint.
type StoreWitness struct {
	store CheckpointStore
	vkey  string
}

// NewStoreWitness returns a witness that keeps in s the checkpoints signed by vkey (the
// archive's PublicKey).
func NewStoreWitness(s CheckpointStore, vkey string) *StoreWitness {
	return &StoreWitness{store: s, vkey: vkey}
}

// AddCheckpoint implements Witness.
func (w *StoreWitness) AddCheckpoint(ctx context.Context, old uint64, prf [][]byte, msg []byte) error {
	c, err := ParseCheckpoint(msg, w.vkey)
	if err != nil {
		return fmt.Errorf("store witness: %w", err)
	}
	held, err := w.held(ctx, c.Origin)
	if err != nil {
		return err
	}
	var heldSize uint64
	if held != nil {
		heldSize = held.Size
	}
	if heldSize != old {
		return &WitnessConflict{Size: heldSize}
	}
	if c.Size < heldSize {
		return fmt.Errorf("store witness: %w: it holds %d records of %s, the checkpoint has %d", ErrRollback, heldSize, c.Origin, c.Size)
	}
	if held != nil {
		if err := proof.VerifyConsistency(hasher, held.Size, c.Size, prf, held.Root, c.Root); err != nil {
			return fmt.Errorf("store witness: %s of size %d does not extend the checkpoint of size %d kept: %w", c.Origin, c.Size, held.Size, err)
		}
	}
	ok, err := w.store.AdvanceArchiveCheckpoint(ctx, c.Origin, heldSize, c.Size, msg)
	if err != nil {
		return fmt.Errorf("store witness: %w", err)
	}
	if !ok { // another writer moved it since it was read
		if held, err = w.held(ctx, c.Origin); err != nil {
			return err
		}
		if held == nil {
			return &WitnessConflict{}
		}
		return &WitnessConflict{Size: held.Size}
	}
	return nil
}

// held returns the checkpoint the store keeps for origin, nil if none.
func (w *StoreWitness) held(ctx context.Context, origin string) (*Checkpoint, error) {
	b, err := w.store.ArchiveCheckpoint(ctx, origin)
	if err != nil {
		return nil, fmt.Errorf("store witness: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	c, err := ParseCheckpoint(b, w.vkey)
	if err != nil {
		return nil, fmt.Errorf("store witness: the checkpoint kept for %s: %w", origin, err)
	}
	return c, nil
}

// witnessJob is a checkpoint to give to the witnesses.
type witnessJob struct {
	tenant string
	cp     Checkpoint
}

// A witness that did not take a checkpoint is given it again with the next delivery, or
// after a wait that doubles from minWitnessRetry up to maxWitnessRetry while it fails.
const (
	minWitnessRetry = 10 * time.Second
	maxWitnessRetry = 10 * time.Minute
)

// AddWitness gives w every checkpoint signed from now on, and the newest of each tenant's log,
// in the background, as every delivery is (see witnessLater): a witness that is away never
// holds up the caller. Call it before the archive is written to, so that w misses none.
func (a *Archive) AddWitness(w Witness) {
	a.wmu.Lock()
	a.witnesses = append(a.witnesses, w)
	a.witnessSizes = append(a.witnessSizes, map[string]uint64{})
	a.witnessFailed = append(a.witnessFailed, map[string]witnessJob{})
	a.witnessed.Store(true)
	a.wmu.Unlock()
	a.mu.Lock()
	for _, t := range a.tenants {
		if len(t.cps) > 0 {
			a.unwitnessed = append(a.unwitnessed, witnessJob{tenant: t.name, cp: t.cps[len(t.cps)-1].Checkpoint})
		}
	}
	a.mu.Unlock()
	a.witnessLater()
}

// AddStoreWitness adds the witness that keeps the archive's checkpoints in st, the metadata
// store, as every writer of the archive does (the server, and the commands that sign).
func (a *Archive) AddStoreWitness(st CheckpointStore) {
	a.AddWitness(NewStoreWitness(st, a.PublicKey()))
}

// witnessLater gives the checkpoints signed since, and those a witness did not take once
// their wait is over, to the witnesses in a goroutine of its own: a witness that is slow or
// away never holds up archiving. Close waits for it.
func (a *Archive) witnessLater() {
	a.mu.Lock()
	pending := len(a.unwitnessed) > 0
	a.mu.Unlock()
	if r := a.witnessRetryAt.Load(); r != 0 && a.opts.Now().UnixNano() >= r && a.witnessRetryAt.CompareAndSwap(r, 0) {
		pending = true
	}
	if pending {
		a.witnessing.Go(func() { a.witnessAll(context.Background()) })
	}
}

// witnessAll gives every witness the newest checkpoint of each log that it has not taken:
// signed since the last call, or refused or missed before. Each goes from the size that
// witness was last known to hold. It never fails the caller: archiving goes on while a
// witness is away, and what a witness refuses is logged as an error (a rollback, an
// inconsistent checkpoint) for people to look into, and for 'archive verify' to find.
func (a *Archive) witnessAll(ctx context.Context) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.mu.Lock()
	todo := a.unwitnessed
	a.unwitnessed = nil
	a.mu.Unlock()
	failures := 0
	for i, w := range a.witnesses {
		for _, job := range newestJobs(a.witnessFailed[i], todo) {
			if err := a.witnessOne(ctx, i, w, job); err != nil {
				a.log.Error("a witness did not take the archive's checkpoint", "witness", i, "tenant", job.tenant,
					"size", job.cp.Size, "err", err)
				a.witnessFailed[i][job.cp.Origin] = job
				failures++
				continue
			}
			delete(a.witnessFailed[i], job.cp.Origin)
		}
	}
	if failures == 0 {
		a.witnessRetry = 0
		a.witnessRetryAt.Store(0)
		return
	}
	a.witnessRetry = min(max(2*a.witnessRetry, minWitnessRetry), maxWitnessRetry)
	a.witnessRetryAt.Store(a.opts.Now().Add(a.witnessRetry).UnixNano())
}

// newestJobs returns the newest checkpoint of each origin among failed and todo, by origin:
// a witness takes a newer checkpoint with the consistency proof from the one it holds, so
// the older ones need not be given.
func newestJobs(failed map[string]witnessJob, todo []witnessJob) []witnessJob {
	by := maps.Clone(failed)
	for _, j := range todo {
		if have, ok := by[j.cp.Origin]; !ok || j.cp.Size >= have.cp.Size {
			by[j.cp.Origin] = j
		}
	}
	return slices.SortedFunc(maps.Values(by), func(x, y witnessJob) int { return strings.Compare(x.cp.Origin, y.cp.Origin) })
}

// witnessOne gives one checkpoint to witness i, following its answer once if it holds
// another size than believed.
func (a *Archive) witnessOne(ctx context.Context, i int, w Witness, job witnessJob) error {
	old := a.witnessSizes[i][job.cp.Origin]
	for attempt := 0; ; attempt++ {
		if old > job.cp.Size {
			return fmt.Errorf("%w: the witness holds %d records of %s, the archive has %d", ErrRollback, old, job.cp.Origin, job.cp.Size)
		}
		prf, err := a.ConsistencyProof(job.tenant, old, job.cp.Size)
		if err != nil {
			return err
		}
		err = w.AddCheckpoint(ctx, old, prf, job.cp.Note)
		var conflict *WitnessConflict
		if errors.As(err, &conflict) && attempt == 0 {
			old = conflict.Size
			continue
		}
		if err != nil {
			return err
		}
		a.witnessSizes[i][job.cp.Origin] = job.cp.Size
		return nil
	}
}
