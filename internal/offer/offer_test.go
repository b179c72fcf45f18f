package offer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
)

// now is the clock of the form tests: midday UTC on 2 November 2026.
var now = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

const (
	buyerAccount   = "444455556666"
	partnerAccount = "777788889999"
)

const (
	fBuyer   = "metadata." + offer.MetaBuyerAccount
	fPartner = "metadata." + offer.MetaPartnerAccount
	fCPPO    = "metadata." + offer.MetaCPPOOpportunityID
)

// product is the configured product the forms are for: a contract dimension
// (seats), a usage dimension (api_calls) and the default registration fields.
func product() marketplace.Product {
	return marketplace.Product{ProductID: "prod-o", ProductCode: "code-o", Type: marketplace.ProductSaaSContractConsumption,
		Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}, {Key: "api_calls", Kind: "usage"}}}
}

func baseContext() offer.Context { return offer.Context{Product: product(), Now: now} }

// direct is a valid direct offer: no problems, no warnings.
func direct() offer.Offer {
	return offer.Offer{
		Type:         offer.TypeDirect,
		BuyerCompany: "Acme Corp",
		ProductID:    "prod-o",
		Name:         "Acme Corp expansion PO-4471",
		Pricing: offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{
			{Key: "seats", Kind: "contract", Quantity: 10, Price: "1200.00"},
			{Key: "api_calls", Kind: "usage", Price: "0.002"},
		}},
		EULA:         offer.Legal{Kind: "standard"},
		Registration: map[string]string{"company": "Acme Corp", "email": "it@acme.example"},
		Metadata:     map[string]string{offer.MetaBuyerAccount: buyerAccount, "Salesforce Opportunity": "006XYZ"},
		ExpiresOn:    "2026-12-01",
		NotifyUsers:  []string{"ae@seller.example", "revops@seller.example"},
	}
}

// partner is a valid partner offer (a resale authorization): a custom EULA, a
// custom reseller agreement, the partner's account and the CPPO opportunity.
func partner() offer.Offer {
	o := direct()
	o.Type = offer.TypePartner
	o.Pricing.Duration, o.Pricing.EndDate = "", "2027-11-30"
	o.EULA = offer.Legal{Kind: "custom", Documents: []offer.Document{
		{Name: "eula.pdf", ContentType: "application/pdf", Size: 2 << 20},
		{Name: "order-form.txt", ContentType: "text/plain", Size: 4096},
	}}
	o.ResellerAgreement = &offer.Legal{Kind: "custom", Documents: []offer.Document{{Name: "quote.pdf", ContentType: "application/pdf", Size: 200_000}}}
	o.Metadata = map[string]string{offer.MetaBuyerAccount: buyerAccount, offer.MetaPartnerAccount: partnerAccount, offer.MetaCPPOOpportunityID: "O1234567"}
	o.ExpiresOn = "2026-12-15"
	return o
}

// amendment is a valid direct amendment of agreement agmt-1, whose last
// accepted offer is offer-1, with its context.
func amendment() (offer.Offer, offer.Context) {
	o := direct()
	o.Name = "Acme Corp upgrade"
	o.Amends = &offer.Amendment{AgreementID: "agmt-1", SourceOfferID: "offer-1"}
	c := baseContext()
	c.Amended = &marketplace.Agreement{AgreementID: "agmt-1", Status: marketplace.StatusActive, AcceptorAccountID: buyerAccount,
		ProposerAccountID: "111122223333", OfferID: "offer-1", ProductID: "prod-o"}
	c.AmendedCurrency = "USD"
	return o, c
}

// partnerAmendment is a valid partner amendment of a partner-sold agreement.
func partnerAmendment() (offer.Offer, offer.Context) {
	o := partner()
	o.Name = "Acme Corp renewal via partner"
	o.Amends = &offer.Amendment{AgreementID: "agmt-1", SourceOfferID: "offer-1"}
	_, c := amendment()
	c.Amended.ResaleAuthorizationID = "resaleauthz-1"
	return o, c
}

// want is an expected problem or warning: the field exactly, and the message
// exactly or a distinctive part of it.
type want struct{ field, msg string }

// expect fails unless the check holds exactly the expected problems and
// warnings (in any order).
func expect(t *testing.T, c offer.Check, problems, warnings []want) {
	t.Helper()
	if c.Problems == nil || c.Warnings == nil {
		t.Errorf("problems and warnings must be empty lists, not nil (they are JSON arrays): %+v", c)
	}
	match := func(kind string, got []offer.Problem, ws []want) {
		t.Helper()
		used := make([]bool, len(got))
	next:
		for _, w := range ws {
			for i, g := range got {
				if !used[i] && g.Field == w.field && strings.Contains(g.Message, w.msg) {
					used[i] = true
					continue next
				}
			}
			t.Errorf("missing %s %s: %q\n got %s", kind, w.field, w.msg, show(got))
		}
		for i, g := range got {
			if !used[i] {
				t.Errorf("unexpected %s %s: %q", kind, g.Field, g.Message)
			}
		}
	}
	match("problem", c.Problems, problems)
	match("warning", c.Warnings, warnings)
	if c.OK() != (len(problems) == 0) {
		t.Errorf("OK() = %v with problems %s", c.OK(), show(c.Problems))
	}
}

func show(ps []offer.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n   %s: %s", p.Field, p.Message)
	}
	return b.String()
}

