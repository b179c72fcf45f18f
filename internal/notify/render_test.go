package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/webhook"
)

// sample is a notice of one kind and what its rendering must show: in the
// subject, and in both the text and the HTML.
type sample struct {
	notice  notify.Notice
	subject []string
	body    []string
}

func samples() map[string]sample {
	o := order()
	mod := o
	modData := o.Data.(notify.OrderData)
	modData.OrderType, modData.AgreementID, modData.PreviousAgreementID = notify.OrderAmended, "agmt-2", "agmt-1"
	modData.PreviousDimensions = []notify.OrderDimension{{Key: "seats", Quantity: "5", Price: "1200"}}
	modData.Dimensions = []notify.OrderDimension{{Key: "seats", Quantity: "15", Price: "1200"}}
	modData.TotalContractValue = "18000"
	mod.Kind, mod.Key, mod.Data = notify.KindOrderModification, "order_modification:agmt-2", modData
	ren := o
	renData := o.Data.(notify.OrderData)
	renData.AgreementID, renData.PreviousAgreementID, renData.OrderType, renData.Corrected = "agmt-3", "agmt-1", notify.OrderPartner, true
	renData.Reseller, renData.SellerOfRecord = "Channel Co", "Channel Co"
	ren.Kind, ren.Key, ren.Data = notify.KindRenewal, "renewal:agmt-3", renData
	corrected := o
	cData := o.Data.(notify.OrderData)
	cData.Corrected, cData.OrderType = true, notify.OrderPublic
	corrected.Data = cData

	since := t0
	at := t0
	return map[string]sample{
		notify.KindAgreementRequest: {notice: notify.Notice{Kind: notify.KindAgreementRequest, Key: "acr-1:APPROVED", AgreementID: "agmt-9",
			Data: notify.LifecycleData{Topic: notify.TopicCancellation, AgreementID: "agmt-9", BuyerCompany: hostile, BuyerAccountID: "444455556666",
				RequestID: "acr-1", Status: "APPROVED", ReasonCode: "TEST_AGREEMENT", Description: "test order", StatusMessage: "buyer agreed", At: &at}},
			subject: []string{"Cancellation request APPROVED", hostile, "agmt-9"},
			body:    []string{"acr-1", "TEST_AGREEMENT", "test order", "buyer agreed"}},
		notify.KindBillingAlert: {notice: notify.Notice{Kind: notify.KindBillingAlert, Key: "ba-1:COMPLETED", AgreementID: "agmt-9",
			Data: notify.LifecycleData{Topic: notify.TopicRefund, AgreementID: "agmt-9", BuyerCompany: hostile, RequestID: "ba-1", Status: "COMPLETED",
				Amount: "1250.5", Currency: "USD", InvoiceID: "inv-7", ReasonCode: "INCORRECT_METERING"}},
			subject: []string{"Refund completed", "USD 1,250.50", hostile},
			body:    []string{"ba-1", "inv-7", "agmt-9", "INCORRECT_METERING"}},
		notify.KindAgreementAdvisory: {notice: notify.Notice{Kind: notify.KindAgreementAdvisory, Key: "adv:1", AgreementID: "agmt-9",
			Data: notify.LifecycleData{Topic: notify.TopicAdvisory, AgreementID: "agmt-9", BuyerCompany: hostile, Open: true, At: &at}},
			subject: []string{"Advisory issued", hostile},
			body:    []string{"agmt-9", "issued an advisory"}},
		notify.KindNewOrder: {notice: o,
			subject: []string{"New order (private offer)", hostile, "Acme Analytics", "USD 12,000.00"},
			body: []string{"agmt-1", "offer-abc", "ofr_1", "arn:aws:license-manager::444455556666:license:l-0123456789abcdef",
				"seats", "Seats", "USD 1,200.00", "2030-03-04", "2030-09-04", "USD 6,000.00", "PO Number", "PO-42", "Acme Inc.",
				"2031-03-04", "booking.pdf"}},
		notify.KindOrderModification: {notice: mod,
			subject: []string{"Order modified", hostile, "USD 18,000.00"},
			body:    []string{"agmt-2", "agmt-1", "Before", "After", "5", "15"}},
		notify.KindRenewal: {notice: ren,
			subject: []string{"Corrected: Renewal", hostile, "renewed"},
			body:    []string{"agmt-3", "agmt-1", "Channel Co", "channel partner offer", "replaces an earlier notification"}},
		notify.KindPartnerOfferExtended: {notice: notify.Notice{Kind: notify.KindPartnerOfferExtended, Key: "poe:1", ProductID: "prod-acme",
			Data: notify.PartnerOfferData{ConcordOfferID: "ofr_2", OfferName: "Initech 2031", ProductID: "prod-acme", ProductTitle: "Acme Analytics",
				ResaleAuthorizationID: "resaleauthz-1", PartnerAccountID: "777788889999", PartnerName: "Channel Co", PartnerOfferID: "offer-cppo-1",
				BuyerCompany: hostile, BuyerAccountID: "444455556666", ExpiresOn: "2030-04-01"}},
			subject: []string{"Partner offer extended", "Channel Co", hostile},
			body:    []string{"offer-cppo-1", "resaleauthz-1", "777788889999", "Initech 2031", "2030-04-01", "ofr_2"}},
		notify.KindAgreementEnded: {notice: notify.Notice{Kind: notify.KindAgreementEnded, Key: "ended:1", ProductID: "prod-acme",
			Data: notify.AgreementEndedData{AgreementID: "agmt-9", Status: marketplace.StatusCancelled, Cancelled: true, BuyerCompany: hostile,
				BuyerAccountID: "444455556666", ProductID: "prod-acme", ProductTitle: "Acme Analytics", OfferID: "offer-abc",
				LicenseArns: []string{"arn:aws:license-manager::444455556666:license:l-9"}, EndedAt: &since, FinalMeteringUntil: ptr(t0.Add(time.Hour))}},
			subject: []string{"Agreement cancelled", hostile, "Acme Analytics"},
			body:    []string{"agmt-9", "CANCELLED", "l-9", "2030-03-04 05:06 UTC", "2030-03-04 06:06 UTC", "final metering window"}},
		notify.KindRegistrationPending: {notice: notify.Notice{Kind: notify.KindRegistrationPending, Key: "rp:1", ProductID: "prod-acme",
			Data: notify.RegistrationData{LicenseArn: "arn:aws:license-manager::444455556666:license:l-7", BuyerAccountID: "444455556666",
				BuyerCompany: hostile, ProductID: "prod-acme", ProductTitle: "Acme Analytics", AgreementID: "agmt-7", OfferID: "offer-7",
				Since: since, Deadline: since.Add(48 * time.Hour), AutoRegisterAt: ptr(since.Add(time.Hour))}},
			subject: []string{"Registration pending", hostile},
			body:    []string{"l-7", "agmt-7", "offer-7", "2030-03-06 05:06 UTC", "2030-03-04 06:06 UTC", "48 hours"}},
		notify.KindRegistrationReminder: {notice: notify.Notice{Kind: notify.KindRegistrationReminder, Key: "rr:1", ProductID: "prod-acme",
			Data: notify.RegistrationData{LicenseArn: "arn:aws:license-manager::444455556666:license:l-8", BuyerAccountID: "444455556666",
				BuyerCompany: hostile, ProductID: "prod-acme", ProductTitle: "Acme Analytics", AgreementID: "agmt-8",
				Since: since, Deadline: since.Add(48 * time.Hour)}},
			subject: []string{"Reminder", hostile, "48 hours"},
			body:    []string{"l-8", "agmt-8", "2030-03-06 05:06 UTC", "POST /v1/tenants"}},
		notify.KindOfferExpiring: {notice: notify.Notice{Kind: notify.KindOfferExpiring, Key: "oe:1", ProductID: "prod-acme",
			Data: notify.OfferExpiringData{ConcordOfferID: "ofr_3", OfferID: "offer-3", OfferName: "Initech renewal", OfferType: "direct",
				State: "viewed", BuyerCompany: hostile, BuyerAccountID: "444455556666", ProductID: "prod-acme", ProductTitle: "Acme Analytics",
				ExpiresOn: "2030-03-10", DaysLeft: 6}},
			subject: []string{"Offer expiring in 6 days", "Initech renewal", hostile},
			body:    []string{"ofr_3", "offer-3", "2030-03-10", "viewed", "direct"}},
		notify.KindAgreementEnding: {notice: notify.Notice{Kind: notify.KindAgreementEnding, Key: "ae:1", ProductID: "prod-acme",
			Data: notify.AgreementEndingData{AgreementID: "agmt-5", BuyerCompany: hostile, BuyerAccountID: "444455556666", ProductID: "prod-acme",
				ProductTitle: "Acme Analytics", OfferID: "offer-5", EndTime: t0.AddDate(0, 0, 60), DaysLeft: 60, Threshold: 60, AutoRenewal: ptr(false)}},
			subject: []string{"Agreement ending in 60 days", hostile, "Acme Analytics"},
			body:    []string{"agmt-5", "offer-5", "2030-05-03 05:06 UTC", "does not renew automatically", "60 days"}},
		notify.KindMeteringFailed: {notice: notify.Notice{Kind: notify.KindMeteringFailed, Key: "mf:1", ProductID: "prod-acme",
			Data: notify.MeteringData{RecordID: "mr_1", Outcome: "not_subscribed", Reason: hostile + " CustomerNotSubscribed", ProductID: "prod-acme",
				ProductTitle: "Acme Analytics", LicenseArn: "arn:aws:license-manager::444455556666:license:l-6", AccountID: "444455556666",
				Dimension: "api_calls", Hour: t0.Truncate(time.Hour), Quantity: 250}},
			subject: []string{"Metering failed", "250 api_calls", "444455556666", "not billed"},
			body:    []string{"mr_1", "not_subscribed", "CustomerNotSubscribed", "l-6", "2030-03-04 05:00 UTC", hostile}},
		notify.KindMeteringExpired: {notice: notify.Notice{Kind: notify.KindMeteringExpired, Key: "me:1", ProductID: "prod-acme",
			Data: notify.MeteringData{RecordID: "mr_2", Outcome: "expired", Reason: hostile, ProductID: "prod-acme",
				LicenseArn: "arn:aws:license-manager::444455556666:license:l-5", AccountID: "444455556666",
				Dimension: "api_calls", Hour: t0.Truncate(time.Hour), Quantity: 75}},
			subject: []string{"Metering expired", "75 api_calls", "not billed"},
			body:    []string{"mr_2", "expired", "l-5", "window closed", hostile}},
		notify.KindBuyerWelcome: {notice: notify.Notice{Kind: notify.KindBuyerWelcome, Key: "welcome:1", ProductID: "prod-acme",
			To: []string{"ada@initech.example"}, BuyerFacing: true,
			Data: notify.WelcomeData{BuyerCompany: hostile, ContactName: "Ada Lovelace", ProductID: "prod-acme", ProductTitle: "Acme Analytics",
				TenantID: "tnt_1", SupportURL: "https://acme.example/support?a=1&b=2", AppURL: "https://app.acme.example/"}},
			subject: []string{"Welcome to Acme Analytics"},
			body:    []string{"Ada Lovelace", "tnt_1", "https://app.acme.example/", hostile}},
		notify.KindPurchaseInstructions: {notice: notify.Notice{Kind: notify.KindPurchaseInstructions, Key: "instructions:1", ProductID: "prod-acme",
			OfferID: "ofr_1", To: []string{"procurement@initech.example"}, BuyerFacing: true,
			Data: notify.InstructionsData{ConcordOfferID: "ofr_1", OfferID: "offer-abc", OfferName: "Initech 12 months", BuyerCompany: hostile,
				BuyerAccountID: "444455556666", ProductID: "prod-acme", ProductTitle: "Acme Analytics",
				Link: "https://concord.acme.example/o/0123456789abcdef0123456789abcdef", ExpiresOn: "2030-04-30", Note: "As discussed with Bill."}},
			subject: []string{"Your private offer for Acme Analytics on AWS Marketplace"},
			body: []string{"444455556666", "https://concord.acme.example/o/0123456789abcdef0123456789abcdef", "2030-04-30", "offer-abc",
				"As discussed with Bill.", "Initech 12 months", hostile}},
	}
}

