package readiness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/readiness"
	"github.com/concordmp/concord/internal/registration"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// t0 is half past an hour: usage reported now falls in the 12:00 hour.
var t0 = time.Date(2026, 11, 2, 12, 30, 0, 0, time.UTC)

const (
	product = "prod-ca"
	code    = "cacode"
	buyerA  = "111100002222"
	buyerB  = "333300004444"
)

// fixture is a database with the services app.NewServices wires (so the
// ledger runs the real license and agreement hooks), on a fake clock, with
// AWS played by fakes: ResolveCustomer, GetEntitlements and BatchMeterUsage.
type fixture struct {
	t     *testing.T
	db    *store.DB
	clock *clocktest.Clock
	s     app.Services
	srv   *httptest.Server
	aws   *fakeAWS
	agmts map[string]eventbridge.Agreement
}

func setup(t *testing.T, db *store.DB, p marketplace.Product) *fixture {
	t.Helper()
	f := &fixture{t: t, db: db, clock: clocktest.New(t0), aws: &fakeAWS{tokens: map[string]awsmp.Customer{}}, agmts: map[string]eventbridge.Agreement{}}
	f.s = app.NewServices(db, f.clock.Now, slog.New(slog.DiscardHandler))
	f.s.Metering.API, f.s.Registration.Resolver, f.s.Entitlements.API = f.aws, f.aws, f.aws
	mux := http.NewServeMux()
	f.s.Registration.Mount(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	if p.ProductID == "" {
		p = marketplace.Product{ProductID: product, ProductCode: code, Title: "CA Analytics", Type: marketplace.ProductSaaSContractConsumption,
			ConcurrentAgreements: true, Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}}}
	}
	if _, err := f.s.Ledger.PutProduct(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeAWS answers ResolveCustomer for the tokens the test hands out,
// GetEntitlements with one seat, and BatchMeterUsage with Success.
type fakeAWS struct {
	mu     sync.Mutex
	tokens map[string]awsmp.Customer
	n      int
}

func (a *fakeAWS) ResolveCustomer(_ context.Context, token string) (awsmp.Customer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.tokens[token]
	if !ok {
		return c, fmt.Errorf("%w: unknown", awsmp.ErrInvalidToken)
	}
	return c, nil
}

func (a *fakeAWS) GetEntitlements(_ context.Context, _ string, f awsmp.EntitlementFilter) ([]marketplace.Entitlement, error) {
	one := int64(1)
	return []marketplace.Entitlement{{Dimension: "seats", Integer: &one, LicenseArn: f.LicenseArn}}, nil
}

func (a *fakeAWS) BatchMeterUsage(_ context.Context, _ string, recs []metering.SendRecord) ([]metering.SendResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]metering.SendResult, len(recs))
	for i := range recs {
		a.n++
		out[i] = metering.SendResult{Status: metering.AWSSuccess, MeteringRecordID: fmt.Sprintf("mr-%d", a.n)}
	}
	return out, nil
}

func (f *fixture) event(door string, body []byte) {
	f.t.Helper()
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.s.Ledger.Ingest(context.Background(), door, ev); err != nil {
		f.t.Fatal(err)
	}
}

// zeroOffer tracks a $0 private offer for buyer (made outside Concord and
// associated by its offer id, which is how Concord learns an offer it did
// not publish itself) and returns its Concord id.
func (f *fixture) offer(buyer, offerID string, zero bool) string {
	f.t.Helper()
	price, usage := "0", "0"
	if !zero {
		price, usage = "120.00", "0.01"
	}
	form := offer.Offer{Type: offer.TypeDirect, BuyerCompany: "Test buyer " + buyer, ProductID: product, ZeroDollar: zero,
		Pricing: offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{
			{Key: "seats", Kind: "contract", Quantity: 1, Price: price}, {Key: "api_calls", Kind: "usage", Price: usage}}},
		EULA: offer.Legal{Kind: "standard"}, Metadata: map[string]string{offer.MetaBuyerAccount: buyer}, ExpiresOn: "2099-12-31"}
	d, err := f.s.Offers.Associate(context.Background(), offer.Association{Form: form, OfferID: offerID})
	if err != nil {
		f.t.Fatalf("associate offer: %v", err)
	}
	return d.ID
}

