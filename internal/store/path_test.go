package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/concordmp/concord/internal/store"
)

// TestSQLiteDataDirWithURISymbols: a data directory whose name holds '#' or
// '?' opens a database inside it, not one at the name cut short.
func TestSQLiteDataDirWithURISymbols(t *testing.T) {
	base := t.TempDir()
	for _, name := range []string{"run#01", "what?", "100%"} {
		dir := filepath.Join(base, name)
		db, err := store.Open(context.Background(), store.Config{DataDir: dir})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatalf("%s: migrate: %v", name, err)
		}
		db.Close()
		if fi, err := os.Stat(filepath.Join(dir, "concord.db")); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: the database is not in the data directory: %v", name, err)
		}
	}
	if entries, _ := os.ReadDir(base); len(entries) != 3 {
		t.Fatalf("files beside the data directories: %v", entries)
	}
}
