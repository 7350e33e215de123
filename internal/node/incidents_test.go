package node

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/incident"
)

// TestDefaultDeadlinesAreShipped: the reporting periods omamori.yaml defaults to are those of
// the shipped obligations.yaml, so a hospital that sets nothing gets what both documents say.
func TestDefaultDeadlinesAreShipped(t *testing.T) {
	configured, err := incident.ObligationsWith(incidentDeadlines(config.Default().Incidents.Deadlines))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := incident.DefaultObligations()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shipped, configured); diff != "" {
		t.Errorf("config.Default's deadlines differ from the shipped obligations (-shipped +configured):\n%s", diff)
	}
}
