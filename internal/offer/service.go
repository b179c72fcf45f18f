package offer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Service stores offers and moves them through their lifecycle.
type Service struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger
	// Catalog publishes offers (awsmp.Catalog); nil where nothing publishes.
	Catalog CatalogAPI
	// PublicURL is where buyers reach Concord (tracked links); nil in
	// tests that need none.
	PublicURL func() string
	// DocumentStore is the S3 bucket custom EULAs and reseller agreements
	// are published to (awsmp.Documents); nil refuses custom documents at
	// submit, naming --documents-bucket.
	DocumentStore DocumentStore
	// DeferDocuments leaves the upload to the publish job: `concord offer
	// submit` holds no S3 client, and serve's job runner uploads them (a
	// failure then fails the offer, saying why).
	DeferDocuments bool
	// SyncProduct, when set, reads a product Concord does not know yet from
	// the Catalog API (inbox.Ledger.SyncProduct) before a form for it is
	// checked, so the form meets its dimensions.
	SyncProduct func(ctx context.Context, productID string) error
	// OfferRegistration, when set, is handed an offer's registration
	// details once its AWS offer id is known (and again when they are
	// edited), in the same transaction: the buyer who accepts it is then
	// registered with them (registration.PutOfferDetailsTx).
	OfferRegistration func(ctx context.Context, tx *store.Tx, o Offer, now time.Time) error
	// OnEvent, when set, is told in the same transaction of what others
	// must hear: EventExtended (a partner extended its offer to the buyer)
	// and EventReconciled (an accepted offer learnt its offer id late).
	OnEvent func(ctx context.Context, tx *store.Tx, event string, o Offer, now time.Time) error
	// OnInstructions, when set, sends purchase instructions recorded with
	// SendInstructions, in the same transaction (the notification outbox
	// emails them to the buyer's people).
	OnInstructions func(ctx context.Context, tx *store.Tx, in Instructions, note string, now time.Time) error
}

// Events told to Service.OnEvent.
const (
	EventExtended   = "extended"
	EventReconciled = "reconciled"
)

// tell hands event about offer id to OnEvent.
func (s *Service) tell(ctx context.Context, tx *store.Tx, event, id string, now time.Time) error {
	if s.OnEvent == nil {
		return nil
	}
	d, err := load(ctx, tx, id)
	if err != nil {
		return err
	}
	return s.OnEvent(ctx, tx, event, d.Offer, now)
}

// registrationDetails hands offer id's registration details on, once its
// AWS offer id is known.
func (s *Service) registrationDetails(ctx context.Context, tx *store.Tx, id string, now time.Time) error {
	if s.OfferRegistration == nil {
		return nil
	}
	d, err := load(ctx, tx, id)
	if err != nil || d.OfferID == "" {
		return err
	}
	return s.OfferRegistration(ctx, tx, d.Offer, now)
}

func (s *Service) publicURL() string {
	if s.PublicURL == nil {
		return "http://127.0.0.1:8080"
	}
	return s.PublicURL()
}

// meetProduct syncs a product Concord does not know yet from AWS. A product
// AWS does not know either is left to the form's checks, which name it.
func (s *Service) meetProduct(ctx context.Context, productID string) {
	if s.SyncProduct == nil || productID == "" {
		return
	}
	known := true
	s.DB.Read(ctx, func(tx *store.Tx) error {
		_, ok, err := inbox.LoadProduct(ctx, tx, productID)
		known = ok || err != nil
		return err
	})
	if known {
		return
	}
	if err := s.SyncProduct(ctx, productID); err != nil && s.Logger != nil {
		s.Logger.Warn("product not synced from the Catalog API", "product", productID, "err", err)
	}
}

// Step is one entry of an offer's history.
type Step struct {
	At      time.Time `json:"at"`
	State   string    `json:"state"`
	Step    string    `json:"step"`
	Message string    `json:"message,omitempty"`
	// By names who took the step: a console user's e-mail or an API key's
	// name; empty for the steps Concord took on an event or a job.
	By string `json:"by,omitempty"`
}

