package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at release time with -ldflags "-X main.version=v1.2.3".
var version = "devel"

var versionCommand = command{
	name:    "version",
	summary: "print the version of omamori",
	usage: `usage: omamori version

Version prints the version of omamori, the Go version it was built with, and the
commit of its source when known.
`,
	run: func(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
		if err := fs.Parse(args); err != nil {
			return err
		}
		commit := ""
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = " " + s.Value
				}
			}
		}
		fmt.Fprintf(e.stdout, "omamori %s%s %s %s/%s\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	},
}