// TestRenderEveryKind renders a notice of every kind: the subject and both
// bodies carry the data, and the HTML escapes a hostile company name.
func TestRenderEveryKind(t *testing.T) {
	t.Parallel()
	all := samples()
	for _, kind := range notify.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s, ok := all[kind]
			if !ok {
				t.Fatalf("no rendering sample for kind %s: add one", kind)
			}
			c, err := notify.Render(s.notice, "https://concord.example.com")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range s.subject {
				if !strings.Contains(c.Subject, w) {
					t.Errorf("subject %q lacks %q", c.Subject, w)
				}
			}
			if strings.ContainsAny(c.Subject, "\r\n") {
				t.Errorf("subject has a line break: %q", c.Subject)
			}
			for _, w := range s.body {
				if !strings.Contains(c.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, c.Text)
				}
			}
			// The HTML shows the subject as its heading, and the body.
			for _, w := range append(s.body, s.subject...) {
				if !strings.Contains(c.HTML, htmlEscape(w)) {
					t.Errorf("HTML lacks %q (escaped %q):\n%s", w, htmlEscape(w), c.HTML)
				}
			}
			if strings.Contains(c.HTML, "<script") {
				t.Errorf("HTML carries a script tag:\n%s", c.HTML)
			}
			if !strings.Contains(c.HTML, "&lt;script&gt;") {
				t.Errorf("HTML does not show the hostile name escaped:\n%s", c.HTML)
			}
			if !strings.HasPrefix(c.HTML, "<!DOCTYPE html>") {
				t.Errorf("HTML is not a document: %.80s", c.HTML)
			}
			if strings.Contains(c.Text, "\n\n\n") || strings.Contains(c.Text, "<no value>") || strings.Contains(c.HTML, "<no value>") {
				t.Errorf("untidy rendering:\n%s", c.Text)
			}
			if s.notice.BuyerFacing == strings.Contains(c.Text, "Sent by Concord") {
				t.Errorf("buyer-facing %v but the internal footer shows %v:\n%s", s.notice.BuyerFacing, !s.notice.BuyerFacing, c.Text)
			}
		})
	}
}

