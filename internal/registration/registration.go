// Package registration runs the buyer registration flow behind the vendor's
// fulfillment URL and owns tenants: the accounts of the vendor's SaaS app that
// licenses are attached to. A buyer arrives with a registration token; Concord
// resolves it server-side, asks the product's registration questions, and
// attaches the license to a tenant by the product's strategy (separate, unified
// or buyer's choice). The tenant link is independent of the ledger projection,
// so registering before or after the license's events ends in the same state,
// and the provisioning webhooks follow the license through its life.
package registration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/webhook"
)

// Resolver exchanges a registration token for the buyer's identity
// (awsmp.Metering). Unknown and expired tokens wrap awsmp.ErrInvalidToken and
// awsmp.ErrExpiredToken.
type Resolver interface {
	ResolveCustomer(ctx context.Context, token string) (awsmp.Customer, error)
}

// Job kinds.
const (
	JobAutoRegister = "registration.auto"
)

// PendingWindow is how long AWS expects a buyer's registration to take before
// the seller follows up (AWS Marketplace asks sellers to complete it within 48 hours).
const PendingWindow = 48 * time.Hour

// Service is the registration flow and the tenant store.
type Service struct {
	DB       *store.DB
	Resolver Resolver
	Now      func() time.Time
	Logger   *slog.Logger
	// Path is where AWS Marketplace posts the buyer (default /marketplace/register).
	Path string
	// SessionTTL bounds how long a buyer has to fill in the page (default 2h).
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure (set it behind HTTPS).
	SecureCookies bool
	// OnTenantChange is told, after commit, which tenants gained or lost
	// licenses (the entitlement cache drops its answers for them).
	OnTenantChange func(tenantIDs []string)
	// OnTenantCreated, when set, is told in the same transaction that a
	// buyer registered and got a tenant (the buyer's welcome email).
	OnTenantCreated func(ctx context.Context, tx *store.Tx, t marketplace.Tenant, product marketplace.Product, licenseArn string, now time.Time) error
}

func (s *Service) path() string {
	if s.Path == "" {
		return "/marketplace/register"
	}
	return s.Path
}

func (s *Service) sessionTTL() time.Duration {
	if s.SessionTTL <= 0 {
		return 2 * time.Hour
	}
	return s.SessionTTL
}

func newID(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// tenantColumns is the column list scanTenant reads.
const tenantColumns = `tenant_id, account_id, product_id, product_code, company, contact_name, email, fields, billing_license_id, source, created_at, updated_at`

func scanTenant(r store.Scanner) (marketplace.Tenant, error) {
	var t marketplace.Tenant
	var fields string
	var billing sql.NullString
	var created, updated int64
	if err := r.Scan(&t.TenantID, &t.AccountID, &t.ProductID, &t.ProductCode, &t.Company, &t.ContactName, &t.Email, &fields, &billing, &t.Source, &created, &updated); err != nil {
		return t, err
	}
	t.Fields = map[string]string{}
	if err := json.Unmarshal([]byte(fields), &t.Fields); err != nil {
		return t, fmt.Errorf("decode tenant fields: %w", err)
	}
	t.BillingLicenseID, t.CreatedAt, t.UpdatedAt = billing.String, store.FromMillis(created), store.FromMillis(updated)
	t.Licenses = []marketplace.TenantLicense{}
	return t, nil
}

// loadTenant reads one tenant with its licenses.
func loadTenant(ctx context.Context, tx *store.Tx, id string) (marketplace.Tenant, error) {
	t, err := scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE tenant_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, marketplace.Errorf(marketplace.ENotFound, "tenant %s not found", id)
	} else if err != nil {
		return t, fmt.Errorf("load tenant %s: %w", id, err)
	}
	return t, loadTenantLicenses(ctx, tx, &t)
}

func loadTenantLicenses(ctx context.Context, tx *store.Tx, t *marketplace.Tenant) error {
	ls, err := store.QueryAll(ctx, tx, func(r store.Scanner) (marketplace.TenantLicense, error) {
		var tl marketplace.TenantLicense
		var at int64
		err := r.Scan(&tl.LicenseID, &tl.LicenseArn, &tl.Source, &at, &tl.State, &tl.AgreementID)
		if tl.State == "" {
			tl.State = marketplace.LicenseUnknown
		}
		tl.AttachedAt, tl.Billing = store.FromMillis(at), tl.LicenseID == t.BillingLicenseID
		return tl, err
	}, `SELECT tl.license_id, tl.license_arn, tl.source, tl.attached_at, COALESCE(l.state, ''), COALESCE(l.agreement_id, '')
		FROM tenant_licenses tl LEFT JOIN licenses l ON l.license_id = tl.license_id WHERE tl.tenant_id = ? ORDER BY tl.attached_at, tl.license_id`, t.TenantID)
	if err != nil {
		return fmt.Errorf("load licenses of tenant %s: %w", t.TenantID, err)
	}
	t.Licenses = ls
	return nil
}

