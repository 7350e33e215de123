package accessclient_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/omamori-project/omamori/accessclient"
	"github.com/omamori-project/omamori/internal/access"
)

func ExampleClient_Decide() {
	// An omamori server with the default policies and one doctor assigned to one patient.
	dir := access.NewDirectory()
	dir.PutStaff(access.Staff{ID: "D001", Role: "doctor", Department: "internal_medicine"})
	dir.AddAssignment(access.Assignment{Staff: "D001", Patient: "P001"})
	d, _ := access.New("tokyo-general", access.Options{Directory: dir})
	srv := httptest.NewServer(access.Handler(func(*http.Request) (*access.Decider, error) { return d, nil }, nil))
	defer srv.Close()

	tmp, _ := os.MkdirTemp("", "ehr")
	defer os.RemoveAll(tmp)
	c, err := accessclient.New(srv.URL, "omm_...", accessclient.Options{EmergencyLog: filepath.Join(tmp, "emergency.ndjson")})
	if err != nil {
		panic(err)
	}
	dec, err := c.Decide(context.Background(), accessclient.Request{
		Subject:  accessclient.Subject{ID: "D001"},
		Action:   "view",
		Resource: accessclient.Resource{Patient: "P001", DataType: "lab"},
		Device:   accessclient.Device{Managed: true, Compliant: true, Network: "ward"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(dec.Decision, dec.Policies, dec.Obligations)
	// Output: allow [care-assigned] [log]
}
