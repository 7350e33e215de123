package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/incident"
)

// evidenceMargin widens an incident's time span for its evidence: the logs before the first
// alert show how the attacker got in, those after the last what they did next.
const evidenceMargin = time.Hour

const incidentExportReadme = `omamori incident evidence / インシデント証跡

incident.json  the incident as omamori holds it: its alerts, timeline, clocks and checklist
               インシデントの記録（アラート、タイムライン、期限、チェックリスト）
evidence/*.tar one archive bundle per address the incident names, with every record about
               it from an hour before the first alert to an hour after the last, each record
               with its inclusion proof under the hospital's signed checkpoint
               インシデントに関わるアドレスごとのアーカイブ抽出（各レコードに包含証明と署名付き
               チェックポイント）

Verify each bundle offline, without omamori's data or any secret:
各抽出は omamori のデータや秘密鍵なしに検証できます:

    omamori archive verify-bundle -key PUBLIC_KEY evidence/ADDRESS.tar

docs/archive-verification.md (in omamori's source) gives the same steps with other tools.
`

// incidentExport writes an incident's evidence package to out: its record, read through the
// running server's API, and for each address it names a verifiable bundle of the archive on
// this machine (read-only beside the server, under a checkpoint the server is asked to sign).
func incidentExport(ctx context.Context, e env, c *apiClient, af *configFlags, id, out string) error {
	var rec incident.Record
	if err := c.call(ctx, "GET", "/api/v1/incidents/"+url.PathEscape(id), nil, nil, &rec); err != nil {
		return err
	}
	a, err := openArchiveBeside(ctx, af, e, func() { askCheckpoint(ctx, e, c, nil, rec.Incident.Tenant) })
	if err != nil {
		return err
	}
	defer a.Close()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return hint(fmt.Errorf("incident export: %w", err), "choose a new file name")
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: time.Now()}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add("README.txt", []byte(incidentExportReadme)); err != nil {
		return err
	}
	pretty, _ := json.MarshalIndent(rec, "", "  ")
	if err := add("incident.json", pretty); err != nil {
		return err
	}
	in := rec.Incident
	from, to := in.First.Add(-evidenceMargin), in.Last.Add(evidenceMargin)
	seen := map[netip.Addr]bool{}
	for _, en := range in.Entities {
		ip, err := netip.ParseAddr(en.Value)
		if err != nil || seen[ip] {
			continue // host and user names: their records are in the bundles of their addresses
		}
		seen[ip] = true
		var bundle bytes.Buffer
		st, err := a.Export(ctx, archive.Query{Tenant: in.Tenant, From: from, To: to, IP: ip}, &bundle, nil)
		if err != nil {
			return fmt.Errorf("incident export: records about %s: %w", ip, err)
		}
		if err := add("evidence/"+ip.String()+".tar", bundle.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "%s: %d records\n", ip, st.Records)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("incident export: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("incident export: %w", err)
	}
	fmt.Fprintf(e.stderr, "wrote %s: incident %s and the archive's records about %d addresses\n", out, in.ID, len(seen))
	return f.Close()
}
