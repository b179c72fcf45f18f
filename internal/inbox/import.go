package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// DoorBackfill is the door of licenses Concord learnt by a backfill (`concord
// backfill`: GetEntitlements or AWS's mapping CSV) rather than from an event.
// Replay keeps these facts as stored: there is no AWS body to parse again.
const DoorBackfill = "backfill"

// ImportStats says what Import did.
type ImportStats struct {
	// Created counts licenses the inbox had no imported fact for.
	Created int `json:"created"`
	// Updated counts imported facts whose content changed (and were re-folded).
	Updated int `json:"updated"`
	// Unchanged counts imported facts identical to the stored ones (not written).
	Unchanged int `json:"unchanged"`
	// Waiting counts imported licenses the ledger cannot hold yet because their
	// agreement is unknown; they fold when the agreement's events (or the
	// Agreement API enrichment scheduled for it) arrive.
	Waiting int `json:"waiting"`
}

// ImportEventID is the inbox id of the imported fact of one license: one row
// per license, so importing again updates it rather than adding another.
func ImportEventID(licenseID string) string { return "import:" + licenseID }

// Import stores license_imported facts (one per license) in the inbox and folds
// the licenses and agreements they touch, in one transaction: either every fact
// applies or none does. A fact identical to the stored one is not written, so
// importing the same mapping twice changes nothing. Each fact's EventID is set
// to ImportEventID; its Time is when Concord first learnt the license (kept
// from the stored fact on later imports, and now when zero).
func (l *Ledger) Import(ctx context.Context, facts []marketplace.Fact) (ImportStats, error) {
	facts, err := l.prepareImport(facts)
	if err != nil {
		return ImportStats{}, err
	}
	var st ImportStats
	var touched []string
	err = l.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		// An import may name more licenses than PostgreSQL has advisory
		// locks for one transaction: take the ledger whole (see projector).
		if err := tx.LockTables(ctx, ledgerTables...); err != nil {
			return err
		}
		st, touched = ImportStats{}, nil
		now := l.Now()
		ms := store.Millis(now)
		var changed []marketplace.Fact
		var left []string // agreements an updated fact no longer names
		for _, f := range facts {
			var stored string
			err := tx.QueryRow(ctx, `SELECT fact FROM inbox_events WHERE id = ?`, f.EventID).Scan(&stored)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				st.Created++
			case err != nil:
				return fmt.Errorf("load imported fact %s: %w", f.EventID, err)
			default:
				var old marketplace.Fact
				if err := json.Unmarshal([]byte(stored), &old); err != nil {
					return fmt.Errorf("decode imported fact %s: %w", f.EventID, err)
				}
				f.Time = old.Time
				if same, err := sameFact(old, f); err != nil {
					return err
				} else if same {
					st.Unchanged++
					continue
				}
				st.Updated++
				if old.AgreementID != "" && old.AgreementID != f.AgreementID {
					left = append(left, old.AgreementID)
				}
			}
			body, err := json.Marshal(f)
			if err != nil {
				return fmt.Errorf("encode fact: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO inbox_events (id, door, source, detail_type, kind, event_time, received_at, agreement_id, license_id, fact, body, status)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET fact = excluded.fact, body = excluded.body,
				agreement_id = excluded.agreement_id, license_id = excluded.license_id, received_at = excluded.received_at,
				status = excluded.status, note = NULL`,
				f.EventID, DoorBackfill, marketplace.SourceConcord, "License Imported", string(marketplace.KindLicenseImported),
				store.Millis(f.Time), ms, store.NullString(f.AgreementID), marketplace.LicenseID(f.LicenseArn), string(body), string(body), StatusDeferred); err != nil {
				return fmt.Errorf("store imported license %s: %w", f.LicenseArn, err)
			}
			changed = append(changed, f)
		}
		p := l.newProjector(tx, now)
		for _, f := range changed {
			if err := p.apply(ctx, f); err != nil {
				return err
			}
		}
		for _, id := range left {
			if err := p.agreement(ctx, id); err != nil {
				return err
			}
		}
		if err := p.flush(ctx); err != nil {
			return err
		}
		touched = p.licenses
		for _, f := range facts {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM licenses WHERE license_id = ?`, marketplace.LicenseID(f.LicenseArn)).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				st.Waiting++
			} else if err != nil {
				return fmt.Errorf("check license %s: %w", f.LicenseArn, err)
			}
		}
		return nil
	})
	if err != nil {
		return ImportStats{}, fmt.Errorf("import licenses: %w", err)
	}
	if l.OnApplied != nil && len(touched) > 0 {
		l.OnApplied(touched)
	}
	return st, nil
}

// prepareImport checks the facts and gives each its inbox id.
func (l *Ledger) prepareImport(in []marketplace.Fact) ([]marketplace.Fact, error) {
	out := make([]marketplace.Fact, 0, len(in))
	seen := map[string]bool{}
	now := l.Now().UTC()
	for i, f := range in {
		if f.Kind != marketplace.KindLicenseImported {
			return nil, marketplace.Errorf(marketplace.EInvalid, "fact %d is a %q fact: only %q facts can be imported", i, f.Kind, marketplace.KindLicenseImported)
		}
		for _, s := range []string{f.LicenseArn, f.AgreementID, f.AcceptorAccountID, f.ProductID, f.ProductCode, f.CustomerIdentifier} {
			if !marketplace.Storable(s) || len(s) > 2048 {
				return nil, marketplace.Errorf(marketplace.EInvalid, "fact %d holds text that cannot be stored (invalid UTF-8, NUL or too long)", i)
			}
		}
		id := marketplace.LicenseID(f.LicenseArn)
		if id == "" {
			return nil, marketplace.Errorf(marketplace.EInvalid, "fact %d has no LicenseArn", i)
		}
		if f.PreviousAgreementID != "" {
			return nil, marketplace.Errorf(marketplace.EInvalid, "imported license %s cannot name a previous agreement", f.LicenseArn)
		}
		if seen[id] {
			return nil, marketplace.Errorf(marketplace.EInvalid, "license %s is imported twice", f.LicenseArn)
		}
		seen[id] = true
		f.EventID = ImportEventID(id)
		if f.Time.IsZero() {
			f.Time = now
		}
		f.Time = f.Time.UTC()
		out = append(out, f)
	}
	return out, nil
}

// sameFact compares two facts as they are stored.
func sameFact(a, b marketplace.Fact) (bool, error) {
	a.Time, b.Time = a.Time.UTC(), b.Time.UTC()
	ja, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return string(ja) == string(jb), nil
}