// queryTenants reads the tenants a query selects (by tenantColumns), with
// their licenses.
func queryTenants(ctx context.Context, tx *store.Tx, query string, args ...any) ([]marketplace.Tenant, error) {
	out, err := store.QueryAll(ctx, tx, scanTenant, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	for i := range out {
		if err := loadTenantLicenses(ctx, tx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tenantsOf lists the tenants an AWS account owns for a product code.
func tenantsOf(ctx context.Context, tx *store.Tx, account, productCode string) ([]marketplace.Tenant, error) {
	return queryTenants(ctx, tx, `SELECT `+tenantColumns+` FROM tenants WHERE account_id = ? AND product_code = ? ORDER BY created_at, tenant_id`, account, productCode)
}

// licenseRef is what attaching needs to know about a license, whether or not
// its events have arrived.
type licenseRef struct {
	ID, Arn, AccountID, ProductCode string
}

// tenantOfLicense returns the tenant a license is attached to ("" if none) and
// the last state announced for it.
func tenantOfLicense(ctx context.Context, tx *store.Tx, licenseID string) (tenantID, announced string, err error) {
	err = tx.QueryRow(ctx, `SELECT tenant_id, announced_state FROM tenant_licenses WHERE license_id = ?`, licenseID).Scan(&tenantID, &announced)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return tenantID, announced, err
}

// createTenant inserts a tenant from cleaned registration answers.
func createTenant(ctx context.Context, tx *store.Tx, now time.Time, account string, product marketplace.Product, answers marketplace.Answers, source string) (marketplace.Tenant, error) {
	extra := map[string]string{}
	for k, v := range answers {
		switch k {
		case marketplace.FieldCompany, marketplace.FieldContactName, marketplace.FieldEmail:
		default:
			extra[k] = v
		}
	}
	fields, err := json.Marshal(extra)
	if err != nil {
		return marketplace.Tenant{}, err
	}
	id := newID("tnt_", 10)
	ms := store.Millis(now)
	if _, err := tx.Exec(ctx, `INSERT INTO tenants (`+tenantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
		id, account, product.ProductID, product.ProductCode, answers[marketplace.FieldCompany], answers[marketplace.FieldContactName],
		answers[marketplace.FieldEmail], string(fields), source, ms, ms); err != nil {
		return marketplace.Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	return marketplace.Tenant{TenantID: id}, nil
}

// attach links a license to a tenant. A license belongs to one tenant: linking
// it to another is a conflict. The tenant's first license becomes its billing
// license. If the ledger already knows the license, its state is announced.
func (s *Service) attach(ctx context.Context, tx *store.Tx, now time.Time, tenantID string, ref licenseRef, source string) error {
	if err := s.link(ctx, tx, now, tenantID, ref, source); err != nil {
		return err
	}
	return s.announceLinked(ctx, tx, now, tenantID, ref.ID)
}

// announceLinked announces the ledger state of a license just linked.
func (s *Service) announceLinked(ctx context.Context, tx *store.Tx, now time.Time, tenantID, licenseID string) error {
	l, ok, err := inbox.LoadLicense(ctx, tx, licenseID)
	if err != nil || !ok {
		return err
	}
	_, announced, err := tenantOfLicense(ctx, tx, licenseID)
	if err != nil {
		return err
	}
	return s.announce(ctx, tx, now, tenantID, announced, nil, l)
}

// newTenant creates a tenant holding one license and sends tenant.created,
// then the license's state.
func (s *Service) newTenant(ctx context.Context, tx *store.Tx, now time.Time, product marketplace.Product, ref licenseRef, answers marketplace.Answers, source string) (string, error) {
	t, err := createTenant(ctx, tx, now, ref.AccountID, product, answers, source)
	if err != nil {
		return "", err
	}
	if err := s.link(ctx, tx, now, t.TenantID, ref, source); err != nil {
		return "", err
	}
	full, err := loadTenant(ctx, tx, t.TenantID)
	if err != nil {
		return "", err
	}
	if err := webhook.Emit(ctx, tx, now, webhook.TenantCreated, TenantEvent{Tenant: full}); err != nil {
		return "", err
	}
	if s.OnTenantCreated != nil {
		if err := s.OnTenantCreated(ctx, tx, full, product, ref.Arn, now); err != nil {
			return "", err
		}
	}
	return t.TenantID, s.announceLinked(ctx, tx, now, t.TenantID, ref.ID)
}

// link records that a license belongs to a tenant, without announcing it.
func (s *Service) link(ctx context.Context, tx *store.Tx, now time.Time, tenantID string, ref licenseRef, source string) error {
	owner, _, err := tenantOfLicense(ctx, tx, ref.ID)
	if err != nil {
		return err
	}
	if owner == tenantID {
		return nil
	}
	if owner != "" {
		return marketplace.Errorf(marketplace.EConflict, "license %s already belongs to tenant %s", ref.Arn, owner)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tenant_licenses (license_id, tenant_id, license_arn, account_id, product_code, source, announced_state, attached_at)
		VALUES (?, ?, ?, ?, ?, ?, '', ?)`, ref.ID, tenantID, ref.Arn, ref.AccountID, ref.ProductCode, source, store.Millis(now)); err != nil {
		return fmt.Errorf("attach license %s: %w", ref.ID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tenants SET billing_license_id = ?, updated_at = ? WHERE tenant_id = ? AND billing_license_id IS NULL`,
		ref.ID, store.Millis(now), tenantID); err != nil {
		return fmt.Errorf("set billing license: %w", err)
	}
	s.changed(tx, tenantID)
	return nil
}

func (s *Service) changed(tx *store.Tx, tenantIDs ...string) {
	if s.OnTenantChange != nil {
		tx.AfterCommit(func() { s.OnTenantChange(tenantIDs) })
	}
}

// LicenseEvent is the data of the license.* webhooks.
type LicenseEvent struct {
	Tenant  marketplace.Tenant  `json:"tenant"`
	License marketplace.License `json:"license"`
}

// TenantEvent is the data of tenant.created.
type TenantEvent struct {
	Tenant marketplace.Tenant `json:"tenant"`
}

// announce sends the webhook a license's new state calls for, once per state:
// license.activated, license.ending (the final metering window is open) or
// license.deprovisioned; license.updated when an active license changes
// agreement or dates. Pending licenses are not announced.
func (s *Service) announce(ctx context.Context, tx *store.Tx, now time.Time, tenantID, announced string, before *marketplace.License, l marketplace.License) error {
	var typ string
	switch {
	case l.State == announced:
		if l.State == marketplace.LicenseActive && before != nil && licenseChanged(*before, l) {
			typ = webhook.LicenseUpdated
		}
	case l.State == marketplace.LicenseActive:
		typ = webhook.LicenseActivated
	case l.State == marketplace.LicenseEnding:
		typ = webhook.LicenseEnding
	case l.State == marketplace.LicenseDeprovisioned:
		typ = webhook.LicenseDeprovisioned
	}
	if l.State != announced && l.State != marketplace.LicensePending {
		if _, err := tx.Exec(ctx, `UPDATE tenant_licenses SET announced_state = ? WHERE license_id = ?`, l.State, l.LicenseID); err != nil {
			return fmt.Errorf("record announced state: %w", err)
		}
	}
	if typ == "" {
		return nil
	}
	return s.emitLicense(ctx, tx, now, typ, tenantID, l)
}

func (s *Service) emitLicense(ctx context.Context, tx *store.Tx, now time.Time, typ, tenantID string, l marketplace.License) error {
	t, err := loadTenant(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	return webhook.Emit(ctx, tx, now, typ, LicenseEvent{Tenant: t, License: l})
}

func licenseChanged(a, b marketplace.License) bool {
	eq := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	return a.AgreementID != b.AgreementID || !eq(a.StartsAt, b.StartsAt) || !eq(a.EndingAt, b.EndingAt)
}

// OnEntitlementsChanged is the entitlement service's OnChange: an active
// license's entitlements changed (an amendment, an upgrade), so its tenant hears
// license.updated.
func (s *Service) OnEntitlementsChanged(ctx context.Context, tx *store.Tx, licenseID string, now time.Time) error {
	tenantID, _, err := tenantOfLicense(ctx, tx, licenseID)
	if err != nil || tenantID == "" {
		return err
	}
	l, ok, err := inbox.LoadLicense(ctx, tx, licenseID)
	if err != nil || !ok || l.State != marketplace.LicenseActive {
		return err
	}
	s.changed(tx, tenantID)
	return s.emitLicense(ctx, tx, now, webhook.LicenseUpdated, tenantID, l)
}

// Hook is an inbox.LicenseHook. For a license with a tenant it announces state
// changes; for one without, it follows lineage (an amendment or renewal of a
// license a tenant holds joins that tenant, and takes over as billing license
// if its predecessor was) or schedules auto-registration when the license's
// private offer carried registration details.
func (s *Service) Hook(ctx context.Context, tx *store.Tx, before *marketplace.License, after marketplace.License, now time.Time) error {
	tenantID, announced, err := tenantOfLicense(ctx, tx, after.LicenseID)
	if err != nil {
		return err
	}
	if tenantID != "" {
		if before != nil && before.State != after.State {
			s.changed(tx, tenantID)
		}
		return s.announce(ctx, tx, now, tenantID, announced, before, after)
	}
	if after.State == marketplace.LicenseDeprovisioned || after.AgreementID == "" {
		return nil
	}
	pred, predTenant, err := predecessor(ctx, tx, after.AgreementID)
	if err != nil {
		return err
	}
	if predTenant != "" {
		ref := licenseRef{ID: after.LicenseID, Arn: after.LicenseArn, AccountID: after.AccountID, ProductCode: after.ProductCode}
		if err := s.attach(ctx, tx, now, predTenant, ref, marketplace.SourceLineage); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE tenants SET billing_license_id = ?, updated_at = ? WHERE tenant_id = ? AND billing_license_id = ?`,
			after.LicenseID, store.Millis(now), predTenant, pred)
		return err
	}
	return s.scheduleAuto(ctx, tx, now, after)
}

// predecessor walks an agreement's lineage back to the nearest earlier
// agreement whose license has a tenant.
func predecessor(ctx context.Context, tx *store.Tx, agreementID string) (licenseID, tenantID string, err error) {
	id := agreementID
	for range 50 {
		var prev sql.NullString
		err := tx.QueryRow(ctx, `SELECT previous_agreement_id FROM agreements WHERE agreement_id = ?`, id).Scan(&prev)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !prev.Valid) {
			return "", "", nil
		} else if err != nil {
			return "", "", fmt.Errorf("lineage of %s: %w", agreementID, err)
		}
		id = prev.String
		err = tx.QueryRow(ctx, `SELECT tl.license_id, tl.tenant_id FROM tenant_licenses tl JOIN licenses l ON l.license_id = tl.license_id
			WHERE l.agreement_id = ? ORDER BY tl.attached_at LIMIT 1`, id).Scan(&licenseID, &tenantID)
		if err == nil {
			return licenseID, tenantID, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return "", "", err
		}
	}
	return "", "", nil
}

// productFor returns the configuration of a license's product, by id or code;
// a product Concord was never told about gets the defaults.
func productFor(ctx context.Context, tx *store.Tx, productID, productCode string) (marketplace.Product, error) {
	if productCode != "" {
		p, ok, err := inbox.ProductByCode(ctx, tx, productCode)
		if err != nil || ok {
			return p, err
		}
	}
	if productID != "" {
		var code sql.NullString
		err := tx.QueryRow(ctx, `SELECT product_code FROM products WHERE product_id = ?`, productID).Scan(&code)
		if err == nil && code.Valid {
			p, ok, err := inbox.ProductByCode(ctx, tx, code.String)
			if err != nil || ok {
				return p, err
			}
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return marketplace.Product{}, err
		}
	}
	return marketplace.Product{ProductID: productID, ProductCode: productCode, Title: productCode}, nil
}

// ensureJob enqueues a job in tx.
func ensureJob(ctx context.Context, tx *store.Tx, now time.Time, kind string, args any, o job.Options) error {
	_, _, err := job.Enqueue(ctx, tx, now, kind, args, o)
	return err
}

// write runs fn in a write transaction fenced against the ledger's folds of
// licenses (store.DB.WriteFenced). On PostgreSQL folds run READ COMMITTED
// with key locks, which serializable checks do not cover, and registration
// and the fold's Hook meet on the same facts from two sides: a link made
// while a fold is in flight must be seen by that fold's Hook, or its license
// state must be seen by the link's announcement. The fence makes one of them
// come first: the link waits for folds in flight, and folds wait for the link.
func (s *Service) write(ctx context.Context, fn func(tx *store.Tx) error) error {
	return s.DB.WriteFenced(ctx, []string{"licenses"}, fn)
}
