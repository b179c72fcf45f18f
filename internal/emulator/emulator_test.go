package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	enttypes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	mtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/snsverify"
)

type bundle struct {
	emu *emulator.Emulator
	srv *httptest.Server
	cfg aws.Config
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{}
	b.srv = httptest.NewUnstartedServer(nil)
	b.emu = emulator.New(emulator.Options{BaseURL: func() string { return "http://" + b.srv.Listener.Addr().String() }})
	b.srv.Config.Handler = b.emu
	b.srv.Start()
	t.Cleanup(func() { b.emu.Close(); b.srv.Close() })
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}), config.WithBaseEndpoint(b.srv.URL), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	b.cfg = cfg
	return b
}

// control calls the control API and decodes the answer into out.
func (b *bundle) control(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.srv.URL+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	if resp.StatusCode != 200 && out != nil {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

type product struct {
	ProductID, ProductCode, PublicOfferID string
}
type agreement struct {
	AgreementID, LicenseArn, Status, Intent, PreviousAgreementID, ResaleAuthorizationID string
}

func (b *bundle) product(t *testing.T, legacy bool) product {
	var p product
	b.control(t, "POST", "/control/products", map[string]any{"title": "Widgets", "type": "saas_contract_consumption", "concurrentAgreements": !legacy,
		"dimensions": []map[string]any{{"key": "seats", "kind": "contract", "price": "40.00"}, {"key": "api_calls", "kind": "usage", "price": "0.01"}}}, &p)
	return p
}

func (b *bundle) accept(t *testing.T, buyer, productID string, extra map[string]any) agreement {
	body := map[string]any{"buyer": buyer, "productId": productID, "quantities": map[string]int64{"seats": 10}}
	for k, v := range extra {
		body[k] = v
	}
	var a agreement
	b.control(t, "POST", "/control/accept", body, &a)
	return a
}

// receiveAll drains the SQS queue into parsed events.
func (b *bundle) receiveAll(t *testing.T, queueURL string) []marketplace.Event {
	t.Helper()
	client := sqs.NewFromConfig(b.cfg)
	var out []marketplace.Event
	for {
		res, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &queueURL, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			ev, err := marketplace.ParseEventBridge([]byte(*m.Body))
			if err != nil {
				t.Fatalf("emulator sent an event Concord cannot parse: %v\n%s", err, *m.Body)
			}
			out = append(out, ev)
			client.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &queueURL, ReceiptHandle: m.ReceiptHandle})
		}
	}
}

func types(evs []marketplace.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.DetailType)
	}
	return out
}