// accept plays AWS after buyer accepted offerID at `at`: Purchase Agreement
// Created, then License Updated with the LicenseArn, through door.
func (f *fixture) accept(door, id, buyer, offerID string, at time.Time) string {
	f.t.Helper()
	a := eventbridge.Agreement{ID: id, Intent: "NEW", AcceptanceTime: at, StartTime: at, EndTime: at.AddDate(1, 0, 0),
		AcceptorAccountID: buyer, ProposerAccountID: inboxtest.Seller, OfferID: offerID, ProductID: product, ProductCode: code}
	f.agmts[id] = a
	arn := eventbridge.LicenseArn(buyer, "l-"+strings.TrimPrefix(id, "agmt-"))
	f.event(door, eventbridge.Created(inboxtest.Seller, a, at))
	f.event(door, eventbridge.LicenseUpdated(inboxtest.Seller, a, arn, at))
	return arn
}

// end ends agreement id now and, when deprovision, revokes its license.
func (f *fixture) end(id, arn string, deprovision bool) {
	f.t.Helper()
	a := f.agmts[id]
	f.event(inbox.DoorSQS, eventbridge.Ended(inboxtest.Seller, a, marketplace.StatusCancelled, f.clock.Now()))
	if deprovision {
		f.event(inbox.DoorSQS, eventbridge.LicenseDeprovisioned(inboxtest.Seller, a, arn, f.clock.Now()))
	}
}

// meter reports usage of arn in the current hour, then moves the clock past
// the hour's grace and sends what is due to (fake) AWS.
func (f *fixture) meter(arn string, quantity int) {
	f.t.Helper()
	ctx := context.Background()
	rec, _ := json.Marshal(map[string]any{"license": arn, "dimension": "api_calls", "quantity": quantity,
		"timestamp": f.clock.Now().Format(time.RFC3339), "idempotencyKey": fmt.Sprintf("%s-%d", arn, f.clock.Now().UnixNano())})
	res, err := f.s.Metering.Ingest(ctx, []json.RawMessage{rec})
	if err != nil || res.Accepted != 1 {
		f.t.Fatalf("ingest: %+v %v", res, err)
	}
	f.clock.Set(f.clock.Now().Truncate(time.Hour).Add(time.Hour + 11*time.Minute))
	f.send()
}

