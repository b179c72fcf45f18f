package app_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/inbox"
)

// agreementsClient is the official Agreement API client pointed at b's emulator.
func agreementsClient(t testing.TB, b *bundle) inbox.AgreementAPI {
	t.Helper()
	cfg, err := awsmp.Load(context.Background(), awsmp.Config{Anonymous: true, Endpoint: b.app.URL() + "/emulator"})
	if err != nil {
		t.Fatal(err)
	}
	return awsmp.NewAgreements(cfg)
}

func testLogger() *slog.Logger {
	if os.Getenv("CONCORD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}
