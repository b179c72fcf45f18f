// Package entitlement keeps a copy of what AWS Marketplace's Entitlement Service
// says each license is entitled to, and answers the SaaS app's "may this tenant
// (or license) use this now?" from memory.
//
// The copy is filled by jobs: the ledger's license hook queues a refresh whenever
// a license in force is folded (a License Updated event among them), and a
// periodic sweep refreshes licenses whose copy is older than RefreshEvery. A
// refresh calls GetEntitlements filtered by LicenseArn and replaces the license's
// rows in one transaction.
//
// Checks answer from a read-through cache (see Check); the policy is described in
// docs/entitlements.md.
package entitlement

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Job kinds this package runs.
const (
	// JobRefresh fetches one license's entitlements (args RefreshArgs).
	JobRefresh = "entitlement.refresh"
	// JobSweep queues refreshes for licenses whose copy is old, then schedules
	// the next sweep.
	JobSweep = "entitlement.sweep"
)

// Defaults of the Service's tunables.
const (
	DefaultRefreshEvery = 6 * time.Hour
	DefaultSweepEvery   = 15 * time.Minute
	DefaultSweepBatch   = 500
	DefaultMaxAge       = 24 * time.Hour
	DefaultCacheTTL     = 30 * time.Second
)

// API is what the service needs from the Entitlement Service (awsmp.Entitlements).
type API interface {
	GetEntitlements(ctx context.Context, productCode string, f awsmp.EntitlementFilter) ([]marketplace.Entitlement, error)
}

// Service keeps entitlements fresh and answers checks from a cache. The zero
// values of the tunables select the defaults above; set them before first use.
type Service struct {
	DB     *store.DB
	API    API
	Now    func() time.Time
	Logger *slog.Logger
	// OnChange runs inside the refresh transaction when a license's
	// entitlements changed from a previous fetch (registration sends license.updated).
	OnChange func(ctx context.Context, tx *store.Tx, licenseID string, now time.Time) error

	// RefreshEvery is how old a license's copy may get before the sweep
	// refreshes it (default 6h).
	RefreshEvery time.Duration
	// SweepEvery is how often the sweep runs (default 15m).
	SweepEvery time.Duration
	// SweepBatch is how many refreshes one sweep transaction queues (default 500).
	SweepBatch int
	// MaxAge is how old a copy may be before answers built on it are marked
	// stale and a refresh is queued (default 24h).
	MaxAge time.Duration
	// CacheTTL is how long a cached license or tenant is answered from memory
	// without reading the database again (default 30s). Local commits
	// invalidate at once; other replicas sharing PostgreSQL may answer from
	// their cache for up to this long.
	CacheTTL time.Duration

	initOnce sync.Once
	c        *cache
}

// RefreshArgs are the arguments of a JobRefresh job.
type RefreshArgs struct {
	LicenseID string `json:"licenseId"`
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// inForce reports whether a license's entitlements can be read from AWS: it is
// active or in its final (ending) window and the ledger knows its ARN and
// product code.
func inForce(l marketplace.License) bool {
	return (l.State == marketplace.LicenseActive || l.State == marketplace.LicenseEnding) && l.LicenseArn != "" && l.ProductCode != ""
}

func refreshKey(licenseID string) string { return "entitlement:" + licenseID }

// enqueueRefresh queues a refresh of one license inside tx.
func enqueueRefresh(ctx context.Context, tx *store.Tx, now time.Time, licenseID string) error {
	if _, _, err := job.Enqueue(ctx, tx, now, JobRefresh, RefreshArgs{LicenseID: licenseID}, job.Options{UniqueKey: refreshKey(licenseID)}); err != nil {
		return fmt.Errorf("queue entitlement refresh of %s: %w", licenseID, err)
	}
	return nil
}

// Hook is an inbox.LicenseHook: it queues a refresh for licenses in force (so a
// License Updated event refreshes the license) and drops the license's cached
// answers once the fold commits.
func (s *Service) Hook(ctx context.Context, tx *store.Tx, before *marketplace.License, after marketplace.License, now time.Time) error {
	id := after.LicenseID
	tx.AfterCommit(func() { s.Invalidate([]string{id}) })
	if !inForce(after) {
		return nil
	}
	var typ string
	err := tx.QueryRow(ctx, `SELECT type FROM products WHERE product_code = ?`, after.ProductCode).Scan(&typ)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("product of license %s: %w", id, err)
	}
	if typ == marketplace.ProductSaaSUsage {
		return nil // usage-only: AWS has no entitlements for it
	}
	return enqueueRefresh(ctx, tx, now, id)
}

