package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ArchiveCheckpoint is the newest signed checkpoint of one archive log that the store keeps,
// apart from the archive, so that a rollback of the archive's directory shows (see package
// archive's StoreWitness). The store does not read the note: the witness checks its signature
// and its consistency with the one kept before it asks the store to keep it.
type ArchiveCheckpoint struct {
	Origin  string // the log: "<archive name>/<tenant>"
	Size    uint64 // the tree size the note states
	Note    []byte // the signed note (C2SP tlog-checkpoint)
	Updated time.Time
}

// ArchiveCheckpoint returns the note kept for origin, or nil if none is.
func (s *Store) ArchiveCheckpoint(ctx context.Context, origin string) ([]byte, error) {
	var note string
	err := s.db.QueryRowContext(ctx, `SELECT note FROM archive_checkpoints WHERE origin = $1`, origin).Scan(&note)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the archive checkpoint of %s: %w", origin, err)
	}
	return []byte(note), nil
}

// AdvanceArchiveCheckpoint keeps note, a checkpoint of size records, as origin's newest, if
// the one kept has size old (or none is kept and old is 0), and reports whether it did. The
// condition is checked in the same statement as the write, so two writers that read the same
// old checkpoint cannot both advance it.
func (s *Store) AdvanceArchiveCheckpoint(ctx context.Context, origin string, old, size uint64, note []byte) (bool, error) {
	var res sql.Result
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, `UPDATE archive_checkpoints SET size = $1, note = $2, updated = $3
			WHERE origin = $4 AND size = $5`, int64(size), string(note), dbTime(s.now()), origin, int64(old))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 || old != 0 {
			return err
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO archive_checkpoints (origin, size, note, updated) VALUES ($1, $2, $3, $4)
			ON CONFLICT (origin) DO NOTHING`, origin, int64(size), string(note), dbTime(s.now()))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("keep the archive checkpoint of %s: %w", origin, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("keep the archive checkpoint of %s: %w", origin, err)
	}
	return n > 0, nil
}

// ArchiveCheckpoints returns every archive checkpoint kept, by origin.
func (s *Store) ArchiveCheckpoints(ctx context.Context) ([]ArchiveCheckpoint, error) {
	out, err := queryRows(ctx, s.db, `SELECT origin, size, note, updated FROM archive_checkpoints ORDER BY origin`, nil,
		func(r *sql.Rows) (ArchiveCheckpoint, error) {
			var c ArchiveCheckpoint
			var size int64
			var note string
			err := r.Scan(&c.Origin, &size, &note, &c.Updated)
			c.Size, c.Note, c.Updated = uint64(size), []byte(note), c.Updated.UTC()
			return c, err
		})
	if err != nil {
		return nil, fmt.Errorf("read the archive checkpoints: %w", err)
	}
	return out, nil
}