func TestLifecycleThroughSDKClients(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var target struct{ Queue string }
	b.control(t, "POST", "/control/targets", map[string]any{"type": "sqs", "queue": "events"}, &target)
	queueURL := b.emu.QueueURL("events")
	p := b.product(t, false)
	buyer := "444455556666"
	a1 := b.accept(t, buyer, p.ProductID, nil)
	a2 := b.accept(t, buyer, p.ProductID, map[string]any{"quantities": map[string]int64{"seats": 3}})
	if a1.LicenseArn == "" || a2.LicenseArn == "" || a1.LicenseArn == a2.LicenseArn {
		t.Fatalf("concurrent agreements need their own licenses: %+v %+v", a1, a2)
	}
	evs := b.receiveAll(t, queueURL)
	if got := strings.Join(types(evs), ","); got != "Purchase Agreement Created - Proposer,License Updated - Manufacturer,Purchase Agreement Created - Proposer,License Updated - Manufacturer" {
		t.Fatalf("events: %s", got)
	}

	t.Run("ResolveCustomerGivesTheLicense", func(t *testing.T) {
		var tok struct{ Token string }
		b.control(t, "POST", "/control/tokens", map[string]any{"agreementId": a2.AgreementID}, &tok)
		out, err := marketplacemetering.NewFromConfig(b.cfg).ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: &tok.Token})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.LicenseArn) != a2.LicenseArn || aws.ToString(out.CustomerAWSAccountId) != buyer || aws.ToString(out.ProductCode) != p.ProductCode || aws.ToString(out.CustomerIdentifier) != "" {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("EntitlementsPerLicense", func(t *testing.T) {
		out, err := marketplaceentitlementservice.NewFromConfig(b.cfg).GetEntitlements(ctx, &marketplaceentitlementservice.GetEntitlementsInput{
			ProductCode: &p.ProductCode, Filter: map[string][]string{string(enttypes.GetEntitlementFilterNameLicenseArn): {a2.LicenseArn}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Entitlements) != 1 || aws.ToInt32(out.Entitlements[0].Value.IntegerValue) != 3 {
			t.Fatalf("%+v", out.Entitlements)
		}
	})
	t.Run("AgreementAPIKnowsTheAgreement", func(t *testing.T) {
		out, err := marketplaceagreement.NewFromConfig(b.cfg).DescribeAgreement(ctx, &marketplaceagreement.DescribeAgreementInput{AgreementId: &a1.AgreementID})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Acceptor.AccountId) != buyer || aws.ToString(out.EstimatedCharges.AgreementValue) != "400.00" {
			t.Fatalf("%+v %+v", out.Acceptor, out.EstimatedCharges)
		}
	})
	t.Run("CancelOpensFinalWindowThenDeprovisions", func(t *testing.T) {
		b.control(t, "POST", "/control/agreements/"+a1.AgreementID+"/cancel", nil, &agreement{})
		meter := func() mtypes.UsageRecordResultStatus {
			now := b.emu.World.Now()
			out, err := marketplacemetering.NewFromConfig(b.cfg).BatchMeterUsage(ctx, &marketplacemetering.BatchMeterUsageInput{UsageRecords: []mtypes.UsageRecord{{
				CustomerAWSAccountId: aws.String(buyer), LicenseArn: &a1.LicenseArn, Dimension: aws.String("api_calls"), Quantity: aws.Int32(5), Timestamp: &now}}})
			if err != nil {
				t.Fatal(err)
			}
			return out.Results[0].Status
		}
		if s := meter(); s != mtypes.UsageRecordResultStatusSuccess {
			t.Fatalf("final window: %s", s)
		}
		var clock struct{ Now time.Time }
		b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "61m"}, &clock)
		if s := meter(); s != mtypes.UsageRecordResultStatusCustomerNotSubscribed {
			t.Fatalf("after deprovisioning: %s", s)
		}
		got := types(b.receiveAll(t, queueURL))
		if strings.Join(got, ",") != "Purchase Agreement Ended - Proposer,License Deprovisioned - Manufacturer" {
			t.Fatalf("events %v", got)
		}
	})
	t.Run("AmendReplacesAndKeepsLineage", func(t *testing.T) {
		var n agreement
		b.control(t, "POST", "/control/agreements/"+a2.AgreementID+"/amend", map[string]any{"quantities": map[string]int64{"seats": 8}}, &n)
		if n.Intent != "REPLACE" || n.PreviousAgreementID != a2.AgreementID {
			t.Fatalf("%+v", n)
		}
		evs := b.receiveAll(t, queueURL)
		var ended *marketplace.Event
		for i, e := range evs {
			if e.Kind == marketplace.KindAgreementEnded {
				ended = &evs[i]
			}
		}
		if ended == nil || ended.Fact.Status != "REPLACED" || ended.Fact.AgreementID != a2.AgreementID {
			t.Fatalf("events %v", types(evs))
		}
	})
}

func TestFutureDatedAgreementGetsItsLicenseAtStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.control(t, "POST", "/control/targets", map[string]any{"type": "sqs", "queue": "q"}, &struct{}{})
	p := b.product(t, false)
	start := b.emu.World.Now().Add(72 * time.Hour)
	a := b.accept(t, "555566667777", p.ProductID, map[string]any{"startDate": start})
	if a.LicenseArn != "" {
		t.Fatalf("license before start: %+v", a)
	}
	if got := types(b.receiveAll(t, b.emu.QueueURL("q"))); strings.Join(got, ",") != "Purchase Agreement Created - Proposer" {
		t.Fatalf("%v", got)
	}
	b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "73h"}, &struct{}{})
	if got := types(b.receiveAll(t, b.emu.QueueURL("q"))); strings.Join(got, ",") != "License Updated - Manufacturer" {
		t.Fatalf("%v", got)
	}
}

func TestCPPOSendsManufacturerEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.control(t, "POST", "/control/targets", map[string]any{"type": "sqs", "queue": "q"}, &struct{}{})
	a, raID, offerID := b.cppo(t)
	if a.ResaleAuthorizationID != raID {
		t.Fatalf("%+v", a)
	}
	evs := b.receiveAll(t, b.emu.QueueURL("q"))
	got := types(evs)
	if strings.Join(got, ",") != "Offer Released,Purchase Agreement Created - Manufacturer,License Updated - Manufacturer" {
		t.Fatalf("%v", got)
	}
	if evs[1].Fact.ProposerAccountID != "999988887777" || evs[1].Fact.ResaleAuthorizationID != raID {
		t.Fatalf("%+v", evs[1].Fact)
	}
	// A private offer is not for everyone.
	if code := b.control(t, "POST", "/control/accept", map[string]any{"buyer": "123412341234", "offerId": offerID}, nil); code != http.StatusConflict {
		t.Fatalf("another buyer accepted a private offer: %d", code)
	}
}