// send closes due hours and sends them.
func (f *fixture) send() {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.s.Metering.Close(ctx); err != nil {
		f.t.Fatal(err)
	}
	for range 100 {
		worked, err := f.s.Metering.SendOne(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if !worked {
			return
		}
	}
	f.t.Fatal("still sending after 100 calls")
}

var csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// register plays the buyer's browser at the fulfillment URL: ResolveCustomer
// returns the LicenseArn, the buyer fills in the page.
func (f *fixture) register(account, arn string) {
	f.t.Helper()
	token := "tok-" + marketplace.LicenseID(arn)
	f.aws.mu.Lock()
	f.aws.tokens[token] = awsmp.Customer{AccountID: account, ProductCode: code, LicenseArn: arn}
	f.aws.mu.Unlock()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(f.srv.URL+"/marketplace/register", url.Values{registration.TokenField: {token}})
	if err != nil {
		f.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrf.FindSubmatch(page)
	if m == nil {
		f.t.Fatalf("registration page has no form: %s", page)
	}
	resp, err = c.PostForm(f.srv.URL+"/marketplace/register/submit", url.Values{"csrf": {string(m[1])}, "company": {"Test " + account},
		"contactName": {"Ada"}, "email": {"ada@example.com"}})
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		f.t.Fatalf("register: %d", resp.StatusCode)
	}
}

func (f *fixture) entitlements(arn string) {
	f.t.Helper()
	if err := f.s.Entitlements.Refresh(context.Background(), arn); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) report(accounts ...string) readiness.Readiness {
	f.t.Helper()
	r, err := readiness.Report(context.Background(), f.db, product, accounts, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// check returns the check id (of account, when given) and fails the test if
// there is not exactly one.
func check(t *testing.T, r readiness.Readiness, id, account string) readiness.CheckResult {
	t.Helper()
	var found []readiness.CheckResult
	for _, c := range r.Checks {
		if c.ID == id && c.Account == account {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("check %s %s: found %d in %+v", id, account, len(found), r.Checks)
	}
	return found[0]
}

// expect asserts a check's status and that its message holds every part.
func expect(t *testing.T, r readiness.Readiness, id, account, status string, parts ...string) {
	t.Helper()
	c := check(t, r, id, account)
	if c.Status != status {
		t.Errorf("check %s %s is %s, want %s: %s", id, account, c.Status, status, c.Message)
	}
	for _, p := range parts {
		if !strings.Contains(c.Message, p) {
			t.Errorf("check %s %s says %q, want it to mention %q", id, account, c.Message, p)
		}
	}
}

func step(t *testing.T, r readiness.Readiness, id string) readiness.ChecklistStep {
	t.Helper()
	for _, s := range r.Checklist {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no step %s", id)
	return readiness.ChecklistStep{}
}

// expectStep asserts a step's status and that its evidence holds every part.
func expectStep(t *testing.T, r readiness.Readiness, id, status string, parts ...string) {
	t.Helper()
	s := step(t, r, id)
	ev := strings.Join(s.Evidence, " | ")
	if s.Status != status {
		t.Errorf("step %s is %s, want %s: %s", id, s.Status, status, ev)
	}
	for _, p := range parts {
		if !strings.Contains(ev, p) {
			t.Errorf("step %s shows %q, want it to mention %q", id, ev, p)
		}
	}
}

// TestReadyAfterTheTests walks the whole opt-in test: a buyer accepts two $0
// private offers, registers, gets its entitlements fetched, and each license
// is metered. Until the second license is metered the report is not ready;
// then every check passes and the checklist shows the evidence of each step.
func TestReadyAfterTheTests(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db, marketplace.Product{})
		ofr1, ofr2 := f.offer(buyerA, "offer-zero1", true), f.offer(buyerA, "offer-zero2", true)
		arn1 := f.accept(inbox.DoorSQS, "agmt-one", buyerA, "offer-zero1", t0.Add(-3*time.Hour))
		arn2 := f.accept(inbox.DoorHTTP, "agmt-two", buyerA, "offer-zero2", t0.Add(-2*time.Hour))
		f.register(buyerA, arn1)
		f.entitlements(arn1)
		f.entitlements(arn2)
		f.meter(arn1, 7)

		r := f.report()
		if r.AccountsFrom != "found" || len(r.Accounts) != 1 || r.Accounts[0].AccountID != buyerA || fmt.Sprint(r.Accounts[0].Source) != "[zero-dollar offer]" {
			t.Fatalf("accounts: %s %+v", r.AccountsFrom, r.Accounts)
		}
		ags := r.Accounts[0].Agreements
		if len(ags) != 2 || ags[0].AgreementID != "agmt-one" || ags[1].AgreementID != "agmt-two" || ags[0].ConcordOffer != ofr1 || ags[1].ConcordOffer != ofr2 ||
			ags[0].ZeroDollar != "yes" || ags[0].OfferID != "offer-zero1" || ags[0].Status != marketplace.StatusActive || !ags[0].AcceptedAt.Equal(t0.Add(-3*time.Hour)) {
			t.Fatalf("agreements: %+v", ags)
		}
		l1, l2 := ags[0].Licenses[0], ags[1].Licenses[0]
		if l1.LicenseArn != arn1 || !l1.MeteringTested || l1.MeteredRecords != 1 || l1.MeteredUnits != 7 || !l1.Registered || !l1.EntitlementsFetched ||
			l1.RegistrationSource != marketplace.SourceRegistration {
			t.Fatalf("first license: %+v", l1)
		}
		if l2.LicenseArn != arn2 || l2.MeteringTested || l2.Registered || !l2.EntitlementsFetched {
			t.Fatalf("second license: %+v", l2)
		}
		if r.Ready || r.Submission != "" || r.Summary != "not ready: 1 of 6 checks fail" {
			t.Fatalf("ready %v, summary %q", r.Ready, r.Summary)
		}
		expect(t, r, "test-accounts", "", readiness.Pass, buyerA+" (zero-dollar offer)")
		expect(t, r, "concurrent-agreements", buyerA, readiness.Pass, "holds 2 concurrent agreements: agmt-one, agmt-two")
		expect(t, r, "license-arns", "", readiness.Pass, "2 test agreements with 2 LicenseArns")
		expect(t, r, "zero-dollar", "", readiness.Pass)
		expect(t, r, "metering-tested", "", readiness.Pass, "l-one: 1 record accepted")
		expect(t, r, "metering-each-license", "", readiness.Fail,
			"license l-two (agreement agmt-two, account "+buyerA+") has no accepted metering record yet: report usage for it")

		var csv bytes.Buffer
		readiness.WriteCSV(&csv, r)
		want := "product_id,account_id,agreement_id,license_arn,metering_tested\n" +
			product + "," + buyerA + ",agmt-one," + arn1 + ",yes\n" +
			product + "," + buyerA + ",agmt-two," + arn2 + ",no\n"
		if csv.String() != want {
			t.Fatalf("csv:\n%s\nwant:\n%s", csv.String(), want)
		}

		f.meter(arn2, 3)
		r = f.report()
		if !r.Ready || !strings.HasPrefix(r.Summary, "ready") {
			t.Fatalf("not ready after metering both: %+v", r.Checks)
		}
		expect(t, r, "metering-each-license", "", readiness.Pass, "every test license in force was metered by its own LicenseArn (2 licenses)")
		for _, s := range []string{"Product ID: " + product + " (CA Analytics)", "agmt-one  " + arn1, "agmt-two  " + arn2, "cannot be rolled back"} {
			if !strings.Contains(r.Submission, s) {
				t.Errorf("submission lacks %q:\n%s", s, r.Submission)
			}
		}
		var text bytes.Buffer
		readiness.WriteText(&text, r)
		for _, s := range []string{"READY. Send this to AWS", "PASS  Concurrent agreements for the same buyer", "yes (1 record, 3 units)", " 1. done     Enable Concurrent Agreements"} {
			if !strings.Contains(text.String(), s) {
				t.Errorf("text lacks %q:\n%s", s, text.String())
			}
		}

		expectStep(t, r, "opt-in", readiness.Done, "AWS let account "+buyerA+" hold 2 agreements at once (agmt-one, agmt-two)", "concurrentAgreements true")
		expectStep(t, r, "eventbridge-rule", readiness.Done, "4 EventBridge events received for the product (2 from the SQS queue, 2 at the HTTP receiver", "every one applied")
		expectStep(t, r, "event-agreement-created", readiness.Done, "EventBridge events received: 2 Purchase Agreement Created, last at "+t0.Format(time.RFC3339))
		expectStep(t, r, "event-license-updated", readiness.Done, "2 License Updated")
		expectStep(t, r, "event-agreement-ended", readiness.NotYet, "no Purchase Agreement Ended event received yet")
		expectStep(t, r, "event-license-deprovisioned", readiness.NotYet)
		expectStep(t, r, "sns-retired", readiness.Done, "no SNS notification for product code "+code)
		expectStep(t, r, "resolve-customer", readiness.Done, "ResolveCustomer returned LicenseArn for 1 registration", "1 license attached to tenants through the registration page")
		expectStep(t, r, "get-entitlements", readiness.Done, "GetEntitlements with LICENSE_ARN filter: 2 licenses fetched, last at "+t0.Format(time.RFC3339))
		expectStep(t, r, "batch-meter-usage", readiness.Done, "BatchMeterUsage with LicenseArn: 2 accepted records (10 units)")
		expectStep(t, r, "license-arn-key", readiness.Done, "2 licenses of the product keyed by LicenseArn, held by 1 account", "1 account holds more than one license in force")
		expectStep(t, r, "registration", readiness.Done, "tenant strategy: separate (the default", "1 of 2 licenses attached to tenants (1 by registration)")
		expectStep(t, r, "customer-aws-account-id", readiness.Done, "2 records sent with CustomerAWSAccountId", "no customer-hour metered by both paths")
		expectStep(t, r, "final-metering-window", readiness.NotYet)
		expectStep(t, r, "sdk", readiness.Done, "ResolveCustomer returned LicenseArns; GetEntitlements took the LICENSE_ARN filter; BatchMeterUsage took LicenseArn")
		expectStep(t, r, "backfill", readiness.NotApply)
		if n := len(r.Checklist); n != 16 || r.Checklist[0].N != 1 || r.Checklist[15].N != 16 {
			t.Fatalf("checklist has %d steps", n)
		}

		// One test agreement ends: its window opens and closes; the tests
		// done before still count.
		f.end("agmt-one", arn1, true)
		r = f.report()
		if !r.Ready {
			t.Fatalf("an ended test agreement made it not ready: %+v", r.Checks)
		}
		expectStep(t, r, "event-agreement-ended", readiness.Done, "1 Purchase Agreement Ended")
		expectStep(t, r, "event-license-deprovisioned", readiness.Done, "1 License Deprovisioned")
		expectStep(t, r, "final-metering-window", readiness.Done, "1 license entered the final metering window", "1 license deprovisioned")
	})
}

// TestWhatIsMissing: each requirement fails with a message that says what to
// do, one missing piece at a time.
func TestWhatIsMissing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db, marketplace.Product{})
		// The fixture's helpers fail the subtest they run in.
		run := func(name string, fn func(t *testing.T)) {
			t.Run(name, func(st *testing.T) {
				f.t = st
				defer func() { f.t = t }()
				fn(st)
			})
		}

		run("NoTestAccounts", func(t *testing.T) {
			r := f.report()
			if r.Ready || len(r.Accounts) != 0 {
				t.Fatalf("report: %+v", r)
			}
			expect(t, r, "test-accounts", "", readiness.Fail, "no test buyer accounts", "--accounts")
			expect(t, r, "license-arns", "", readiness.Fail, "no test transactions yet")
			expect(t, r, "zero-dollar", "", readiness.Fail, "no test transactions yet")
			expect(t, r, "metering-tested", "", readiness.Fail, "no test license has a BatchMeterUsage record")
			for _, s := range r.Checklist {
				if s.Status == readiness.Done {
					t.Errorf("step %s is done with no data: %v", s.ID, s.Evidence)
				}
			}
			expectStep(t, r, "eventbridge-rule", readiness.NotYet, "no EventBridge event about the product")
			expectStep(t, r, "resolve-customer", readiness.NotYet, "no buyer of the product has come through the fulfillment URL")
			var csv bytes.Buffer
			readiness.WriteCSV(&csv, r)
			if csv.String() != "product_id,account_id,agreement_id,license_arn,metering_tested\n" {
				t.Fatalf("csv: %q", csv.String())
			}
		})

		run("GivenAccountWithoutAgreements", func(t *testing.T) {
			r := f.report(buyerB)
			if r.AccountsFrom != "given" || len(r.Accounts) != 1 || fmt.Sprint(r.Accounts[0].Source) != "[given]" {
				t.Fatalf("accounts: %+v", r.Accounts)
			}
			expect(t, r, "test-accounts", "", readiness.Pass, buyerB+" (given)")
			expect(t, r, "concurrent-agreements", buyerB, readiness.Fail, "account "+buyerB+" has no agreement for product "+product)
		})

		f.offer(buyerA, "offer-a1", true)
		arn1 := f.accept(inbox.DoorSQS, "agmt-a1", buyerA, "offer-a1", t0.Add(-5*time.Hour))
		run("OnlyOneAgreement", func(t *testing.T) {
			r := f.report()
			expect(t, r, "concurrent-agreements", buyerA, readiness.Fail,
				"account "+buyerA+" has only one agreement (agmt-a1): accept a second $0 private offer to test concurrency")
			expect(t, r, "license-arns", "", readiness.Pass)
			expectStep(t, r, "opt-in", readiness.NotYet, "no account holds two agreements")
		})

		run("NotMeteredYet", func(t *testing.T) {
			r := f.report()
			expect(t, r, "metering-tested", "", readiness.Fail, "no test license has a BatchMeterUsage record AWS accepted with its LicenseArn")
			expect(t, r, "metering-each-license", "", readiness.Fail, "license l-a1 (agreement agmt-a1, account "+buyerA+") has no accepted metering record yet")
			expectStep(t, r, "batch-meter-usage", readiness.NotYet, "AWS has not accepted a record")
		})

		run("UsageStillOnItsWay", func(t *testing.T) {
			rec, _ := json.Marshal(map[string]any{"license": arn1, "dimension": "api_calls", "quantity": 2, "timestamp": t0.Format(time.RFC3339), "idempotencyKey": "pending-1"})
			if _, err := f.s.Metering.Ingest(context.Background(), []json.RawMessage{rec}); err != nil {
				t.Fatal(err)
			}
			f.clock.Set(t0.Truncate(time.Hour).Add(time.Hour + 11*time.Minute))
			if _, err := f.s.Metering.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			r := f.report()
			expect(t, r, "metering-tested", "", readiness.Fail, "still on its way to AWS: l-a1 (1 record pending)")
			f.send()
			r = f.report()
			expect(t, r, "metering-tested", "", readiness.Pass, "l-a1: 1 record accepted")
		})

		// A second agreement whose License Updated has not arrived, made
		// from an offer Concord does not know, whose terms were not fetched.
		a2 := eventbridge.Agreement{ID: "agmt-a2", Intent: "NEW", AcceptanceTime: t0, StartTime: t0, EndTime: t0.AddDate(1, 0, 0),
			AcceptorAccountID: buyerA, ProposerAccountID: inboxtest.Seller, OfferID: "offer-elsewhere", ProductID: product, ProductCode: code}
		f.event(inbox.DoorSQS, eventbridge.Created(inboxtest.Seller, a2, t0))
		run("NoLicenseArnAndUnknownPrice", func(t *testing.T) {
			r := f.report()
			expect(t, r, "concurrent-agreements", buyerA, readiness.Pass, "agmt-a1, agmt-a2")
			expect(t, r, "license-arns", "", readiness.Fail,
				"agreement agmt-a2 (account "+buyerA+") has no LicenseArn yet: Concord has not received its License Updated event")
			expect(t, r, "zero-dollar", "", readiness.Fail, "cannot tell whether agreement agmt-a2 (account "+buyerA+") cost $0: Concord has not fetched its terms yet")
			var csv bytes.Buffer
			readiness.WriteCSV(&csv, r)
			if !strings.Contains(csv.String(), product+","+buyerA+",agmt-a2,,no\n") {
				t.Fatalf("csv: %s", csv.String())
			}
		})
		run("PricedTerms", func(t *testing.T) {
			if err := f.s.Ledger.Enrich(context.Background(), terms{"agmt-a2": "1200.00"}, "agmt-a2"); err != nil {
				t.Fatal(err)
			}
			r := f.report()
			expect(t, r, "zero-dollar", "", readiness.Fail, "agreement agmt-a2 (account "+buyerA+") is not a $0 offer: AWS's terms total 1200.00 USD")
		})

		run("PaidConcordOffer", func(t *testing.T) {
			id := f.offer(buyerA, "offer-paid", false)
			f.accept(inbox.DoorSQS, "agmt-a3", buyerA, "offer-paid", t0)
			r := f.report()
			expect(t, r, "zero-dollar", "", readiness.Fail, "agreement agmt-a3 (account "+buyerA+") is not a $0 offer: Concord offer "+id+": dimension seats is priced at 120.00 USD")
		})

		run("AgreementFoundByItsTerms", func(t *testing.T) {
			a := eventbridge.Agreement{ID: "agmt-b1", Intent: "NEW", AcceptanceTime: t0, StartTime: t0, AcceptorAccountID: buyerB,
				ProposerAccountID: inboxtest.Seller, OfferID: "offer-b1", ProductID: product, ProductCode: code}
			f.event(inbox.DoorSQS, eventbridge.Created(inboxtest.Seller, a, t0))
			if err := f.s.Ledger.Enrich(context.Background(), terms{"agmt-b1": "0.00"}, "agmt-b1"); err != nil {
				t.Fatal(err)
			}
			r := f.report()
			if len(r.Accounts) != 2 || r.Accounts[1].AccountID != buyerB || fmt.Sprint(r.Accounts[1].Source) != "[zero-dollar agreement]" {
				t.Fatalf("accounts: %+v", r.Accounts)
			}
			if ag := r.Accounts[1].Agreements[0]; ag.ZeroDollar != "yes" || ag.Price != "AWS's terms total 0.00 USD" {
				t.Fatalf("agreement found by its terms: %+v", ag)
			}
			expect(t, r, "concurrent-agreements", buyerB, readiness.Fail, "has only one agreement (agmt-b1)")
		})

		run("BadInput", func(t *testing.T) {
			_, err := readiness.Report(context.Background(), db, "prod-nope", nil, t0)
			if marketplace.ErrorCode(err) != marketplace.ENotFound || !strings.Contains(marketplace.ErrorMessage(err), "product prod-nope is not known") {
				t.Fatalf("unknown product: %v", err)
			}
			if _, err := readiness.Report(context.Background(), db, product, []string{"12345"}, t0); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Fatalf("bad account: %v", err)
			}
			if _, err := readiness.Report(context.Background(), db, " ", nil, t0); marketplace.ErrorCode(err) != marketplace.EInvalid {
				t.Fatalf("no product: %v", err)
			}
		})
	})
}

