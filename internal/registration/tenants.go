package registration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// TenantFilter selects tenants.
type TenantFilter struct {
	AccountID   string
	ProductCode string
	Cursor      string // the last tenant id of the previous page
	Limit       int
}

// ListTenants lists tenants by id, with their licenses.
func (s *Service) ListTenants(ctx context.Context, f TenantFilter) ([]marketplace.Tenant, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	q, args := `SELECT `+tenantColumns+` FROM tenants WHERE tenant_id > ?`, []any{f.Cursor}
	if f.AccountID != "" {
		q, args = q+` AND account_id = ?`, append(args, f.AccountID)
	}
	if f.ProductCode != "" {
		q, args = q+` AND product_code = ?`, append(args, f.ProductCode)
	}
	var out []marketplace.Tenant
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = queryTenants(ctx, tx, q+` ORDER BY tenant_id LIMIT ?`, append(args, f.Limit)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetTenant returns a tenant with its licenses.
func (s *Service) GetTenant(ctx context.Context, id string) (marketplace.Tenant, error) {
	var t marketplace.Tenant
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		t, err = loadTenant(ctx, tx, id)
		return err
	})
	return t, err
}

// TenantOfLicense returns the tenant a license (LicenseArn or l-id) belongs to.
func (s *Service) TenantOfLicense(ctx context.Context, license string) (marketplace.Tenant, error) {
	var t marketplace.Tenant
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		id, _, err := tenantOfLicense(ctx, tx, marketplace.LicenseID(license))
		if err != nil {
			return err
		}
		if id == "" {
			return marketplace.Errorf(marketplace.ENotFound, "license %s has no tenant", license)
		}
		t, err = loadTenant(ctx, tx, id)
		return err
	})
	return t, err
}

// TenantUpdate changes a tenant's registration data; nil fields stay.
type TenantUpdate struct {
	Company     *string           `json:"company,omitempty" maxLength:"255"`
	ContactName *string           `json:"contactName,omitempty" maxLength:"255"`
	Email       *string           `json:"email,omitempty" maxLength:"320"`
	Fields      map[string]string `json:"fields,omitempty" doc:"Replaces the custom field answers when present."`
}

