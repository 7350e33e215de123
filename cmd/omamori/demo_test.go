package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/scenario"
)

// TestDemoHospitalProfile: the demo's configuration gives its hospital (the default tenant,
// where the replayed attack lands) a complete profile under incidents.hospitals, so its report
// drafts name a hospital rather than （未設定）.
func TestDemoHospitalProfile(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, "hospital")
	if err := os.CopyFS(own, scenario.Hospital()); err != nil {
		t.Fatal(err)
	}
	cfg, err := demoConfig(dir, "127.0.0.1:0", own)
	if err != nil {
		t.Fatalf("demoConfig: %v", err)
	}
	want := demoHospital
	want.Tenant = cfg.Ingest.DefaultTenant
	if diff := cmp.Diff([]config.Hospital{want}, cfg.Incidents.Hospitals); diff != "" {
		t.Errorf("incidents.hospitals of the demo (-want +got):\n%s", diff)
	}
	v := reflect.ValueOf(want)
	for i := range v.NumField() {
		if v.Field(i).String() == "" {
			t.Errorf("the demo hospital's %s is empty: its drafts would say （未設定）", v.Type().Field(i).Tag.Get("yaml"))
		}
	}
}
