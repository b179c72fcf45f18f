package console

// The sandbox page plays the buyer, the channel partner and AWS's clock in
// the built-in marketplace emulator. It acts in the emulator only: Concord
// hears of each change through the marketplace events the emulator emits
// (EventBridge → SQS → the poller), exactly as it would from AWS, so nothing
// here writes Concord's ledger.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
)

const sandboxPath = Prefix + "/sandbox"

func (s *Service) mountSandbox(m Mux) {
	m.HandleFunc("GET "+sandboxPath, s.signedIn(s.sandbox))
	// AWS's "Set up your account" page for a license, served in-process: the
	// emulator's own copy sits behind the control token a browser lacks.
	m.HandleFunc("GET "+sandboxPath+"/register", s.signedIn(s.may(AreaSandbox, s.withEmulator(func(w http.ResponseWriter, r *http.Request) {
		s.Emulator.RegisterPage(w, r)
	}))))
	for path, h := range map[string]http.HandlerFunc{
		"/clock":                               s.sandboxAdvance,
		"/sample-product":                      s.sandboxSampleProduct,
		"/offers/{id}/accept":                  s.sandboxAccept,
		"/resale-authorizations/{id}/extend":   s.sandboxExtend,
		"/agreements/{id}/{action}":            s.sandboxAgreement,
		"/cancellation-requests/{id}/{action}": s.sandboxCancellation,
		"/payment-requests/{id}/{action}":      s.sandboxPayment,
		"/advisories/{id}/{action}":            s.sandboxAdvisory,
		"/aws/{action}":                        s.sandboxAWS,
	} {
		m.HandleFunc("POST "+sandboxPath+path, s.signedIn(s.may(AreaSandbox, s.withEmulator(h))))
	}
}

// withEmulator answers 404 when Concord runs against AWS: there is nobody
// to play then.
func (s *Service) withEmulator(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Emulator == nil {
			sess := sessionOf(r)
			s.errorPage(w, r, &sess, http.StatusNotFound, "Not found",
				"The sandbox exists only when Concord runs with its built-in AWS Marketplace emulator (concord serve --marketplace emulator). This Concord talks to AWS.")
			return
		}
		h(w, r)
	}
}

// sandboxDone maps the ?done= of a redirect to a fixed sentence; the query
// text itself is never shown.
var sandboxDone = map[string]string{
	"product":                "The sample product is listed in the emulator and described to Concord (see Settings → Products). Create an offer for it under Offers → New offer.",
	"advanced":               "The emulator's clock moved forward, and Concord's with it. What fell due (renewals, expiries, final metering windows) happened in the emulator; its events reach Concord in a few seconds.",
	"accepted":               "The buyer accepted the offer in the emulator. Concord records the agreement and marks its offer accepted when the Purchase Agreement event arrives, in a few seconds: reload to see it.",
	"extended":               "The partner extended its offer to the buyer in the emulator; it now waits for the buyer below. Concord marks its partner offer extended when the Offer Released event arrives, in a few seconds.",
	"renewed":                "The buyer accepted a renewal in the emulator: a future-dated agreement (intent RENEW) starts when this one ends. This one runs until its end date, then ends as RENEWED. Concord learns of the new agreement in a few seconds, and of the end when it comes.",
	"amended":                "The buyer accepted new quantities in the emulator, as a replacement: a new agreement (intent REPLACE) replaces this one, which ended as REPLACED. Concord learns of both from the events, in a few seconds.",
	"autorenew":              "The agreement's auto-renewal changed in place in the emulator: the same agreement, announced as Purchase Agreement Amended (intent AMEND). Concord updates it when the event arrives, in a few seconds.",
	"cancelled":              "The buyer cancelled the agreement in the emulator: it ended as CANCELLED and its license's final metering window opened. Concord learns of it from the events, in a few seconds.",
	"cancellation-approved":  "The buyer approved the seller's cancellation request in the emulator: the agreement ended as CANCELLED and its license's final metering window opened. Concord learns of both from the events, in a few seconds.",
	"payment-accepted":       "The buyer accepted the seller's payment request in the emulator: it is APPROVED and its charge is made (ListAgreementCharges).",
	"payment-rejected":       "The buyer rejected the seller's payment request in the emulator.",
	"advisory-issued":        "AWS issued an advisory on the agreement in the emulator (Purchase Agreement Advisory Issued). Concord learns of it from the event, in a few seconds.",
	"advisory-resolved":      "AWS resolved the agreement's advisory in the emulator (Purchase Agreement Advisory Resolved). Concord learns of it from the event, in a few seconds.",
	"disbursement-paused":    "AWS paused your disbursements in the emulator (Disbursement Paused). Concord learns of it from the event, in a few seconds.",
	"fail-next-refund":       "The next refund (billing adjustment) you send fails AWS's validation: VALIDATION_FAILED and a Billing Adjustment Failed event.",
	"fail-next-cancellation": "The next cancellation request you send fails AWS's validation: VALIDATION_FAILED and its event.",
	"cancellation-rejected":  "The buyer rejected the seller's cancellation request in the emulator: the agreement stays active. Concord learns of it from the Agreement Cancellation Request Rejected event, in a few seconds.",
	"expired":                "The agreement expired in the emulator: it ended as EXPIRED and its license's final metering window opened. Concord learns of it from the events, in a few seconds.",
}

