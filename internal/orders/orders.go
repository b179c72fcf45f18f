// Package orders turns what happens in the ledger, to offers, in
// registration and in metering into what sales, RevOps and finance hear of:
// a bookable artifact for each agreement event, and the notification that
// goes with it. It holds no state of its own: the artifacts live in
// internal/artifact, the notifications in internal/notify's outbox.
package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/registration"
	"github.com/concordmp/concord/internal/store"
)

// NotifyWithin bounds how old an agreement's last event may be for its order
// or end to be announced: replaying the inbox, or events AWS redelivers long
// after, record artifacts but do not email finance about old orders again.
const NotifyWithin = 7 * 24 * time.Hour

// JobRecord records an agreement's artifact and sends its notification, after
// the ledger has committed the agreement (its licenses and terms included).
const JobRecord = "orders.record"

// OfferDescriber tells whether an offer is private (awsmp.Catalog).
type OfferDescriber interface {
	DescribeOffer(ctx context.Context, offerID string) (offer.OfferInfo, error)
}

// Desk wires the events to artifacts and notifications.
type Desk struct {
	DB     *store.DB
	Notify *notify.Service
	Now    func() time.Time
	Logger *slog.Logger
	// Catalog tells a public order from a private offer made outside
	// Concord; nil counts such orders as public.
	Catalog OfferDescriber

	// offers caches what Catalog said, by offer id: every fold of an
	// agreement (each License Updated) records it again, and an offer's
	// targeting rarely changes. A Catalog event drops the cache (EventHook).
	mu     sync.Mutex
	offers map[string]offerSeen
}

// OfferCacheTTL is how long what DescribeEntity said about an offer is reused.
const OfferCacheTTL = time.Hour

type offerSeen struct {
	private bool
	at      time.Time
}

// EventHook is an inbox.EventHook: a Catalog API event (a change set done,
// an offer released) may change an offer's targeting, so the cache of
// DescribeEntity answers is dropped.
func (d *Desk) EventHook(_ context.Context, _ *store.Tx, ev marketplace.Event, _ time.Time) error {
	if ev.Source == marketplace.SourceCatalog {
		d.mu.Lock()
		clear(d.offers)
		d.mu.Unlock()
	}
	return nil
}

// describeOffer is Catalog.DescribeOffer through the cache; errors are not cached.
func (d *Desk) describeOffer(ctx context.Context, offerID string) (offer.OfferInfo, error) {
	now := d.now()
	d.mu.Lock()
	seen, ok := d.offers[offerID]
	d.mu.Unlock()
	if ok && now.Sub(seen.at) < OfferCacheTTL && !now.Before(seen.at) {
		return offer.OfferInfo{OfferID: offerID, Private: seen.private}, nil
	}
	info, err := d.Catalog.DescribeOffer(ctx, offerID)
	if err != nil {
		return info, err
	}
	d.mu.Lock()
	if d.offers == nil {
		d.offers = map[string]offerSeen{}
	}
	d.offers[offerID] = offerSeen{private: info.Private, at: now}
	d.mu.Unlock()
	return info, nil
}

func (d *Desk) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

type recordArgs struct {
	AgreementID string `json:"agreementId"`
	// Corrected: an offer was reconciled with the agreement after its order
	// notification may have gone out.
	Corrected bool `json:"corrected,omitempty"`
}

// Handlers registers the record job.
func (d *Desk) Handlers(r *job.Runner) {
	r.Handle(JobRecord, func(ctx context.Context, j *job.Job) error {
		var a recordArgs
		if err := json.Unmarshal(j.Args, &a); err != nil || a.AgreementID == "" {
			return job.Permanent(fmt.Errorf("bad %s job arguments %s", j.Kind, j.Args))
		}
		return d.record(ctx, a)
	})
}

// AgreementHook is an inbox.AgreementHook: every fold of an agreement queues
// its recording, which runs after the commit. The ledger folds an agreement
// before its licenses, and enrichment folds it again once its terms are
// stored, so recording inside the hook would see neither.
func (d *Desk) AgreementHook(ctx context.Context, tx *store.Tx, a marketplace.Agreement, now time.Time) error {
	return enqueue(ctx, tx, now, recordArgs{AgreementID: a.AgreementID})
}

