package nft_test

import (
	"context"
	"log"
	"net/netip"
	"time"

	"github.com/omamori-project/omamori/internal/nft"
)

// An Enforcer on a gateway: set up the table, bring back what the store says
// is in force, then block an attacker for an hour. This example has no
// output check because it changes the firewall of the machine it runs on;
// the tests run the same calls in throw-away network namespaces.
func ExampleEnforcer() {
	ctx := context.Background()
	e, err := nft.New(nft.Config{
		Management: []netip.Prefix{netip.MustParsePrefix("10.10.0.5/32")}, // the EDR console
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	if err := e.Setup(ctx); err != nil {
		log.Fatal(err)
	}
	if err := e.Reconcile(ctx, nil); err != nil { // the decisions in force, from the store
		log.Fatal(err)
	}
	attacker := netip.MustParsePrefix("203.0.113.66/32")
	if err := e.Block(ctx, []nft.Entry{{Prefix: attacker, TTL: time.Hour}}); err != nil {
		log.Fatal(err)
	}
}