// Handlers registers the refresh and sweep jobs.
func (s *Service) Handlers(r *job.Runner) {
	r.Handle(JobRefresh, func(ctx context.Context, j *job.Job) error {
		var a RefreshArgs
		if err := json.Unmarshal(j.Args, &a); err != nil || a.LicenseID == "" {
			return job.Permanent(fmt.Errorf("bad %s args %s: %v", JobRefresh, j.Args, err))
		}
		err := s.Refresh(ctx, a.LicenseID)
		if c := marketplace.ErrorCode(err); c == marketplace.ENotFound || c == marketplace.EInvalid {
			return job.Permanent(err)
		}
		return err
	})
	r.Handle(JobSweep, func(ctx context.Context, j *job.Job) error { return s.sweep(ctx) })
}

// Start queues the first sweep. It is idempotent: replicas starting together,
// or a restart while a sweep is pending, share one chain of sweeps.
func (s *Service) Start(ctx context.Context) error {
	now := s.now()
	every := orDefault(s.SweepEvery, DefaultSweepEvery)
	slot := now.Truncate(every)
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		_, _, err := job.Enqueue(ctx, tx, now, JobSweep, struct{}{}, job.Options{UniqueKey: sweepKey(slot)})
		return err
	})
	if err != nil {
		return fmt.Errorf("start entitlement sweep: %w", err)
	}
	return nil
}

// sweepKey names the sweep of one time slot. Every sweep schedules the next at
// the following slot boundary under that slot's key, so chains started by
// several replicas (or by a restart) meet on the same key and merge.
func sweepKey(slot time.Time) string {
	return "entitlement:sweep:" + strconv.FormatInt(store.Millis(slot), 10)
}

