package vuln_test

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/vuln"
)

// A FortiGate on FortiOS 6.0.4 facing the internet, against the KEV catalogue and the NVD
// record of CVE-2018-13379: Handa Hospital's case.
func Example() {
	var recs []vuln.Record
	for _, name := range []string{"testdata/kev.json", "testdata/nvd/CVE-2018-13379.json"} {
		f, _ := os.Open(name)
		r, _, err := vuln.Parse(f)
		f.Close()
		if err != nil {
			fmt.Println(err)
			return
		}
		recs = append(recs, r...)
	}
	inv, _ := asset.New([]asset.Asset{{
		Prefix: netip.MustParsePrefix("203.0.113.1/32"), Name: "FortiGate SSL-VPN", Category: asset.Infrastructure,
		CPE: "cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*", Version: "6.0.4", Exposure: asset.Internet,
	}})
	findings, _ := vuln.NewCatalog(recs).Match(inv)
	for _, f := range findings {
		fmt.Println(f.CVE, "exploited:", f.Exploited, "ransomware:", f.Ransomware, "due:", f.Due, "risk:", f.Risk)
		fmt.Println(f.Why)
	}
	// Output:
	// CVE-2018-13379 exploited: true ransomware: true due: 2022-05-03 risk: 64
	// fortios >=6.0.0 <6.0.5 (cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*)
}
