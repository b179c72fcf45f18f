package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Page bounds a list: at most Limit rows after the Cursor (the last id seen).
type Page struct {
	Limit  int
	Cursor string
}

func (p Page) limit() int {
	if p.Limit <= 0 {
		return 100
	}
	return min(p.Limit, 500)
}

type where struct {
	clauses []string
	args    []any
}

func (w *where) add(clause string, v string) {
	if v != "" {
		w.clauses = append(w.clauses, clause)
		w.args = append(w.args, v)
	}
}

func (w *where) sql() string {
	if len(w.clauses) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.clauses, " AND ")
}

// AgreementFilter selects agreements.
type AgreementFilter struct {
	AccountID string
	ProductID string
	Status    string
	Page
}

const agreementColumns = `agreement_id, initial_agreement_id, previous_agreement_id, next_agreement_id, intent, status, acceptance_time,
	start_time, end_time, ended_at, acceptor_account_id, proposer_account_id, manufacturer_account_id, resale_authorization_id,
	offer_id, product_id, auto_renewal, terms, terms_fetched_at, last_event_time, updated_at`

// LoadAgreement reads one agreement as the ledger holds it, terms included.
func LoadAgreement(ctx context.Context, tx *store.Tx, id string) (marketplace.Agreement, bool, error) {
	a, err := scanAgreement(tx.QueryRow(ctx, `SELECT `+agreementColumns+` FROM agreements WHERE agreement_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	} else if err != nil {
		return a, false, fmt.Errorf("load agreement %s: %w", id, err)
	}
	return a, true, nil
}

func scanAgreement(r store.Scanner) (marketplace.Agreement, error) {
	var a marketplace.Agreement
	var prev, next, terms sql.NullString
	var acc, start, end, ended, fetched sql.NullInt64
	var auto sql.NullBool
	var last, upd int64
	err := r.Scan(&a.AgreementID, &a.InitialAgreementID, &prev, &next, &a.Intent, &a.Status, &acc, &start, &end, &ended,
		&a.AcceptorAccountID, &a.ProposerAccountID, &a.ManufacturerAccountID, &a.ResaleAuthorizationID, &a.OfferID, &a.ProductID,
		&auto, &terms, &fetched, &last, &upd)
	if err != nil {
		return a, err
	}
	a.PreviousAgreementID, a.NextAgreementID = prev.String, next.String
	a.AcceptanceTime, a.StartTime, a.EndTime, a.EndedAt = store.FromNullMillis(acc), store.FromNullMillis(start), store.FromNullMillis(end), store.FromNullMillis(ended)
	if auto.Valid {
		a.AutoRenewal = &auto.Bool
	}
	if terms.Valid {
		a.Terms = json.RawMessage(terms.String)
	}
	a.TermsFetchedAt = store.FromNullMillis(fetched)
	a.LastEventTime, a.UpdatedAt = store.FromMillis(last), store.FromMillis(upd)
	return a, nil
}

// ListAgreements lists agreements by id.
func (l *Ledger) ListAgreements(ctx context.Context, f AgreementFilter) ([]marketplace.Agreement, error) {
	if f.Status != "" && f.Status != marketplace.StatusActive && !marketplace.IsTerminalStatus(f.Status) {
		return nil, marketplace.Errorf(marketplace.EInvalid, "status %q is not an agreement status (ACTIVE, CANCELLED, EXPIRED, RENEWED, REPLACED, TERMINATED, ...)", f.Status)
	}
	w := &where{}
	w.add("acceptor_account_id = ?", f.AccountID)
	w.add("product_id = ?", f.ProductID)
	w.add("status = ?", f.Status)
	w.add("agreement_id > ?", f.Cursor)
	var out []marketplace.Agreement
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, scanAgreement, `SELECT `+agreementColumns+` FROM agreements`+w.sql()+` ORDER BY agreement_id LIMIT ?`, append(w.args, f.limit())...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list agreements: %w", err)
	}
	return out, nil
}

// AgreementDetail is an agreement with its lineage and licenses.
type AgreementDetail struct {
	marketplace.Agreement
	// Lineage is the whole chain from the initial agreement, oldest first.
	Lineage  []LineageLink         `json:"lineage"`
	Licenses []marketplace.License `json:"licenses"`
}

// LineageLink is one agreement of a chain of renewals and amendments.
type LineageLink struct {
	AgreementID string     `json:"agreementId"`
	Intent      string     `json:"intent"`
	Status      string     `json:"status"`
	StartTime   *time.Time `json:"startTime,omitempty"`
	EndTime     *time.Time `json:"endTime,omitempty"`
}

// GetAgreement returns one agreement with its lineage, terms and licenses.
func (l *Ledger) GetAgreement(ctx context.Context, id string) (AgreementDetail, error) {
	var d AgreementDetail
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		a, err := scanAgreement(tx.QueryRow(ctx, `SELECT `+agreementColumns+` FROM agreements WHERE agreement_id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "agreement %s not found", id)
		} else if err != nil {
			return err
		}
		d.Agreement = a
		chain, err := store.QueryAll(ctx, tx, scanAgreement, `SELECT `+agreementColumns+` FROM agreements WHERE initial_agreement_id = ? ORDER BY acceptance_time, start_time, agreement_id`, a.InitialAgreementID)
		if err != nil {
			return err
		}
		d.Lineage = []LineageLink{}
		for _, x := range chain {
			d.Lineage = append(d.Lineage, LineageLink{AgreementID: x.AgreementID, Intent: x.Intent, Status: x.Status, StartTime: x.StartTime, EndTime: x.EndTime})
		}
		d.Licenses, err = listLicenses(ctx, tx, LicenseFilter{AgreementID: id, Page: Page{Limit: 500}})
		return err
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return d, fmt.Errorf("get agreement: %w", err)
	}
	return d, err
}