func enqueue(ctx context.Context, tx *store.Tx, now time.Time, a recordArgs) error {
	key := "orders:" + a.AgreementID
	if a.Corrected {
		key += ":corrected"
	}
	_, _, err := job.Enqueue(ctx, tx, now, JobRecord, a, job.Options{UniqueKey: key})
	return err
}

// record stores the agreement's artifact when it changed, and sends the
// notification the agreement's state calls for: the order (new, partner,
// amended or renewal) once its terms are known, or its end.
func (d *Desk) record(ctx context.Context, args recordArgs) error {
	public, err := d.isPublic(ctx, args.AgreementID)
	if err != nil {
		return err
	}
	return d.DB.Write(ctx, func(tx *store.Tx) error {
		now := d.now()
		a, ok, err := inbox.LoadAgreement(ctx, tx, args.AgreementID)
		if err != nil || !ok {
			return err
		}
		ended := artifact.IsCancellation(a.Status) || a.Status == marketplace.StatusExpired
		if (marketplace.IsTerminalStatus(a.Status) && !ended) || a.LastEventTime.Before(now.Add(-NotifyWithin)) {
			// Replaced or renewed: the successor's order says so. Old news
			// (a replay, a late redelivery): recorded, not announced again.
			_, _, err := artifact.Record(ctx, tx, args.AgreementID, now)
			return err
		}
		if ended && artifact.IsCancellation(a.Status) {
			// An order cancelled before Concord recorded it (both events in
			// one batch, or after downtime) is booked first: finance reverses
			// what it saw booked.
			announced, err := notify.Emitted(ctx, tx, orderKey(args.AgreementID))
			if err != nil {
				return err
			}
			if !announced && a.TermsFetchedAt != nil {
				booking, _, err := artifact.RecordBooking(ctx, tx, args.AgreementID, now)
				if err != nil {
					return err
				}
				n, err := d.orderNotice(ctx, tx, a, booking, public)
				if err != nil {
					return err
				}
				if _, _, err := d.Notify.Emit(ctx, tx, now, n); err != nil {
					return err
				}
			}
		}
		art, _, err := artifact.Record(ctx, tx, args.AgreementID, now)
		if err != nil {
			return err
		}
		if ended {
			return d.ended(ctx, tx, now, a, art)
		}
		if !art.TermsKnown {
			return nil // the order goes out with its terms, on the next fold
		}
		n, err := d.orderNotice(ctx, tx, a, art, public)
		if err != nil {
			return err
		}
		_, created, err := d.Notify.Emit(ctx, tx, now, n)
		if err != nil || created || !args.Corrected {
			return err
		}
		// The order went out before the offer was reconciled with it: send
		// it again, corrected.
		data := n.Data.(notify.OrderData)
		data.Corrected = true
		n.Data, n.Key = data, n.Key+":corrected"
		_, _, err = d.Notify.Emit(ctx, tx, now, n)
		return err
	})
}

