package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// auditBatch is how many audit entries of one tenant are copied in one round.
const auditBatch = 1000

// auditEvery is how often the audit log is copied into the archive; a variable for tests.
var auditEvery = 10 * time.Second

// copyAudit copies the store's audit log — who created a token, granted a role, approved a
// decision — into the archive through the journal, every interval until ctx ends, so that
// administrators' changes share the proof of the logs. The position per tenant is kept in
// the file at path, written only once the journal holds the entries durably: a crash in
// between copies some entries twice, each carrying its audit ID, and loses none.
func (n *Node) copyAudit(ctx context.Context, path string, every time.Duration) error {
	pos := map[string]int64{}
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &pos); err != nil {
			return fmt.Errorf("audit copy position %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit copy position: %w", err)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := n.copyAuditOnce(ctx, pos, path); err != nil && ctx.Err() == nil {
			n.log.Error("audit log not copied into the archive; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (n *Node) copyAuditOnce(ctx context.Context, pos map[string]int64, path string) error {
	tenants, err := n.Store.Tenants(ctx)
	if err != nil {
		return err
	}
	next := map[string]int64{}
	for _, tn := range tenants {
		entries, err := n.Store.Tenant(tn.ID).AuditSince(ctx, pos[tn.ID], auditBatch)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := n.Journal.Record(tn.ID, "omamori.audit", e.Action, e.Actor, e.Time, e); err != nil {
				return err
			}
			next[tn.ID] = e.ID
		}
	}
	if len(next) == 0 {
		return nil
	}
	if err := n.Journal.Sync(ctx); err != nil {
		return err
	}
	for t, id := range next {
		pos[t] = id
	}
	data, _ := json.Marshal(pos)
	return writeFileAtomic(path, data)
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// Synced before the rename: after a crash the file is the old position or the new one,
	// never an empty file, which copyAudit cannot read and so would stop the node at start.
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return os.Rename(tmp, path)
}