// LicenseFilter selects licenses.
type LicenseFilter struct {
	AccountID   string
	ProductID   string
	AgreementID string
	State       string
	Page
}

const licenseColumns = `license_id, license_arn, agreement_id, product_id, product_code, account_id, customer_identifier, state, activated_at, starts_at,
	ending_at, deprovisioned_at, updated_at`

func scanLicense(r store.Scanner) (marketplace.License, error) {
	var l marketplace.License
	var act, starts, ending, dep sql.NullInt64
	var upd int64
	err := r.Scan(&l.LicenseID, &l.LicenseArn, &l.AgreementID, &l.ProductID, &l.ProductCode, &l.AccountID, &l.CustomerIdentifier, &l.State, &act, &starts, &ending, &dep, &upd)
	l.ActivatedAt, l.StartsAt, l.EndingAt, l.DeprovisionedAt = store.FromNullMillis(act), store.FromNullMillis(starts), store.FromNullMillis(ending), store.FromNullMillis(dep)
	l.UpdatedAt = store.FromMillis(upd)
	return l, err
}

func listLicenses(ctx context.Context, tx *store.Tx, f LicenseFilter) ([]marketplace.License, error) {
	if f.State != "" && !marketplace.ValidLicenseState(f.State) {
		return nil, marketplace.Errorf(marketplace.EInvalid, "state %q is invalid: use pending, active, ending or deprovisioned", f.State)
	}
	w := &where{}
	w.add("account_id = ?", f.AccountID)
	w.add("product_id = ?", f.ProductID)
	w.add("agreement_id = ?", f.AgreementID)
	w.add("state = ?", f.State)
	w.add("license_id > ?", f.Cursor)
	return store.QueryAll(ctx, tx, scanLicense, `SELECT `+licenseColumns+` FROM licenses`+w.sql()+` ORDER BY license_id LIMIT ?`, append(w.args, f.limit())...)
}

// ListLicenses lists licenses by license id.
func (l *Ledger) ListLicenses(ctx context.Context, f LicenseFilter) ([]marketplace.License, error) {
	var out []marketplace.License
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = listLicenses(ctx, tx, f)
		return err
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return nil, fmt.Errorf("list licenses: %w", err)
	}
	return out, err
}

// GetLicense returns a license by its LicenseArn (any documented spelling) or id.
func (l *Ledger) GetLicense(ctx context.Context, arnOrID string) (marketplace.License, error) {
	var lic marketplace.License
	id := marketplace.LicenseID(arnOrID)
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		var found bool
		var err error
		lic, found, err = LoadLicense(ctx, tx, id)
		if err == nil && !found {
			return marketplace.Errorf(marketplace.ENotFound, "license %s not found", arnOrID)
		}
		return err
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return lic, fmt.Errorf("get license: %w", err)
	}
	return lic, err
}

