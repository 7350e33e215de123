package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the databases behind the store. Queries are written once
// with $1 placeholders, which both understand.
type dialect struct {
	name string
	open func(dsn string) (*sql.DB, error)
	// lock takes, inside tx, the lock that keeps two processes from migrating at once.
	lock func(ctx context.Context, tx *sql.Tx) error
	// classify turns a driver's constraint error into ErrExists or ErrNotFound.
	classify func(err error) error
}

var dialects = map[string]dialect{
	"sqlite": {
		name: "sqlite",
		open: openSQLite,
		// Transactions begin IMMEDIATE (see openSQLite), which already excludes other writers.
		lock:     func(context.Context, *sql.Tx) error { return nil },
		classify: classifySQLite,
	},
	"postgres": {
		name: "postgres",
		open: func(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) },
		lock: func(ctx context.Context, tx *sql.Tx) error {
			// Any constant will do as long as it is always the same: "omamori" in ASCII, as a number.
			_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(31363987630158441)`)
			return err
		},
		classify: classifyPostgres,
	},
}

// sqliteParams make SQLite fit a server: WAL so readers never wait for the writer, a busy
// timeout so writers queue instead of failing, foreign keys on (SQLite's default is off),
// NORMAL sync (durable in WAL mode except for the last commits on power loss, which the
// metadata can afford), transactions that take the write lock at BEGIN so two writers never
// deadlock upgrading, and times written in a form that sorts and reads back.
var sqliteParams = []string{
	"_pragma=busy_timeout(10000)",
	"_pragma=journal_mode(WAL)",
	"_pragma=foreign_keys(1)",
	"_pragma=synchronous(NORMAL)",
	"_txlock=immediate",
	"_time_format=sqlite",
}

func openSQLite(dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, errors.New("sqlite needs a database file path")
	}
	// A plain path is taken verbatim up to the first '?'; a file: URI is the caller's to escape.
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return sql.Open("sqlite", dsn+sep+strings.Join(sqliteParams, "&"))
}

func classifySQLite(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w (%v)", ErrExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w (%v)", ErrNotFound, err)
		}
	}
	return err
}

func classifyPostgres(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w (%v)", ErrExists, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w (%v)", ErrNotFound, err)
		}
	}
	return err
}
