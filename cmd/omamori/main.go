// Command omamori is an active cyber defense platform for hospitals: it collects logs, keeps
// them tamper-evident for years, detects attacks and responds to them. See the README.
//
// main stays small: it parses the subcommand and hands over to run, which the tests call too.
// Each subcommand lives in a file of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	_ "time/tzdata" // hospitals run minimal servers; Asia/Tokyo must resolve without /usr/share/zoneinfo
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		var h hinted
		if errors.As(err, &h) {
			fmt.Fprintf(os.Stderr, "hint: %s\n", h.hint)
		}
		var st exitStatus
		if errors.As(err, &st) {
			os.Exit(st.status)
		}
		os.Exit(1)
	}
}

// env is what a subcommand gets from the process: its streams. Nothing global.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string // one line for `omamori help`
	usage   string // the full help text, in the style of `go help`
	// run defines its flags on fs, whose -h prints usage, and parses args with it.
	run func(ctx context.Context, e env, fs *flag.FlagSet, args []string) error
}

func commands() []command {
	return []command{
		demoCommand,
		serveCommand,
		ingestCommand,
		archiveCommand,
		decodeCommand,
		scanCommand,
		accessCommand,
		decisionsCommand,
		incidentCommand,
		vulnCommand,
		tokenCommand,
		validateCommand,
		benchCommand,
		versionCommand,
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] {
					fmt.Fprint(stdout, c.usage)
					return nil
				}
			}
			return hint(fmt.Errorf("unknown command %q", args[1]), "run 'omamori help' for the list")
		}
		printHelp(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, newFlagSet(c, e), args[1:])
		}
	}
	return hint(fmt.Errorf("unknown command %q", args[0]), "run 'omamori help' for the list")
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `omamori (御守) is an active cyber defense platform for hospitals.

Usage:

	omamori <command> [arguments]

The commands are:

`)
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nUse \"omamori help <command>\" for more information about a command.\n")
}

// newFlagSet returns a flag set whose -h prints the command's usage text.
func newFlagSet(c command, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprint(e.stderr, c.usage) }
	return fs
}

// hinted is an error with advice for the person at the terminal.
type hinted struct {
	err  error
	hint string
}

func (h hinted) Error() string { return h.err.Error() }
func (h hinted) Unwrap() error { return h.err }

func hint(err error, advice string) error { return hinted{err, advice} }

// exitStatus is an error that ends the process with a status of its own instead of 1: for an
// outcome a script must tell apart from a plain failure, as each command's help documents.
type exitStatus struct {
	err    error
	status int
}

func (s exitStatus) Error() string { return s.err.Error() }
func (s exitStatus) Unwrap() error { return s.err }

// subcommand splits args into a command's subcommand and the rest. With no subcommand, or a
// request for help in its place, it prints fs's usage and returns the error to end with: no
// command given (with choices as the hint), or flag.ErrHelp.
func subcommand(fs *flag.FlagSet, name string, args []string, choices string) (string, []string, error) {
	if len(args) > 0 && !slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		return args[0], args[1:], nil
	}
	fs.Usage()
	if len(args) == 0 {
		return "", nil, hint(fmt.Errorf("%s: no command given", name), choices)
	}
	return "", nil, flag.ErrHelp
}
