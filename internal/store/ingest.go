package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// IngestCount is what arrived in one tenant in one hour through one source: the events of a
// dataset, or (with an empty Dataset) the records that went to the dead letters.
type IngestCount struct {
	Tenant      string
	Hour        time.Time // the start of the hour of receipt, UTC
	Source      string    // where it entered: a listener, a file, an API token's name
	Dataset     string    // empty for dead letters
	Events      int64
	DeadLetters int64
	LastSeen    time.Time // when the latest of them was received
}

// AddIngestCounts adds counts to what is stored and moves consumer's mark to seq, in one
// transaction: a counter that sees a bus message again (at or below its mark) skips it, and
// a crash can never count a batch twice or lose one. Counts of the same key are summed.
// Hours are truncated to the hour.
func (s *Store) AddIngestCounts(ctx context.Context, consumer string, seq uint64, counts []IngestCount) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, c := range counts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ingest_counts
				(tenant, hour, source, dataset, events, dead_letters, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (tenant, hour, source, dataset) DO UPDATE SET
					events = ingest_counts.events + excluded.events,
					dead_letters = ingest_counts.dead_letters + excluded.dead_letters,
					last_seen = CASE WHEN excluded.last_seen > ingest_counts.last_seen
						THEN excluded.last_seen ELSE ingest_counts.last_seen END`,
				c.Tenant, dbTime(c.Hour.Truncate(time.Hour)), c.Source, c.Dataset, c.Events, c.DeadLetters,
				dbTime(c.LastSeen)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO consumer_marks (consumer, seq) VALUES ($1, $2)
			ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq`, consumer, int64(seq))
		return err
	})
	if err != nil {
		return fmt.Errorf("add ingest counts of %s: %w", consumer, s.dialect.classify(err))
	}
	return nil
}

// ConsumerMark returns the last bus sequence consumer counted (AddIngestCounts), 0 if none.
func (s *Store) ConsumerMark(ctx context.Context, consumer string) (uint64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, `SELECT seq FROM consumer_marks WHERE consumer = $1`, consumer).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the mark of %s: %w", consumer, err)
	}
	return uint64(seq), nil
}

// IngestCounts returns the scope's counts of the hours from since on, oldest first.
func (sc Scope) IngestCounts(ctx context.Context, since time.Time) ([]IngestCount, error) {
	out, err := queryRows(ctx, sc.s.db, `SELECT tenant, hour, source, dataset, events, dead_letters, last_seen
		FROM ingest_counts WHERE tenant = $1 AND hour >= $2 ORDER BY hour, source, dataset`,
		[]any{sc.tenant, dbTime(since.Truncate(time.Hour))}, func(r *sql.Rows) (IngestCount, error) {
			var c IngestCount
			err := r.Scan(&c.Tenant, &c.Hour, &c.Source, &c.Dataset, &c.Events, &c.DeadLetters, &c.LastSeen)
			c.Hour, c.LastSeen = c.Hour.UTC(), c.LastSeen.UTC()
			return c, err
		})
	if err != nil {
		return nil, fmt.Errorf("read ingest counts of %s: %w", sc.tenant, err)
	}
	return out, nil
}

// PruneIngestCounts deletes the counts of every tenant's hours before before, and returns how
// many rows went.
func (s *Store) PruneIngestCounts(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM ingest_counts WHERE hour < $1`, dbTime(before.Truncate(time.Hour)))
	if err != nil {
		return 0, fmt.Errorf("prune ingest counts: %w", err)
	}
	return res.RowsAffected()
}