func TestValidateValidForms(t *testing.T) {
	withSchedule := direct()
	withSchedule.Pricing.Schedule = []offer.Installment{{Date: "2026-12-01", Amount: "6000.00"}, {Date: "2027-06-01", Amount: "6000"}}
	renewal := direct()
	renewal.Renewal = true
	renewalMarketplace, renewalOutside := renewal, renewal
	renewalMarketplace.RenewalChannel, renewalOutside.RenewalChannel = offer.RenewalFromMarketplace, offer.RenewalFromOutside
	zero := direct()
	zero.ZeroDollar = true
	zero.Pricing.Dimensions[0].Price, zero.Pricing.Dimensions[1].Price = "0", "0.00"
	standardReseller := partner()
	standardReseller.ResellerAgreement = &offer.Legal{Kind: "standard"}
	standardReseller.Metadata = map[string]string{offer.MetaBuyerAccount: buyerAccount, offer.MetaPartnerAccount: partnerAccount}
	sixMB := partner()
	sixMB.EULA.Documents = []offer.Document{{Name: "a.pdf", ContentType: "application/pdf", Size: 4 << 20}, {Name: "b.txt", ContentType: "text/plain", Size: 2 << 20}}
	fiveDocs := direct()
	fiveDocs.EULA = offer.Legal{Kind: "custom"}
	for i := range 5 {
		fiveDocs.EULA.Documents = append(fiveDocs.EULA.Documents, offer.Document{Name: fmt.Sprintf("d%d.pdf", i), ContentType: "application/pdf", Size: 1000})
	}
	unnamed := direct()
	unnamed.Name = ""
	nameNonASCII := direct()
	nameNonASCII.Name = strings.Repeat("é", offer.MaxNameLength) // 300 bytes, 150 characters
	nameCJK := direct()
	nameCJK.Name = strings.Repeat("株", offer.MaxNameLength)
	twentyUsers := direct()
	twentyUsers.NotifyUsers = nil
	for i := range offer.MaxNotifyUsers {
		twentyUsers.NotifyUsers = append(twentyUsers.NotifyUsers, fmt.Sprintf("user%d@seller.example", i))
	}
	expiresToday := direct()
	expiresToday.ExpiresOn = "2026-11-02"
	expiresOnEnd := partner()
	expiresOnEnd.ExpiresOn = expiresOnEnd.Pricing.EndDate
	amend, amendCtx := amendment()
	renewalAmend, renewalAmendCtx := amendment()
	renewalAmend.Renewal = true
	amendContract, amendContractCtx := amendment()
	amendContractCtx.Product.Type = marketplace.ProductSaaSContract
	// A direct (AWS Marketplace direct) amendment may change the offer currency.
	amendCurrency, amendCurrencyCtx := amendment()
	amendCurrency.Pricing.Currency = "EUR"
	pAmend, pAmendCtx := partnerAmendment()
	pAmendNoCurrency, pAmendNoCurrencyCtx := partnerAmendment()
	pAmendNoCurrencyCtx.AmendedCurrency = "" // the terms are not fetched yet
	pAmendNoCurrency.Pricing.Currency = "EUR"
	registration := direct()
	registration.Registration = map[string]string{"company": "Acme", "contactName": "IT desk", "email": "it@acme.example"}
	customRegCtx := baseContext()
	customRegCtx.Product.Registration.Fields = []marketplace.RegistrationField{{Key: "tenantName", Label: "Tenant", Type: "text"}}
	customReg := direct()
	customReg.Registration = map[string]string{"tenantName": "acme", "company": "Acme"} // company is always asked

	for name, tc := range map[string]struct {
		o offer.Offer
		c offer.Context
	}{
		"direct":                                {direct(), baseContext()},
		"direct with a payment schedule":        {withSchedule, baseContext()},
		"direct without a name":                 {unnamed, baseContext()},
		"name of 150 non-ASCII characters":      {nameNonASCII, baseContext()},
		"name of 150 CJK characters":            {nameCJK, baseContext()},
		"20 users to notify":                    {twentyUsers, baseContext()},
		"expires today (UTC)":                   {expiresToday, baseContext()},
		"custom EULA of five documents":         {fiveDocs, baseContext()},
		"renewal":                               {renewal, baseContext()},
		"renewal bought in AWS Marketplace":     {renewalMarketplace, baseContext()},
		"renewal brought to the marketplace":    {renewalOutside, baseContext()},
		"zero dollar":                           {zero, baseContext()},
		"all default registration fields":       {registration, baseContext()},
		"product's own registration fields":     {customReg, customRegCtx},
		"partner":                               {partner(), baseContext()},
		"partner, standard reseller contract":   {standardReseller, baseContext()},
		"partner, EULA of exactly 6 MB":         {sixMB, baseContext()},
		"partner, expires on the contract end":  {expiresOnEnd, baseContext()},
		"amendment":                             {amend, amendCtx},
		"amendment, renewal":                    {renewalAmend, renewalAmendCtx},
		"amendment of a SaaS contract product":  {amendContract, amendContractCtx},
		"direct amendment in another currency":  {amendCurrency, amendCurrencyCtx},
		"partner amendment":                     {pAmend, pAmendCtx},
		"partner amendment, currency not known": {pAmendNoCurrency, pAmendNoCurrencyCtx},
	} {
		t.Run(name, func(t *testing.T) {
			c := offer.Validate(tc.o, tc.c)
			expect(t, c, nil, nil)
			if err := c.Err(); err != nil {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	mb := int64(1 << 20)
	type tcase struct {
		name     string
		form     func() (offer.Offer, offer.Context) // direct() when nil
		edit     func(o *offer.Offer, c *offer.Context)
		problems []want
		warnings []want
	}
	p := func(field, msg string) []want { return []want{{field, msg}} }
	partnerForm := func() (offer.Offer, offer.Context) { return partner(), baseContext() }
	cases := []tcase{
		// Buyer, product, type.
		{name: "no buyer company", edit: func(o *offer.Offer, _ *offer.Context) { o.BuyerCompany = "  " },
			problems: p("buyerCompany", "the buyer's company name is required")},
		{name: "buyer company too long", edit: func(o *offer.Offer, _ *offer.Context) { o.BuyerCompany = strings.Repeat("a", 256) },
			problems: p("buyerCompany", "the buyer's company name is longer than 255 characters")},
		{name: "no product", edit: func(o *offer.Offer, _ *offer.Context) { o.ProductID = "" },
			problems: p("productId", "the product is required")},
		{name: "unknown product", edit: func(o *offer.Offer, c *offer.Context) { o.ProductID, c.Product = "prod-x", marketplace.Product{} },
			problems: []want{
				{"productId", "product prod-x is not known to Concord: configure it with PUT /v1/products/prod-x"},
				{"pricing.dimensions[0]", `dimension "seats" is not a dimension of product prod-x`},
				{"pricing.dimensions[1]", `dimension "api_calls" is not a dimension of product prod-x`},
			}},
		{name: "no type", edit: func(o *offer.Offer, _ *offer.Context) { o.Type = "" },
			problems: p("type", `type must be direct or partner, not ""`)},
		{name: "unknown type", edit: func(o *offer.Offer, _ *offer.Context) { o.Type = "reseller" },
			problems: p("type", `type must be direct or partner, not "reseller"`)},

		// Custom offer name.
		{name: "name of 151 characters", edit: func(o *offer.Offer, _ *offer.Context) { o.Name = strings.Repeat("x", 151) },
			problems: p("name", "the custom offer name has 151 characters; AWS allows at most 150")},
		{name: "name of 151 non-ASCII characters", edit: func(o *offer.Offer, _ *offer.Context) { o.Name = strings.Repeat("é", 151) },
			problems: p("name", "the custom offer name has 151 characters; AWS allows at most 150")},
		{name: "name with an email address", edit: func(o *offer.Offer, _ *offer.Context) { o.Name = "Acme renewal (jane.doe@acme.com)" },
			warnings: p("name", "looks like it holds personal data (an email address or a phone number)")},
		{name: "name with a phone number", edit: func(o *offer.Offer, _ *offer.Context) { o.Name = "Acme renewal call +1 (206) 555-0100" },
			warnings: p("name", "looks like it holds personal data (an email address or a phone number)")},
		{name: "name with a plain phone number", edit: func(o *offer.Offer, _ *offer.Context) { o.Name = "Acme renewal 206 555 0100" },
			warnings: p("name", "AWS asks for none: use ids and purchase order numbers instead")},

		// Pricing.
		{name: "lowercase currency", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Currency = "usd" },
			problems: p("pricing.currency", `the currency must be an ISO 4217 code such as USD, not "usd"`)},
		{name: "no currency", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Currency = "" },
			problems: p("pricing.currency", `the currency must be an ISO 4217 code such as USD, not ""`)},
		{name: "currency name", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Currency = "Dollars" },
			problems: p("pricing.currency", `not "Dollars"`)},
		{name: "neither duration nor end date", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Duration = "" },
			problems: p("pricing.duration", "give a duration (e.g. P12M) or an end date")},
		{name: "both duration and end date", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.EndDate = "2027-12-31" },
			problems: p("pricing.duration", "give a duration or an end date, not both")},
		{name: "duration in words", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Duration = "12 months" },
			problems: p("pricing.duration", `the duration "12 months" is not an ISO 8601 period such as P12M, P1Y or P30D`)},
		{name: "zero duration", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Duration = "P0M" },
			problems: p("pricing.duration", `the duration "P0M" is not an ISO 8601 period`)},
		{name: "duration in weeks", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Duration = "P4W" },
			problems: p("pricing.duration", `the duration "P4W" is not an ISO 8601 period`)},
		{name: "end date not a date", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Duration, o.Pricing.EndDate = "", "2027/11/30" },
			problems: p("pricing.endDate", `the end date "2027/11/30" is not a date (YYYY-MM-DD)`)},
		{name: "end date passed", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Duration, o.Pricing.EndDate, o.ExpiresOn = "", "2026-10-31", "2026-11-02"
		},
			problems: []want{
				{"pricing.endDate", "the end date 2026-10-31 has passed"},
				{"expiresOn", "the offer would expire after the contract it offers ends (2026-10-31)"},
			}},
		{name: "no dimension", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions = nil },
			problems: p("pricing.dimensions", "price at least one dimension")},
		{name: "dimension priced twice", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Dimensions = append(o.Pricing.Dimensions, offer.PricedDimension{Key: "api_calls", Kind: "usage", Price: "0.001"})
		},
			problems: p("pricing.dimensions[2]", `dimension "api_calls" is priced twice`)},
		{name: "dimension not in the product", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Dimensions[1].Key = "gpu_hours"
		},
			problems: p("pricing.dimensions[1]", `dimension "gpu_hours" is not a dimension of product prod-o`)},
		{name: "contract dimension priced as usage", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Dimensions[0] = offer.PricedDimension{Key: "seats", Kind: "usage", Price: "10"}
		},
			problems: p("pricing.dimensions[0]", `dimension "seats" is a contract dimension of the product, not usage`)},
		{name: "usage dimension priced as contract", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Dimensions[1] = offer.PricedDimension{Key: "api_calls", Kind: "contract", Quantity: 1000, Price: "0.002"}
		},
			problems: p("pricing.dimensions[1]", `dimension "api_calls" is a usage dimension of the product, not contract`)},
		{name: "dimension without a kind", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[1].Kind = "" },
			problems: []want{
				{"pricing.dimensions[1]", `dimension "api_calls" is a usage dimension of the product, not `},
				{"pricing.dimensions[1]", `kind must be contract or usage, not ""`},
			}},
		{name: "contract quantity zero", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[0].Quantity = 0 },
			problems: p("pricing.dimensions[0]", `contract dimension "seats" needs a quantity of at least 1`)},
		{name: "contract quantity negative", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[0].Quantity = -3 },
			problems: p("pricing.dimensions[0]", `contract dimension "seats" needs a quantity of at least 1`)},
		{name: "usage dimension with a quantity", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[1].Quantity = 5 },
			problems: p("pricing.dimensions[1]", `usage dimension "api_calls" takes a price per unit, not a quantity`)},
		{name: "price with a comma", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[0].Price = "1200,00" },
			problems: p("pricing.dimensions[0]", `the price "1200,00" of "seats" is not an amount such as 12.50`)},
		{name: "negative price", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[0].Price = "-5" },
			problems: p("pricing.dimensions[0]", `the price "-5" of "seats" is not an amount`)},
		{name: "no price", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[1].Price = "" },
			problems: p("pricing.dimensions[1]", `the price "" of "api_calls" is not an amount`)},
		{name: "price in exponent form", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[0].Price = "1e3" },
			problems: p("pricing.dimensions[0]", `the price "1e3" of "seats" is not an amount`)},
		{name: "price with 9 decimals", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[1].Price = "0.000000001" },
			problems: p("pricing.dimensions[1]", `the price "0.000000001" of "api_calls" is not an amount`)},
		{name: "zero contract price without zero-dollar", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[0].Price = "0" },
			problems: p("pricing.dimensions[0]", `dimension "seats" has a zero price: tick zero-dollar pricing to allow it`)},
		{name: "zero usage price without zero-dollar", edit: func(o *offer.Offer, _ *offer.Context) { o.Pricing.Dimensions[1].Price = "0.00" },
			problems: p("pricing.dimensions[1]", `dimension "api_calls" has a zero price: tick zero-dollar pricing to allow it`)},
		{name: "installments out of order", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Schedule = []offer.Installment{{Date: "2027-06-01", Amount: "6000"}, {Date: "2026-12-01", Amount: "6000"}}
		},
			problems: p("pricing.schedule[1]", "installments must be in date order, each on its own day")},
		{name: "two installments on one day", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Schedule = []offer.Installment{{Date: "2026-12-01", Amount: "6000"}, {Date: "2026-12-01", Amount: "6000"}}
		},
			problems: p("pricing.schedule[1]", "installments must be in date order, each on its own day")},
		{name: "installment date not a date", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Schedule = []offer.Installment{{Date: "2026-13-01", Amount: "6000"}, {Date: "2027-06-01", Amount: "6000"}}
		},
			problems: p("pricing.schedule[0]", `the installment date "2026-13-01" is not a date (YYYY-MM-DD)`)},
		{name: "installment amount not an amount", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Schedule = []offer.Installment{{Date: "2026-12-01", Amount: "6,000"}, {Date: "2027-06-01", Amount: "6000"}}
		},
			// A bad amount is the problem; no sum of the others is compared.
			problems: p("pricing.schedule[0]", `the installment amount "6,000" is not an amount such as 1000.00`)},
		{name: "negative installment", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Schedule = []offer.Installment{{Date: "2026-12-01", Amount: "18000"}, {Date: "2027-06-01", Amount: "-6000"}}
		},
			problems: p("pricing.schedule[1]", `the installment amount "-6000" is not an amount`)},
		{name: "installments short of the total", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Schedule = []offer.Installment{{Date: "2026-12-01", Amount: "6000"}, {Date: "2027-06-01", Amount: "5999.99"}}
		},
			problems: p("pricing.schedule", "the installments add up to 11999.99 but the contract dimensions cost 12000.00")},
		{name: "installments over the total", edit: func(o *offer.Offer, _ *offer.Context) {
			o.Pricing.Schedule = []offer.Installment{{Date: "2026-12-01", Amount: "6000"}, {Date: "2027-06-01", Amount: "6000.01"}}
		},
			problems: p("pricing.schedule", "the installments add up to 12000.01 but the contract dimensions cost 12000.00")},

		// EULA and reseller agreement.
		{name: "no EULA", edit: func(o *offer.Offer, _ *offer.Context) { o.EULA = offer.Legal{} },
			problems: p("eula", "choose the standard EULA or a custom one")},
		{name: "standard EULA with a document", edit: func(o *offer.Offer, _ *offer.Context) {
			o.EULA.Documents = []offer.Document{{Name: "x.pdf", ContentType: "application/pdf", Size: 10}}
		},
			problems: p("eula", "the standard EULA takes no documents")},
		{name: "custom EULA without documents", edit: func(o *offer.Offer, _ *offer.Context) { o.EULA = offer.Legal{Kind: "custom"} },
			problems: p("eula", "a custom EULA needs at least one document")},
		{name: "custom EULA of six documents", edit: func(o *offer.Offer, _ *offer.Context) {
			o.EULA = offer.Legal{Kind: "custom"}
			for i := range 6 {
				o.EULA.Documents = append(o.EULA.Documents, offer.Document{Name: fmt.Sprintf("d%d.txt", i), ContentType: "text/plain", Size: 100})
			}
		},
			problems: p("eula", "at most 5 documents can be uploaded; they are consolidated into one")},
		{name: "EULA document not TXT or PDF", edit: func(o *offer.Offer, _ *offer.Context) {
			o.EULA = offer.Legal{Kind: "custom", Documents: []offer.Document{
				{Name: "eula.pdf", ContentType: "application/pdf", Size: 100},
				{Name: "terms.docx", ContentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Size: 100}}}
		},
			problems: p("eula.documents[1]", `"terms.docx" must be a TXT or PDF document`)},
		{name: "EULA over 6 MB", edit: func(o *offer.Offer, _ *offer.Context) {
			o.EULA = offer.Legal{Kind: "custom", Documents: []offer.Document{
				{Name: "a.pdf", ContentType: "application/pdf", Size: 4 * mb}, {Name: "b.pdf", ContentType: "application/pdf", Size: 2*mb + 1}}}
		},
			problems: p("eula", "the documents come to 6.0 MB; at most 6 MB in total")},
		{name: "EULA of 8 MB", edit: func(o *offer.Offer, _ *offer.Context) {
			o.EULA = offer.Legal{Kind: "custom", Documents: []offer.Document{
				{Name: "a.pdf", ContentType: "application/pdf", Size: 4 * mb}, {Name: "b.pdf", ContentType: "application/pdf", Size: 4 * mb}}}
		},
			problems: p("eula", "the documents come to 8.0 MB; at most 6 MB in total")},
		{name: "empty EULA document", edit: func(o *offer.Offer, _ *offer.Context) {
			o.EULA = offer.Legal{Kind: "custom", Documents: []offer.Document{{Name: "empty.pdf", ContentType: "application/pdf"}}}
		},
			problems: p("eula.documents[0]", `"empty.pdf" is empty`)},
		{name: "partner offer without a reseller agreement", form: partnerForm,
			edit:     func(o *offer.Offer, _ *offer.Context) { o.ResellerAgreement = nil },
			problems: p("resellerAgreement", "a partner offer needs a reseller agreement: the standard reseller contract or a custom one")},
		{name: "partner offer with an empty reseller agreement", form: partnerForm,
			edit:     func(o *offer.Offer, _ *offer.Context) { o.ResellerAgreement = &offer.Legal{} },
			problems: p("resellerAgreement", "choose the standard reseller agreement or a custom one")},
		{name: "custom reseller agreement without documents", form: partnerForm,
			edit:     func(o *offer.Offer, _ *offer.Context) { o.ResellerAgreement.Documents = nil },
			problems: p("resellerAgreement", "a custom reseller agreement needs at least one document")},
		{name: "reseller agreement document not TXT or PDF", form: partnerForm,
			edit: func(o *offer.Offer, _ *offer.Context) {
				o.ResellerAgreement.Documents = []offer.Document{{Name: "quote.xlsx", ContentType: "application/vnd.ms-excel", Size: 10}}
			},
			problems: p("resellerAgreement.documents[0]", `"quote.xlsx" must be a TXT or PDF document`)},
		{name: "direct offer with a reseller agreement",
			edit:     func(o *offer.Offer, _ *offer.Context) { o.ResellerAgreement = &offer.Legal{Kind: "standard"} },
			problems: p("resellerAgreement", "only partner offers have a reseller agreement")},

		// Contract metadata.
		{name: "no buyer account", edit: func(o *offer.Offer, _ *offer.Context) { delete(o.Metadata, offer.MetaBuyerAccount) },
			problems: p(fBuyer, "the buyer's AWS account number is required")},
		{name: "no metadata at all", edit: func(o *offer.Offer, _ *offer.Context) { o.Metadata = nil },
			problems: p(fBuyer, "the buyer's AWS account number is required")},
		{name: "buyer account with dashes", edit: func(o *offer.Offer, _ *offer.Context) { o.Metadata[offer.MetaBuyerAccount] = "4444-5555-6666" },
			problems: p(fBuyer, `the buyer's AWS account number must be 12 digits, not "4444-5555-6666"`)},
		{name: "buyer account of 11 digits", edit: func(o *offer.Offer, _ *offer.Context) { o.Metadata[offer.MetaBuyerAccount] = "44445555666" },
			problems: p(fBuyer, `must be 12 digits, not "44445555666"`)},
		{name: "buyer account key in other case", edit: func(o *offer.Offer, _ *offer.Context) {
			delete(o.Metadata, offer.MetaBuyerAccount)
			o.Metadata["aws account number"] = buyerAccount
		},
			problems: p(fBuyer, "the buyer's AWS account number is required")},
		{name: "partner offer without the partner account", form: partnerForm,
			edit:     func(o *offer.Offer, _ *offer.Context) { delete(o.Metadata, offer.MetaPartnerAccount) },
			problems: p(fPartner, "a partner offer needs the partner's AWS account number")},
		{name: "partner account of 13 digits", form: partnerForm,
			edit:     func(o *offer.Offer, _ *offer.Context) { o.Metadata[offer.MetaPartnerAccount] = "7777888899990" },
			problems: p(fPartner, `the partner's AWS account number must be 12 digits, not "7777888899990"`)},
		{name: "partner account is the buyer's", form: partnerForm,
			edit:     func(o *offer.Offer, _ *offer.Context) { o.Metadata[offer.MetaPartnerAccount] = buyerAccount },
			problems: p(fPartner, "the partner's AWS account number is the buyer's")},
		{name: "CPPO field in the wrong case", form: partnerForm,
			edit: func(o *offer.Offer, _ *offer.Context) {
				delete(o.Metadata, offer.MetaCPPOOpportunityID)
				o.Metadata["CPPO opportunity id"] = "O1234567"
			},
			warnings: p("metadata.CPPO opportunity id", `the CPPO tracking field is case-sensitive and must be named "CPPO Opportunity ID" exactly; "CPPO opportunity id" does not turn CPPO tracking on`)},
		{name: "CPPO field in capitals", form: partnerForm,
			edit:     func(o *offer.Offer, _ *offer.Context) { o.Metadata["CPPO OPPORTUNITY ID"] = "O1234567" },
			warnings: p("metadata.CPPO OPPORTUNITY ID", "the CPPO tracking field is case-sensitive")},
		{name: "CPPO opportunity on a direct offer",
			edit:     func(o *offer.Offer, _ *offer.Context) { o.Metadata[offer.MetaCPPOOpportunityID] = "O1234567" },
			warnings: p(fCPPO, "a CPPO opportunity id belongs on a partner offer")},
		{name: "too many metadata fields", edit: func(o *offer.Offer, _ *offer.Context) {
			for i := range offer.MaxMetadataFields {
				o.Metadata[fmt.Sprintf("field %d", i)] = "x"
			}
		},
			problems: p("metadata", "at most 50 contract metadata fields")},

		// Registration details.
		{name: "unknown registration field", edit: func(o *offer.Offer, _ *offer.Context) { o.Registration["favouriteColour"] = "green" },
			problems: p("registration.favouriteColour", `"favouriteColour" is not a registration field of product prod-o`)},
		{name: "registration field of the default set on a product with its own", edit: func(o *offer.Offer, c *offer.Context) {
			c.Product.Registration.Fields = []marketplace.RegistrationField{{Key: "tenantName", Label: "Tenant", Type: "text"}}
			o.Registration = map[string]string{"tenantName": "acme", "email": "it@acme.example"}
		},
			problems: p("registration.email", `"email" is not a registration field of product prod-o`)},

		// Expiration date.
		{name: "no expiration date", edit: func(o *offer.Offer, _ *offer.Context) { o.ExpiresOn = "" },
			problems: p("expiresOn", "the expiration date is required")},
		{name: "expiration date not a date", edit: func(o *offer.Offer, _ *offer.Context) { o.ExpiresOn = "12/01/2026" },
			problems: p("expiresOn", `the expiration date "12/01/2026" is not a date (YYYY-MM-DD, UTC)`)},
		{name: "expiration date with a time", edit: func(o *offer.Offer, _ *offer.Context) { o.ExpiresOn = "2026-12-01T00:00:00Z" },
			problems: p("expiresOn", `is not a date (YYYY-MM-DD, UTC)`)},
		{name: "expiration date passed", edit: func(o *offer.Offer, _ *offer.Context) { o.ExpiresOn = "2026-11-01" },
			problems: p("expiresOn", "the expiration date 2026-11-01 has passed (AWS uses UTC)")},
		{name: "expiration date passed in UTC, not yet in New York", edit: func(o *offer.Offer, c *offer.Context) {
			o.ExpiresOn = "2026-11-01"
			c.Now = time.Date(2026, 11, 1, 20, 30, 0, 0, time.FixedZone("EST", -5*3600)) // 01:30 UTC on 2 November
		},
			problems: p("expiresOn", "the expiration date 2026-11-01 has passed (AWS uses UTC)")},
		{name: "expiration date after the contract end", form: partnerForm,
			edit:     func(o *offer.Offer, _ *offer.Context) { o.ExpiresOn = "2027-12-01" },
			problems: p("expiresOn", "the offer would expire after the contract it offers ends (2027-11-30)")},

		// Amendments.
		{name: "amendment without source offer id", form: amendment,
			edit:     func(o *offer.Offer, _ *offer.Context) { o.Amends.SourceOfferID = "" },
			problems: p("amends.sourceOfferId", "an amendment needs the source offer id: the offer last accepted for the agreement")},
		{name: "amendment without agreement", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { o.Amends.AgreementID, c.Amended = "", nil },
			problems: p("amends.agreementId", "an amendment needs the agreement it amends")},
		{name: "amendment of a SaaS usage product", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Product.Type = marketplace.ProductSaaSUsage },
			problems: p("amends", "a saas usage product cannot be amended: only SaaS contract and SaaS contract with consumption products can")},
		{name: "amendment of a professional services product", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Product.Type = marketplace.ProductProfessionalServices },
			problems: p("amends", "a professional services product cannot be amended")},
		{name: "amendment of an untyped product", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Product.Type = "" },
			warnings: p("amends", "product prod-o has no type configured: only SaaS contract and SaaS contract with consumption products can be amended")},
		{name: "amendment of an agreement unknown to the ledger", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Amended = nil },
			warnings: p("amends.agreementId", "agreement agmt-1 is not in the ledger, so the rules on amending it were not checked")},
		{name: "amendment with another source offer", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Amended.OfferID = "offer-2" },
			problems: p("amends.sourceOfferId", "the offer last accepted for agreement agmt-1 is offer-2, not offer-1")},
		{name: "amendment of another product", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Amended.ProductID = "prod-other" },
			problems: p("productId", "agreement agmt-1 is for product prod-other; an amendment keeps the product")},
		{name: "amendment for another buyer", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Amended.AcceptorAccountID = "999988887777" },
			problems: p(fBuyer, "agreement agmt-1 belongs to account 999988887777, not 444455556666")},
		{name: "direct amendment of a partner-sold agreement", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Amended.ResaleAuthorizationID = "resaleauthz-1" },
			problems: p("type", "agreement agmt-1 was sold by a channel partner (the seller of record); an amendment cannot change the seller of record: amend it with a partner offer")},
		{name: "partner amendment of a direct agreement", form: partnerAmendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Amended.ResaleAuthorizationID = "" },
			problems: p("type", "agreement agmt-1 was sold directly; an amendment cannot change the seller of record to a partner")},
		{name: "partner amendment in another currency", form: partnerAmendment,
			edit:     func(o *offer.Offer, c *offer.Context) { o.Pricing.Currency = "EUR" },
			problems: p("pricing.currency", "a channel partner can amend only in the resale authorization's currency, USD")},
		{name: "amendment of a public offer's agreement", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.AmendedFromPublic = true },
			warnings: p("amends", "agreement agmt-1 came from a public offer: the amendment makes it a private agreement, and it will no longer renew automatically")},

		{name: "amendment whose installments are not its contract price", form: amendment,
			edit: func(o *offer.Offer, _ *offer.Context) {
				o.Pricing.Schedule = []offer.Installment{{Date: "2026-12-01", Amount: "4000.00"}, {Date: "2027-06-01", Amount: "2000"}}
			},
			warnings: p("pricing.schedule", "the installments add up to 6000.00 and the contract dimensions to 12000.00: an amendment's payment schedule "+
				"replaces the agreement's pending installments only, so check that 6000.00 is what the buyer still owes")},
		{name: "amendment of an agreement whose offer AWS could not describe", form: amendment,
			edit: func(o *offer.Offer, c *offer.Context) { c.AmendedVisibilityUnknown = true },
			warnings: p("amends.sourceOfferId", "Concord could not ask AWS whether offer offer-1 is public: if it is, the amendment makes agreement agmt-1 "+
				"private and it will no longer renew automatically")},

		// Renewals.
		{name: "renewal channel without renewal", edit: func(o *offer.Offer, _ *offer.Context) { o.RenewalChannel = offer.RenewalFromOutside },
			problems: p("renewalChannel", "only a renewal has a renewal channel: tick renewal, or leave the channel empty")},
		{name: "unknown renewal channel", edit: func(o *offer.Offer, _ *offer.Context) { o.Renewal, o.RenewalChannel = true, "AwsMarketplace" },
			problems: p("renewalChannel", "the renewal channel must be aws_marketplace (the agreement was bought in AWS Marketplace) or external "+
				`(brought to the marketplace for the first time), not "AwsMarketplace"`)},
		{name: "long unknown renewal channel", edit: func(o *offer.Offer, _ *offer.Context) { o.Renewal, o.RenewalChannel = true, strings.Repeat("x", 100) },
			problems: p("renewalChannel", `not "`+strings.Repeat("x", 40)+`…"`)},

		// Users to notify.
		{name: "user to notify not an email", edit: func(o *offer.Offer, _ *offer.Context) { o.NotifyUsers = append(o.NotifyUsers, "jane") },
			problems: p("notifyUsers[2]", `"jane" is not an email address`)},
		{name: "user to notify with a space", edit: func(o *offer.Offer, _ *offer.Context) { o.NotifyUsers[0] = "jane doe@seller.example" },
			problems: p("notifyUsers[0]", `"jane doe@seller.example" is not an email address`)},
		{name: "21 users to notify", edit: func(o *offer.Offer, _ *offer.Context) {
			o.NotifyUsers = nil
			for i := range offer.MaxNotifyUsers + 1 {
				o.NotifyUsers = append(o.NotifyUsers, fmt.Sprintf("user%d@seller.example", i))
			}
		},
			problems: p("notifyUsers", "at most 20 users can be notified")},
	}
	// Every terminal agreement status refuses an amendment.
	for _, st := range []string{marketplace.StatusArchived, marketplace.StatusCancelled, marketplace.StatusExpired, marketplace.StatusRenewed,
		marketplace.StatusReplaced, marketplace.StatusRolledBack, marketplace.StatusSuperseded, marketplace.StatusTerminated} {
		cases = append(cases, tcase{name: "amendment of a " + st + " agreement", form: amendment,
			edit:     func(o *offer.Offer, c *offer.Context) { c.Amended.Status = st },
			problems: p("amends.agreementId", "agreement agmt-1 is "+st+": only an active agreement can be amended")})
	}

	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("case %q twice", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			var o offer.Offer
			var c offer.Context
			if tc.form != nil {
				o, c = tc.form()
			} else {
				o, c = direct(), baseContext()
			}
			tc.edit(&o, &c)
			expect(t, offer.Validate(o, c), tc.problems, tc.warnings)
		})
	}
}

