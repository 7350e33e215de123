package asset_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/omamori-project/omamori/internal/asset"
)

func Example() {
	csv := `address,name,category,department,protected
10.20.1.11,ICU ventilator bed 1,life-support,ICU,true
10.40.0.10,ehr.hospital.example,information,IT,true
`
	assets, err := asset.ParseCSV(strings.NewReader(csv))
	if err != nil {
		fmt.Println(err)
		return
	}
	inv, err := asset.New(assets)
	if err != nil {
		fmt.Println(err)
		return
	}
	a, _ := inv.Lookup(netip.MustParseAddr("10.20.1.11"))
	fmt.Println(a.Name, a.Category, a.Protected)
	_, hit := inv.LifeSupportIn(netip.MustParsePrefix("10.20.0.0/16"))
	fmt.Println("a block of 10.20.0.0/16 touches life support:", hit)
	// Output:
	// ICU ventilator bed 1 life-support true
	// a block of 10.20.0.0/16 touches life support: true
}
