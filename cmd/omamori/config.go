package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/omamori-project/omamori/internal/config"
)

// configFlags are the flags of every command that reads the configuration.
type configFlags struct {
	file    string
	dataDir string
	sets    config.SetFlags
}

const configFlagsUsage = `	-config FILE
		the YAML configuration file (default: $OMAMORI_CONFIG, or none:
		the safe defaults, everything on localhost).
	-data-dir DIR
		where omamori keeps its data (overrides data_dir).
	-set KEY=VALUE
		override one key of the configuration, such as -set http.listen=0.0.0.0:8443
		(repeatable). OMAMORI_<KEY> environment variables override the file too.
`

func (c *configFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.file, "config", os.Getenv("OMAMORI_CONFIG"), "")
	fs.StringVar(&c.dataDir, "data-dir", "", "")
	fs.Var(&c.sets, "set", "")
}

// load reads the configuration from the file, the environment and the flags.
func (c *configFlags) load() (*config.Config, error) {
	cfg, err := config.Load(config.Sources{File: c.file, Env: os.Environ(), DataDir: c.dataDir, Set: c.sets})
	if err != nil {
		return nil, hint(err, "'omamori validate -config FILE' checks a configuration; docs/omamori.example.yaml lists every key")
	}
	return cfg, nil
}

// newLogger returns the logger the configuration asks for, writing to stderr.
func newLogger(cfg *config.Config, e env) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

var validateCommand = command{
	name:    "validate",
	summary: "check a configuration without running it",
	usage: `usage: omamori validate [-config FILE] [-set KEY=VALUE]... [-print]

Validate reads the configuration as 'omamori serve' would (the file, then OMAMORI_*
environment variables, then -set flags) and reports every problem it finds, with the
key, where it was set, and what to write instead. It starts nothing.

Flags:

` + configFlagsUsage + `	-print
		print the resulting configuration, with every default filled in.
`,
	run: func(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
		var cf configFlags
		cf.register(fs)
		print := fs.Bool("print", false, "")
		if err := fs.Parse(args); err != nil {
			return err
		}
		cfg, err := cf.load()
		if err != nil {
			return err
		}
		if *print {
			out, err := yaml.Marshal(cfg)
			if err != nil {
				return fmt.Errorf("print configuration: %w", err)
			}
			_, err = e.stdout.Write(out)
			return err
		}
		fmt.Fprintln(e.stdout, "configuration ok")
		return nil
	},
}
