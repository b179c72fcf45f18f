package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
)

// TestSecondServeOnOneDataDirectoryRefuses: two serve processes on one SQLite
// data directory would each think they own it; the second must stop with a
// clear message, and the directory is free again once the first closes.
func TestSecondServeOnOneDataDirectoryRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	cfg := app.Config{Addr: "127.0.0.1:0", DataDir: dir, EventBridgeSecret: secret, AutoMigrate: true}
	first, err := app.Start(ctx, cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	second, err := app.Start(ctx, cfg, testLogger())
	if err == nil {
		second.Close(ctx)
		first.Close(ctx)
		t.Fatal("a second serve started on a data directory in use")
	}
	if !strings.Contains(err.Error(), "in use by another concord serve") || !strings.Contains(err.Error(), dir) {
		t.Errorf("second serve: %v; want a message naming the directory in use", err)
	}
	// The refused start changed nothing: the first still answers.
	if err := first.DB.Ping(ctx); err != nil {
		t.Fatalf("first serve after the refused start: %v", err)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := first.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	again, err := app.Start(ctx, cfg, testLogger())
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	again.Close(closeCtx)
}