// BuyerSummary is a buyer with counts of what it holds.
type BuyerSummary struct {
	marketplace.Buyer
	ActiveAgreements int `json:"activeAgreements"`
	ActiveLicenses   int `json:"activeLicenses"`
}

// ListBuyers lists buyers by account id; productID keeps buyers with an agreement
// or license for that product.
func (l *Ledger) ListBuyers(ctx context.Context, productID string, p Page) ([]BuyerSummary, error) {
	w := &where{}
	w.add("b.account_id > ?", p.Cursor)
	if productID != "" {
		w.clauses = append(w.clauses, "(EXISTS (SELECT 1 FROM agreements a WHERE a.acceptor_account_id = b.account_id AND a.product_id = ?) OR EXISTS (SELECT 1 FROM licenses l WHERE l.account_id = b.account_id AND l.product_id = ?))")
		w.args = append(w.args, productID, productID)
	}
	out := []BuyerSummary{}
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT b.account_id, b.first_seen_at, b.updated_at,
			(SELECT COUNT(*) FROM agreements a WHERE a.acceptor_account_id = b.account_id AND a.status = 'ACTIVE'),
			(SELECT COUNT(*) FROM licenses l WHERE l.account_id = b.account_id AND l.state = 'active')
			FROM buyers b`+w.sql()+` ORDER BY b.account_id LIMIT ?`, append(w.args, p.limit())...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s BuyerSummary
			var first, upd int64
			if err := rows.Scan(&s.AccountID, &first, &upd, &s.ActiveAgreements, &s.ActiveLicenses); err != nil {
				return err
			}
			s.FirstSeenAt, s.UpdatedAt = store.FromMillis(first), store.FromMillis(upd)
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list buyers: %w", err)
	}
	return out, nil
}

// BuyerDetail is a buyer's holdings per product: under Concurrent Agreements one
// account may hold several active agreements and licenses for the same product.
type BuyerDetail struct {
	marketplace.Buyer
	Products []BuyerProduct `json:"products"`
}

// BuyerProduct groups one buyer's agreements and licenses for one product.
type BuyerProduct struct {
	ProductID string `json:"productId"`
	// ConcurrentActive counts the buyer's ACTIVE agreements for the product.
	ConcurrentActive int                     `json:"concurrentActive"`
	Agreements       []marketplace.Agreement `json:"agreements"`
	Licenses         []marketplace.License   `json:"licenses"`
}

// GetBuyer returns one buyer with its agreements and licenses grouped by product.
func (l *Ledger) GetBuyer(ctx context.Context, accountID string) (BuyerDetail, error) {
	var d BuyerDetail
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		var first, upd int64
		err := tx.QueryRow(ctx, `SELECT account_id, first_seen_at, updated_at FROM buyers WHERE account_id = ?`, accountID).Scan(&d.AccountID, &first, &upd)
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "buyer %s not found", accountID)
		} else if err != nil {
			return err
		}
		d.FirstSeenAt, d.UpdatedAt = store.FromMillis(first), store.FromMillis(upd)
		byProduct := map[string]*BuyerProduct{}
		get := func(id string) *BuyerProduct {
			if byProduct[id] == nil {
				byProduct[id] = &BuyerProduct{ProductID: id, Agreements: []marketplace.Agreement{}, Licenses: []marketplace.License{}}
			}
			return byProduct[id]
		}
		agreements, err := store.QueryAll(ctx, tx, scanAgreement, `SELECT `+agreementColumns+` FROM agreements WHERE acceptor_account_id = ? ORDER BY product_id, agreement_id`, accountID)
		if err != nil {
			return err
		}
		for _, a := range agreements {
			bp := get(a.ProductID)
			bp.Agreements = append(bp.Agreements, a)
			if a.Status == marketplace.StatusActive {
				bp.ConcurrentActive++
			}
		}
		lics, err := listLicenses(ctx, tx, LicenseFilter{AccountID: accountID, Page: Page{Limit: 500}})
		if err != nil {
			return err
		}
		for _, lic := range lics {
			bp := get(lic.ProductID)
			bp.Licenses = append(bp.Licenses, lic)
		}
		d.Products = []BuyerProduct{}
		for _, bp := range byProduct {
			d.Products = append(d.Products, *bp)
		}
		sortProducts(d.Products)
		return nil
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return d, fmt.Errorf("get buyer: %w", err)
	}
	return d, err
}

func sortProducts(ps []BuyerProduct) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].ProductID < ps[j-1].ProductID; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// StoredEvent is an inbox row as the API shows it.
type StoredEvent struct {
	ID          string          `json:"id"`
	RequestID   string          `json:"requestId,omitempty"`
	Door        string          `json:"door"`
	Source      string          `json:"source"`
	DetailType  string          `json:"detailType"`
	Kind        string          `json:"kind"`
	Status      string          `json:"status"`
	Note        string          `json:"note,omitempty"`
	EventTime   time.Time       `json:"eventTime"`
	ReceivedAt  time.Time       `json:"receivedAt"`
	AgreementID string          `json:"agreementId,omitempty"`
	LicenseID   string          `json:"licenseId,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
}