// TestConcurrencyIsAboutSeparateAgreementsAtOnce: an amendment continues its
// agreement, and two agreements one after the other were never concurrent.
func TestConcurrencyIsAboutSeparateAgreementsAtOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db, marketplace.Product{})
		f.offer(buyerA, "offer-r1", true)
		f.accept(inbox.DoorSQS, "agmt-r1", buyerA, "offer-r1", t0.Add(-4*time.Hour))
		// An agreement-based offer replaces agmt-r1.
		f.offer(buyerA, "offer-r2", true)
		r2 := eventbridge.Agreement{ID: "agmt-r2", Intent: "REPLACE", PreviousAgreementID: "agmt-r1", AcceptanceTime: t0.Add(-3 * time.Hour),
			StartTime: t0.Add(-3 * time.Hour), EndTime: t0.AddDate(1, 0, 0), AcceptorAccountID: buyerA, ProposerAccountID: inboxtest.Seller,
			OfferID: "offer-r2", ProductID: product, ProductCode: code}
		f.event(inbox.DoorSQS, eventbridge.Created(inboxtest.Seller, r2, t0.Add(-3*time.Hour)))
		r := f.report()
		expect(t, r, "concurrent-agreements", buyerA, readiness.Fail, "only one agreement lineage (agmt-r1 → agmt-r2)", "accept a second, separate $0 private offer")

		// Another buyer: one agreement cancelled before the next was accepted.
		f.offer(buyerB, "offer-s1", true)
		arn := f.accept(inbox.DoorSQS, "agmt-s1", buyerB, "offer-s1", t0.Add(-2*time.Hour))
		f.clock.Set(t0.Add(-time.Hour))
		f.end("agmt-s1", arn, false)
		f.clock.Set(t0) // agmt-s2's events happen now: Concord holds events dated ahead of its clock
		f.offer(buyerB, "offer-s2", true)
		f.accept(inbox.DoorSQS, "agmt-s2", buyerB, "offer-s2", t0)
		r = f.report(buyerB)
		expect(t, r, "concurrent-agreements", buyerB, readiness.Fail, "account "+buyerB+"'s agreements (agmt-s1, agmt-s2) were never in force at the same time")
		expectStep(t, r, "opt-in", readiness.NotYet)
		// The replaced agreement's license and the cancelled one's.
		expectStep(t, r, "final-metering-window", readiness.Done, "2 licenses entered the final metering window")
	})
}

