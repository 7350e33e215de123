package main

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenDataDir runs token commands from a directory other than the server's: without
// the server's -data-dir or -config they are refused, and create no data directory, unless
// -init asks for a new one; with them they say which data directory they use, and a
// configuration file that names another one than -data-dir is named too.
func TestTokenDataDir(t *testing.T) {
	server := t.TempDir()
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	for _, v := range []string{"OMAMORI_CONFIG", "OMAMORI_DATA_DIR"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	conf := filepath.Join(elsewhere, "omamori.yaml")
	if err := os.WriteFile(conf, []byte("data_dir: "+server+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(elsewhere, "no-such-dir")
	defaultDir := filepath.Join(elsewhere, "omamori-data")
	create := func(name string, flags ...string) []string {
		return append([]string{"token", "create", "-name", name, "-scope", "ingest"}, flags...)
	}

	tests := []struct {
		name    string
		args    []string
		ok      bool
		stderr  []string
		created string // a data directory that must exist afterwards
	}{
		{"default dir missing", create("fw-1"), false,
			[]string{"no data directory at " + defaultDir, "the default ./omamori-data in the current directory " + elsewhere, "-init"}, ""},
		{"list in a missing dir", []string{"token", "list", "-data-dir", missing}, false,
			[]string{"no data directory at " + missing + " (-data-dir)"}, ""},
		{"flag overrides the file", create("fw-2", "-config", conf, "-data-dir", missing), false,
			[]string{"note: " + conf + " names data_dir " + server + "; -data-dir overrides it", conf + " names " + server + "; leave out -data-dir"}, ""},
		{"the file's dir", create("fw-3", "-config", conf), true,
			[]string{"data directory " + server + " (omamori.yaml line 1)"}, server},
		{"the server's dir by flag", create("fw-4", "-data-dir", server), true,
			[]string{"data directory " + server + " (-data-dir)"}, server},
		{"init", create("fw-5", "-data-dir", missing, "-init"), true,
			[]string{"data directory " + missing + " (-data-dir) does not exist: creating a new, empty one (-init)"}, missing},
		{"-set's dir", append(create("fw-6"), "-set", "data_dir="+server), true,
			[]string{"data directory " + server + " (-set data_dir)"}, server},
		// PostgreSQL keeps the tokens: a missing data directory is no reason to refuse. The
		// server is not there (port 1 of loopback), so the store is what fails.
		{"postgres", create("fw-7", "-data-dir", missing+"-postgres", "-set", "store.driver=postgres", "-set", "store.dsn=postgres://omamori@127.0.0.1:1/omamori?connect_timeout=1"), false,
			[]string{"metadata store postgres (store.driver)", "open metadata store"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runCLI(t, tt.args...)
			if (err == nil) != tt.ok {
				t.Fatalf("omamori %v = %v, want ok %v\n%s", tt.args, err, tt.ok, stderr)
			}
			msg := stderr
			if h, ok := errors.AsType[hinted](err); ok {
				msg += h.Error() + "\nhint: " + h.hint
			} else if err != nil {
				msg += err.Error()
			}
			for _, w := range tt.stderr {
				if !strings.Contains(msg, w) {
					t.Errorf("omamori %v: output lacks %q:\n%s", tt.args, w, msg)
				}
			}
			if tt.ok == (out == "") && tt.args[1] == "create" {
				t.Errorf("omamori %v printed token %q", tt.args, out)
			}
			if tt.created != "" {
				if _, err := os.Stat(tt.created); err != nil {
					t.Errorf("omamori %v: %v", tt.args, err)
				}
			}
		})
	}
	for _, dir := range []string{defaultDir, missing + "-postgres"} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused token command left %s behind (stat: %v)", dir, err)
		}
	}
	// The file's data_dir and -data-dir with the same directory are one store.
	out, stderr, err := runCLI(t, "token", "list", "-config", conf)
	if err != nil || !strings.Contains(out, "fw-3") || !strings.Contains(out, "fw-4") {
		t.Errorf("token list -config %s = %v, want the tokens made with the file and with -data-dir:\n%s%s", conf, err, out, stderr)
	}
}

// TestTokenAgreesWithServe makes a token from another directory with the server's -data-dir
// while `omamori serve` runs, and the server accepts it.
func TestTokenAgreesWithServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts omamori serve")
	}
	dir := t.TempDir()
	srv := startServer(t, dir)
	t.Chdir(t.TempDir())
	token, stderr, err := runCLI(t, "token", "create", "-data-dir", dir, "-name", "fw", "-scope", "ingest")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, stderr)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.http+"/api/v1/ingest", strings.NewReader(`{"message":"hello"}`+"\n"))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /api/v1/ingest with the token made beside the running server = %s, want 200", resp.Status)
	}
}