// UpdateTenant changes a tenant's company, contact or custom answers.
func (s *Service) UpdateTenant(ctx context.Context, id string, u TenantUpdate) (marketplace.Tenant, error) {
	var t marketplace.Tenant
	err := s.write(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = loadTenant(ctx, tx, id); err != nil {
			return err
		}
		before := t
		if u.Company != nil {
			t.Company = *u.Company
		}
		if u.ContactName != nil {
			t.ContactName = *u.ContactName
		}
		if u.Email != nil {
			t.Email = *u.Email
		}
		if u.Fields != nil {
			t.Fields = u.Fields
		}
		if _, err := checkDetails(t.Company, t.ContactName, t.Email, t.Fields); err != nil {
			return err
		}
		body, err := json.Marshal(t.Fields)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tenants SET company = ?, contact_name = ?, email = ?, fields = ?, updated_at = ? WHERE tenant_id = ?`,
			t.Company, t.ContactName, t.Email, string(body), store.Millis(s.Now()), id); err != nil {
			return fmt.Errorf("update tenant: %w", err)
		}
		if t, err = loadTenant(ctx, tx, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Change{Object: "tenant", ObjectID: id, Action: "tenant.update", Before: before, After: t, Summary: "tenant " + t.Company})
	})
	return t, err
}

// SetBillingLicense makes one of the tenant's licenses the one usage is billed
// to by default.
func (s *Service) SetBillingLicense(ctx context.Context, tenantID, license string) (marketplace.Tenant, error) {
	var t marketplace.Tenant
	err := s.write(ctx, func(tx *store.Tx) error {
		lid := marketplace.LicenseID(license)
		owner, _, err := tenantOfLicense(ctx, tx, lid)
		if err != nil {
			return err
		}
		if _, err := loadTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		if owner != tenantID {
			return marketplace.Errorf(marketplace.EInvalid, "license %s is not one of tenant %s's licenses", license, tenantID)
		}
		if _, err := tx.Exec(ctx, `UPDATE tenants SET billing_license_id = ?, updated_at = ? WHERE tenant_id = ?`, lid, store.Millis(s.Now()), tenantID); err != nil {
			return err
		}
		s.changed(tx, tenantID)
		if t, err = loadTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Change{Object: "tenant", ObjectID: tenantID, Action: "tenant.billing_license", Summary: "billing license " + lid})
	})
	return t, err
}

// AttachLicense attaches a license the ledger knows to a tenant of the same
// AWS account (the vendor's own migrations and support cases). The account is
// taken from the ledger, never from the caller.
func (s *Service) AttachLicense(ctx context.Context, tenantID, license string) (marketplace.Tenant, error) {
	var t marketplace.Tenant
	err := s.write(ctx, func(tx *store.Tx) error {
		now := s.Now()
		var err error
		if t, err = loadTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		l, ok, err := inbox.LoadLicense(ctx, tx, marketplace.LicenseID(license))
		if err != nil {
			return err
		}
		if !ok {
			return marketplace.Errorf(marketplace.ENotFound, "license %s not found: it can be attached once its events have arrived", license)
		}
		if l.AccountID != t.AccountID {
			return marketplace.Errorf(marketplace.EInvalid, "license %s belongs to AWS account %s, not to the tenant's account %s", license, l.AccountID, t.AccountID)
		}
		if l.ProductCode != t.ProductCode {
			return marketplace.Errorf(marketplace.EInvalid, "license %s is for product code %s, not the tenant's %s", license, l.ProductCode, t.ProductCode)
		}
		if err := s.attach(ctx, tx, now, tenantID, licenseRef{ID: l.LicenseID, Arn: l.LicenseArn, AccountID: l.AccountID, ProductCode: l.ProductCode}, marketplace.SourceAPI); err != nil {
			return err
		}
		if t, err = loadTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Change{Object: "tenant", ObjectID: tenantID, Action: "tenant.attach_license", Summary: "attached license " + l.LicenseArn})
	})
	return t, err
}

// BillingLicense picks the license a usage record is billed to: override when
// given (it must be one of the tenant's licenses), else the tenant's billing
// license.
func BillingLicense(ctx context.Context, tx *store.Tx, tenantID, override string) (string, error) {
	if override != "" {
		lid := marketplace.LicenseID(override)
		owner, _, err := tenantOfLicense(ctx, tx, lid)
		if err != nil {
			return "", err
		}
		if owner != tenantID {
			return "", marketplace.Errorf(marketplace.EInvalid, "license %s is not one of tenant %s's licenses", override, tenantID)
		}
		return lid, nil
	}
	t, err := loadTenant(ctx, tx, tenantID)
	if err != nil {
		return "", err
	}
	if t.BillingLicenseID == "" {
		return "", marketplace.Errorf(marketplace.EInvalid, "tenant %s has no billing license", tenantID)
	}
	return t.BillingLicenseID, nil
}

// Pending is a license that has no tenant yet, with the time left of the 48
// hours AWS expects registration to take.
type Pending struct {
	LicenseID   string     `json:"licenseId"`
	LicenseArn  string     `json:"licenseArn"`
	AccountID   string     `json:"accountId"`
	ProductID   string     `json:"productId,omitempty"`
	ProductCode string     `json:"productCode,omitempty"`
	AgreementID string     `json:"agreementId,omitempty"`
	OfferID     string     `json:"offerId,omitempty"`
	State       string     `json:"state" doc:"The license state, or unknown when the buyer started registering before its events arrived."`
	Since       time.Time  `json:"since" doc:"When the buyer accepted (or the license or registration was first seen)."`
	Deadline    time.Time  `json:"deadline"`
	TimeLeft    string     `json:"timeLeft" doc:"Until the deadline, e.g. 47h12m; negative when overdue."`
	Overdue     bool       `json:"overdue"`
	Started     *time.Time `json:"started,omitempty" doc:"When the buyer opened the registration page, if they did."`
	AutoAt      *time.Time `json:"autoRegisterAt,omitempty" doc:"When Concord registers the buyer from the offer's registration details."`
}

// ListPending lists licenses waiting for registration, oldest first: licenses
// in force without a tenant, and registrations started before the license's
// events arrived. Backfilled licenses are existing customers, registered
// before Concord, and are not listed (CreateTenant links them).
func (s *Service) ListPending(ctx context.Context) ([]Pending, error) {
	now := s.Now()
	var out []Pending
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		inForce, err := store.QueryAll(ctx, tx, func(r store.Scanner) (Pending, error) {
			var p Pending
			var since int64
			var started, auto sql.NullInt64
			err := r.Scan(&p.LicenseID, &p.LicenseArn, &p.AccountID, &p.ProductID, &p.ProductCode, &p.AgreementID, &p.State, &p.OfferID, &since, &started, &auto)
			p.Since, p.Started, p.AutoAt = store.FromMillis(since), store.FromNullMillis(started), store.FromNullMillis(auto)
			return p, err
		}, `SELECT l.license_id, l.license_arn, l.account_id, l.product_id, l.product_code, l.agreement_id, l.state,
			COALESCE(a.offer_id, ''), COALESCE(a.acceptance_time, l.activated_at, l.updated_at),
			(SELECT MIN(rs.created_at) FROM registration_sessions rs WHERE rs.license_id = l.license_id),
			(SELECT MIN(j.run_at) FROM jobs j WHERE j.unique_key = 'autoreg:' || l.license_id AND j.state = 'available')
			FROM licenses l LEFT JOIN agreements a ON a.agreement_id = l.agreement_id
			WHERE l.state IN ('pending', 'active') AND NOT EXISTS (SELECT 1 FROM tenant_licenses tl WHERE tl.license_id = l.license_id)
			AND NOT EXISTS (SELECT 1 FROM inbox_events ie WHERE ie.license_id = l.license_id AND ie.kind = 'license_imported')
			ORDER BY 9, l.license_id LIMIT 1000`)
		if err != nil {
			return err
		}
		// Registrations started before the license's events arrived.
		early, err := store.QueryAll(ctx, tx, func(r store.Scanner) (Pending, error) {
			var p Pending
			var since int64
			err := r.Scan(&p.LicenseID, &p.LicenseArn, &p.AccountID, &p.ProductCode, &since)
			p.State, p.Since = marketplace.LicenseUnknown, store.FromMillis(since)
			started := p.Since
			p.Started = &started
			return p, err
		}, `SELECT rs.license_id, MIN(rs.license_arn), MIN(rs.account_id), MIN(rs.product_code), MIN(rs.created_at) FROM registration_sessions rs
			WHERE rs.completed_at IS NULL AND NOT EXISTS (SELECT 1 FROM licenses l WHERE l.license_id = rs.license_id)
			AND NOT EXISTS (SELECT 1 FROM tenant_licenses tl WHERE tl.license_id = rs.license_id)
			GROUP BY rs.license_id ORDER BY 5 LIMIT 1000`)
		out = append(inForce, early...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list pending registrations: %w", err)
	}
	for i := range out {
		p := &out[i]
		p.Deadline = p.Since.Add(PendingWindow)
		left := p.Deadline.Sub(now).Round(time.Minute)
		p.TimeLeft, p.Overdue = left.String(), left < 0
	}
	return out, nil
}

// checkDetails validates registration details given through the API (an
// offer's details, a tenant edit, a tenant for an existing customer): only the
// company is required, the email must be one, custom keys must be field keys.
// It returns the cleaned answers.
func checkDetails(company, contactName, email string, custom map[string]string) (marketplace.Answers, error) {
	if err := checkFieldKeys(custom); err != nil {
		return nil, err
	}
	answers := marketplace.Answers{marketplace.FieldCompany: company, marketplace.FieldContactName: contactName, marketplace.FieldEmail: email}
	fields := []marketplace.RegistrationField{{Key: marketplace.FieldCompany, Label: "company", Type: "text", Required: true},
		{Key: marketplace.FieldContactName, Label: "contactName", Type: "text"}, {Key: marketplace.FieldEmail, Label: "email", Type: "email"}}
	for k, v := range custom {
		answers[k] = v
		fields = append(fields, marketplace.RegistrationField{Key: k, Label: k, Type: "text"})
	}
	clean, problems := (marketplace.Registration{Fields: fields}).Check(answers)
	for _, f := range fields {
		if p, ok := problems[f.Key]; ok {
			return nil, marketplace.Errorf(marketplace.EInvalid, "%s", p)
		}
	}
	return clean, nil
}

// checkFieldKeys refuses custom answer keys the registration page could not
// have asked for.
func checkFieldKeys(fields map[string]string) error {
	for k := range fields {
		if !marketplace.ValidFieldKey(k) {
			return marketplace.Errorf(marketplace.EInvalid, "field key %q is invalid: start with a letter, then letters, digits or _ (at most 64)", k)
		}
		switch k {
		case marketplace.FieldCompany, marketplace.FieldContactName, marketplace.FieldEmail:
			return marketplace.Errorf(marketplace.EInvalid, "%s is a tenant column, not a custom field", k)
		}
	}
	return nil
}

// NewTenant creates a tenant for an existing customer, as the vendor knows it,
// holding licenses the ledger knows (for example after a backfill). Every
// license must belong to the account and product code; none may have a tenant.
type NewTenant struct {
	AccountID   string            `json:"accountId" pattern:"^[0-9]{12}$"`
	ProductCode string            `json:"productCode" minLength:"1" maxLength:"255"`
	Company     string            `json:"company" minLength:"1" maxLength:"255"`
	ContactName string            `json:"contactName,omitempty" maxLength:"255"`
	Email       string            `json:"email,omitempty" maxLength:"320"`
	Fields      map[string]string `json:"fields,omitempty"`
	Licenses    []string          `json:"licenses" minItems:"1" maxItems:"100" doc:"LicenseArns or l-… ids; the first is the billing license."`
}

// CreateTenant creates a tenant through the API (source api) and sends
// tenant.created and the state of each license.
func (s *Service) CreateTenant(ctx context.Context, in NewTenant) (marketplace.Tenant, error) {
	clean, err := checkDetails(in.Company, in.ContactName, in.Email, in.Fields)
	if err != nil {
		return marketplace.Tenant{}, err
	}
	if !marketplace.ValidAccountID(in.AccountID) || len(in.Licenses) == 0 {
		return marketplace.Tenant{}, marketplace.Errorf(marketplace.EInvalid, "a 12-digit accountId and at least one license are required")
	}
	var t marketplace.Tenant
	err = s.write(ctx, func(tx *store.Tx) error {
		now := s.Now()
		p, err := productFor(ctx, tx, "", in.ProductCode)
		if err != nil {
			return err
		}
		var refs []licenseRef
		for _, arn := range in.Licenses {
			l, ok, err := inbox.LoadLicense(ctx, tx, marketplace.LicenseID(arn))
			if err != nil {
				return err
			}
			switch {
			case !ok:
				return marketplace.Errorf(marketplace.EInvalid, "license %s is not in the ledger (backfill it first, or wait for its events)", arn)
			case l.AccountID != in.AccountID || l.ProductCode != in.ProductCode:
				return marketplace.Errorf(marketplace.EInvalid, "license %s belongs to account %s and product code %s", arn, l.AccountID, l.ProductCode)
			}
			refs = append(refs, licenseRef{ID: l.LicenseID, Arn: l.LicenseArn, AccountID: l.AccountID, ProductCode: l.ProductCode})
		}
		id, err := s.newTenant(ctx, tx, now, p, refs[0], clean, marketplace.SourceAPI)
		if err != nil {
			return err
		}
		for _, ref := range refs[1:] {
			if err := s.attach(ctx, tx, now, id, ref, marketplace.SourceAPI); err != nil {
				return err
			}
		}
		if t, err = loadTenant(ctx, tx, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Change{Object: "tenant", ObjectID: id, Action: "tenant.create", After: t, Summary: "created tenant " + t.Company})
	})
	return t, err
}