// Detail is an offer with its history.
type Detail struct {
	Offer
	History []Step `json:"history"`
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Filter selects offers; empty fields do not filter.
type Filter struct {
	State, Type, ProductID, BuyerAccountID string
	// Query searches the buyer's company, the offer name, the contract
	// metadata and the ids, in any case and script (Offer.Matches).
	Query  string
	Cursor string
	Limit  int
}

// visibility is whether the offer an amendment's agreement was accepted from
// is public, asked of the Catalog API before the transaction.
type visibility struct{ public, known, asked bool }

// visibilityOf asks whether o amends an agreement made from a public offer.
func (s *Service) visibilityOf(ctx context.Context, o Offer) visibility {
	if o.Amends == nil || o.Amends.SourceOfferID == "" || s.Catalog == nil {
		return visibility{}
	}
	public, ok := s.amendedFromPublic(ctx, o)
	return visibility{public: public, known: ok, asked: true}
}

// context loads what the rules need for o.
func (s *Service) context(ctx context.Context, tx *store.Tx, o Offer, vis visibility) (Context, error) {
	c := Context{Now: s.now(), AmendedFromPublic: vis.public, AmendedVisibilityUnknown: vis.asked && !vis.known}
	if o.ProductID != "" {
		p, ok, err := inbox.LoadProduct(ctx, tx, o.ProductID)
		if err != nil {
			return c, err
		}
		if ok {
			c.Product = p
		}
	}
	if o.Amends != nil && o.Amends.AgreementID != "" {
		a, ok, err := loadAgreement(ctx, tx, o.Amends.AgreementID)
		if err != nil {
			return c, err
		}
		if ok {
			c.Amended = &a
			c.AmendedCurrency = termsCurrency(a.Terms)
		}
	}
	if o.Renews != "" {
		a, ok, err := loadAgreement(ctx, tx, o.Renews)
		if err != nil {
			return c, err
		}
		if ok {
			c.Renewed = &a
		}
	}
	return c, nil
}

// termsCurrency reads the currency of an agreement's normalised terms.
func termsCurrency(terms json.RawMessage) string {
	var t struct {
		Currency string `json:"currency"`
	}
	json.Unmarshal(terms, &t)
	return t.Currency
}

func loadAgreement(ctx context.Context, tx *store.Tx, id string) (marketplace.Agreement, bool, error) {
	return inbox.LoadAgreement(ctx, tx, id)
}

// Create stores a new draft after checking it; the answer carries the
// warnings. A form with problems is refused with all of them.
func (s *Service) Create(ctx context.Context, o Offer) (Detail, error) {
	return s.create(ctx, o, true, "")
}

// CreateFrom stores a new draft, like Create, from a form the console
// prefilled from offer source and the user saved (the console's clone: no
// draft exists until then). Its "created" step, and so its audit row, says
// which offer it was cloned from. What the form copies from the source (a
// custom EULA, registration answers) is the caller's choice; the source must
// exist.
func (s *Service) CreateFrom(ctx context.Context, o Offer, source string) (Detail, error) {
	if source == "" {
		return Detail{}, marketplace.Errorf(marketplace.EInvalid, "name the offer this one is cloned from")
	}
	return s.create(ctx, o, true, source)
}

// create stores a new draft; checkDates false skips the date rules (a clone
// of an old offer is a draft whose dates RevOps still has to change, and
// Submit checks them). from names the offer it was cloned from, if any.
func (s *Service) create(ctx context.Context, o Offer, checkDates bool, from string) (Detail, error) {
	s.meetProduct(ctx, o.ProductID)
	o = formOf(o) // what AWS assigns comes from AWS, not from the form
	o.ID, o.State = newID(), StateDraft
	vis := s.visibilityOf(ctx, o)
	var out Detail
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		msg := describe(o)
		if from != "" {
			if _, err := load(ctx, tx, from); err != nil {
				return err
			}
			msg += ", cloned from offer " + from
		}
		if err := s.check(ctx, tx, &o, checkDates, vis); err != nil {
			return err
		}
		if err := s.add(ctx, tx, &o, "created", msg); err != nil {
			return err
		}
		var err error
		out, err = load(ctx, tx, o.ID)
		return err
	})
	return out, err
}

