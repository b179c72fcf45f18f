package main

import "testing"

// TestSelfCommand: the first-admin hint `serve` prints is a command that
// works the way serve was started; under `go run` there is no concord
// binary to run.
func TestSelfCommand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, arg0, exe, dataDir, database, want string
	}{
		{"go run", "/tmp/go-build2041/b001/exe/concord", "/tmp/go-build2041/b001/exe/concord", "data", "", "go run ./cmd/concord"},
		{"on the PATH", "concord", "/usr/local/bin/concord", "data", "", "concord"},
		{"a relative path", "./bin/concord", "/src/concord/bin/concord", "data", "", "./bin/concord"},
		{"another data directory", "concord", "/usr/local/bin/concord", "/var/lib/con cord", "", "concord --data-dir '/var/lib/con cord'"},
		{"PostgreSQL by flag", "concord", "/usr/local/bin/concord", "data", "postgres://u:secret@db/concord", "concord --database <the URL serve was given>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := selfCommand(c.arg0, c.exe, c.dataDir, c.database); got != c.want {
				t.Errorf("selfCommand = %q, want %q", got, c.want)
			}
		})
	}
}