// isPublic asks the Catalog API, outside any transaction, whether the offer
// of an agreement Concord's offers table does not know is public.
func (d *Desk) isPublic(ctx context.Context, agreementID string) (bool, error) {
	var offerID string
	var known bool
	err := d.DB.Read(ctx, func(tx *store.Tx) error {
		a, ok, err := inbox.LoadAgreement(ctx, tx, agreementID)
		if err != nil || !ok {
			return err
		}
		offerID = a.OfferID
		if a.ResaleAuthorizationID != "" || a.PreviousAgreementID != "" || offerID == "" {
			known = true // AWS makes partner and replacement offers only private
			return nil
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM offers WHERE offer_id = ?`, offerID).Scan(&n); err != nil {
			return err
		}
		known = n > 0
		return nil
	})
	if err != nil || known {
		return false, err
	}
	if d.Catalog == nil {
		return true, nil
	}
	info, err := d.describeOffer(ctx, offerID)
	if err != nil {
		// Booking does not wait on the Catalog API: the order is announced
		// as a private offer's.
		if d.Logger != nil {
			d.Logger.Warn("orders: could not tell whether an offer is public; announcing it as private", "offer", offerID, "err", err)
		}
		return false, nil
	}
	return !info.Private, nil
}

// orderNotice is the notification of an order, with its artifact attached.
func (d *Desk) orderNotice(ctx context.Context, tx *store.Tx, a marketplace.Agreement, art artifact.BookableArtifact, public bool) (notify.Notice, error) {
	data := orderData(art)
	kind := art.Kind
	if kind == artifact.KindCancellation || kind == artifact.KindRefund {
		// The order as it was booked, before the cancellation or refund.
		kind = orderKind(a, art)
	}
	switch {
	case kind == artifact.KindAmendment:
		data.OrderType = notify.OrderAmended
	case art.Channel == artifact.ChannelPartner:
		data.OrderType = notify.OrderPartner
	case public && art.ConcordOfferID == "":
		data.OrderType = notify.OrderPublic
	default:
		data.OrderType = notify.OrderDirect
	}
	notice := notify.KindNewOrder
	switch kind {
	case artifact.KindAmendment:
		notice = notify.KindOrderModification
	case artifact.KindRenewal:
		notice = notify.KindRenewal
	}
	if prev := art.Lineage.PreviousAgreementID; prev != "" {
		if p, ok, err := artifact.Latest(ctx, tx, prev); err != nil {
			return notify.Notice{}, err
		} else if ok {
			data.PreviousDimensions = dimensions(p)
		}
	}
	if reg, ok, err := registration.OfferDetailsTx(ctx, tx, data.OfferID); err != nil {
		return notify.Notice{}, err
	} else if ok && (reg.Company != "" || reg.ContactName != "" || reg.Email != "") {
		data.Registration = &notify.OrderRegistration{Company: reg.Company, ContactName: reg.ContactName, Email: reg.Email}
	}
	files, err := attachments(art)
	if err != nil {
		return notify.Notice{}, err
	}
	return notify.Notice{Kind: notice, Key: orderKey(art.AgreementID), ProductID: art.Product.ProductID, OfferID: art.ConcordOfferID,
		AgreementID: art.AgreementID, Data: data, Attachments: files}, nil
}

func orderKey(agreementID string) string { return "order:" + agreementID }

// orderKind is the kind of order a cancelled agreement had been.
func orderKind(a marketplace.Agreement, art artifact.BookableArtifact) string {
	switch {
	case a.Intent == "REPLACE" || (a.Intent == "AMEND" && a.PreviousAgreementID != ""):
		return artifact.KindAmendment
	case a.Intent == "RENEW":
		return artifact.KindRenewal
	case art.Channel == artifact.ChannelPartner:
		return artifact.KindPartnerOrder
	}
	return artifact.KindNew
}

func attachments(art artifact.BookableArtifact) ([]notify.Attachment, error) {
	files, err := artifact.Files(art)
	if err != nil {
		return nil, fmt.Errorf("render artifact of %s: %w", art.AgreementID, err)
	}
	out := make([]notify.Attachment, len(files))
	for i, f := range files {
		out[i] = notify.Attachment(f)
	}
	return out, nil
}

func party(p artifact.ArtifactParty) string {
	if p.Company != "" {
		return p.Company + " (" + p.AccountID + ")"
	}
	return p.AccountID
}

func orderData(art artifact.BookableArtifact) notify.OrderData {
	o := notify.OrderData{BuyerCompany: art.Buyer.Company, BuyerAccountID: art.Buyer.AccountID, ProductID: art.Product.ProductID,
		ProductTitle: art.Product.Title, SellerOfRecord: party(art.SellerOfRecord), OfferID: art.OfferID, ConcordOfferID: art.ConcordOfferID,
		ResaleAuthorizationID: art.ResaleAuthorizationID, AgreementID: art.AgreementID, PreviousAgreementID: art.Lineage.PreviousAgreementID,
		LicenseArns: art.LicenseArns, Dimensions: dimensions(art), TotalContractValue: art.TotalContractValue, Currency: art.Currency,
		Start: art.StartsAt, End: art.EndsAt, AutoRenewal: art.AutoRenew, ContractMetadata: art.Metadata}
	if art.Reseller != nil {
		o.Reseller = party(*art.Reseller)
	}
	for _, in := range art.PaymentSchedule {
		o.PaymentSchedule = append(o.PaymentSchedule, notify.Payment{Date: in.ChargeDate, Amount: in.Amount})
	}
	return o
}

func dimensions(art artifact.BookableArtifact) []notify.OrderDimension {
	var out []notify.OrderDimension
	for _, l := range art.Lines {
		d := notify.OrderDimension{Key: l.Dimension, Name: l.Name, Price: l.UnitPrice}
		if l.Quantity != nil {
			d.Quantity = fmt.Sprint(*l.Quantity)
		}
		if l.Kind == artifact.LineUsage {
			d.Unit = "per unit used"
		}
		out = append(out, d)
	}
	return out
}

// ended is the notification of an agreement that ended or was cancelled.
func (d *Desk) ended(ctx context.Context, tx *store.Tx, now time.Time, a marketplace.Agreement, art artifact.BookableArtifact) error {
	data := notify.AgreementEndedData{AgreementID: a.AgreementID, Status: a.Status, Cancelled: artifact.IsCancellation(a.Status),
		BuyerCompany: art.Buyer.Company, BuyerAccountID: a.AcceptorAccountID, ProductID: a.ProductID, ProductTitle: art.Product.Title,
		OfferID: a.OfferID, LicenseArns: art.LicenseArns, EndedAt: a.EndedAt}
	if a.EndedAt != nil {
		until := a.EndedAt.Add(metering.FinalWindowClose)
		data.FinalMeteringUntil = &until
	}
	n := notify.Notice{Kind: notify.KindAgreementEnded, Key: "agreement_ended:" + a.AgreementID, ProductID: a.ProductID,
		OfferID: art.ConcordOfferID, AgreementID: a.AgreementID, Data: data}
	if data.Cancelled {
		files, err := attachments(art)
		if err != nil {
			return err
		}
		n.Attachments = files
	}
	_, _, err := d.Notify.Emit(ctx, tx, now, n)
	return err
}

// OfferEvent is an offer.Service OnEvent: a partner extended its offer
// (Partner Offer Extended), or an accepted offer was reconciled with its
// agreement late (the order is sent again, corrected, if it went out).
func (d *Desk) OfferEvent(ctx context.Context, tx *store.Tx, event string, o offer.Offer, now time.Time) error {
	switch event {
	case offer.EventReconciled:
		if o.AgreementID == "" {
			return nil
		}
		return enqueue(ctx, tx, now, recordArgs{AgreementID: o.AgreementID, Corrected: true})
	case offer.EventExtended:
		p, _, err := inbox.LoadProduct(ctx, tx, o.ProductID)
		if err != nil {
			return err
		}
		data := notify.PartnerOfferData{ConcordOfferID: o.ID, OfferName: o.Name, ProductID: o.ProductID, ProductTitle: p.Title,
			ResaleAuthorizationID: o.ResaleAuthorizationID, PartnerAccountID: o.Metadata[offer.MetaPartnerAccount], PartnerOfferID: o.OfferID,
			BuyerCompany: o.BuyerCompany, BuyerAccountID: o.Metadata[offer.MetaBuyerAccount], ExpiresOn: o.ExpiresOn}
		_, _, err = d.Notify.Emit(ctx, tx, now, notify.Notice{Kind: notify.KindPartnerOfferExtended, Key: "partner_offer_extended:" + o.ID,
			ProductID: o.ProductID, OfferID: o.ID, Data: data})
		return err
	}
	return nil
}

// LicenseHook is an inbox.LicenseHook, after registration's: a license that
// became active with no tenant waits for its buyer to register.
func (d *Desk) LicenseHook(ctx context.Context, tx *store.Tx, before *marketplace.License, after marketplace.License, now time.Time) error {
	if after.State != marketplace.LicenseActive || (before != nil && before.State == marketplace.LicenseActive) {
		return nil
	}
	// Not when a tenant holds it, nor for an existing customer backfill
	// mapped (as GET /v1/registrations/pending and the reminder sweep).
	var n int
	if err := tx.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM tenant_licenses WHERE license_id = ?)
		+ (SELECT COUNT(*) FROM inbox_events WHERE license_id = ? AND kind = 'license_imported')`, after.LicenseID, after.LicenseID).Scan(&n); err != nil || n > 0 {
		return err
	}
	a, _, err := inbox.LoadAgreement(ctx, tx, after.AgreementID)
	if err != nil {
		return err
	}
	p, _, err := inbox.LoadProduct(ctx, tx, after.ProductID)
	if err != nil {
		return err
	}
	since := now
	if a.AcceptanceTime != nil {
		since = *a.AcceptanceTime
	}
	data := notify.RegistrationData{LicenseArn: after.LicenseArn, BuyerAccountID: after.AccountID, ProductID: after.ProductID,
		ProductTitle: p.Title, AgreementID: after.AgreementID, OfferID: a.OfferID, Since: since, Deadline: since.Add(48 * time.Hour)}
	concordOffer := ""
	if a.OfferID != "" {
		var company string
		if err := tx.QueryRow(ctx, `SELECT id, buyer_company FROM offers WHERE offer_id = ?`, a.OfferID).Scan(&concordOffer, &company); err == nil {
			data.BuyerCompany = company
		}
	}
	_, _, err = d.Notify.Emit(ctx, tx, now, notify.Notice{Kind: notify.KindRegistrationPending, Key: "registration_pending:" + after.LicenseID,
		ProductID: after.ProductID, OfferID: concordOffer, AgreementID: after.AgreementID, Data: data})
	return err
}

// TenantCreated is registration's OnTenantCreated: the buyer's welcome email,
// with the product's support page.
func (d *Desk) TenantCreated(ctx context.Context, tx *store.Tx, t marketplace.Tenant, p marketplace.Product, licenseArn string, now time.Time) error {
	// The buyer's company now names the order's buyer: a new artifact version.
	var agreementID string
	if err := tx.QueryRow(ctx, `SELECT agreement_id FROM licenses WHERE license_arn = ?`, licenseArn).Scan(&agreementID); err == nil && agreementID != "" {
		if err := enqueue(ctx, tx, now, recordArgs{AgreementID: agreementID}); err != nil {
			return err
		}
	}
	if t.Email == "" {
		return nil // nobody to welcome
	}
	data := notify.WelcomeData{BuyerCompany: t.Company, ContactName: t.ContactName, ProductID: p.ProductID, ProductTitle: p.Title,
		TenantID: t.TenantID, LicenseArn: licenseArn, SupportURL: p.Registration.SupportURL, AppURL: p.Registration.AppURL}
	_, _, err := d.Notify.Emit(ctx, tx, now, notify.Notice{Kind: notify.KindBuyerWelcome, Key: "buyer_welcome:" + t.TenantID,
		ProductID: p.ProductID, To: []string{t.Email}, BuyerFacing: true, Data: data})
	return err
}

// MeteringAlert is metering's OnAlert: usage that will not be billed.
func (d *Desk) MeteringAlert(ctx context.Context, tx *store.Tx, a metering.MeteringAlert, now time.Time) error {
	kind := notify.KindMeteringFailed
	if a.Outcome == metering.StatusExpired {
		kind = notify.KindMeteringExpired
	}
	p, _, err := inbox.LoadProduct(ctx, tx, a.ProductID)
	if err != nil {
		return err
	}
	data := notify.MeteringData{RecordID: a.RecordID, Outcome: a.Outcome, Reason: a.Reason, ProductID: a.ProductID, ProductTitle: p.Title,
		LicenseArn: a.LicenseArn, AccountID: a.AccountID, Dimension: a.Dimension, Hour: a.Hour, Quantity: a.Quantity}
	_, _, err = d.Notify.Emit(ctx, tx, now, notify.Notice{Kind: kind, Key: "metering:" + a.RecordID + ":" + a.Outcome, ProductID: a.ProductID, Data: data})
	return err
}

// Instructions is offers' OnInstructions: the purchase instructions emailed to
// the buyer's people, once per request.
func (d *Desk) Instructions(ctx context.Context, tx *store.Tx, in offer.Instructions, note string, now time.Time) error {
	o := in.Offer
	p, _, err := inbox.LoadProduct(ctx, tx, o.ProductID)
	if err != nil {
		return err
	}
	data := notify.InstructionsData{ConcordOfferID: o.ID, OfferID: o.OfferID, OfferName: o.Name, BuyerCompany: o.BuyerCompany,
		BuyerAccountID: o.Metadata[offer.MetaBuyerAccount], ProductID: o.ProductID, ProductTitle: p.Title, Link: in.Link, ExpiresOn: o.ExpiresOn, Note: note}
	_, _, err = d.Notify.Emit(ctx, tx, now, notify.Notice{Kind: notify.KindPurchaseInstructions,
		Key: "purchase_instructions:" + o.ID + ":" + strconv.FormatInt(now.UnixNano(), 36), ProductID: o.ProductID, OfferID: o.ID,
		To: in.To, BuyerFacing: true, Data: data})
	return err
}
