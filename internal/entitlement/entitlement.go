// Package entitlement answers the SaaS app's entitlement checks.
// (Skeleton: the implementation is being written.)
package entitlement

import (
	"context"
	"log/slog"
	"time"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// API is what the service needs from the Entitlement Service (awsmp.Entitlements).
type API interface {
	GetEntitlements(ctx context.Context, productCode string, f awsmp.EntitlementFilter) ([]marketplace.Entitlement, error)
}

// Service keeps entitlements fresh and answers checks from a cache.
type Service struct {
	DB     *store.DB
	API    API
	Now    func() time.Time
	Logger *slog.Logger
	// OnChange runs inside the refresh transaction when a license's
	// entitlements changed from a previous fetch (registration sends license.updated).
	OnChange func(ctx context.Context, tx *store.Tx, licenseID string, now time.Time) error
}

// Hook is an inbox.LicenseHook: it queues a refresh for licenses in force.
func (s *Service) Hook(ctx context.Context, tx *store.Tx, before *marketplace.License, after marketplace.License, now time.Time) error {
	return nil
}

// Handlers registers the refresh jobs.
func (s *Service) Handlers(r *job.Runner) {}

// Invalidate drops cached answers for these licenses (after a local commit).
func (s *Service) Invalidate(licenseIDs []string) {}