// TestAgreementKnownByItsOffer: Purchase Agreement Created names no product
// (as AWS sends it); until License Updated arrives the agreement is the
// product's by the Concord offer it was made from.
func TestAgreementKnownByItsOffer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db, marketplace.Product{})
		f.offer(buyerA, "offer-k1", true)
		a := eventbridge.Agreement{ID: "agmt-k1", Intent: "NEW", AcceptanceTime: t0, StartTime: t0, AcceptorAccountID: buyerA,
			ProposerAccountID: inboxtest.Seller, OfferID: "offer-k1"}
		f.event(inbox.DoorSQS, eventbridge.Created(inboxtest.Seller, a, t0))
		r := f.report()
		if len(r.Accounts) != 1 || len(r.Accounts[0].Agreements) != 1 || r.Accounts[0].Agreements[0].ZeroDollar != "yes" {
			t.Fatalf("accounts: %+v", r.Accounts)
		}
		expect(t, r, "license-arns", "", readiness.Fail, "agreement agmt-k1 (account "+buyerA+") has no LicenseArn yet")
	})
}

// TestMeteringPaths: a product Concord meters by the legacy path has not
// tested metering with a LicenseArn; a product with no usage dimensions
// needs no metering test.
func TestMeteringPaths(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Run("LegacyPath", func(t *testing.T) {
			f := setup(t, db, marketplace.Product{ProductID: product, ProductCode: code, Type: marketplace.ProductSaaSContractConsumption,
				Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}}})
			f.offer(buyerA, "offer-l1", true)
			arn := f.accept(inbox.DoorSQS, "agmt-l1", buyerA, "offer-l1", t0.Add(-3*time.Hour))
			f.meter(arn, 5)
			r := f.report()
			expect(t, r, "metering-tested", "", readiness.Fail, "l-l1 went by the legacy ProductCode path only: turn concurrentAgreements on")
			expectStep(t, r, "opt-in", readiness.NotYet, "concurrentAgreements false (usage goes by the legacy ProductCode + CustomerIdentifier path)")
			expectStep(t, r, "batch-meter-usage", readiness.NotYet, "1 record went by the legacy ProductCode path")
			expectStep(t, r, "customer-aws-account-id", readiness.NotYet, "no record has been sent with CustomerAWSAccountId", "1 record by the legacy path")
			if l := r.Accounts[0].Agreements[0].Licenses[0]; l.MeteringTested || l.LegacyRecords != 1 {
				t.Fatalf("license: %+v", l)
			}
		})
	})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Run("NoUsageDimensions", func(t *testing.T) {
			f := setup(t, db, marketplace.Product{ProductID: product, ProductCode: code, Type: marketplace.ProductSaaSContract, ConcurrentAgreements: true,
				Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}}})
			r := f.report()
			if r.Metered {
				t.Fatalf("metered: %s", r.MeteredWhy)
			}
			expect(t, r, "metering-tested", "", readiness.NotApplicable, "no usage dimensions")
			expect(t, r, "metering-each-license", "", readiness.NotApplicable)
			expectStep(t, r, "batch-meter-usage", readiness.NotApply)
			expectStep(t, r, "customer-aws-account-id", readiness.NotApply)
		})
	})
}

