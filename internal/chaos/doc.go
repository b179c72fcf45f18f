// Package chaos holds Concord's crash tests. They build the concord binary and
// run `concord emulator` and `concord serve` as operating-system processes on
// loopback ports, kill serve with SIGKILL at seeded random moments while it
// ingests events and submits usage, restart it on the same data directory or
// database, and check what users rely on: nothing acknowledged is lost, nothing
// is billed twice, and events delivered twice and out of order end in the
// ledger of a clean ordered run.
//
// The package has no code of its own, only tests: `go test ./internal/chaos`
// runs a short version (a few kills) as part of `make test`, and `make chaos`
// runs a long one. CONCORD_CHAOS_KILLS, CONCORD_CHAOS_DURATION and
// CONCORD_CHAOS_SEED tune them; every run prints its seed and its figures.
package chaos