// TestValidateExpiryIsUTC: the buyer can accept until the end of the
// expiration day in UTC, whatever the clock's zone.
func TestValidateExpiryIsUTC(t *testing.T) {
	for _, tc := range []struct {
		now    time.Time
		passed bool
	}{
		{time.Date(2026, 11, 1, 23, 59, 0, 0, time.UTC), false},
		{time.Date(2026, 11, 2, 0, 0, 1, 0, time.UTC), true},
		// 08:00 on 2 November in Tokyo is still 1 November in UTC; 20:00 on
		// 1 November in New York is 2 November in UTC.
		{time.Date(2026, 11, 2, 8, 0, 0, 0, time.FixedZone("JST", 9*3600)), false},
		{time.Date(2026, 11, 1, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)), true},
	} {
		o := direct()
		o.ExpiresOn = "2026-11-01"
		c := baseContext()
		c.Now = tc.now
		got := !offer.Validate(o, c).OK()
		if got != tc.passed {
			t.Errorf("at %s, expiry 2026-11-01 passed = %v, want %v", tc.now, got, tc.passed)
		}
	}
}

// TestValidateNoClock: without a clock (an offer made elsewhere being
// associated) the dates are not checked against today.
func TestValidateNoClock(t *testing.T) {
	o := direct()
	o.ExpiresOn = "2020-01-01"
	o.Pricing.Duration, o.Pricing.EndDate = "", "2020-06-30"
	c := baseContext()
	c.Now = time.Time{}
	expect(t, offer.Validate(o, c), nil, nil)
}

