package registration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// OfferDetails are the registration details a private offer carried: the
// buyer's company and contact, and answers to the product's own questions.
type OfferDetails struct {
	OfferID     string            `json:"offerId"`
	Company     string            `json:"company" maxLength:"255"`
	ContactName string            `json:"contactName,omitempty" maxLength:"255"`
	Email       string            `json:"email,omitempty" maxLength:"320"`
	Fields      map[string]string `json:"fields,omitempty"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

func (d OfferDetails) answers() marketplace.Answers {
	a := marketplace.Answers{}
	for k, v := range d.Fields {
		a[k] = v
	}
	a[marketplace.FieldCompany], a[marketplace.FieldContactName], a[marketplace.FieldEmail] = d.Company, d.ContactName, d.Email
	return a
}

// PutOfferDetails stores the registration details of a private offer. If the
// buyer has accepted it and not registered, auto-registration is scheduled.
func (s *Service) PutOfferDetails(ctx context.Context, d OfferDetails) (OfferDetails, error) {
	err := s.write(ctx, func(tx *store.Tx) error {
		var err error
		d, err = s.PutOfferDetailsTx(ctx, tx, d, s.Now())
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Change{Object: "offer_registration", ObjectID: d.OfferID, Action: "offer.registration_details",
			After: d, Summary: "registration details of offer " + d.OfferID + " for " + d.Company})
	})
	return d, err
}

// PutOfferDetailsTx is PutOfferDetails inside the caller's transaction (the
// offers service stores a Concord offer's registration details as soon as
// its AWS offer id is known).
func (s *Service) PutOfferDetailsTx(ctx context.Context, tx *store.Tx, d OfferDetails, now time.Time) (OfferDetails, error) {
	if d.OfferID == "" || len(d.OfferID) > 255 {
		return d, marketplace.Errorf(marketplace.EInvalid, "offerId is required (at most 255 characters)")
	}
	if len(d.Fields) > 30 {
		return d, marketplace.Errorf(marketplace.EInvalid, "at most 30 fields")
	}
	// Only the company is required here: the offer's other details may not
	// cover every question, and a tenant needs only a name.
	if _, err := checkDetails(d.Company, d.ContactName, d.Email, d.Fields); err != nil {
		return d, err
	}
	if d.Fields == nil {
		d.Fields = map[string]string{}
	}
	d.UpdatedAt = now
	body, err := json.Marshal(d)
	if err != nil {
		return d, err
	}
	ms := store.Millis(now)
	if _, err := tx.Exec(ctx, `INSERT INTO offer_registrations (offer_id, details, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (offer_id) DO UPDATE SET details = excluded.details, updated_at = excluded.updated_at`, d.OfferID, string(body), ms, ms); err != nil {
		return d, fmt.Errorf("store offer registration details: %w", err)
	}
	ids, err := store.QueryAll(ctx, tx, store.ScanString, `SELECT l.license_id FROM licenses l JOIN agreements a ON a.agreement_id = l.agreement_id
		WHERE a.offer_id = ? AND l.state IN ('pending', 'active') AND NOT EXISTS (SELECT 1 FROM tenant_licenses tl WHERE tl.license_id = l.license_id)`, d.OfferID)
	if err != nil {
		return d, err
	}
	for _, id := range ids {
		l, ok, err := inbox.LoadLicense(ctx, tx, id)
		if err != nil {
			return d, err
		}
		if ok {
			if err := s.scheduleAuto(ctx, tx, now, l); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

// GetOfferDetails returns the registration details stored for an offer.
func (s *Service) GetOfferDetails(ctx context.Context, offerID string) (OfferDetails, error) {
	var d OfferDetails
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var ok bool
		var err error
		d, ok, err = offerDetails(ctx, tx, offerID)
		if err == nil && !ok {
			return marketplace.Errorf(marketplace.ENotFound, "no registration details for offer %s", offerID)
		}
		return err
	})
	return d, err
}

// OfferDetailsTx reads an AWS offer's registration details in tx (the New
// Order notification carries them); ok is false when it has none.
func OfferDetailsTx(ctx context.Context, tx *store.Tx, offerID string) (d OfferDetails, ok bool, err error) {
	return offerDetails(ctx, tx, offerID)
}

func offerDetails(ctx context.Context, tx *store.Tx, offerID string) (OfferDetails, bool, error) {
	var d OfferDetails
	if offerID == "" {
		return d, false, nil
	}
	var body string
	err := tx.QueryRow(ctx, `SELECT details FROM offer_registrations WHERE offer_id = ?`, offerID).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	} else if err != nil {
		return d, false, fmt.Errorf("load offer registration details: %w", err)
	}
	return d, true, json.Unmarshal([]byte(body), &d)
}

// agreementInfo is what auto-registration reads of a license's agreement.
type agreementInfo struct {
	offerID  string
	accepted *time.Time
}

func loadAgreementInfo(ctx context.Context, tx *store.Tx, id string) (agreementInfo, error) {
	var a agreementInfo
	var acc sql.NullInt64
	err := tx.QueryRow(ctx, `SELECT offer_id, acceptance_time FROM agreements WHERE agreement_id = ?`, id).Scan(&a.offerID, &acc)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil
	}
	a.accepted = store.FromNullMillis(acc)
	return a, err
}

// scheduleAuto queues the auto-registration of an unregistered license whose
// private offer carried registration details, for the product's delay after
// the buyer accepted.
func (s *Service) scheduleAuto(ctx context.Context, tx *store.Tx, now time.Time, l marketplace.License) error {
	if l.State != marketplace.LicensePending && l.State != marketplace.LicenseActive {
		return nil
	}
	a, err := loadAgreementInfo(ctx, tx, l.AgreementID)
	if err != nil {
		return err
	}
	if _, ok, err := offerDetails(ctx, tx, a.offerID); err != nil || !ok {
		return err
	}
	p, err := productFor(ctx, tx, l.ProductID, l.ProductCode)
	if err != nil {
		return err
	}
	delay, ok := p.Registration.AutoRegisterDelay()
	if !ok {
		return nil
	}
	return ensureJob(ctx, tx, now, JobAutoRegister, autoArgs{LicenseID: l.LicenseID},
		job.Options{UniqueKey: "autoreg:" + l.LicenseID, RunAt: autoDue(a, l, now, delay)})
}

// autoDue is when a license is auto-registered: the delay after the buyer
// accepted (or, failing that, after the license was first active).
func autoDue(a agreementInfo, l marketplace.License, now time.Time, delay time.Duration) time.Time {
	from := now
	if a.accepted != nil {
		from = *a.accepted
	} else if l.ActivatedAt != nil {
		from = *l.ActivatedAt
	}
	return from.Add(delay)
}

type autoArgs struct {
	LicenseID string `json:"licenseId"`
}

// AutoRegister registers a license from its private offer's registration
// details if the buyer has not registered it. It does nothing for a license
// that has a tenant by now.
func (s *Service) AutoRegister(ctx context.Context, licenseID string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		now := s.Now()
		if owner, _, err := tenantOfLicense(ctx, tx, licenseID); err != nil || owner != "" {
			return err
		}
		l, ok, err := inbox.LoadLicense(ctx, tx, licenseID)
		if err != nil || !ok || (l.State != marketplace.LicenseActive && l.State != marketplace.LicensePending) {
			return err
		}
		a, err := loadAgreementInfo(ctx, tx, l.AgreementID)
		if err != nil {
			return err
		}
		d, ok, err := offerDetails(ctx, tx, a.offerID)
		if err != nil || !ok {
			return err
		}
		p, err := productFor(ctx, tx, l.ProductID, l.ProductCode)
		if err != nil {
			return err
		}
		// The vendor may have changed the delay (or turned it off) since the
		// job was queued: follow the setting as it is now.
		delay, on := p.Registration.AutoRegisterDelay()
		if !on {
			return nil
		}
		if due := autoDue(a, l, now, delay); now.Before(due) {
			// Runs again at the later time (the key is this running job's).
			return ensureJob(ctx, tx, now, JobAutoRegister, autoArgs{LicenseID: l.LicenseID},
				job.Options{UniqueKey: "autoreg:" + l.LicenseID, RunAt: due})
		}
		ref := licenseRef{ID: l.LicenseID, Arn: l.LicenseArn, AccountID: l.AccountID, ProductCode: l.ProductCode}
		if p.Registration.Normalized().Strategy == marketplace.StrategyUnified {
			existing, err := tenantsOf(ctx, tx, l.AccountID, l.ProductCode)
			if err != nil {
				return err
			}
			if len(existing) > 0 {
				return s.attach(ctx, tx, now, existing[0].TenantID, ref, marketplace.SourceAuto)
			}
		}
		answers := marketplace.Answers{}
		for k, v := range d.answers() {
			if v != "" {
				answers[k] = v
			}
		}
		id, err := s.newTenant(ctx, tx, now, p, ref, answers, marketplace.SourceAuto)
		if err == nil {
			s.Logger.Info("registered a buyer from the private offer's registration details", "tenant", id, "license", l.LicenseArn, "offer", a.offerID)
		}
		return err
	})
}

// Handlers registers the registration jobs.
func (s *Service) Handlers(r *job.Runner) {
	r.Handle(JobAutoRegister, func(ctx context.Context, j *job.Job) error {
		var a autoArgs
		if err := json.Unmarshal(j.Args, &a); err != nil {
			return job.Permanent(fmt.Errorf("bad args: %w", err))
		}
		return s.AutoRegister(ctx, a.LicenseID)
	})
}
