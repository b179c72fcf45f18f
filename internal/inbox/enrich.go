package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// AgreementAPI is what enrichment needs from the AWS Marketplace Agreement API.
// internal/awsmp implements it with the official client.
type AgreementAPI interface {
	// DescribeAgreement returns the agreement and its accepted terms; an agreement
	// AWS does not know returns an error wrapping ErrAgreementNotFound.
	DescribeAgreement(ctx context.Context, agreementID string) (marketplace.AgreementDetails, error)
}

// ErrAgreementNotFound is wrapped by AgreementAPI for an unknown agreement id.
var ErrAgreementNotFound = errors.New("agreement not found")

// Enrich asks the Agreement API about one agreement, stores its terms, and folds
// what it said into the ledger as an agreement_described fact (which also
// establishes an agreement whose Created event never arrived).
func (l *Ledger) Enrich(ctx context.Context, api AgreementAPI, agreementID string) error {
	// The answer is stamped with when it was asked for: an answer asked for
	// later saw AWS's state at least as late.
	now := l.Now()
	d, err := api.DescribeAgreement(ctx, agreementID)
	if errors.Is(err, ErrAgreementNotFound) {
		return job.Permanent(fmt.Errorf("the Agreement API does not know agreement %s: %w", agreementID, err))
	} else if err != nil {
		return fmt.Errorf("describe agreement %s: %w", agreementID, err)
	}
	d.Fact.Kind, d.Fact.AgreementID, d.Fact.Time = marketplace.KindAgreementDescribed, agreementID, now
	if d.Fact.AutoRenewal == nil && d.Terms.AutoRenew != nil {
		// The accepted renewal term says whether the agreement renews: the
		// Manufacturer's Amended event (CPPO) does not carry autoRenewalEnabled.
		v := *d.Terms.AutoRenew
		d.Fact.AutoRenewal = &v
	}
	d.Fact.EventID = "described:" + agreementID
	fact, err := json.Marshal(d.Fact)
	if err != nil {
		return err
	}
	terms, err := json.Marshal(d.Terms)
	if err != nil {
		return err
	}
	var touched []string
	err = l.DB.Write(ctx, func(tx *store.Tx) error { // the fold takes its locks (see projector)
		touched = nil
		ms := store.Millis(now)
		// Only a newer answer replaces the stored one: a run of this job
		// that outlived its lease (a stalled or killed process) and commits
		// after the run that took it over must not put back what AWS said
		// before (issue 19: auto-renewal left stale by the crash tests).
		res, err := tx.Exec(ctx, `INSERT INTO inbox_events (id, door, source, detail_type, kind, event_time, received_at, agreement_id, fact, body, status)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET fact = excluded.fact, body = excluded.body,
			event_time = excluded.event_time, received_at = excluded.received_at WHERE inbox_events.event_time <= excluded.event_time`,
			d.Fact.EventID, DoorEnrichment, marketplace.SourceConcord, "Agreement Described", string(marketplace.KindAgreementDescribed),
			ms, ms, agreementID, string(fact), string(fact), StatusDeferred)
		if err != nil {
			return fmt.Errorf("store described agreement: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return nil // a newer answer is stored and folded already
		}
		p := l.newProjector(tx, now)
		p.enriching = agreementID
		if err := p.agreement(ctx, agreementID); err != nil {
			return err
		}
		if err := p.flush(ctx); err != nil {
			return err
		}
		touched = p.licenses
		_, err = tx.Exec(ctx, `UPDATE agreements SET terms = ?, terms_fetched_at = ? WHERE agreement_id = ?`, string(terms), ms, agreementID)
		return err
	})
	if err != nil {
		return fmt.Errorf("enrich agreement %s: %w", agreementID, err)
	}
	if l.OnApplied != nil && len(touched) > 0 {
		l.OnApplied(touched)
	}
	return nil
}

// Handlers registers the ledger's job handlers on r. api may be nil when no
// marketplace is configured; enrichment jobs then fail with a clear error.
func (l *Ledger) Handlers(r *job.Runner, api AgreementAPI) {
	r.Handle(JobEnrichAgreement, func(ctx context.Context, j *job.Job) error {
		var a EnrichArgs
		if err := json.Unmarshal(j.Args, &a); err != nil {
			return job.Permanent(fmt.Errorf("bad args: %w", err))
		}
		if api == nil {
			return errors.New("no Agreement API configured (set --marketplace)")
		}
		return l.Enrich(ctx, api, a.AgreementID)
	})
	r.Handle(JobRefreshLicense, func(ctx context.Context, j *job.Job) error {
		var a RefreshArgs
		if err := json.Unmarshal(j.Args, &a); err != nil {
			return job.Permanent(fmt.Errorf("bad args: %w", err))
		}
		return l.RefreshLicense(ctx, a.LicenseID)
	})
	r.Handle(JobReleaseEvent, func(ctx context.Context, j *job.Job) error {
		var a ReleaseArgs
		if err := json.Unmarshal(j.Args, &a); err != nil {
			return job.Permanent(fmt.Errorf("bad args: %w", err))
		}
		return l.Release(ctx, a.EventID)
	})
}
