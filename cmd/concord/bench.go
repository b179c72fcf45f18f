package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/concordmp/concord/internal/bench"
)

// benchMixed runs the mixed load (issue 19, target 4) and prints what the
// callers saw.
func benchMixed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("concord bench mixed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.MixedConfig{}
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long the load runs")
	fs.Float64Var(&cfg.EventsPerSec, "events", 100, "EventBridge events per second (POST /events/eventbridge)")
	fs.Float64Var(&cfg.UsagePerSec, "usage", 100, "usage batches per second (POST /v1/usage)")
	fs.Float64Var(&cfg.ChecksPerSec, "checks", 200, "entitlement checks per second (GET /v1/entitlements)")
	fs.IntVar(&cfg.UsageRecords, "records", 50, "usage records per batch")
	fs.IntVar(&cfg.Licenses, "licenses", 1000, "licenses seeded for usage and checks")
	fs.StringVar(&cfg.Database, "database", "", "PostgreSQL URL: the run uses a schema of its own in it, dropped at the end; empty runs on SQLite")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "data directory of the Concord under load (default: a temporary one, removed at the end)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: concord bench mixed [flags]

Start a Concord on a fresh database and send it events, usage batches and
entitlement checks together, each kind at a fixed rate (open loop: latency is
counted from when a request was due, so falling behind shows). Prints, per
kind, the requests answered, the rate achieved and p50/p99/max latency.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	res, err := bench.Mixed(ctx, cfg)
	if err != nil {
		return err
	}
	res.Print(stdout)
	return nil
}

// benchMemory builds a large database, floods `concord serve` on it with
// large usage batches and reports the server's peak memory (issue 19, target 6).
func benchMemory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("concord bench memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.MemoryConfig{}
	fs.IntVar(&cfg.Licenses, "licenses", 100000, "licenses in the database")
	fs.IntVar(&cfg.UsageRows, "usage-rows", 1000000, "usage records in the database before the flood")
	fs.IntVar(&cfg.Records, "records", 10000, "records per usage batch of the flood (at most 10,000)")
	fs.IntVar(&cfg.Clients, "clients", 16, "callers posting usage batches at once")
	fs.DurationVar(&cfg.Flood, "flood", 20*time.Second, "how long the flood lasts")
	fs.StringVar(&cfg.Database, "database", "", "PostgreSQL URL: the run uses a schema of its own in it, dropped at the end; empty runs on SQLite")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "data directory of the server (default: a temporary one, removed at the end)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: concord bench memory [flags]

Build a database of many licenses and usage records, start "concord serve" on
it in a process of its own, flood it with large usage batches from several
callers at once, and print the server's resident memory: idle, and at its peak
(VmHWM of /proc/PID/status; Linux).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Serve = []string{self, "serve"}
	res, err := bench.Memory(ctx, cfg)
	if err != nil {
		return err
	}
	res.Print(stdout)
	return nil
}