func newID() string { return "ofr_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "") }

// check validates o against the rules (the date rules only when checkDates)
// and keeps the warnings on it; a form with problems is an error.
func (s *Service) check(ctx context.Context, tx *store.Tx, o *Offer, checkDates bool, vis visibility) error {
	if o.Renewal && o.RenewalChannel == "" {
		ch, err := renewalChannel(ctx, tx, *o)
		if err != nil {
			return err
		}
		o.RenewalChannel = ch
	}
	c, err := s.context(ctx, tx, *o, vis)
	if err != nil {
		return err
	}
	if !checkDates {
		c.Now = time.Time{}
	}
	chk := Validate(*o, c)
	if err := chk.Err(); err != nil {
		return err
	}
	o.Warnings = messages(chk.Warnings)
	return nil
}

// add stores a new offer, its first history step saying how it came.
func (s *Service) add(ctx context.Context, tx *store.Tx, o *Offer, step, msg string) error {
	now := s.now()
	o.CreatedAt, o.UpdatedAt = now, now
	if err := insert(ctx, tx, *o); err != nil {
		return err
	}
	return history(ctx, tx, o.ID, now, o.State, step, msg)
}

func describe(o Offer) string {
	kind := o.Type + " offer"
	if o.Amends != nil {
		kind = "amendment of agreement " + o.Amends.AgreementID
	}
	if o.Renewal {
		kind += " (renewal)"
	}
	return fmt.Sprintf("%s for %s (%s)", kind, o.BuyerCompany, o.Metadata[MetaBuyerAccount])
}

func messages(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Field + ": " + p.Message
	}
	return out
}

// bookingFields are what can still change once an offer is out: booking
// data, registration information, contract metadata (but not the accounts).
func bookingOnly(before, after Offer) error {
	b, a := before, after
	b.BuyerCompany, a.BuyerCompany = "", ""
	b.Registration, a.Registration = nil, nil
	b.NotifyUsers, a.NotifyUsers = nil, nil
	bm, am := map[string]string{}, map[string]string{}
	for k, v := range b.Metadata {
		if k == MetaBuyerAccount || k == MetaPartnerAccount {
			bm[k] = v
		}
	}
	for k, v := range a.Metadata {
		if k == MetaBuyerAccount || k == MetaPartnerAccount {
			am[k] = v
		}
	}
	b.Metadata, a.Metadata = bm, am
	b.Warnings, a.Warnings = nil, nil
	bj, _ := json.Marshal(formOf(b))
	aj, _ := json.Marshal(formOf(a))
	if string(bj) != string(aj) {
		return marketplace.Errorf(marketplace.EConflict, "offer %s is %s: only the buyer's company, registration details, contract metadata (not the AWS account numbers) and the users to notify can change now; clone it for a new offer", before.ID, before.State)
	}
	return nil
}

// formOf is the part of an offer RevOps fills in.
func formOf(o Offer) Offer {
	return Offer{Type: o.Type, BuyerCompany: o.BuyerCompany, ProductID: o.ProductID, Name: o.Name, Pricing: o.Pricing, EULA: o.EULA,
		ResellerAgreement: o.ResellerAgreement, Registration: o.Registration, Metadata: o.Metadata, ExpiresOn: o.ExpiresOn,
		Renewal: o.Renewal, RenewalChannel: o.RenewalChannel, Renews: o.Renews, AllowOverlap: o.AllowOverlap, ZeroDollar: o.ZeroDollar,
		Amends: o.Amends, NotifyUsers: o.NotifyUsers}
}

// Update replaces an offer's form. A draft (or a failed offer) can change in
// full; an offer out with the buyer or partner only in its booking data; an
// accepted, expired or cancelled offer not at all.
func (s *Service) Update(ctx context.Context, id string, form Offer) (Detail, error) {
	vis := s.visibilityOf(ctx, form)
	var out Detail
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		next := formOf(form)
		next.ID, next.State, next.CreatedAt = cur.ID, cur.State, cur.CreatedAt
		next.OfferID, next.ResaleAuthorizationID, next.ChangeSetID, next.AgreementID, next.Failure = cur.OfferID, cur.ResaleAuthorizationID, cur.ChangeSetID, cur.AgreementID, cur.Failure
		switch cur.State {
		case StateDraft, StateFailed:
		case StateAccepted, StateExpired, StateCancelled:
			return marketplace.Errorf(marketplace.EConflict, "offer %s is %s and can no longer change; clone it for a new offer", id, cur.State)
		default:
			if err := bookingOnly(cur.Offer, next); err != nil {
				return err
			}
		}
		// Booking data only once the offer is out: its dates were checked then.
		if err := s.check(ctx, tx, &next, cur.State == StateDraft || cur.State == StateFailed, vis); err != nil {
			return err
		}
		next.UpdatedAt = s.now()
		if err := save(ctx, tx, next); err != nil {
			return err
		}
		if err := historyChange(ctx, tx, id, next.UpdatedAt, next.State, "edited", "", formOf(cur.Offer), next); err != nil {
			return err
		}
		if err := s.registrationDetails(ctx, tx, id, next.UpdatedAt); err != nil {
			return err
		}
		out, err = load(ctx, tx, id)
		return err
	})
	return out, err
}