func TestHTTPAndSNSTargets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	var ebBodies, snsBodies [][]byte
	verifier := snsverify.New(snsverify.Options{AllowHTTP: true, AllowedHosts: func(string) bool { return true }})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/eb":
			if r.Header.Get("X-Concord-Secret") != "s3cret" {
				http.Error(w, "secret", 401)
				return
			}
			ebBodies = append(ebBodies, body)
		case "/sns":
			m, err := verifier.VerifyBody(r.Context(), body)
			if err != nil {
				t.Errorf("SNS signature: %v", err)
				http.Error(w, err.Error(), 403)
				return
			}
			if m.Type == snsverify.TypeSubscriptionConfirmation {
				resp, err := http.Get(m.SubscribeURL) // confirm before answering, as Concord does
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("confirm: %v", err)
				}
			}
			snsBodies = append(snsBodies, []byte(m.Type+" "+m.Message))
		}
	}))
	defer sink.Close()
	b.control(t, "POST", "/control/targets", map[string]any{"type": "http", "url": sink.URL + "/eb", "secret": "s3cret"}, &struct{}{})
	b.control(t, "POST", "/control/targets", map[string]any{"type": "sns", "url": sink.URL + "/sns"}, &struct{}{})
	p := b.product(t, true)
	b.accept(t, "444455556666", p.ProductID, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n, m := len(ebBodies), len(snsBodies)
		mu.Unlock()
		if n >= 2 && m >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ebBodies) != 2 {
		t.Fatalf("http target got %d events", len(ebBodies))
	}
	joined := string(bytes.Join(snsBodies, []byte("\n")))
	if !strings.Contains(joined, "SubscriptionConfirmation") || !strings.Contains(joined, `"action":"subscribe-success"`) || !strings.Contains(joined, `"action":"entitlement-updated"`) {
		t.Fatalf("sns: %s", joined)
	}
}

func TestRegisterPostsTheTokenLikeABrowser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a := b.accept(t, "444455556666", p.ProductID, nil)
	var gotToken string
	app := http.NewServeMux()
	app.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		gotToken = r.PostFormValue("x-amzn-marketplace-token")
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc"})
		http.Redirect(w, r, "/welcome", http.StatusSeeOther)
	})
	app.HandleFunc("GET /welcome", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err != nil || c.Value != "abc" {
			http.Error(w, "no session", 400)
			return
		}
		io.WriteString(w, "welcome")
	})
	fs := httptest.NewServer(app)
	defer fs.Close()
	var out emulator.RegisterOutput
	b.control(t, "POST", "/control/register", map[string]any{"agreementId": a.AgreementID, "fulfillmentUrl": fs.URL + "/register"}, &out)
	if out.Status != 200 || out.Body != "welcome" || gotToken == "" || gotToken != out.Token {
		t.Fatalf("%+v token %q", out, gotToken)
	}
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a := b.accept(t, "444455556666", p.ProductID, nil)
	snap, err := b.emu.World.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := setup(t)
	req, _ := http.NewRequest("PUT", other.srv.URL+"/control/state", bytes.NewReader(snap))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("restore: %v %v", err, resp.Status)
	}
	out, err := marketplaceagreement.NewFromConfig(other.cfg).DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: &a.AgreementID})
	if err != nil || aws.ToString(out.AgreementId) != a.AgreementID {
		t.Fatalf("restored emulator does not know the agreement: %v", err)
	}
	req, _ = http.NewRequest("PUT", other.srv.URL+"/control/state", strings.NewReader(`{"products": 3}`))
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != 400 {
		t.Fatalf("bad snapshot: %d", resp.StatusCode)
	}
}

func TestControlAPIBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/control/products", map[string]any{"dimensions": []any{}}, 400},
		{"POST", "/control/products", map[string]any{"bogus": 1}, 400},
		{"POST", "/control/buyers", map[string]any{"accountId": "12"}, 400},
		{"POST", "/control/accept", map[string]any{"buyer": "444455556666", "offerId": "offer-nope"}, 404},
		{"POST", "/control/agreements/agmt-nope/cancel", nil, 404},
		{"POST", "/control/clock/advance", map[string]any{"duration": "-1h"}, 400},
		{"PUT", "/control/faults", map[string]any{"faults": map[string]any{"*": map[string]any{"throttleShare": 2}}}, 400},
		{"POST", "/control/targets", map[string]any{"type": "carrier-pigeon"}, 400},
	} {
		if got := b.control(t, c.method, c.path, c.body, nil); got != c.want {
			t.Errorf("%s %s %v: %d, want %d", c.method, c.path, c.body, got, c.want)
		}
	}
}

