package emulator

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// The control API plays everyone AWS does not let a seller be: the buyer, the
// channel partner, and AWS's clock. It is documented in docs/emulator.md.

// controlAllowed checks the control token when the emulator has one: no token
// is 401, a wrong one 403, and the request goes no further.
func (e *Emulator) controlAllowed(w http.ResponseWriter, r *http.Request) bool {
	if e.o.ControlToken == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || got == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="concord-sandbox"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "the sandbox control API needs the sandbox token: Authorization: Bearer <data-dir>/sandbox.token", "code": "Unauthorized"})
		return false
	case subtle.ConstantTimeCompare([]byte(got), []byte(e.o.ControlToken)) != 1:
		writeJSON(w, http.StatusForbidden, map[string]any{"error": "wrong sandbox token", "code": "Forbidden"})
		return false
	}
	return true
}

// controlHandler builds the control API; New calls it once.
func (e *Emulator) controlHandler() http.Handler {
	mux := http.NewServeMux()
	do := func(fn func(r *http.Request, s *world.State) (any, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			// Encode inside the lock: the answer points into the world's state,
			// which the ticker may change as soon as the lock is released.
			var out json.RawMessage
			err := e.World.Do(func(s *world.State) error {
				v, err := fn(r, s)
				if err != nil {
					return err
				}
				out, err = json.Marshal(v)
				return err
			})
			reply(w, out, err)
		}
	}
	mux.HandleFunc("GET /control/state", func(w http.ResponseWriter, r *http.Request) {
		b, err := e.World.Snapshot()
		if err != nil {
			reply(w, nil, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("PUT /control/state", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
		if err == nil {
			err = e.World.Restore(b)
		}
		reply(w, map[string]any{"restored": err == nil}, err)
	})
	mux.HandleFunc("PUT /control/world", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err == nil {
			err = e.LoadWorld(b)
		}
		reply(w, map[string]any{"loaded": err == nil}, err)
	})
	mux.HandleFunc("POST /control/products", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			world.Product
			ConcurrentAgreements *bool `json:"concurrentAgreements"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		in.Product.ConcurrentAgreements = in.ConcurrentAgreements == nil || *in.ConcurrentAgreements
		return s.CreateProduct(in.Product)
	}))
	mux.HandleFunc("GET /control/products", do(func(r *http.Request, s *world.State) (any, error) {
		return values(s.Products), nil
	}))
	mux.HandleFunc("POST /control/buyers", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			AccountID string `json:"accountId"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return s.CreateBuyer(in.AccountID)
	}))
	mux.HandleFunc("GET /control/buyers", do(func(r *http.Request, s *world.State) (any, error) { return values(s.Buyers), nil }))
	mux.HandleFunc("POST /control/offers", do(func(r *http.Request, s *world.State) (any, error) {
		var in offerInput
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		o, err := in.offer()
		if err != nil {
			return nil, err
		}
		return s.CreatePrivateOffer(o)
	}))
	mux.HandleFunc("GET /control/offers", do(func(r *http.Request, s *world.State) (any, error) { return values(s.Offers), nil }))
	mux.HandleFunc("POST /control/resale-authorizations", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct{ ProductID, ResellerAccountID, Name string }
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return s.CreateResaleAuthorization(in.ProductID, in.ResellerAccountID, in.Name)
	}))
	mux.HandleFunc("POST /control/partner-offers", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			offerInput
			ResaleAuthorizationID string `json:"resaleAuthorizationId"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if in.ProductID != "" {
			return nil, world.Errorf(world.CodeValidation, "a partner offer is for its resale authorization's product: leave productId out")
		}
		o, err := in.offer()
		if err != nil {
			return nil, err
		}
		return s.CreatePartnerOffer(in.ResaleAuthorizationID, o)
	}))
	mux.HandleFunc("POST /control/accept", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			Buyer      string           `json:"buyer"`
			OfferID    string           `json:"offerId"`
			ProductID  string           `json:"productId"`
			Quantities map[string]int64 `json:"quantities"`
			StartDate  *time.Time       `json:"startDate"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if in.OfferID == "" {
			p := s.Products[in.ProductID]
			if p == nil {
				return nil, world.Errorf(world.CodeValidation, "give offerId, or productId to accept the product's public offer")
			}
			in.OfferID = p.PublicOfferID
		}
		if _, err := s.CreateBuyer(in.Buyer); err != nil {
			return nil, err
		}
		return s.Accept(in.Buyer, in.OfferID, world.AcceptOptions{Quantities: in.Quantities, StartDate: in.StartDate})
	}))
	mux.HandleFunc("GET /control/agreements", do(func(r *http.Request, s *world.State) (any, error) { return values(s.Agreements), nil }))
	mux.HandleFunc("POST /control/agreements/{id}/{action}", do(func(r *http.Request, s *world.State) (any, error) {
		id := r.PathValue("id")
		switch r.PathValue("action") {
		case "amend":
			var in struct {
				OfferID    string           `json:"offerId"`
				Intent     string           `json:"intent"`
				Quantities map[string]int64 `json:"quantities"`
				// AutoRenew and By change the agreement in place (intent
				// AMEND): auto-renewal on or off, by ACCEPTOR or PROPOSER.
				AutoRenew *bool  `json:"autoRenew"`
				By        string `json:"by"`
			}
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			if in.AutoRenew != nil || in.Intent == "AMEND" {
				if in.AutoRenew == nil || in.OfferID != "" || in.Quantities != nil {
					return nil, world.Errorf(world.CodeValidation, "an in-place amendment (intent AMEND) changes auto-renewal only: give autoRenew (true or false) and by (ACCEPTOR or PROPOSER), "+
						"and no offerId or quantities; a new offer or new quantities replace the agreement (intent REPLACE)")
				}
				return s.AmendInPlace(id, *in.AutoRenew, in.By)
			}
			return s.Amend(id, in.OfferID, in.Intent, in.Quantities)
		case "renew":
			return s.Renew(id)
		case "cancel":
			return s.Cancel(id)
		case "expire":
			return s.Expire(id)
		case "advisory":
			// AWS issues and resolves advisories; no AWS API does (a sandbox action).
			var in struct {
				Resolve bool `json:"resolve"`
			}
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			if in.Resolve {
				return s.ResolveAdvisory(id)
			}
			return s.IssueAdvisory(id)
		}
		return nil, world.Errorf(world.CodeNotFound, "unknown action %q: use amend, renew, cancel, expire or advisory", r.PathValue("action"))
	}))
	// The buyer's answers to a seller's cancellation request (what AWS's
	// AcceptAgreementCancellationRequest / RejectAgreementCancellationRequest
	// do for a buyer), and the requests as the world holds them.
	mux.HandleFunc("GET /control/cancellation-requests", do(func(r *http.Request, s *world.State) (any, error) {
		q := r.URL.Query()
		out := s.CancellationRequestsOf(q.Get("agreementId"), q.Get("status"))
		if out == nil {
			out = []*world.CancellationRequest{}
		}
		return out, nil
	}))
	mux.HandleFunc("POST /control/cancellation-requests/{id}/{action}", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			Reason string `json:"reason"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		cr := s.CancellationRequests[r.PathValue("id")]
		if cr == nil {
			return nil, world.Errorf(world.CodeNotFound, "cancellation request %s not found", r.PathValue("id"))
		}
		switch r.PathValue("action") {
		case "approve":
			if in.Reason != "" {
				return nil, world.Errorf(world.CodeValidation, "approving takes no reason")
			}
			return s.ApproveCancellationRequest(cr.AgreementID, cr.ID)
		case "reject":
			return s.RejectCancellationRequest(cr.AgreementID, cr.ID, in.Reason)
		}
		return nil, world.Errorf(world.CodeNotFound, "unknown action %q: use approve or reject", r.PathValue("action"))
	}))
	mux.HandleFunc("GET /control/billing-adjustments", do(func(r *http.Request, s *world.State) (any, error) {
		out := s.BillingAdjustmentsOf(r.URL.Query().Get("agreementId"), r.URL.Query().Get("status"))
		if out == nil {
			out = []*world.BillingAdjustment{}
		}
		return out, nil
	}))
	// The buyer's answers to a seller's payment request (what AWS's
	// AcceptAgreementPaymentRequest / RejectAgreementPaymentRequest do for a
	// buyer).
	mux.HandleFunc("GET /control/payment-requests", do(func(r *http.Request, s *world.State) (any, error) {
		out := s.PaymentRequestsOf(r.URL.Query().Get("agreementId"), r.URL.Query().Get("status"))
		if out == nil {
			out = []*world.PaymentRequest{}
		}
		return out, nil
	}))
	mux.HandleFunc("POST /control/payment-requests/{id}/{action}", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			Reason                 string `json:"reason"`
			PurchaseOrderReference string `json:"purchaseOrderReference"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		pr := s.PaymentRequests[r.PathValue("id")]
		if pr == nil {
			return nil, world.Errorf(world.CodeNotFound, "payment request %s not found", r.PathValue("id"))
		}
		switch r.PathValue("action") {
		case "accept":
			if in.Reason != "" {
				return nil, world.Errorf(world.CodeValidation, "accepting takes no reason")
			}
			return s.ApprovePaymentRequest(pr.AgreementID, pr.ID, in.PurchaseOrderReference)
		case "reject":
			if in.PurchaseOrderReference != "" {
				return nil, world.Errorf(world.CodeValidation, "rejecting takes no purchase order")
			}
			return s.RejectPaymentRequest(pr.AgreementID, pr.ID, in.Reason)
		}
		return nil, world.Errorf(world.CodeNotFound, "unknown action %q: use accept or reject", r.PathValue("action"))
	}))
	// AWS pauses the seller's disbursements (Disbursement Paused); no AWS API
	// does it.
	mux.HandleFunc("POST /control/disbursement-paused", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			PaymentInstrumentArn string `json:"paymentInstrumentArn"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return map[string]any{"paused": true}, s.PauseDisbursement(in.PaymentInstrumentArn)
	}))
	// fail-next makes the next request of a kind fail AWS's asynchronous
	// validation (a sandbox fault).
	mux.HandleFunc("POST /control/fail-next", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			Kind    string `json:"kind"`
			Message string `json:"message"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if err := s.SetFailNext(in.Kind, in.Message); err != nil {
			return nil, err
		}
		return map[string]any{"failNext": s.FailNext}, nil
	}))
	mux.HandleFunc("GET /control/licenses", do(func(r *http.Request, s *world.State) (any, error) { return values(s.Licenses), nil }))
	mux.HandleFunc("POST /control/tokens", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			LicenseArn  string `json:"licenseArn"`
			AgreementID string `json:"agreementId"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return s.MintToken(in.LicenseArn + in.AgreementID)
	}))
	mux.HandleFunc("POST /control/register", func(w http.ResponseWriter, r *http.Request) {
		var in RegisterInput
		if err := decode(r, &in); err != nil {
			reply(w, nil, err)
			return
		}
		out, err := e.Register(r.Context(), in)
		reply(w, out, err)
	})
	mux.HandleFunc("GET /control/register", e.RegisterPage)
	mux.HandleFunc("GET /control/clock", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"now": e.World.Now()}, nil)
	})
	mux.HandleFunc("POST /control/clock/advance", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Duration string `json:"duration"`
		}
		if err := decode(r, &in); err != nil {
			reply(w, nil, err)
			return
		}
		d, err := time.ParseDuration(in.Duration)
		if err != nil {
			reply(w, nil, world.Errorf(world.CodeValidation, "duration %q: use a Go duration such as 90m or 48h", in.Duration))
			return
		}
		err = e.World.Advance(d)
		reply(w, map[string]any{"now": e.World.Now()}, err)
	})
	mux.HandleFunc("PUT /control/faults", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			Seed   uint64 `json:"seed"`
			Faults map[string]struct {
				LatencyMS        int64   `json:"latencyMs"`
				ThrottleShare    float64 `json:"throttleShare"`
				ErrorShare       float64 `json:"errorShare"`
				UnprocessedShare float64 `json:"unprocessedShare"`
			} `json:"faults"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		f := map[string]world.Fault{}
		for op, v := range in.Faults {
			for _, share := range []float64{v.ThrottleShare, v.ErrorShare, v.UnprocessedShare} {
				if share < 0 || share > 1 {
					return nil, world.Errorf(world.CodeValidation, "shares are probabilities between 0 and 1")
				}
			}
			if v.LatencyMS < 0 || v.LatencyMS > 60000 {
				return nil, world.Errorf(world.CodeValidation, "latencyMs must be between 0 and 60000")
			}
			f[op] = world.Fault{Latency: time.Duration(v.LatencyMS) * time.Millisecond, ThrottleShare: v.ThrottleShare, ErrorShare: v.ErrorShare, UnprocessedShare: v.UnprocessedShare}
		}
		if in.Seed == 0 {
			in.Seed = 1
		}
		s.SetFaults(f, in.Seed)
		return map[string]any{"seed": in.Seed, "faults": s.Faults}, nil
	}))
	mux.HandleFunc("PUT /control/config", do(func(r *http.Request, s *world.State) (any, error) {
		var in struct {
			MeteringWindow *string  `json:"meteringWindow"`
			MonthEndGrace  *bool    `json:"monthEndGrace"`
			ThrottleRPS    *float64 `json:"throttleRps"`
			TokenTTL       *string  `json:"tokenTtl"`
			FinalWindow    *string  `json:"finalWindow"`
			ChangeSetDelay *string  `json:"changeSetDelay"`
			// AdjustmentDelay is how long a billing adjustment stays PENDING.
			AdjustmentDelay *string `json:"adjustmentDelay"`
			// RenewalLockout is how long before its end an auto-renewing
			// agreement reaches its lockout.
			RenewalLockout *string `json:"renewalLockout"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		c := s.Config
		for _, d := range []struct {
			in  *string
			out *time.Duration
		}{{in.MeteringWindow, &c.MeteringWindow}, {in.TokenTTL, &c.TokenTTL}, {in.FinalWindow, &c.FinalWindow}, {in.ChangeSetDelay, &c.ChangeSetDelay}, {in.AdjustmentDelay, &c.AdjustmentDelay}, {in.RenewalLockout, &c.RenewalLockout}} {
			if d.in != nil {
				v, err := time.ParseDuration(*d.in)
				if err != nil || v < 0 {
					return nil, world.Errorf(world.CodeValidation, "%q is not a duration such as 6h", *d.in)
				}
				*d.out = v
			}
		}
		if in.MonthEndGrace != nil {
			c.MonthEndGrace = *in.MonthEndGrace
		}
		if in.ThrottleRPS != nil {
			if *in.ThrottleRPS < 0 {
				return nil, world.Errorf(world.CodeValidation, "throttleRps cannot be negative")
			}
			c.ThrottleRPS = *in.ThrottleRPS
		}
		s.Config = c
		return c, nil
	}))
	mux.HandleFunc("GET /control/metering", do(func(r *http.Request, s *world.State) (any, error) { return s.Metering, nil }))
	mux.HandleFunc("GET /control/events", do(func(r *http.Request, s *world.State) (any, error) { return s.Events, nil }))
	mux.HandleFunc("GET /control/targets", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"targets": e.Targets(), "deliveries": e.Deliveries()}, nil)
	})
	mux.HandleFunc("POST /control/targets", func(w http.ResponseWriter, r *http.Request) {
		var in Target
		if err := decode(r, &in); err != nil {
			reply(w, nil, err)
			return
		}
		t, err := e.AddTarget(in)
		reply(w, t, err)
	})
	return http.MaxBytesHandler(mux, 8<<20)
}

// RegisterPage is the page AWS Marketplace shows after a purchase, for a human
// in a real browser: a button that POSTs a fresh token to the fulfillment URL
// (?url=, or the sandbox's own registration page) for ?license= or ?agreement=.
// The control API serves it at GET /control/register; the seller console serves
// it to signed-in users, so a browser needs no control token.
func (e *Emulator) RegisterPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := q.Get("url")
	if target == "" && e.o.FulfillmentURL != nil {
		target = e.o.FulfillmentURL()
	}
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		http.Error(w, "give ?url=<fulfillment URL> (and ?agreement= or ?license=)", http.StatusBadRequest)
		return
	}
	var tok *world.Token
	err := e.World.Do(func(s *world.State) error {
		var err error
		tok, err = s.MintToken(q.Get("license") + q.Get("agreement"))
		return err
	})
	if err != nil {
		reply(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	registerPage.Execute(w, map[string]string{"URL": target, "Token": tok.Value, "License": tok.LicenseArn, "Account": tok.AccountID})
}

// offerInput is what the control API takes to make an offer: the members a
// seller (or partner) chooses, and none of the world's bookkeeping (id,
// state, Catalog details), so that an offer it makes obeys the same rules
// as one made through the Catalog API (world.State.CreatePrivateOffer).
type offerInput struct {
	ProductID      string            `json:"productId"`
	Name           string            `json:"name"`
	BuyerAccounts  []string          `json:"buyerAccounts"`
	Quantities     map[string]int64  `json:"quantities"`
	Prices         map[string]string `json:"prices"`
	Currency       string            `json:"currency"`
	Duration       string            `json:"duration"`
	StartDate      *time.Time        `json:"startDate"`
	ExpirationDate *time.Time        `json:"expirationDate"`
	AutoRenew      bool              `json:"autoRenew"`
	// VariablePayment, when set, adds a VariablePaymentTerm: the seller may
	// then send payment requests up to its maximum.
	VariablePayment *struct {
		MaxTotalChargeAmount string `json:"maxTotalChargeAmount"`
		// ApprovalStrategy is AUTO_APPROVE_ON_EXPIRATION (with
		// ExpirationDuration, e.g. P10D) or WAIT_FOR_APPROVAL.
		ApprovalStrategy   string `json:"approvalStrategy"`
		ExpirationDuration string `json:"expirationDuration"`
	} `json:"variablePayment"`
}

func (in offerInput) offer() (world.Offer, error) {
	o := world.Offer{ProductID: in.ProductID, Name: in.Name, BuyerAccounts: in.BuyerAccounts, Quantities: in.Quantities,
		Prices: in.Prices, Currency: in.Currency, Duration: in.Duration, StartDate: in.StartDate, ExpirationDate: in.ExpirationDate,
		AutoRenew: in.AutoRenew}
	if v := in.VariablePayment; v != nil {
		t, err := world.VariablePaymentTerm(v.MaxTotalChargeAmount, in.Currency, v.ApprovalStrategy, v.ExpirationDuration)
		if err != nil {
			return o, err
		}
		o.Terms = append(o.Terms, t)
	}
	return o, nil
}

// RegisterInput says which buyer registration to perform.
type RegisterInput struct {
	// Token to post; when empty one is minted for LicenseArn or AgreementID.
	Token          string `json:"token"`
	LicenseArn     string `json:"licenseArn"`
	AgreementID    string `json:"agreementId"`
	FulfillmentURL string `json:"fulfillmentUrl"`
	// Client, for in-process callers, is the buyer's browser (its cookie jar
	// keeps the session for the rest of the registration); nil is a fresh one.
	Client *http.Client `json:"-"`
}

// RegisterOutput is what the buyer's browser saw.
type RegisterOutput struct {
	Token    string `json:"token"`
	Status   int    `json:"status"`
	FinalURL string `json:"finalUrl"`
	Body     string `json:"body"`
}

// Register plays the buyer's browser after subscribing: it POSTs the form field
// x-amzn-marketplace-token to the fulfillment URL and follows redirects with a
// cookie jar, as a browser does.
func (e *Emulator) Register(ctx context.Context, in RegisterInput) (RegisterOutput, error) {
	if in.FulfillmentURL == "" && e.o.FulfillmentURL != nil {
		in.FulfillmentURL = e.o.FulfillmentURL()
	}
	u, err := url.Parse(in.FulfillmentURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return RegisterOutput{}, world.Errorf(world.CodeValidation, "fulfillmentUrl %q must be an http(s) URL", in.FulfillmentURL)
	}
	if in.Token == "" {
		err := e.World.Do(func(s *world.State) error {
			t, err := s.MintToken(in.LicenseArn + in.AgreementID)
			if err == nil {
				in.Token = t.Value
			}
			return err
		})
		if err != nil {
			return RegisterOutput{}, err
		}
	}
	client := in.Client
	if client == nil {
		jar, _ := cookiejar.New(nil)
		client = &http.Client{Jar: jar, Timeout: 15 * time.Second, Transport: e.o.HTTPClient.Transport}
	}
	form := url.Values{"x-amzn-marketplace-token": {in.Token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.FulfillmentURL, strings.NewReader(form.Encode()))
	if err != nil {
		return RegisterOutput{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return RegisterOutput{Token: in.Token}, fmt.Errorf("post to the fulfillment URL: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return RegisterOutput{Token: in.Token, Status: resp.StatusCode, FinalURL: resp.Request.URL.String(), Body: string(body)}, nil
}

func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return world.Errorf(world.CodeValidation, "could not read the body: %v", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return world.Errorf(world.CodeValidation, "invalid JSON body: %v", err)
	}
	return nil
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		status := http.StatusInternalServerError
		switch world.CodeOf(err) {
		case world.CodeValidation:
			status = http.StatusBadRequest
		case world.CodeNotFound:
			status = http.StatusNotFound
		case world.CodeConflict:
			status = http.StatusConflict
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		msg := err.Error()
		var we *world.Error
		if errors.As(err, &we) {
			msg = we.Message
		}
		writeJSON(w, status, map[string]any{"error": msg, "code": world.CodeOf(err)})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func values[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range world.SortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

var registerPage = template.Must(template.New("register").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>AWS Marketplace (emulated): set up your account</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#16191f}
button{font:inherit;font-weight:600;background:#ec7211;color:#fff;border:0;border-radius:4px;padding:.7rem 1.2rem;cursor:pointer}
.meta{color:#545b64;font-size:.9rem;word-break:break-all}</style></head>
<body><h1>Thank you for your purchase</h1>
<p>This is Concord's AWS Marketplace emulator. Account {{.Account}} now holds license</p>
<p class="meta">{{.License}}</p>
<form method="post" action="{{.URL}}"><input type="hidden" name="x-amzn-marketplace-token" value="{{.Token}}">
<button type="submit">Set up your account</button></form>
<p class="meta">The button posts a registration token to {{.URL}}, as AWS Marketplace does.</p>
</body></html>
`))