// Clone makes a new draft from an offer's form.
func (s *Service) Clone(ctx context.Context, id string) (Detail, error) {
	var src Detail
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		src, err = load(ctx, tx, id)
		return err
	})
	if err != nil {
		return Detail{}, err
	}
	d, err := s.create(ctx, formOf(src.Offer), false, "")
	if err != nil {
		return d, err
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		return history(ctx, tx, d.ID, s.now(), StateDraft, "cloned", "from offer "+id)
	})
	if err != nil {
		return d, err
	}
	return s.Get(ctx, d.ID)
}

// Cancel withdraws an offer the buyer has not accepted. A draft (or a failed
// offer) is cancelled at once. A published offer is withdrawn in AWS first: a
// direct offer's availability ends yesterday (AWS expires it), a partner
// offer's resale authorization is restricted; the offer is cancelling until
// the change set succeeds. A partner offer can be cancelled only while the
// partner has not extended it: after that the reseller must cancel its own
// offer first.
func (s *Service) Cancel(ctx context.Context, id, reason string) (Detail, error) {
	var out Detail
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		switch {
		case cur.Type == TypePartner && cur.State == StateExtended:
			return marketplace.Errorf(marketplace.EConflict, "the partner has already extended offer %s to the buyer: the reseller must cancel its offer first, then this one can be cancelled", cur.OfferID)
		case cur.State == StateAccepted, cur.State == StateExpired, cur.State == StateCancelled:
			return marketplace.Errorf(marketplace.EConflict, "offer %s is %s and cannot be cancelled", id, cur.State)
		case cur.State == StateCancelling:
			return marketplace.Errorf(marketplace.EConflict, "offer %s is already being withdrawn in AWS", id)
		case cur.State == StateSubmitted:
			// The change set is named once the publishing job has started it.
			what := "being published"
			if cur.ChangeSetID != "" {
				what += " (change set " + cur.ChangeSetID + ")"
			}
			return marketplace.Errorf(marketplace.EConflict, "offer %s is %s: cancel it once the change set has finished", id, what)
		case cur.State == StateDraft || cur.State == StateFailed:
			if err := setState(ctx, tx, id, StateCancelled, now); err != nil {
				return err
			}
			if err := history(ctx, tx, id, now, StateCancelled, "cancelled", reason); err != nil {
				return err
			}
		case cur.Type == TypePartner && cur.ResaleAuthorizationID == "":
			// Associated by its CPPO opportunity id: nothing of ours is in AWS.
			if err := setState(ctx, tx, id, StateCancelled, now); err != nil {
				return err
			}
			if err := history(ctx, tx, id, now, StateCancelled, "cancelled", "no longer tracked; "+reason); err != nil {
				return err
			}
		default:
			if _, err := tx.Exec(ctx, `UPDATE offers SET state = 'cancelling', prior_state = state, change_set_id = NULL, updated_at = ? WHERE id = ?`,
				store.Millis(now), id); err != nil {
				return err
			}
			what := "ending offer " + cur.OfferID + "'s availability in AWS"
			if cur.Type == TypePartner {
				what = "restricting resale authorization " + cur.ResaleAuthorizationID + " in AWS"
			}
			if reason != "" {
				what += "; " + reason
			}
			if err := history(ctx, tx, id, now, StateCancelling, "cancellation requested", what); err != nil {
				return err
			}
			if _, _, err := job.Enqueue(ctx, tx, now, JobWithdraw, jobArgs{id}, job.Options{UniqueKey: "offer-withdraw:" + id}); err != nil {
				return err
			}
		}
		out, err = load(ctx, tx, id)
		return err
	})
	return out, err
}

// Association is an offer made outside Concord that Concord should track.
type Association struct {
	Form Offer `json:"form"`
	// OfferID is the AWS offer id (a direct offer, or a partner's offer).
	OfferID string `json:"offerId,omitempty"`
}

