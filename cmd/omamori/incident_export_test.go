package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/node"
	"github.com/omamori-project/omamori/internal/scenario"
)

// TestIncidentExport replays the attack into a running node and exports the incident it
// opened, beside the server: the package holds the incident's record and, for the attacker's
// address, a bundle that verifies offline under the archive's public key.
func TestIncidentExport(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	cfg, err := config.Load(config.Sources{Set: []string{"data_dir=" + dir, "http.listen=127.0.0.1:0", "ingest.batch_wait=10ms",
		"ingest.syslog=[{name: fw, protocol: tcp, listen: '127.0.0.1:0'}]"}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(ctx)
	tenant := cfg.Ingest.DefaultTenant
	_, token, err := auth.Issue(ctx, n.Store.Tenant(tenant), "test", auth.Request{Name: "csirt", Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	server := "http://" + n.HTTPAddr.String()
	sent, err := scenario.Replay(ctx, scenario.Target{Syslog: n.Syslog["fw"].String(), API: server, Token: token.Reveal()},
		scenario.Ransomware(time.Now().Add(-20*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	// The incident about the attacker, once its records are under a signed checkpoint.
	var inc incident.Incident
	for deadline := time.Now().Add(time.Minute); inc.ID == ""; time.Sleep(100 * time.Millisecond) {
		list, err := n.Incidents.List(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range list {
			full, err := n.Incidents.Get(ctx, tenant, in.ID) // a list leaves out the entities
			if err != nil {
				t.Fatal(err)
			}
			for _, en := range full.Entities {
				if en.Value == scenario.Attacker {
					inc = full
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no incident names the attacker; incidents: %+v", list)
		}
	}
	// Every record archived and under a signed checkpoint, which a read-only export needs.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := n.Archive.WaitSynced(wctx, tenant, uint64(sent)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Archive.Checkpoint(ctx, tenant); err != nil {
		t.Fatal(err)
	}

	t.Setenv("OMAMORI_TOKEN", token.Reveal())
	out := filepath.Join(t.TempDir(), "evidence.tar")
	if _, stderr, err := runCLI(t, "incident", "export", "-server", server, "-data-dir", dir, "-o", out, inc.ID); err != nil {
		t.Fatalf("incident export: %v\n%s", err, stderr)
	}
	pub, _, err := runCLI(t, "archive", "pubkey", "-data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	var rec incident.Record
	if err := json.Unmarshal(files["incident.json"], &rec); err != nil || rec.Incident.ID != inc.ID || len(rec.Timeline) == 0 {
		t.Errorf("incident.json: %v, id %q, %d timeline entries; want %s with its timeline", err, rec.Incident.ID, len(rec.Timeline), inc.ID)
	}
	bundle, ok := files["evidence/"+scenario.Attacker+".tar"]
	if !ok {
		t.Fatalf("no bundle for the attacker; package holds %v", keysOf(files))
	}
	rep, err := archive.VerifyBundle(bytes.NewReader(bundle), strings.TrimSpace(pub))
	if err != nil {
		t.Fatalf("the attacker's bundle does not verify: %v", err)
	}
	if rep.Records < 24 {
		t.Errorf("the attacker's bundle proves %d records, want at least the 24 failed logins", rep.Records)
	}
}

func keysOf(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