// Lists longer than these are cut (the sandbox is for people clicking).
const (
	sandboxMaxRows    = 200
	sandboxMaxAdvance = 366 * 24 * time.Hour
)

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// sbRef is the Concord offer an emulator entity belongs to.
type sbRef struct {
	ID, Name, State string
}

type sbBuyer struct {
	Account, ButtonID string
}

type sbOffer struct {
	OfferID, Name, Product string
	// Kind says what the offer is, in a sentence fragment.
	Kind       string
	Targets    []string
	Buyers     []sbBuyer // the targeted buyers who have not accepted it yet
	Quantities string
	Duration   string
	Expires    *time.Time
	Concord    *sbRef
	Current    bool
}

type sbAuthorization struct {
	ID, Name, Product, Reseller string
	Prices                      string
	// Buyer is whom the partner extends its offer to; empty when nobody
	// named one (the form then asks).
	Buyer string
	// BuyerTyped is what was typed for the buyer, kept when refused.
	BuyerTyped string
	Extended   []string
	Concord    *sbRef
	Current    bool
}

type sbQuantity struct {
	Key, InputID, Value string
}

type sbAgreement struct {
	ID, OfferID, Product, Buyer, Intent string
	// Partner is the reseller of a CPPO agreement.
	Partner    string
	LicenseArn string
	Start      time.Time
	End        *time.Time
	AutoRenew  bool
	// RenewedBy is the renewal accepted to start when this agreement ends.
	RenewedBy  string
	Quantities []sbQuantity
	Amendable  bool
	// InConcord is the agreement's status in Concord's ledger, empty when
	// its events have not arrived yet.
	InConcord string
	Current   bool
	// Cancellation is the seller's cancellation request waiting for the
	// buyer's answer, if any.
	Cancellation *world.CancellationRequest
	// Payments are the seller's payment requests waiting for the buyer.
	Payments []world.PaymentRequest
	// Advisory says an advisory AWS issued on the agreement is open.
	Advisory bool
}

type sandboxData struct {
	Now             time.Time
	Products        []sbProduct
	HasSample       bool
	Offers          []sbOffer
	Authorizations  []sbAuthorization
	Agreements      []sbAgreement
	AgreementsTotal int
	// Note is about a highlighted agreement that is no longer active.
	Note string
	// FailNext names the faults armed for the next request of a kind.
	FailNext []string
	// Custom is the custom duration typed, kept when it was refused.
	Custom         string
	FulfillmentURL string

	ids map[string]bool // element ids on the page, for error links
}

// target returns id when the page has it, else the section's heading.
func (d sandboxData) target(id, section string) string {
	if d.ids[id] {
		return id
	}
	return section
}

// sandboxForm is what a refused action leaves on the re-rendered page.
type sandboxForm struct {
	custom string
	typed  map[string]string // input id → value
}