// Associate tracks an offer made outside Concord: a direct offer by its offer
// id, a partner offer by its offer id or its CPPO opportunity id. If the buyer
// already accepted it, it is accepted at once.
func (s *Service) Associate(ctx context.Context, a Association) (Detail, error) {
	o := formOf(a.Form) // what AWS assigned comes from AWS, not from the form
	opportunity := o.Metadata[MetaCPPOOpportunityID]
	switch {
	case a.OfferID == "" && (o.Type != TypePartner || opportunity == ""):
		return Detail{}, marketplace.Errorf(marketplace.EInvalid, "give the offer id, or for a partner offer the %q in the contract metadata", MetaCPPOOpportunityID)
	case a.OfferID != "" && !strings.HasPrefix(a.OfferID, "offer-"):
		return Detail{}, marketplace.Errorf(marketplace.EInvalid, "%q is not an AWS offer id (offer-…)", marketplace.Clip(a.OfferID, 80))
	}
	o.ID = newID()
	o.OfferID = a.OfferID
	o.State = StatePublished
	if o.Type == TypePartner && a.OfferID != "" {
		o.State = StateExtended
	}
	var out Detail
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		if a.OfferID != "" {
			var other string
			err := tx.QueryRow(ctx, `SELECT id FROM offers WHERE offer_id = ?`, a.OfferID).Scan(&other)
			if err == nil {
				return marketplace.Errorf(marketplace.EConflict, "offer %s is already tracked as %s", a.OfferID, other)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		// An offer made elsewhere may be past its dates already.
		if err := s.check(ctx, tx, &o, false, s.visibilityOf(ctx, o)); err != nil {
			return err
		}
		msg := "offer " + a.OfferID
		if a.OfferID == "" {
			msg = "CPPO opportunity " + opportunity
		}
		if err := s.add(ctx, tx, &o, "associated", msg); err != nil {
			return err
		}
		if a.OfferID != "" {
			if err := s.registrationDetails(ctx, tx, o.ID, o.CreatedAt); err != nil {
				return err
			}
			if err := s.matchAccepted(ctx, tx, o.ID, a.OfferID, o.CreatedAt); err != nil {
				return err
			}
		}
		var err error
		out, err = load(ctx, tx, o.ID)
		return err
	})
	return out, err
}

