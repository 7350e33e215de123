// Package rules holds the detection rules omamori ships in its binary: Sigma rules written
// for what hospitals face and SigmaHQ lacks, such as the VPN appliance attacks that opened
// Japanese hospitals. Detection (package sigma) compiles them together with the SigmaHQ rules
// a hospital points omamori at.
package rules

import (
	"embed"
	"io/fs"
)

//go:embed hospital/*.yml
var hospital embed.FS

// Hospital returns the hospital rule set, a folder of Sigma rules named "hospital".
func Hospital() fs.FS { return hospital }

// Root is the folder of the rules in the file system Hospital returns.
const Root = "hospital"
