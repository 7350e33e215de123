package scenario

import (
	"embed"
	"io/fs"
)

//go:embed hospital
var hospital embed.FS

// Hospital returns the demo hospital's own files, as its information-system manager would
// keep them beside omamori's configuration: assets.csv, the inventory of the scenario's
// devices (respond.assets), and rules/, a Sigma rule written for its networks
// (detect.sigma_rules): any connection to the life-support network from another network.
func Hospital() fs.FS {
	sub, err := fs.Sub(hospital, "hospital")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// LifeSupportRule is the id of the demo hospital's rule for connections to its life-support
// network, which its response policies isolate both ends of.
const LifeSupportRule = "0b6f3c1e-2a52-4a8e-9d0c-5f0d7c1a9e41"