// htmlEscape is how html/template writes text.
func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

func TestRenderRefusesWrongData(t *testing.T) {
	t.Parallel()
	for _, n := range []notify.Notice{
		{Kind: notify.KindNewOrder, Data: notify.MeteringData{}},
		{Kind: notify.KindNewOrder, Data: &notify.OrderData{}},
		{Kind: notify.KindNewOrder},
		{Kind: "new-order", Data: notify.OrderData{}},
	} {
		if _, err := notify.Render(n, ""); marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Errorf("Render(%s, %T) = %v, want invalid", n.Kind, n.Data, err)
		}
	}
}

func TestRenderWelcomeLinks(t *testing.T) {
	t.Parallel()
	s := samples()[notify.KindBuyerWelcome]
	c, err := notify.Render(s.notice, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.HTML, `href="https://acme.example/support?a=1&amp;b=2"`) || !strings.Contains(c.Text, "https://acme.example/support?a=1&b=2") {
		t.Errorf("support URL missing:\n%s\n%s", c.Text, c.HTML)
	}
	bad := s.notice
	d := bad.Data.(notify.WelcomeData)
	d.SupportURL = "javascript:alert(1)"
	bad.Data = d
	if c, err = notify.Render(bad, ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.HTML, `href="javascript:`) {
		t.Errorf("a javascript: URL became a link:\n%s", c.HTML)
	}
}

// TestEveryKindHasAWebhookEventType keeps webhook.EventTypes in step with Kinds.
func TestEveryKindHasAWebhookEventType(t *testing.T) {
	t.Parallel()
	for _, k := range notify.Kinds {
		if !webhook.Known(notify.EventType(k)) {
			t.Errorf("webhook.EventTypes lacks %s", notify.EventType(k))
		}
	}
}