// sandbox shows the page.
func (s *Service) sandbox(w http.ResponseWriter, r *http.Request) {
	if s.Emulator == nil {
		sess := sessionOf(r)
		s.errorPage(w, r, &sess, http.StatusNotFound, "Not found",
			"The sandbox exists only when Concord runs with its built-in AWS Marketplace emulator (concord serve --marketplace emulator). This Concord talks to AWS.")
		return
	}
	q := r.URL.Query()
	d, err := s.sandboxData(r.Context(), q.Get("agreement"), q.Get("offer"), sandboxForm{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "sandbox", view{Title: "Sandbox", Nav: "sandbox", Data: d, Status: sandboxDone[q.Get("done")]})
}

// concordOffers indexes Concord's offers by AWS offer id and by resale
// authorization, newest first (the first seen wins).
type concordOffers struct {
	byOffer, byRA map[string]offer.Offer
}

func (s *Service) concordOffers(ctx context.Context) (concordOffers, error) {
	c := concordOffers{byOffer: map[string]offer.Offer{}, byRA: map[string]offer.Offer{}}
	if s.Offers == nil {
		return c, nil
	}
	const page = 500
	cursor := ""
	for range 20 {
		list, err := s.Offers.List(ctx, offer.Filter{Cursor: cursor, Limit: page})
		if err != nil {
			return c, err
		}
		for _, o := range list {
			if _, ok := c.byOffer[o.OfferID]; o.OfferID != "" && !ok {
				c.byOffer[o.OfferID] = o
			}
			if _, ok := c.byRA[o.ResaleAuthorizationID]; o.ResaleAuthorizationID != "" && !ok {
				c.byRA[o.ResaleAuthorizationID] = o
			}
		}
		if len(list) < page {
			break
		}
		cursor = list[len(list)-1].ID
	}
	return c, nil
}

func refOf(o offer.Offer, ok bool) *sbRef {
	if !ok {
		return nil
	}
	name := o.Name
	if name == "" {
		name = "Offer for " + o.BuyerCompany
	}
	return &sbRef{ID: o.ID, Name: name, State: o.State}
}

// sandboxData reads the emulator's world (under its lock, copying what the
// page shows) and Concord's offers and ledger (outside it).
func (s *Service) sandboxData(ctx context.Context, agreement, offerParam string, form sandboxForm) (sandboxData, error) {
	d := sandboxData{Custom: form.custom, ids: map[string]bool{}}
	if s.FulfillmentURL != nil {
		d.FulfillmentURL = s.FulfillmentURL()
	}
	concord, err := s.concordOffers(ctx)
	if err != nil {
		return d, err
	}
	if d.Products, d.HasSample, err = s.sandboxProducts(ctx); err != nil {
		return d, err
	}
	err = s.Emulator.World.Read(func(st *world.State) error {
		d.Now = st.Now()
		for _, k := range world.SortedKeys(st.FailNext) {
			d.FailNext = append(d.FailNext, map[string]string{world.FailBillingAdjustment: "refund", world.FailCancellationRequest: "cancellation request"}[k])
		}
		title := func(id string) string {
			if p := st.Products[id]; p != nil && p.Title != "" && p.Title != id {
				return p.Title + " (" + id + ")"
			}
			return id
		}
		accepted := map[string]bool{}
		for _, a := range st.Agreements {
			accepted[a.OfferID+"/"+a.AcceptorAccountID] = true
		}
		partnerOffers := map[string][]string{}
		for _, id := range world.SortedKeys(st.Offers) {
			o := st.Offers[id]
			if o.ResaleAuthorizationID != "" && o.State != "Draft" {
				partnerOffers[o.ResaleAuthorizationID] = append(partnerOffers[o.ResaleAuthorizationID], o.OfferID)
			}
			if !o.Private || o.State != "Released" || (o.ExpirationDate != nil && d.Now.After(*o.ExpirationDate)) {
				continue
			}
			if o.ReplacesAgreementID != "" {
				if a := st.Agreements[o.ReplacesAgreementID]; a == nil || a.Status != "ACTIVE" {
					continue
				}
			}
			v := sbOffer{OfferID: o.OfferID, Name: o.Name, Product: title(o.ProductID), Targets: slices.Clone(o.BuyerAccounts),
				Quantities: quantities(o.Quantities), Duration: o.Duration, Expires: o.ExpirationDate}
			switch {
			case o.ReplacesAgreementID != "" && o.ResaleAuthorizationID != "":
				v.Kind = "Partner " + o.ProposerAccountID + "'s replacement of agreement " + o.ReplacesAgreementID
			case o.ReplacesAgreementID != "":
				v.Kind = "Replacement of agreement " + o.ReplacesAgreementID + " (accepting it replaces that agreement)"
			case o.ResaleAuthorizationID != "":
				v.Kind = "Partner " + o.ProposerAccountID + "'s offer from resale authorization " + o.ResaleAuthorizationID
			default:
				v.Kind = "Direct private offer"
			}
			for _, b := range o.BuyerAccounts {
				if !accepted[o.OfferID+"/"+b] {
					v.Buyers = append(v.Buyers, sbBuyer{Account: b})
				}
			}
			if len(v.Buyers) == 0 {
				continue
			}
			for i := range v.Buyers {
				v.Buyers[i].ButtonID = "accept-" + o.OfferID
				if len(v.Buyers) > 1 {
					v.Buyers[i].ButtonID += "-" + v.Buyers[i].Account
				}
			}
			c, ok := concord.byOffer[o.OfferID]
			if !ok && o.ResaleAuthorizationID != "" {
				c, ok = concord.byRA[o.ResaleAuthorizationID]
			}
			v.Concord = refOf(c, ok)
			v.Current = offerParam != "" && (offerParam == o.OfferID || (ok && offerParam == c.ID))
			d.Offers = append(d.Offers, v)
		}
		for _, id := range world.SortedKeys(st.ResaleAuthorizations) {
			ra := st.ResaleAuthorizations[id]
			if ra.State != "Active" {
				continue
			}
			c, ok := concord.byRA[ra.ID]
			v := sbAuthorization{ID: ra.ID, Name: ra.Name, Product: title(ra.ProductID), Reseller: ra.ResellerAccountID,
				Prices: prices(ra.Prices, ra.Currency), Extended: partnerOffers[ra.ID], Concord: refOf(c, ok)}
			v.Buyer, v.BuyerTyped = c.Metadata[offer.MetaBuyerAccount], form.typed["extend-"+ra.ID+"-buyer"]
			if v.Buyer == "" && len(ra.BuyerAccounts) > 0 {
				v.Buyer = ra.BuyerAccounts[0]
			}
			v.Current = offerParam != "" && (offerParam == ra.ID || (ok && offerParam == c.ID))
			d.Authorizations = append(d.Authorizations, v)
		}
		var active []*world.Agreement
		for _, a := range st.Agreements {
			if a.Status == "ACTIVE" {
				active = append(active, a)
			}
		}
		slices.SortFunc(active, func(a, b *world.Agreement) int {
			if c := b.AcceptanceTime.Compare(a.AcceptanceTime); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		d.AgreementsTotal = len(active)
		for _, a := range active[:min(len(active), sandboxMaxRows)] {
			v := sbAgreement{ID: a.ID, OfferID: a.OfferID, Product: title(a.ProductID), Buyer: a.AcceptorAccountID, Intent: a.Intent,
				LicenseArn: a.LicenseArn, Start: a.StartTime, End: a.EndTime, AutoRenew: a.AutoRenew, RenewedBy: a.RenewedBy, Current: agreement == a.ID}
			if a.ResaleAuthorizationID != "" {
				v.Partner = a.ProposerAccountID
			}
			if pending := st.CancellationRequestsOf(a.ID, world.CancellationPendingApproval); len(pending) > 0 {
				cr := *pending[0]
				v.Cancellation = &cr
			}
			for _, pr := range st.PaymentRequestsOf(a.ID, world.PaymentPendingApproval) {
				v.Payments = append(v.Payments, *pr)
			}
			v.Advisory = a.AdvisoryIssuedAt != nil
			if p := st.Products[a.ProductID]; p != nil {
				v.Amendable = p.Type == world.ProductSaaSContract || p.Type == world.ProductSaaSContractConsumption
				for _, dim := range p.Dimensions {
					if dim.Kind != "contract" {
						continue
					}
					q := sbQuantity{Key: dim.Key, InputID: "amend-" + a.ID + "-" + dim.Key, Value: strconv.FormatInt(a.Quantities[dim.Key], 10)}
					if t, ok := form.typed[q.InputID]; ok {
						q.Value = t
					}
					v.Quantities = append(v.Quantities, q)
				}
				v.Amendable = v.Amendable && len(v.Quantities) > 0
			}
			d.Agreements = append(d.Agreements, v)
		}
		if a := st.Agreements[agreement]; a != nil && a.Status != "ACTIVE" {
			d.Note = "Agreement " + a.ID + " is " + a.Status + " in the emulator, so there is nothing left to do with it here."
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	slices.SortStableFunc(d.Offers, func(a, b sbOffer) int { return strings.Compare(a.Name, b.Name) })
	if s.DB != nil && len(d.Agreements) > 0 {
		err = s.DB.Read(ctx, func(tx *store.Tx) error {
			for i := range d.Agreements {
				a, ok, err := inbox.LoadAgreement(ctx, tx, d.Agreements[i].ID)
				if err != nil {
					return err
				}
				if ok {
					d.Agreements[i].InConcord = a.Status
				}
			}
			return nil
		})
		if err != nil {
			return d, err
		}
	}
	for _, o := range d.Offers {
		d.ids["offer-"+o.OfferID] = true
	}
	for _, ra := range d.Authorizations {
		d.ids["authorization-"+ra.ID] = true
		if ra.Buyer == "" {
			d.ids["extend-"+ra.ID+"-buyer"] = true
		}
	}
	for _, a := range d.Agreements {
		d.ids["agreement-"+a.ID] = true
		if a.Cancellation != nil {
			d.ids["cancellation-"+a.Cancellation.ID] = true
			d.ids["reject-"+a.Cancellation.ID+"-reason"] = true
		}
		for _, q := range a.Quantities {
			d.ids[q.InputID] = true
		}
	}
	return d, nil
}

func quantities(q map[string]int64) string {
	var parts []string
	for _, k := range world.SortedKeys(q) {
		parts = append(parts, fmt.Sprintf("%s × %d", k, q[k]))
	}
	return strings.Join(parts, ", ")
}

func prices(p map[string]string, currency string) string {
	var parts []string
	for _, k := range world.SortedKeys(p) {
		parts = append(parts, k+" "+p[k]+" "+currency)
	}
	if len(parts) == 0 {
		return "the product's list prices"
	}
	return strings.Join(parts, ", ")
}

// sandboxRefuse re-renders the page with one error, changing nothing.
func (s *Service) sandboxRefuse(w http.ResponseWriter, r *http.Request, status int, fe fieldError, form sandboxForm) {
	d, err := s.sandboxData(r.Context(), "", "", form)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "sandbox", view{Title: "Sandbox", Nav: "sandbox", Data: d, Errors: []fieldError{fe}})
}

// sandboxError re-renders the page with the emulator's refusal of an action:
// 400, 404 or 409 by the world error's code. Other errors are internal.
func (s *Service) sandboxError(w http.ResponseWriter, r *http.Request, what, id, section string, err error) {
	var we *world.Error
	if !errors.As(err, &we) {
		s.fail(w, r, err)
		return
	}
	status := http.StatusBadRequest
	switch we.Code {
	case world.CodeNotFound:
		status = http.StatusNotFound
	case world.CodeConflict:
		status = http.StatusConflict
	}
	d, derr := s.sandboxData(r.Context(), "", "", sandboxForm{})
	if derr != nil {
		s.fail(w, r, derr)
		return
	}
	s.render(w, r, status, "sandbox", view{Title: "Sandbox", Nav: "sandbox", Data: d,
		Errors: []fieldError{{ID: d.target(id, section), Message: what + ": the emulator refused: " + we.Message}}})
}

func (s *Service) sandboxRedirect(w http.ResponseWriter, r *http.Request, done, param, id string) {
	// The action happened in the emulator, outside Concord's database: the
	// trail records it after the fact, in a transaction of its own.
	summary := sandboxDone[done]
	if i := strings.Index(summary, ". "); i > 0 {
		summary = summary[:i+1]
	}
	if err := audit.RecordNow(r.Context(), s.DB, audit.Change{Object: "sandbox", ObjectID: id, Action: "sandbox." + done, Summary: summary}); err != nil {
		s.logger().Error("console: audit of a sandbox action", "action", done, "err", err)
	}
	u := sandboxPath + "?done=" + done
	if param != "" && id != "" {
		u += "&" + param + "=" + url.QueryEscape(id)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// parseAdvance reads a Go duration, or whole days as "3d".
func parseAdvance(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil {
			if days <= 0 || days > int(sandboxMaxAdvance/(24*time.Hour)) {
				return 0, false
			}
			return time.Duration(days) * 24 * time.Hour, true
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > sandboxMaxAdvance {
		return 0, false
	}
	return d, true
}

// sandboxAdvance moves the emulator's clock (and so Concord's) forward.
func (s *Service) sandboxAdvance(w http.ResponseWriter, r *http.Request) {
	by := r.PostForm.Get("by")
	d, ok := parseAdvance(by)
	if !ok {
		custom := by
		if len(custom) > 40 || !marketplace.Storable(custom) {
			custom = ""
		}
		s.sandboxRefuse(w, r, http.StatusBadRequest, fieldError{ID: "custom-duration",
			Message: "Enter how far to move the clock forward: a duration such as 90m, 36h or 2h30m, or whole days such as 3d, up to 366 days."},
			sandboxForm{custom: custom})
		return
	}
	if err := s.Emulator.World.Advance(d); err != nil {
		s.sandboxError(w, r, "Could not move the clock", "custom-duration", "clock", err)
		return
	}
	s.logger().Info("console: sandbox clock advanced", "by", d.String(), "user", sessionOf(r).User.Email)
	s.sandboxRedirect(w, r, "advanced", "", "")
}

// pathID reads the {id} of the path, refusing what cannot be an id.
func pathID(r *http.Request) (string, bool) {
	id := r.PathValue("id")
	return id, id != "" && len(id) <= 100 && marketplace.Storable(id)
}

// sandboxAccept plays the buyer accepting a private offer. An offer that
// replaces an agreement (an agreement-based offer) is accepted the same
// way: the emulator's Accept amends that agreement, ending it as REPLACED.
func (s *Service) sandboxAccept(w http.ResponseWriter, r *http.Request) {
	offerID, ok := pathID(r)
	buyer := r.PostForm.Get("buyer")
	if !ok || !accountRE.MatchString(buyer) {
		s.sandboxRefuse(w, r, http.StatusBadRequest, fieldError{ID: "offers",
			Message: "That acceptance named no offer or no 12-digit buyer account. Use an Accept button below."}, sandboxForm{})
		return
	}
	var agreementID string
	err := s.Emulator.World.Do(func(st *world.State) error {
		_, existed := st.Buyers[buyer]
		if _, err := st.CreateBuyer(buyer); err != nil {
			return err
		}
		a, err := st.Accept(buyer, offerID, world.AcceptOptions{})
		if err != nil {
			if !existed {
				delete(st.Buyers, buyer) // a refused acceptance leaves nothing behind
			}
			return err
		}
		agreementID = a.ID
		return nil
	})
	if err != nil {
		s.sandboxError(w, r, "Could not accept offer "+offerID+" as buyer "+buyer, "offer-"+offerID, "offers", err)
		return
	}
	s.logger().Info("console: sandbox buyer accepted an offer", "offer", offerID, "buyer", buyer, "agreement", agreementID, "user", sessionOf(r).User.Email)
	s.sandboxRedirect(w, r, "accepted", "agreement", agreementID)
}

// isoDuration is an offer duration the emulator takes.
var isoDuration = regexp.MustCompile(`^P[0-9]{1,4}[DMY]$`)

// sandboxExtend plays the channel partner: it turns a resale authorization
// into its own offer to the buyer the Concord offer names, at the
// authorization's prices and the Concord offer's quantities and duration.
func (s *Service) sandboxExtend(w http.ResponseWriter, r *http.Request) {
	raID, ok := pathID(r)
	if !ok {
		s.sandboxRefuse(w, r, http.StatusNotFound, fieldError{ID: "authorizations", Message: "That resale authorization does not exist."}, sandboxForm{})
		return
	}
	concord, err := s.concordOffers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, known := concord.byRA[raID]
	in := world.Offer{}
	buyer := c.Metadata[offer.MetaBuyerAccount]
	if known {
		in.Name = c.Name
		for _, dim := range c.Pricing.Dimensions {
			if dim.Kind == "contract" && dim.Quantity > 0 {
				if in.Quantities == nil {
					in.Quantities = map[string]int64{}
				}
				in.Quantities[dim.Key] = dim.Quantity
			}
		}
		in.Duration = durationOf(c.Pricing, s.now())
	}
	fieldID := "extend-" + raID + "-buyer"
	var offerID string
	err = s.Emulator.World.Do(func(st *world.State) error {
		ra := st.ResaleAuthorizations[raID]
		if ra == nil {
			return world.Errorf(world.CodeNotFound, "resale authorization %s not found", raID)
		}
		if buyer == "" && len(ra.BuyerAccounts) > 0 {
			buyer = ra.BuyerAccounts[0]
		}
		if buyer == "" {
			buyer = strings.TrimSpace(r.PostForm.Get("buyer"))
			if !accountRE.MatchString(buyer) {
				return errNoBuyer
			}
		}
		in.BuyerAccounts = []string{buyer}
		o, err := st.CreatePartnerOffer(raID, in)
		if err != nil {
			return err
		}
		offerID = o.OfferID
		return nil
	})
	if errors.Is(err, errNoBuyer) {
		typed := r.PostForm.Get("buyer")
		if len(typed) > 40 || !marketplace.Storable(typed) {
			typed = ""
		}
		s.sandboxRefuseExtend(w, r, fieldError{ID: fieldID, Message: "Enter the 12-digit AWS account of the buyer the partner extends its offer to."}, typed)
		return
	}
	if err != nil {
		s.sandboxError(w, r, "Could not extend an offer from resale authorization "+raID, "authorization-"+raID, "authorizations", err)
		return
	}
	s.logger().Info("console: sandbox partner extended an offer", "resaleAuthorization", raID, "offer", offerID, "buyer", buyer, "user", sessionOf(r).User.Email)
	s.sandboxRedirect(w, r, "extended", "offer", offerID)
}

var errNoBuyer = errors.New("no buyer account")

func (s *Service) sandboxRefuseExtend(w http.ResponseWriter, r *http.Request, fe fieldError, typed string) {
	d, err := s.sandboxData(r.Context(), "", "", sandboxForm{typed: map[string]string{fe.ID: typed}})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fe.ID = d.target(fe.ID, "authorizations")
	s.render(w, r, http.StatusBadRequest, "sandbox", view{Title: "Sandbox", Nav: "sandbox", Data: d, Errors: []fieldError{fe}})
}

// durationOf is the emulator duration of a Concord offer's pricing: its ISO
// duration, or the days until its end date; "" leaves the emulator's default.
func durationOf(p offer.Pricing, now time.Time) string {
	if isoDuration.MatchString(p.Duration) {
		return p.Duration
	}
	if end, err := time.Parse(time.DateOnly, p.EndDate); err == nil {
		days := int(math.Ceil(end.AddDate(0, 0, 1).Sub(now).Hours() / 24))
		if days > 0 && days < 10000 {
			return "P" + strconv.Itoa(days) + "D"
		}
	}
	return ""
}

// sandboxAgreement renews, cancels, expires or amends an active agreement:
// new quantities replace it (intent REPLACE); auto-renewal changes it in
// place (intent AMEND).
func (s *Service) sandboxAgreement(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	action := r.PathValue("action")
	if !ok || !slices.Contains([]string{"renew", "cancel", "expire", "amend", "autorenew"}, action) {
		s.sandboxRefuse(w, r, http.StatusNotFound, fieldError{ID: "agreements", Message: "There is no such agreement action: use a button below."}, sandboxForm{})
		return
	}
	row := "agreement-" + id
	what := map[string]string{"renew": "Could not renew agreement ", "cancel": "Could not cancel agreement ",
		"expire": "Could not expire agreement ", "amend": "Could not amend agreement ", "autorenew": "Could not change the auto-renewal of agreement "}[action] + id
	var next string
	var refused *fieldError
	typed := map[string]string{}
	err := s.Emulator.World.Do(func(st *world.State) error {
		var a *world.Agreement
		var err error
		switch action {
		case "renew":
			a, err = st.Renew(id)
		case "cancel":
			_, err = st.Cancel(id)
		case "expire":
			_, err = st.Expire(id)
		case "autorenew":
			by := world.ByAcceptor
			if r.PostForm.Get("by") == "seller" {
				by = world.ByProposer
			}
			a, err = st.AmendInPlace(id, r.PostForm.Get("on") == "true", by)
		case "amend":
			old := st.Agreements[id]
			if old == nil {
				return world.Errorf(world.CodeNotFound, "agreement %s not found", id)
			}
			p := st.Products[old.ProductID]
			if p == nil {
				return world.Errorf(world.CodeNotFound, "product %s not found", old.ProductID)
			}
			q := map[string]int64{}
			changed := false
			for _, dim := range p.Dimensions {
				if dim.Kind != "contract" {
					continue
				}
				input := "amend-" + id + "-" + dim.Key
				v := strings.TrimSpace(r.PostForm.Get("q-" + dim.Key))
				if len(v) <= 20 && marketplace.Storable(v) {
					typed[input] = v
				}
				if v == "" {
					q[dim.Key] = old.Quantities[dim.Key]
					continue
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 || n > math.MaxInt32 {
					if refused == nil {
						refused = &fieldError{ID: input, Message: fmt.Sprintf("Enter a whole number from 0 to %d for %s.", math.MaxInt32, dim.Key)}
					}
					continue
				}
				q[dim.Key] = n
				changed = changed || n != old.Quantities[dim.Key]
			}
			if refused != nil {
				return nil
			}
			if !changed {
				if old.Status == "ACTIVE" {
					refused = &fieldError{ID: "amend-" + id, Message: "Change at least one quantity of agreement " + id + " to amend it."}
					return nil
				}
			}
			// The buyer accepts new quantities on the same offer: a
			// replacement (intent REPLACE); the old agreement ends as
			// REPLACED and the new one keeps its end date.
			a, err = st.Amend(id, "", "REPLACE", q)
		}
		if a != nil {
			next = a.ID
		}
		return err
	})
	if refused != nil {
		d, derr := s.sandboxData(r.Context(), "", "", sandboxForm{typed: typed})
		if derr != nil {
			s.fail(w, r, derr)
			return
		}
		if refused.ID == "amend-"+id {
			refused.ID = d.target(row, "agreements")
		} else {
			refused.ID = d.target(refused.ID, "agreements")
		}
		s.render(w, r, http.StatusBadRequest, "sandbox", view{Title: "Sandbox", Nav: "sandbox", Data: d, Errors: []fieldError{*refused}})
		return
	}
	if err != nil {
		s.sandboxError(w, r, what, row, "agreements", err)
		return
	}
	done := map[string]string{"renew": "renewed", "cancel": "cancelled", "expire": "expired", "amend": "amended", "autorenew": "autorenew"}[action]
	s.logger().Info("console: sandbox agreement "+done, "agreement", id, "next", next, "user", sessionOf(r).User.Email)
	if next != "" {
		s.sandboxRedirect(w, r, done, "agreement", next)
		return
	}
	s.sandboxRedirect(w, r, done, "", "")
}

// sandboxCancellation plays the buyer answering a seller's cancellation
// request: approve (the agreement ends as CANCELLED) or reject with a reason
// the seller sees (AWS's AcceptAgreementCancellationRequest and
// RejectAgreementCancellationRequest).
func (s *Service) sandboxCancellation(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	action := r.PathValue("action")
	if !ok || (action != "approve" && action != "reject") {
		s.sandboxRefuse(w, r, http.StatusNotFound, fieldError{ID: "agreements", Message: "There is no such cancellation request action: use a button below."}, sandboxForm{})
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	input := "reject-" + id + "-reason"
	if action == "reject" && (reason == "" || len([]rune(reason)) > world.MaxReasonMessage || !marketplace.Storable(reason)) {
		d, err := s.sandboxData(r.Context(), "", "", sandboxForm{})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusBadRequest, "sandbox", view{Title: "Sandbox", Nav: "sandbox", Data: d, Errors: []fieldError{{
			ID: d.target(input, "agreements"), Message: fmt.Sprintf("Give the buyer's reason for rejecting cancellation request %s: 1 to %d characters of text.", id, world.MaxReasonMessage)}}})
		return
	}
	err := s.Emulator.World.Do(func(st *world.State) error {
		cr := st.CancellationRequests[id]
		if cr == nil {
			return world.Errorf(world.CodeNotFound, "cancellation request %s not found", id)
		}
		var err error
		if action == "approve" {
			_, err = st.ApproveCancellationRequest(cr.AgreementID, cr.ID)
		} else {
			_, err = st.RejectCancellationRequest(cr.AgreementID, cr.ID, reason)
		}
		return err
	})
	if err != nil {
		s.sandboxError(w, r, "Could not "+action+" cancellation request "+id, "cancellation-"+id, "agreements", err)
		return
	}
	done := map[string]string{"approve": "cancellation-approved", "reject": "cancellation-rejected"}[action]
	s.logger().Info("console: sandbox "+done, "request", id, "user", sessionOf(r).User.Email)
	s.sandboxRedirect(w, r, done, "", "")
}

// sandboxPayment plays the buyer answering a seller's payment request
// (AWS's AcceptAgreementPaymentRequest and RejectAgreementPaymentRequest).
func (s *Service) sandboxPayment(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	action := r.PathValue("action")
	if !ok || (action != "accept" && action != "reject") {
		s.sandboxRefuse(w, r, http.StatusNotFound, fieldError{ID: "agreements", Message: "There is no such payment request action: use a button below."}, sandboxForm{})
		return
	}
	err := s.Emulator.World.Do(func(st *world.State) error {
		pr := st.PaymentRequests[id]
		if pr == nil {
			return world.Errorf(world.CodeNotFound, "payment request %s not found", id)
		}
		var err error
		if action == "accept" {
			_, err = st.ApprovePaymentRequest(pr.AgreementID, pr.ID, "")
		} else {
			_, err = st.RejectPaymentRequest(pr.AgreementID, pr.ID, "")
		}
		return err
	})
	if err != nil {
		s.sandboxError(w, r, "Could not "+action+" payment request "+id, "payment-"+id, "agreements", err)
		return
	}
	done := map[string]string{"accept": "payment-accepted", "reject": "payment-rejected"}[action]
	s.logger().Info("console: sandbox "+done, "request", id, "user", sessionOf(r).User.Email)
	s.sandboxRedirect(w, r, done, "", "")
}

// sandboxAdvisory plays AWS issuing or resolving an advisory on an agreement.
func (s *Service) sandboxAdvisory(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	action := r.PathValue("action")
	if !ok || (action != "issue" && action != "resolve") {
		s.sandboxRefuse(w, r, http.StatusNotFound, fieldError{ID: "agreements", Message: "There is no such advisory action: use a button below."}, sandboxForm{})
		return
	}
	err := s.Emulator.World.Do(func(st *world.State) error {
		var err error
		if action == "issue" {
			_, err = st.IssueAdvisory(id)
		} else {
			_, err = st.ResolveAdvisory(id)
		}
		return err
	})
	if err != nil {
		s.sandboxError(w, r, "Could not "+action+" an advisory on agreement "+id, "agreement-"+id, "agreements", err)
		return
	}
	done := map[string]string{"issue": "advisory-issued", "resolve": "advisory-resolved"}[action]
	s.logger().Info("console: sandbox "+done, "agreement", id, "user", sessionOf(r).User.Email)
	s.sandboxRedirect(w, r, done, "agreement", id)
}

// sandboxAWS plays AWS doing what no seller API does: pausing disbursements,
// failing the next refund or cancellation request.
func (s *Service) sandboxAWS(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	kinds := map[string]string{"fail-next-refund": world.FailBillingAdjustment, "fail-next-cancellation": world.FailCancellationRequest}
	if _, ok := kinds[action]; !ok && action != "pause-disbursement" {
		s.sandboxRefuse(w, r, http.StatusNotFound, fieldError{ID: "aws-actions", Message: "There is no such action: use a button below."}, sandboxForm{})
		return
	}
	done := action
	err := s.Emulator.World.Do(func(st *world.State) error {
		if action == "pause-disbursement" {
			done = "disbursement-paused"
			return st.PauseDisbursement("")
		}
		return st.SetFailNext(kinds[action], "")
	})
	if err != nil {
		s.sandboxError(w, r, "Could not play AWS", "aws-actions", "aws-actions", err)
		return
	}
	s.logger().Info("console: sandbox "+done, "user", sessionOf(r).User.Email)
	s.sandboxRedirect(w, r, done, "", "")
}