// EventFilter selects inbox events.
type EventFilter struct {
	Status      string
	Kind        string
	AgreementID string
	Page
}

const eventColumns = `id, request_id, door, source, detail_type, kind, status, note, event_time, received_at, agreement_id, license_id, body`

func scanEvent(r interface{ Scan(...any) error }, withBody bool) (StoredEvent, error) {
	var e StoredEvent
	var rid, note, ag, lic sql.NullString
	var et, rt int64
	var body string
	err := r.Scan(&e.ID, &rid, &e.Door, &e.Source, &e.DetailType, &e.Kind, &e.Status, &note, &et, &rt, &ag, &lic, &body)
	e.RequestID, e.Note, e.AgreementID, e.LicenseID = rid.String, note.String, ag.String, lic.String
	e.EventTime, e.ReceivedAt = store.FromMillis(et), store.FromMillis(rt)
	if withBody {
		if json.Valid([]byte(body)) {
			e.Body = json.RawMessage(body)
		} else {
			b, _ := json.Marshal(body)
			e.Body = b
		}
	}
	return e, err
}

// ListEvents lists inbox events by id.
func (l *Ledger) ListEvents(ctx context.Context, f EventFilter) ([]StoredEvent, error) {
	switch f.Status {
	case "", StatusApplied, StatusDeferred, StatusHeld, StatusFlagged, StatusStored, StatusQueued:
	default:
		return nil, marketplace.Errorf(marketplace.EInvalid, "status %q is invalid: use applied, deferred, held, flagged, stored or queued", f.Status)
	}
	w := &where{}
	if f.Status == StatusQueued {
		// Stored, their fold still queued (fold.go).
		w.clauses = append(w.clauses, "id IN (SELECT event_id FROM inbox_fold_queue)")
	} else {
		w.add("status = ?", f.Status)
	}
	w.add("kind = ?", f.Kind)
	w.add("agreement_id = ?", f.AgreementID)
	w.add("id > ?", f.Cursor)
	out := []StoredEvent{}
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM inbox_events`+w.sql()+` ORDER BY id LIMIT ?`, append(w.args, f.limit())...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows, false)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// GetEvent returns one inbox event with its body.
func (l *Ledger) GetEvent(ctx context.Context, id string) (StoredEvent, error) {
	var e StoredEvent
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		e, err = scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM inbox_events WHERE id = ?`, id), true)
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "event %s not found", id)
		}
		return err
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return e, fmt.Errorf("get event: %w", err)
	}
	return e, err
}

// ListSubscriptions lists legacy SNS subscriptions.
func (l *Ledger) ListSubscriptions(ctx context.Context, productCode string, p Page) ([]marketplace.Subscription, error) {
	w := &where{}
	w.add("product_code = ?", productCode)
	w.add("customer_key > ?", p.Cursor)
	out := []marketplace.Subscription{}
	err := l.DB.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT customer_identifier, product_code, state, offer_id, free_trial, entitlement_updated_at, last_event_time, updated_at
			FROM subscriptions`+w.sql()+` ORDER BY customer_key LIMIT ?`, append(w.args, p.limit())...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s marketplace.Subscription
			var ent sql.NullInt64
			var last, upd int64
			if err := rows.Scan(&s.CustomerIdentifier, &s.ProductCode, &s.State, &s.OfferID, &s.FreeTrial, &ent, &last, &upd); err != nil {
				return err
			}
			s.EntitlementUpdatedAt, s.LastEventTime, s.UpdatedAt = store.FromNullMillis(ent), store.FromMillis(last), store.FromMillis(upd)
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return out, nil
}
