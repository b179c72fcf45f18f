package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{{"serve"}, {"migrate"}, {"apikey", "create"}, {"apikey", "list"}, {"apikey", "revoke"}, {"events", "replay"}} {
		var out, errw bytes.Buffer
		if code := run(context.Background(), append(cmd, "-h"), &out, &errw); code != 0 {
			t.Errorf("%v -h: exit %d", cmd, code)
		}
		if !strings.Contains(errw.String(), "Usage: concord "+strings.Join(cmd, " ")) || !strings.Contains(errw.String(), "CONCORD_DATA_DIR") {
			t.Errorf("%v -h printed:\n%s", cmd, errw.String())
		}
	}
}

func TestUnknownCommandsAndFlagsAreUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"apikey"}, {"serve", "--no-such-flag"}, {"apikey", "create"}, {"migrate", "extra"}} {
		var out, errw bytes.Buffer
		if code := run(context.Background(), args, &out, &errw); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errw.String())
		}
	}
}

func TestAPIKeyCreateListRevokeAndReplay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"apikey", "create", "--name", "ci", "--data-dir", dir}, &out, &errw); code != 0 {
		t.Fatalf("create: %d %s", code, errw.String())
	}
	secret := strings.TrimSpace(out.String())
	if !strings.HasPrefix(secret, "ck_") || len(secret) < 40 {
		t.Fatalf("secret %q", secret)
	}
	out.Reset()
	run(context.Background(), []string{"apikey", "list", "--data-dir", dir}, &out, &errw)
	fields := strings.Fields(out.String())
	if len(fields) < 3 || fields[2] != "active" || strings.Contains(out.String(), secret) {
		t.Fatalf("list: %q", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"apikey", "revoke", "--id", fields[0], "--data-dir", dir}, &out, &errw); code != 0 {
		t.Fatalf("revoke: %d %s", code, errw.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"events", "replay", "--data-dir", dir}, &out, &errw); code != 0 || !strings.Contains(out.String(), `"events": 0`) {
		t.Fatalf("replay: %d %s %s", code, out.String(), errw.String())
	}
}

// migratedDB opens a fresh, migrated database of dialect, closed when the
// test ends, with the --database URL and --data-dir the commands under test
// take to reach it.
func migratedDB(t *testing.T, dialect string) (db *store.DB, url, dir string) {
	t.Helper()
	url, dir = storetest.URL(t, dialect), t.TempDir()
	db, err := store.Open(context.Background(), store.Config{URL: url, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, url, dir
}
