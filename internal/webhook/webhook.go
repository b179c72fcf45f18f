// Package webhook delivers signed events to the vendor's SaaS app.
// (Skeleton: the implementation is being written.)
package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/store"
)

// Service manages endpoints and delivers webhooks through jobs.
type Service struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger
	Client *http.Client
}

// Emit records one event for every enabled endpoint that wants its type and
// enqueues its delivery, inside tx.
func Emit(ctx context.Context, tx *store.Tx, now time.Time, eventType string, data any) error {
	return nil
}

// Handlers registers the delivery job.
func (s *Service) Handlers(r *job.Runner) {}