// matchAccepted accepts offer id if the ledger already holds an agreement
// made from AWS offer offerID (an offer id that arrives after the buyer accepted).
func (s *Service) matchAccepted(ctx context.Context, tx *store.Tx, id, offerID string, now time.Time) error {
	var agreementID string
	err := tx.QueryRow(ctx, `SELECT agreement_id FROM agreements WHERE offer_id = ? ORDER BY acceptance_time, agreement_id LIMIT 1`, offerID).Scan(&agreementID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return s.accept(ctx, tx, id, agreementID, now, "the buyer had accepted before Concord knew the offer id; reconciled")
}

func (s *Service) accept(ctx context.Context, tx *store.Tx, id, agreementID string, now time.Time, note string) error {
	res, err := tx.Exec(ctx, `UPDATE offers SET state = 'accepted', agreement_id = ?, updated_at = ? WHERE id = ? AND state <> 'accepted'`,
		agreementID, store.Millis(now), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	msg := "agreement " + agreementID
	if note != "" {
		msg += "; " + note
	}
	if err := history(ctx, tx, id, now, StateAccepted, "accepted", msg); err != nil {
		return err
	}
	if err := s.relink(ctx, tx, id, agreementID, now); err != nil {
		return err
	}
	if strings.Contains(note, "reconciled") {
		return s.tell(ctx, tx, EventReconciled, id, now)
	}
	return nil
}

// AgreementHook is an inbox.AgreementHook: a Purchase Agreement Created or
// Amended event whose offer is one of Concord's offers accepts it. A partner
// offer whose partner's offer id is not known yet is found by its resale
// authorization, or by product, buyer and partner account, and learns the
// offer id from the agreement.
func (s *Service) AgreementHook(ctx context.Context, tx *store.Tx, a marketplace.Agreement, now time.Time) error {
	if a.OfferID == "" {
		return nil
	}
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM offers WHERE offer_id = ?`, a.OfferID).Scan(&id)
	if err == nil {
		return s.accept(ctx, tx, id, a.AgreementID, now, "")
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	partnerSold := a.ResaleAuthorizationID != "" || (a.ManufacturerAccountID != "" && a.ProposerAccountID != a.ManufacturerAccountID)
	if !partnerSold || a.ProductID == "" {
		return nil
	}
	o, ok, err := findPartnerOffer(ctx, tx, partnerMatch{productID: a.ProductID, buyers: []string{a.AcceptorAccountID},
		partner: a.ProposerAccountID, resaleAuthorizationID: a.ResaleAuthorizationID})
	if err != nil || !ok {
		return err
	}
	if err := s.partnerOfferID(ctx, tx, o.ID, a.OfferID, o.State, "partner offer id learnt", "offer "+a.OfferID+" from agreement "+a.AgreementID, now); err != nil {
		return err
	}
	return s.accept(ctx, tx, o.ID, a.AgreementID, now, "the partner's offer id arrived with the agreement; reconciled")
}

// Get returns one offer with its history.
func (s *Service) Get(ctx context.Context, id string) (Detail, error) {
	var out Detail
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = load(ctx, tx, id)
		return err
	})
	return out, err
}

// List returns offers, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]Offer, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.list(ctx, f, f.Limit)
}

// ListAll is every offer the filter selects (Cursor and Limit aside),
// newest first: the console's and the reports' lists sort and page them.
func (s *Service) ListAll(ctx context.Context, f Filter) ([]Offer, error) {
	f.Cursor = ""
	return s.list(ctx, f, 0)
}

// list reads the offers f selects, newest first, at most limit of them (0:
// all). The search is matched in Go (Offer.Matches), after the SQL filters.
func (s *Service) list(ctx context.Context, f Filter, limit int) ([]Offer, error) {
	var conds []string
	var args []any
	add := func(c string, v ...any) { conds = append(conds, c); args = append(args, v...) }
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.ProductID != "" {
		add("product_id = ?", f.ProductID)
	}
	if f.BuyerAccountID != "" {
		add("buyer_account_id = ?", f.BuyerAccountID)
	}
	if f.Cursor != "" {
		add("id < ?", f.Cursor)
	}
	query := strings.TrimSpace(f.Query)
	q := `SELECT ` + offerColumns + ` FROM offers`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY id DESC"
	if limit > 0 && query == "" {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	out := []Offer{}
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		// With a search, every offer the SQL filters select is read and
		// matched here: SQLite folds only ASCII, so "ÜNÏCODE" must be folded
		// in Go to find "Ünïcode GmbH" (a seller holds thousands of offers,
		// not millions).
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() && (limit <= 0 || len(out) < limit) {
			o, err := scanOffer(rows)
			if err != nil {
				return err
			}
			if query == "" || o.Matches(query) {
				out = append(out, o)
			}
		}
		return rows.Err()
	})
	return out, err
}

// Matches reports whether a search q finds the offer: in its buyer's
// company, its name or its contract metadata (PO numbers, opportunity ids,
// account ids), in any case and script, or in its ids.
func (o Offer) Matches(q string) bool {
	q = marketplace.Fold(strings.TrimSpace(q))
	if q == "" {
		return true
	}
	in := func(s string) bool { return s != "" && strings.Contains(marketplace.Fold(s), q) }
	if in(o.BuyerCompany) || in(o.Name) || in(o.ID) || in(o.OfferID) || in(o.AgreementID) || in(o.ResaleAuthorizationID) {
		return true
	}
	for _, v := range o.Metadata {
		if in(v) {
			return true
		}
	}
	return false
}

const offerColumns = `id, state, offer_id, resale_authorization_id, agreement_id, change_set_id, form, created_at, updated_at`

func scanOffer(r store.Scanner) (Offer, error) {
	var o Offer
	var id, state, form string
	var offerID, ra, ag, cs sql.NullString
	var created, updated int64
	if err := r.Scan(&id, &state, &offerID, &ra, &ag, &cs, &form, &created, &updated); err != nil {
		return o, err
	}
	if err := json.Unmarshal([]byte(form), &o); err != nil {
		return o, fmt.Errorf("decode offer %s: %w", id, err)
	}
	o.ID, o.State = id, state
	o.OfferID, o.ResaleAuthorizationID, o.AgreementID, o.ChangeSetID = offerID.String, ra.String, ag.String, cs.String
	o.CreatedAt, o.UpdatedAt = store.FromMillis(created), store.FromMillis(updated)
	return o, nil
}

func load(ctx context.Context, tx *store.Tx, id string) (Detail, error) {
	o, err := scanOffer(tx.QueryRow(ctx, `SELECT `+offerColumns+` FROM offers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Detail{}, marketplace.Errorf(marketplace.ENotFound, "offer %s not found", id)
	} else if err != nil {
		return Detail{}, err
	}
	steps, err := store.QueryAll(ctx, tx, func(r store.Scanner) (Step, error) {
		var st Step
		var at int64
		err := r.Scan(&at, &st.State, &st.Step, &st.Message, &st.By)
		st.At = store.FromMillis(at)
		return st, err
	}, `SELECT at, state, step, message, actor FROM offer_history WHERE offer_id = ? ORDER BY at, id`, id)
	if err != nil {
		return Detail{}, err
	}
	return Detail{Offer: o, History: steps}, nil
}

// stored is the JSON kept in offers.form: the form, failure and warnings.
func stored(o Offer) (string, error) {
	f := formOf(o)
	f.Failure, f.Warnings = o.Failure, o.Warnings
	b, err := json.Marshal(f)
	return string(b), err
}

func insert(ctx context.Context, tx *store.Tx, o Offer) error {
	form, err := stored(o)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO offers (id, type, state, product_id, buyer_account_id, buyer_company, cppo_opportunity_id, offer_id,
		resale_authorization_id, agreement_id, change_set_id, expires_on, form, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Type, o.State, o.ProductID, o.Metadata[MetaBuyerAccount], o.BuyerCompany, o.Metadata[MetaCPPOOpportunityID],
		store.NullString(o.OfferID), store.NullString(o.ResaleAuthorizationID), store.NullString(o.AgreementID), store.NullString(o.ChangeSetID),
		o.ExpiresOn, form, store.Millis(o.CreatedAt), store.Millis(o.UpdatedAt))
	if store.IsUniqueViolation(err) {
		return marketplace.Errorf(marketplace.EConflict, "offer %s is already tracked", o.OfferID)
	}
	return err
}

func save(ctx context.Context, tx *store.Tx, o Offer) error {
	form, err := stored(o)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE offers SET type = ?, product_id = ?, buyer_account_id = ?, buyer_company = ?, cppo_opportunity_id = ?, expires_on = ?,
		form = ?, updated_at = ? WHERE id = ?`, o.Type, o.ProductID, o.Metadata[MetaBuyerAccount], o.BuyerCompany, o.Metadata[MetaCPPOOpportunityID],
		o.ExpiresOn, form, store.Millis(o.UpdatedAt), o.ID)
	return err
}

func setState(ctx context.Context, tx *store.Tx, id, state string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE offers SET state = ?, updated_at = ? WHERE id = ?`, state, store.Millis(now), id)
	return err
}