// TestValidateAllProblemsAtOnce: a form breaking many rules gets all of them,
// and Err turns them into one invalid-request error naming each field.
func TestValidateAllProblemsAtOnce(t *testing.T) {
	o := offer.Offer{Type: offer.TypePartner, ProductID: "prod-o", Pricing: offer.Pricing{Currency: "usd"}, NotifyUsers: []string{"x"}}
	c := offer.Validate(o, baseContext())
	expect(t, c, []want{
		{"buyerCompany", "required"},
		{"pricing.currency", "ISO 4217"},
		{"pricing.duration", "give a duration"},
		{"pricing.dimensions", "price at least one dimension"},
		{"eula", "choose the standard EULA or a custom one"},
		{"resellerAgreement", "a partner offer needs a reseller agreement"},
		{fBuyer, "required"},
		{fPartner, "a partner offer needs the partner's AWS account number"},
		{"expiresOn", "the expiration date is required"},
		{"notifyUsers[0]", `"x" is not an email address`},
	}, nil)
	err := c.Err()
	if marketplace.ErrorCode(err) != marketplace.EInvalid {
		t.Fatalf("Err() = %v (code %s), want invalid", err, marketplace.ErrorCode(err))
	}
	for _, p := range c.Problems {
		if !strings.Contains(err.Error(), p.Field+": "+p.Message) {
			t.Errorf("error %q does not name %s: %s", err, p.Field, p.Message)
		}
	}
}