// TestLegacyNotifications: SNS still arriving after EventBridge started, and
// legacy customers not yet mapped to LicenseArns.
func TestLegacyNotifications(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db, marketplace.Product{})
		f.offer(buyerA, "offer-n1", true)
		f.accept(inbox.DoorSQS, "agmt-n1", buyerA, "offer-n1", t0.Add(-time.Hour))
		f.clock.Set(t0.Add(time.Minute))
		ev, err := marketplace.ParseSNSAction("sns-1", "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-"+code,
			`{"action":"subscribe-success","customer-identifier":"cust-legacy-1","product-code":"`+code+`"}`, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Ledger.Ingest(context.Background(), inbox.DoorSNS, ev); err != nil {
			t.Fatal(err)
		}
		r := f.report()
		expectStep(t, r, "sns-retired", readiness.NotYet, "SNS legacy subscription still receiving: 1 message, last at "+t0.Add(time.Minute).Format(time.RFC3339))
		expectStep(t, r, "backfill", readiness.NotYet, "0 of 1 legacy customer mapped to LicenseArns: run concord backfill entitlements --product "+product)
	})
}

// terms is the Agreement API for enrichment: each agreement's estimated value.
type terms map[string]string

func (m terms) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	v, ok := m[id]
	if !ok {
		return marketplace.AgreementDetails{}, inbox.ErrAgreementNotFound
	}
	return marketplace.AgreementDetails{Fact: marketplace.Fact{AgreementID: id, Status: marketplace.StatusActive},
		Terms: marketplace.Terms{Currency: "USD", EstimatedValue: v, Pricing: []marketplace.PriceItem{{Term: "ConfigurableUpfrontPricingTerm", Dimension: "seats", Price: v}}}}, nil
}

func TestParseAccounts(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                             "[]",
		"111122223333":                 "[111122223333]",
		" 111122223333 , 444455556666": "[111122223333 444455556666]",
		"111122223333,111122223333,":   "[111122223333]",
		"111122223333,12345":           `invalid: "12345" is not an AWS account id (12 digits)`,
		"abcdefghijkl":                 `invalid: "abcdefghijkl" is not an AWS account id (12 digits)`,
	} {
		got, err := readiness.ParseAccounts(in)
		s := fmt.Sprint(got)
		if got == nil && err == nil {
			s = "[]"
		}
		if err != nil {
			s = err.Error()
		}
		if s != want {
			t.Errorf("ParseAccounts(%q) = %s, want %s", in, s, want)
		}
	}
}