func history(ctx context.Context, tx *store.Tx, id string, at time.Time, state, step, msg string) error {
	return historyChange(ctx, tx, id, at, state, step, msg, nil, nil)
}

// historyChange adds a step to the offer's history, naming who took it (the
// console user or API key in ctx; nobody for Concord's own steps), and records
// it in the audit trail with the form before and after when it changed.
func historyChange(ctx context.Context, tx *store.Tx, id string, at time.Time, state, step, msg string, before, after any) error {
	actor, _ := audit.ActorFrom(ctx)
	_, err := tx.Exec(ctx, `INSERT INTO offer_history (id, offer_id, at, state, step, message, actor) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		uuid.Must(uuid.NewV7()).String(), id, store.Millis(at), state, step, msg, actor.Label())
	if err != nil {
		return err
	}
	summary := step
	if msg != "" {
		summary += ": " + msg
	}
	return audit.Record(ctx, tx, audit.Change{Object: "offer", ObjectID: id, Action: "offer." + strings.ReplaceAll(step, " ", "_"),
		Before: before, After: after, Summary: summary})
}

// Check checks a form against the rules without saving it.
// For an amendment, the answer previews what the buyer will owe.
func (s *Service) Check(ctx context.Context, o Offer) (Check, error) {
	var c Check
	vis := s.visibilityOf(ctx, o)
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		if o.Renewal && o.RenewalChannel == "" {
			ch, err := renewalChannel(ctx, tx, o)
			if err != nil {
				return err
			}
			o.RenewalChannel = ch
		}
		cx, err := s.context(ctx, tx, o, vis)
		if err != nil {
			return err
		}
		c = Validate(o, cx)
		if cx.Amended != nil {
			c.Preview = preview(o, *cx.Amended, cx.Now)
		}
		return nil
	})
	return c, err
}