// sweep schedules the next sweep, then queues refreshes of active licenses
// never fetched or fetched before now-RefreshEvery, in batches.
func (s *Service) sweep(ctx context.Context) error {
	now := s.now()
	every := orDefault(s.SweepEvery, DefaultSweepEvery)
	next := now.Truncate(every).Add(every)
	if err := s.DB.Write(ctx, func(tx *store.Tx) error {
		_, _, err := job.Enqueue(ctx, tx, now, JobSweep, struct{}{}, job.Options{RunAt: next, UniqueKey: sweepKey(next)})
		return err
	}); err != nil {
		return fmt.Errorf("schedule next entitlement sweep: %w", err)
	}
	batch := s.SweepBatch
	if batch <= 0 {
		batch = DefaultSweepBatch
	}
	cutoff := store.Millis(now.Add(-orDefault(s.RefreshEvery, DefaultRefreshEvery)))
	// Usage-only products have no entitlements to fetch.
	const due = `l.state = ? AND l.license_arn <> '' AND l.product_code <> ''
				AND NOT EXISTS (SELECT 1 FROM products p WHERE p.product_code = l.product_code AND p.type = 'saas_usage')
				AND (s.fetched_at IS NULL OR s.fetched_at < ?)`
	// Spread the refreshes over the sweep interval, so a large backlog (the
	// first sweep after a backfill) does not hold up other jobs.
	var total int
	if err := s.DB.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM licenses l LEFT JOIN entitlement_syncs s ON s.license_id = l.license_id WHERE `+due,
			marketplace.LicenseActive, cutoff).Scan(&total)
	}); err != nil {
		return fmt.Errorf("count licenses due for an entitlement refresh: %w", err)
	}
	spacing := time.Duration(0)
	if total > 0 {
		spacing = every / time.Duration(total+1)
	}
	after, queued := "", 0
	for {
		var ids []string
		err := s.DB.Write(ctx, func(tx *store.Tx) error {
			var err error
			ids, err = store.QueryAll(ctx, tx, store.ScanString, `SELECT l.license_id FROM licenses l LEFT JOIN entitlement_syncs s ON s.license_id = l.license_id
				WHERE l.license_id > ? AND `+due+` ORDER BY l.license_id LIMIT ?`,
				after, marketplace.LicenseActive, cutoff, batch)
			if err != nil {
				return err
			}
			for i, id := range ids {
				at := now.Add(time.Duration(queued+i) * spacing)
				if _, _, err := job.Enqueue(ctx, tx, now, JobRefresh, RefreshArgs{LicenseID: id}, job.Options{UniqueKey: refreshKey(id), RunAt: at}); err != nil {
					return fmt.Errorf("queue entitlement refresh of %s: %w", id, err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("entitlement sweep after %q: %w", after, err)
		}
		queued += len(ids)
		if len(ids) < batch {
			break
		}
		after = ids[len(ids)-1]
	}
	if queued > 0 {
		s.logger().Info("entitlement sweep queued refreshes", "licenses", queued)
	}
	return nil
}

// Refresh fetches one license's entitlements from AWS and replaces the stored
// copy. A license not in force (pending, deprovisioned) is left alone. When the
// values changed from a previous fetch, OnChange runs in the same transaction.
// An API failure is recorded on the license's sync row and returned, so the job
// retries.
func (s *Service) Refresh(ctx context.Context, licenseID string) error {
	licenseID = marketplace.LicenseID(licenseID)
	var lic marketplace.License
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		l, ok, err := inbox.LoadLicense(ctx, tx, licenseID)
		if err != nil {
			return err
		}
		if !ok {
			return marketplace.Errorf(marketplace.ENotFound, "license %s not found", licenseID)
		}
		lic = l
		return nil
	})
	if err != nil {
		return fmt.Errorf("refresh entitlements: %w", err)
	}
	if !inForce(lic) {
		return nil
	}
	ents, apiErr := s.API.GetEntitlements(ctx, lic.ProductCode, awsmp.EntitlementFilter{LicenseArn: lic.LicenseArn})
	now := s.now()
	if apiErr != nil {
		msg := strings.ToValidUTF8(strings.ReplaceAll(apiErr.Error(), "\x00", ""), "\uFFFD")
		if len(msg) > 2000 {
			msg = strings.ToValidUTF8(msg[:2000], "")
		}
		if err := s.DB.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO entitlement_syncs (license_id, attempted_at, last_error) VALUES (?, ?, ?)
				ON CONFLICT (license_id) DO UPDATE SET attempted_at = excluded.attempted_at, last_error = excluded.last_error`,
				licenseID, store.Millis(now), msg)
			return err
		}); err != nil {
			s.logger().Warn("record entitlement fetch failure", "license", licenseID, "err", err)
		}
		return fmt.Errorf("refresh entitlements of %s: %w", licenseID, apiErr)
	}
	fresh := map[string]storedEnt{}
	for _, e := range ents {
		if e.Dimension == "" || (e.LicenseArn != "" && marketplace.LicenseID(e.LicenseArn) != licenseID) {
			continue
		}
		v, err := json.Marshal(Value{Integer: e.Integer, Double: e.Double, Boolean: e.Boolean, String: e.String})
		if err != nil {
			return fmt.Errorf("encode entitlement %s of %s: %w", e.Dimension, licenseID, err)
		}
		fresh[e.Dimension] = storedEnt{value: string(v), expires: store.NullMillis(e.ExpiresAt)}
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		var prevFetched sql.NullInt64
		err := tx.QueryRow(ctx, `SELECT fetched_at FROM entitlement_syncs WHERE license_id = ?`, licenseID).Scan(&prevFetched)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		type stored struct{ dim, value string }
		rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (e stored, err error) {
			err = r.Scan(&e.dim, &e.value)
			return e, err
		}, `SELECT dimension, value FROM entitlements WHERE license_id = ?`, licenseID)
		if err != nil {
			return err
		}
		prev := map[string]string{}
		for _, e := range rows {
			prev[e.dim] = e.value
		}
		if _, err := tx.Exec(ctx, `DELETE FROM entitlements WHERE license_id = ?`, licenseID); err != nil {
			return err
		}
		for d, e := range fresh {
			if _, err := tx.Exec(ctx, `INSERT INTO entitlements (license_id, dimension, value, expires_at) VALUES (?, ?, ?, ?)`,
				licenseID, d, e.value, e.expires); err != nil {
				return fmt.Errorf("store entitlement %s: %w", d, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO entitlement_syncs (license_id, fetched_at, attempted_at, last_error) VALUES (?, ?, ?, NULL)
			ON CONFLICT (license_id) DO UPDATE SET fetched_at = excluded.fetched_at, attempted_at = excluded.attempted_at, last_error = NULL`,
			licenseID, store.Millis(now), store.Millis(now)); err != nil {
			return err
		}
		tx.AfterCommit(func() { s.Invalidate([]string{licenseID}) })
		values := make(map[string]string, len(fresh))
		for d, e := range fresh {
			values[d] = e.value
		}
		if prevFetched.Valid && !maps.Equal(prev, values) && s.OnChange != nil {
			if err := s.OnChange(ctx, tx, licenseID, now); err != nil {
				return fmt.Errorf("announce entitlement change: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store entitlements of %s: %w", licenseID, err)
	}
	return nil
}

type storedEnt struct {
	value   string
	expires sql.NullInt64
}