func TestRegisterPageForAHumanPostsAFreshToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a := b.accept(t, "444455556666", p.ProductID, nil)
	resp, err := http.Get(b.srv.URL + "/control/register?url=" + url.QueryEscape("https://app.example/register") + "&agreement=" + a.AgreementID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="x-amzn-marketplace-token" value="([^"]+)"`).FindSubmatch(body)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`action="https://app.example/register"`)) || m == nil {
		t.Fatalf("%d\n%s", resp.StatusCode, body)
	}
	token := html.UnescapeString(string(m[1]))
	err = b.emu.World.Read(func(s *world.State) error {
		if tk := s.Tokens[token]; tk == nil || tk.AccountID != "444455556666" {
			t.Errorf("the page's token is not a live token for the buyer: %+v", tk)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(b.srv.URL + "/control/register?agreement=" + a.AgreementID); err != nil || resp.StatusCode != 400 {
		t.Fatalf("no fulfillment URL: %v %v", resp, err)
	}
}

// TestControlOffersFollowCatalogRules: the control API makes offers with the
// value rules of AWS's Catalog shapes (world/offerrules.go), so an offer the
// Catalog API would refuse cannot be made through it either; a refused offer
// is a 400 and creates nothing.
func TestControlOffersFollowCatalogRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	count := func() int {
		var offers []struct{ OfferID string }
		b.control(t, "GET", "/control/offers", nil, &offers)
		return len(offers)
	}
	base := func() map[string]any {
		return map[string]any{"productId": p.ProductID, "buyerAccounts": []string{"444455556666"}, "quantities": map[string]int64{"seats": 5}}
	}
	with := func(k string, v any) map[string]any { m := base(); m[k] = v; return m }
	many := make([]string, 27)
	for i := range many {
		many[i] = fmt.Sprintf("4444555566%02d", i)
	}
	for name, body := range map[string]map[string]any{
		"a price with 9 decimals (rate_card.py Price)": with("prices", map[string]string{"seats": "12.123456789"}),
		"a price above 100000000":                      with("prices", map[string]string{"seats": "100000001"}),
		"a price for a dimension the product lacks":    with("prices", map[string]string{"gpus": "1.00"}),
		"a duration outside the pattern":               with("duration", "12 months"),
		"the bare duration P":                          with("duration", "P"),
		"a currency AWS does not offer":                with("currency", "CAD"),
		"a name longer than 150 characters":            with("name", strings.Repeat("n", 151)),
		"27 buyer accounts":                            with("buyerAccounts", many),
		"the seller as its own buyer":                  with("buyerAccounts", []string{"111122223333"}),
		"an availability end date in the past":         with("expirationDate", "2020-01-01T00:00:00Z"),
		"the world's bookkeeping (details)":            with("details", map[string]any{"CreateOffer": map[string]any{}}),
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			before := count()
			if code := b.control(t, "POST", "/control/offers", body, nil); code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", code)
			}
			if n := count(); n != before {
				t.Fatalf("%d offers after a refused one, want %d", n, before)
			}
		})
	}
	t.Run("an offer within the rules is made", func(t *testing.T) {
		body := with("prices", map[string]string{"seats": "12.12345678"})
		body["duration"], body["currency"] = "P1Y6M", "EUR"
		var o struct{ OfferID, Duration, Currency string }
		b.control(t, "POST", "/control/offers", body, &o)
		if o.OfferID == "" || o.Duration != "P1Y6M" || o.Currency != "EUR" {
			t.Fatalf("%+v", o)
		}
		a := b.accept(t, "444455556666", "", map[string]any{"offerId": o.OfferID, "productId": ""})
		var agreements []struct {
			AgreementID string
			StartTime   time.Time
			EndTime     *time.Time
		}
		b.control(t, "GET", "/control/agreements", nil, &agreements)
		for _, g := range agreements {
			if g.AgreementID == a.AgreementID && (g.EndTime == nil || g.EndTime.Sub(g.StartTime) < 540*24*time.Hour) {
				t.Fatalf("a P1Y6M agreement runs %v..%v", g.StartTime, g.EndTime)
			}
		}
	})
}