// TestValidateNameDatesAreNotPersonalData: AWS asks for names with the
// seller's own ids, purchase order numbers and descriptions such as "renewal";
// a date or a span of years is none of a person's details.
func TestValidateNameDatesAreNotPersonalData(t *testing.T) {
	for _, name := range []string{
		"Acme Corp renewal 2026-11-02",
		"Acme Corp renewal 2026 - 2027",
		"Acme Corp upgrade PO 4471 (2027)",
	} {
		o := direct()
		o.Name = name
		c := offer.Validate(o, baseContext())
		if len(c.Warnings) > 0 {
			t.Errorf("name %q: warned %s", name, show(c.Warnings))
		}
	}
}

// TestValidateAWSPatterns: amounts, quantities, names and dates AWS refuses
// are refused on the form, each with its own message on its field. The
// patterns are AWS's (awslabs/aws-marketplace-catalog-api-shapes-for-python:
// offer_1_0_appendix/models/schedule_item.py, fixed_upfront_pricing_term.py,
// rate_card_item.py, grant_item.py, validity_term.py;
// resaleauthorization_1_0_changetypes/models/create_resale_authorization_change_detail.py).
func TestValidateAWSPatterns(t *testing.T) {
	t.Parallel()
	type tcase struct {
		name     string
		form     func() offer.Offer // direct() when nil
		edit     func(o *offer.Offer)
		field    string
		msg      string // the whole message; empty: the form is valid
		warnings []want
	}
	withSchedule := func(o *offer.Offer, amounts ...string) {
		o.Pricing.Dimensions = o.Pricing.Dimensions[:1]
		o.Pricing.Schedule = nil
		for i, a := range amounts {
			o.Pricing.Schedule = append(o.Pricing.Schedule, offer.Installment{Date: fmt.Sprintf("2027-0%d-01", i+1), Amount: a})
		}
	}
	cases := []tcase{
		// Installments: at most 100000000, 2 decimals.
		{name: "installment of 100000000.00", edit: func(o *offer.Offer) {
			o.Pricing.Dimensions[0].Quantity, o.Pricing.Dimensions[0].Price = 1, "100000000"
			withSchedule(o, "100000000.00")
		}},
		{name: "installment over 100000000", edit: func(o *offer.Offer) {
			o.Pricing.Dimensions[0].Quantity, o.Pricing.Dimensions[0].Price = 1, "1"
			withSchedule(o, "100000000.01")
		},
			field: "pricing.schedule[0]", msg: `the installment amount "100000000.01" is not an amount such as 1000.00 (at most 100000000, 2 decimals)`},
		{name: "installment of 9 digits", edit: func(o *offer.Offer) { withSchedule(o, "120000000") },
			field: "pricing.schedule[0]", msg: `the installment amount "120000000" is not an amount such as 1000.00 (at most 100000000, 2 decimals)`},
		{name: "installment with 3 decimals", edit: func(o *offer.Offer) { withSchedule(o, "12000.000") },
			field: "pricing.schedule[0]", msg: `the installment amount "12000.000" is not an amount such as 1000.00 (at most 100000000, 2 decimals)`},
		// Contract prices: a fixed upfront Price, 3 decimals.
		{name: "contract price with 3 decimals", edit: func(o *offer.Offer) { o.Pricing.Dimensions[0].Price = "1200.125" }},
		{name: "contract price with 4 decimals", edit: func(o *offer.Offer) { o.Pricing.Dimensions[0].Price = "1200.1255" },
			field: "pricing.dimensions[0]", msg: `the price "1200.1255" of "seats" is not an amount such as 12.50 (at most 100000000, 3 decimals)`},
		{name: "contract price over 100000000", edit: func(o *offer.Offer) { o.Pricing.Dimensions[0].Price = "100000001" },
			field: "pricing.dimensions[0]", msg: `the price "100000001" of "seats" is not an amount such as 12.50 (at most 100000000, 3 decimals)`},
		{name: "upfront contract over 100000000", edit: func(o *offer.Offer) {
			o.Pricing.Dimensions[0].Quantity, o.Pricing.Dimensions[0].Price = 100_001, "1000"
		},
			field: "pricing.dimensions", msg: "the contract dimensions cost 100001000.00 in total; AWS charges at most 100000000 upfront: spread the charges over a payment schedule"},
		{name: "the same contract over a payment schedule", edit: func(o *offer.Offer) {
			o.Pricing.Dimensions[0].Quantity, o.Pricing.Dimensions[0].Price = 100_001, "1000"
			withSchedule(o, "50000000", "50001000")
		}},
		// Usage prices: a rate card Price, 8 decimals.
		{name: "usage price with 8 decimals", edit: func(o *offer.Offer) { o.Pricing.Dimensions[1].Price = "0.00000001" }},
		{name: "usage price over 100000000", edit: func(o *offer.Offer) { o.Pricing.Dimensions[1].Price = "100000000.5" },
			field: "pricing.dimensions[1]", msg: `the price "100000000.5" of "api_calls" is not an amount such as 0.0125 (at most 100000000, 8 decimals)`},
		{name: "usage price of 12 digits", edit: func(o *offer.Offer) { o.Pricing.Dimensions[1].Price = "123456789012" },
			field: "pricing.dimensions[1]", msg: `the price "123456789012" of "api_calls" is not an amount such as 0.0125 (at most 100000000, 8 decimals)`},
		// Grants: MaxQuantity 1 to 2147483646.
		{name: "quantity of 2147483646", edit: func(o *offer.Offer) {
			o.Pricing.Dimensions[0].Quantity, o.Pricing.Dimensions[0].Price = 2147483646, "0.01"
		}},
		{name: "quantity of 2147483647", edit: func(o *offer.Offer) {
			o.Pricing.Dimensions[0].Quantity, o.Pricing.Dimensions[0].Price = 2147483647, "0.01"
		},
			field: "pricing.dimensions[0]", msg: `contract dimension "seats" has a quantity of 2147483647; AWS grants at most 2147483646`},
		// Names: 150 characters, a resale authorization's 100.
		{name: "partner name of 100 characters", form: partner, edit: func(o *offer.Offer) { o.Name = strings.Repeat("é", 100) }},
		{name: "partner name of 101 characters", form: partner, edit: func(o *offer.Offer) { o.Name = strings.Repeat("é", 101) },
			field: "name", msg: "the custom offer name has 101 characters; a partner offer's resale authorization allows at most 100"},
		// Start dates: AgreementStartDate, a date not in the past, not after the end.
		{name: "start date today", edit: func(o *offer.Offer) { o.Pricing.StartDate = "2026-11-02" }},
		{name: "start date on the end date", edit: func(o *offer.Offer) {
			o.Pricing.Duration, o.Pricing.EndDate, o.Pricing.StartDate = "", "2027-11-30", "2027-11-30"
		}},
		{name: "start date yesterday", edit: func(o *offer.Offer) { o.Pricing.StartDate = "2026-11-01" },
			field: "pricing.startDate", msg: "the start date 2026-11-01 has passed (AWS uses UTC): leave it empty for an agreement that starts at acceptance"},
		{name: "start date not a date", edit: func(o *offer.Offer) { o.Pricing.StartDate = "2027-02-30" },
			field: "pricing.startDate", msg: `the start date "2027-02-30" is not a date (YYYY-MM-DD, UTC)`},
		{name: "start date before year 1000", edit: func(o *offer.Offer) { o.Pricing.StartDate = "0999-01-01" },
			field: "pricing.startDate", msg: `the start date "0999-01-01" is not a date (YYYY-MM-DD, UTC)`},
		{name: "start date after the end date", edit: func(o *offer.Offer) {
			o.Pricing.Duration, o.Pricing.EndDate, o.Pricing.StartDate = "", "2027-11-30", "2027-12-01"
		},
			field: "pricing.startDate", msg: "the start date 2027-12-01 is after the end date 2027-11-30"},
		{name: "partner start date", form: partner, edit: func(o *offer.Offer) { o.Pricing.StartDate = "2027-01-01" }},
		// Installment dates of AWS's years.
		{name: "installment date before year 1000", edit: func(o *offer.Offer) {
			withSchedule(o, "12000.00")
			o.Pricing.Schedule[0].Date = "0999-01-01"
		},
			field: "pricing.schedule[0]", msg: `the installment date "0999-01-01" is not a date (YYYY-MM-DD)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := direct()
			if tc.form != nil {
				o = tc.form()
			}
			tc.edit(&o)
			c := offer.Validate(o, baseContext())
			var problems []want
			if tc.msg != "" {
				problems = []want{{tc.field, tc.msg}}
			}
			expect(t, c, problems, tc.warnings)
			for _, p := range c.Problems {
				if p.Message != tc.msg {
					t.Errorf("message %q, want exactly %q", p.Message, tc.msg)
				}
			}
		})
	}
}
