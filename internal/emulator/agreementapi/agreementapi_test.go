package agreementapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/schemas"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

var (
	tAccept = time.Date(2025, 1, 15, 10, 30, 0, 500_000_000, time.UTC) // sub-second: float timestamp path
	tStart  = time.Date(2025, 1, 15, 10, 31, 0, 0, time.UTC)
	tEnd    = time.Date(2026, 1, 15, 10, 31, 0, 0, time.UTC)
	tUpdate = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
)

const (
	agreementID = "agmt-1a2b3c4d5e6f7g8h9i0jklmno"
	acceptorID  = "111122223333"
	proposerID  = "444455556666"
	offerID     = "offer-abcdefghijklm"
	productID   = "prod-abcdefghijklm"
	licenseArn  = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef"
)

// protocols runs client-driven tests over the pinned client's default
// protocol (RPC v2 CBOR) and over AWS JSON 1.0.
var protocols = []struct {
	name string
	opt  func(*marketplaceagreement.Options)
}{
	{"rpcv2Cbor", func(*marketplaceagreement.Options) {}},
	{"awsJson1_0", func(o *marketplaceagreement.Options) {
		o.Protocol = awsjson.New10(schemas.AWSMPCommerceService_v20200301)
	}},
}

func newClient(t *testing.T, srv *Server, optFns ...func(*marketplaceagreement.Options)) *marketplaceagreement.Client {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return marketplaceagreement.New(marketplaceagreement.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(ts.URL),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	}, optFns...)
}

func newServer() *Server {
	return New(Options{Now: func() time.Time { return tUpdate }})
}

func allTerms() []Term {
	return []Term{
		{Type: TermLegal, ID: "term-legal", Documents: []Document{{Type: "StandardEula", URL: "https://example.com/eula", Version: "2024-01"}}},
		{Type: TermSupport, ID: "term-support", RefundPolicy: "No refunds after 30 days."},
		{Type: TermRenewal, ID: "term-renewal", EnableAutoRenew: aws.Bool(true)},
		{Type: TermUsageBasedPricing, ID: "term-usage", CurrencyCode: "USD", RateCards: []RateCard{{Items: []RateCardItem{
			{DimensionKey: "api_calls", Price: "0.01"}, {DimensionKey: "gb_stored", Price: "0.25"},
		}}}},
		{Type: TermConfigurableUpfrontPricing, ID: "term-cup", CurrencyCode: "USD",
			RateCards: []RateCard{{
				Selector:    &Selector{Type: "Duration", Value: "P12M"},
				Constraints: &Constraints{MultipleDimensionSelection: "Allowed", QuantityConfiguration: "Allowed"},
				Items:       []RateCardItem{{DimensionKey: "seats", Price: "100.00"}},
			}},
			Configuration: &UpfrontConfiguration{SelectorValue: "P12M", Dimensions: []Dimension{{DimensionKey: "seats", DimensionValue: 12}, {DimensionKey: "admins", DimensionValue: 0}}},
		},
		{Type: TermValidity, ID: "term-validity", AgreementDuration: "P12M", AgreementStartDate: &tStart, AgreementEndDate: &tEnd},
		{Type: TermPaymentSchedule, ID: "term-schedule", CurrencyCode: "USD", Schedule: []ScheduleItem{
			{ChargeDate: tStart, ChargeAmount: "600.00"}, {ChargeDate: tStart.AddDate(0, 6, 0), ChargeAmount: "600.00"},
		}},
		{Type: TermFixedUpfrontPricing, ID: "term-fixed", CurrencyCode: "USD", Duration: "P12M", Price: "1200.00",
			Grants: []Grant{{DimensionKey: "seats", MaxQuantity: aws.Int32(10)}}},
		{Type: TermFreeTrialPricing, ID: "term-trial", Duration: "P30D", Grants: []Grant{{DimensionKey: "seats"}}},
		{Type: TermByolPricing, ID: "term-byol"},
		{Type: TermRecurringPayment, ID: "term-recurring", CurrencyCode: "USD", BillingPeriod: "Monthly", Price: "99.00"},
		{Type: TermVariablePayment, ID: "term-variable", CurrencyCode: "USD", MaxTotalChargeAmount: "5000.00",
			PaymentRequestApprovalStrategy: "WAIT_FOR_APPROVAL", ExpirationDuration: "P30D"},
		{Type: TermNetPayment, ID: "term-net", PaymentDuePeriod: "P30D"},
	}
}

// expectedTerms is allTerms as the SDK must decode it.
func expectedTerms() []types.AcceptedTerm {
	s := aws.String
	return []types.AcceptedTerm{
		&types.AcceptedTermMemberLegalTerm{Value: types.LegalTerm{Id: s("term-legal"), Type: s("LegalTerm"),
			Documents: []types.DocumentItem{{Type: s("StandardEula"), Url: s("https://example.com/eula"), Version: s("2024-01")}}}},
		&types.AcceptedTermMemberSupportTerm{Value: types.SupportTerm{Id: s("term-support"), Type: s("SupportTerm"), RefundPolicy: s("No refunds after 30 days.")}},
		&types.AcceptedTermMemberRenewalTerm{Value: types.RenewalTerm{Id: s("term-renewal"), Type: s("RenewalTerm"),
			Configuration: &types.RenewalTermConfiguration{EnableAutoRenew: aws.Bool(true)}}},
		&types.AcceptedTermMemberUsageBasedPricingTerm{Value: types.UsageBasedPricingTerm{Id: s("term-usage"), Type: s("UsageBasedPricingTerm"), CurrencyCode: s("USD"),
			RateCards: []types.UsageBasedRateCardItem{{RateCard: []types.RateCardItem{
				{DimensionKey: s("api_calls"), Price: s("0.01")}, {DimensionKey: s("gb_stored"), Price: s("0.25")},
			}}}}},
		&types.AcceptedTermMemberConfigurableUpfrontPricingTerm{Value: types.ConfigurableUpfrontPricingTerm{Id: s("term-cup"), Type: s("ConfigurableUpfrontPricingTerm"), CurrencyCode: s("USD"),
			RateCards: []types.ConfigurableUpfrontRateCardItem{{
				Selector:    &types.Selector{Type: s("Duration"), Value: s("P12M")},
				Constraints: &types.Constraints{MultipleDimensionSelection: s("Allowed"), QuantityConfiguration: s("Allowed")},
				RateCard:    []types.RateCardItem{{DimensionKey: s("seats"), Price: s("100.00")}},
			}},
			Configuration: &types.ConfigurableUpfrontPricingTermConfiguration{SelectorValue: s("P12M"),
				Dimensions: []types.Dimension{{DimensionKey: s("seats"), DimensionValue: 12}, {DimensionKey: s("admins"), DimensionValue: 0}}},
		}},
		&types.AcceptedTermMemberValidityTerm{Value: types.ValidityTerm{Id: s("term-validity"), Type: s("ValidityTerm"),
			AgreementDuration: s("P12M"), AgreementStartDate: aws.Time(tStart), AgreementEndDate: aws.Time(tEnd)}},
		&types.AcceptedTermMemberPaymentScheduleTerm{Value: types.PaymentScheduleTerm{Id: s("term-schedule"), Type: s("PaymentScheduleTerm"), CurrencyCode: s("USD"),
			Schedule: []types.ScheduleItem{
				{ChargeDate: aws.Time(tStart), ChargeAmount: s("600.00")}, {ChargeDate: aws.Time(tStart.AddDate(0, 6, 0)), ChargeAmount: s("600.00")},
			}}},
		&types.AcceptedTermMemberFixedUpfrontPricingTerm{Value: types.FixedUpfrontPricingTerm{Id: s("term-fixed"), Type: s("FixedUpfrontPricingTerm"),
			CurrencyCode: s("USD"), Duration: s("P12M"), Price: s("1200.00"), Grants: []types.GrantItem{{DimensionKey: s("seats"), MaxQuantity: aws.Int32(10)}}}},
		&types.AcceptedTermMemberFreeTrialPricingTerm{Value: types.FreeTrialPricingTerm{Id: s("term-trial"), Type: s("FreeTrialPricingTerm"),
			Duration: s("P30D"), Grants: []types.GrantItem{{DimensionKey: s("seats")}}}},
		&types.AcceptedTermMemberByolPricingTerm{Value: types.ByolPricingTerm{Id: s("term-byol"), Type: s("ByolPricingTerm")}},
		&types.AcceptedTermMemberRecurringPaymentTerm{Value: types.RecurringPaymentTerm{Id: s("term-recurring"), Type: s("RecurringPaymentTerm"),
			CurrencyCode: s("USD"), BillingPeriod: s("Monthly"), Price: s("99.00")}},
		&types.AcceptedTermMemberVariablePaymentTerm{Value: types.VariablePaymentTerm{Id: s("term-variable"), Type: s("VariablePaymentTerm"),
			CurrencyCode: s("USD"), MaxTotalChargeAmount: s("5000.00"),
			Configuration: &types.VariablePaymentTermConfiguration{PaymentRequestApprovalStrategy: types.PaymentRequestApprovalStrategyWaitForApproval, ExpirationDuration: s("P30D")}}},
		&types.AcceptedTermMemberNetPaymentTerm{Value: types.NetPaymentTerm{Id: s("term-net"), Type: s("NetPaymentTerm"), PaymentDuePeriod: s("P30D")}},
	}
}

func fixtureAgreement() Agreement {
	return Agreement{
		AgreementID:        agreementID,
		AcceptorAccountID:  acceptorID,
		ProposerAccountID:  proposerID,
		Status:             "ACTIVE",
		AcceptanceTime:     &tAccept,
		StartTime:          &tStart,
		EndTime:            &tEnd,
		OfferID:            offerID,
		ProductID:          productID,
		InitialAgreementID: "agmt-initial000000000000000",
		Currency:           "USD",
		EstimatedValue:     "1200.00",
		LicenseArns:        []string{licenseArn},
		Terms:              allTerms(),
	}
}

// utcTimes rewrites every time.Time reachable from v (a pointer) to UTC so
// that values decoded by different protocols compare with reflect.DeepEqual.
func utcTimes(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			utcTimes(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			if v.CanSet() {
				v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				utcTimes(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			utcTimes(v.Index(i))
		}
	}
}

func assertDeepEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	utcTimes(reflect.ValueOf(got))
	utcTimes(reflect.ValueOf(want))
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("%s mismatch\n got: %s\nwant: %s", what, g, w)
	}
}

func TestDescribeAgreement(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.name+"/returns every field", func(t *testing.T) {
			t.Parallel()
			srv := newServer()
			srv.Put(fixtureAgreement())
			c := newClient(t, srv, p.opt)

			out, err := c.DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String(agreementID)})
			if err != nil {
				t.Fatalf("DescribeAgreement: %v", err)
			}
			got := *out
			got.ResultMetadata = marketplaceagreement.DescribeAgreementOutput{}.ResultMetadata
			want := marketplaceagreement.DescribeAgreementOutput{
				AgreementId:      aws.String(agreementID),
				Acceptor:         &types.Acceptor{AccountId: aws.String(acceptorID)},
				Proposer:         &types.Proposer{AccountId: aws.String(proposerID)},
				AcceptanceTime:   aws.Time(tAccept),
				StartTime:        aws.Time(tStart),
				EndTime:          aws.Time(tEnd),
				AgreementType:    aws.String("PurchaseAgreement"),
				EstimatedCharges: &types.EstimatedCharges{CurrencyCode: aws.String("USD"), AgreementValue: aws.String("1200.00")},
				ProposalSummary: &types.ProposalSummary{OfferId: aws.String(offerID),
					Resources: []types.Resource{{Id: aws.String(productID), Type: aws.String("SaaSProduct")}}},
				Status:             types.AgreementStatusActive,
				InitialAgreementId: aws.String("agmt-initial000000000000000"),
			}
			assertDeepEqual(t, "DescribeAgreementOutput", &got, &want)
			if !out.AcceptanceTime.Equal(tAccept) {
				t.Errorf("acceptanceTime = %v, want %v (sub-second precision)", out.AcceptanceTime, tAccept)
			}
		})

		t.Run(p.name+"/omits endTime for pay-as-you-go and applies defaults", func(t *testing.T) {
			t.Parallel()
			srv := newServer()
			srv.Put(Agreement{AgreementID: "agmt-payg", AcceptorAccountID: acceptorID, StartTime: &tStart})
			c := newClient(t, srv, p.opt)

			out, err := c.DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String("agmt-payg")})
			if err != nil {
				t.Fatalf("DescribeAgreement: %v", err)
			}
			if out.EndTime != nil {
				t.Errorf("endTime = %v, want absent", out.EndTime)
			}
			if out.EstimatedCharges != nil || out.ProposalSummary != nil || out.Proposer != nil || out.InitialAgreementId != nil {
				t.Errorf("unset members present: %+v", out)
			}
			if out.Status != types.AgreementStatusActive || aws.ToString(out.AgreementType) != "PurchaseAgreement" {
				t.Errorf("defaults: status %q type %q", out.Status, aws.ToString(out.AgreementType))
			}
		})
	}
}

func TestGetAgreementTerms(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.name+"/returns every term kind in one page", func(t *testing.T) {
			t.Parallel()
			srv := newServer()
			srv.Put(fixtureAgreement())
			c := newClient(t, srv, p.opt)

			out, err := c.GetAgreementTerms(context.Background(), &marketplaceagreement.GetAgreementTermsInput{AgreementId: aws.String(agreementID)})
			if err != nil {
				t.Fatalf("GetAgreementTerms: %v", err)
			}
			if out.NextToken != nil {
				t.Errorf("nextToken = %q, want absent", *out.NextToken)
			}
			assertDeepEqual(t, "acceptedTerms", &out.AcceptedTerms, ptr(expectedTerms()))
		})

		t.Run(p.name+"/paginates with maxResults and nextToken", func(t *testing.T) {
			t.Parallel()
			srv := newServer()
			srv.Put(fixtureAgreement())
			c := newClient(t, srv, p.opt)

			var got []types.AcceptedTerm
			var sizes []int
			pager := marketplaceagreement.NewGetAgreementTermsPaginator(c, &marketplaceagreement.GetAgreementTermsInput{
				AgreementId: aws.String(agreementID), MaxResults: aws.Int32(5),
			})
			for pager.HasMorePages() {
				page, err := pager.NextPage(context.Background())
				if err != nil {
					t.Fatalf("NextPage: %v", err)
				}
				sizes = append(sizes, len(page.AcceptedTerms))
				got = append(got, page.AcceptedTerms...)
			}
			if !reflect.DeepEqual(sizes, []int{5, 5, 3}) {
				t.Errorf("page sizes = %v, want [5 5 3]", sizes)
			}
			assertDeepEqual(t, "paged acceptedTerms", &got, ptr(expectedTerms()))
		})
	}

	t.Run("rejects a nextToken issued for another agreement", func(t *testing.T) {
		t.Parallel()
		srv := newServer()
		srv.Put(fixtureAgreement())
		other := fixtureAgreement()
		other.AgreementID = "agmt-other"
		srv.Put(other)
		c := newClient(t, srv)

		first, err := c.GetAgreementTerms(context.Background(), &marketplaceagreement.GetAgreementTermsInput{
			AgreementId: aws.String(agreementID), MaxResults: aws.Int32(2),
		})
		if err != nil || first.NextToken == nil {
			t.Fatalf("first page: %v, nextToken %v", err, first)
		}
		_, err = c.GetAgreementTerms(context.Background(), &marketplaceagreement.GetAgreementTermsInput{
			AgreementId: aws.String("agmt-other"), NextToken: first.NextToken,
		})
		var ve *types.ValidationException
		if !errors.As(err, &ve) || ve.Reason != types.ValidationExceptionReasonInvalidNextToken {
			t.Fatalf("err = %v, want ValidationException INVALID_NEXT_TOKEN", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func searchFixture() *Server {
	srv := newServer()
	mk := func(id, offer, product, status string, end *time.Time, arns ...string) Agreement {
		return Agreement{AgreementID: id, AcceptorAccountID: acceptorID, ProposerAccountID: proposerID, Status: status,
			AcceptanceTime: &tAccept, StartTime: &tStart, EndTime: end, OfferID: offer, ProductID: product, LicenseArns: arns}
	}
	end2 := tEnd.AddDate(1, 0, 0)
	srv.Put(mk("agmt-a", "offer-1", "prod-1", "ACTIVE", &tEnd, licenseArn))
	srv.Put(mk("agmt-b", "offer-1", "prod-1", "EXPIRED", &end2))
	srv.Put(mk("agmt-c", "offer-2", "prod-1", "ACTIVE", nil))
	srv.Put(mk("agmt-d", "offer-3", "prod-2", "ACTIVE", &end2))
	other := mk("agmt-e", "offer-3", "prod-2", "ACTIVE", &tEnd)
	other.AcceptorAccountID = "999988887777"
	srv.Put(other)
	return srv
}

func filters(kv ...string) []types.Filter {
	var fs []types.Filter
	for i := 0; i < len(kv); i += 2 {
		fs = append(fs, types.Filter{Name: aws.String(kv[i]), Values: []string{kv[i+1]}})
	}
	return fs
}

func ids(sums []types.AgreementViewSummary) []string {
	out := make([]string, len(sums))
	for i, s := range sums {
		out[i] = aws.ToString(s.AgreementId)
	}
	return out
}

func TestSearchAgreements(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		filters []types.Filter
		sort    *types.Sort
		want    []string
	}{
		{"no filters returns all sorted by endTime with open-ended last", nil, nil, []string{"agmt-a", "agmt-e", "agmt-b", "agmt-d", "agmt-c"}},
		{"PartyType and AgreementType match everything", filters("PartyType", "Proposer", "AgreementType", "PurchaseAgreement"), nil, []string{"agmt-a", "agmt-e", "agmt-b", "agmt-d", "agmt-c"}},
		{"OfferId filter", filters("OfferId", "offer-1"), nil, []string{"agmt-a", "agmt-b"}},
		{"Status filter", filters("Status", "EXPIRED"), nil, []string{"agmt-b"}},
		{"ResourceIdentifier and Status filters combine", filters("ResourceIdentifier", "prod-1", "Status", "ACTIVE"), nil, []string{"agmt-a", "agmt-c"}},
		{"AcceptorAccountId filter", filters("AcceptorAccountId", "999988887777"), nil, []string{"agmt-e"}},
		{"AgreementType with no match", filters("AgreementType", "ProposalAgreement"), nil, []string{}},
		{"LicenseArn filter", filters("LicenseArn", licenseArn), nil, []string{"agmt-a"}},
		{"BeforeEndTime filter", filters("BeforeEndTime", tEnd.Add(time.Hour).Format(time.RFC3339)), nil, []string{"agmt-a", "agmt-e"}},
		{"descending sort", filters("ResourceIdentifier", "prod-2"), &types.Sort{SortBy: aws.String("EndTime"), SortOrder: types.SortOrderDescending}, []string{"agmt-d", "agmt-e"}},
	}
	for _, p := range protocols {
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c := newClient(t, searchFixture(), p.opt)
				out, err := c.SearchAgreements(context.Background(), &marketplaceagreement.SearchAgreementsInput{
					Catalog: aws.String("AWSMarketplace"), Filters: tc.filters, Sort: tc.sort,
				})
				if err != nil {
					t.Fatalf("SearchAgreements: %v", err)
				}
				if got := ids(out.AgreementViewSummaries); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("agreements = %v, want %v", got, tc.want)
				}
			})
		}

		t.Run(p.name+"/summary carries every field", func(t *testing.T) {
			t.Parallel()
			srv := newServer()
			srv.Put(fixtureAgreement())
			c := newClient(t, srv, p.opt)
			out, err := c.SearchAgreements(context.Background(), &marketplaceagreement.SearchAgreementsInput{
				Catalog: aws.String("AWSMarketplace"), Filters: filters("OfferId", offerID),
			})
			if err != nil {
				t.Fatalf("SearchAgreements: %v", err)
			}
			want := []types.AgreementViewSummary{{
				AgreementId:    aws.String(agreementID),
				AcceptanceTime: aws.Time(tAccept),
				StartTime:      aws.Time(tStart),
				EndTime:        aws.Time(tEnd),
				LastUpdateTime: aws.Time(tUpdate),
				AgreementType:  aws.String("PurchaseAgreement"),
				Acceptor:       &types.Acceptor{AccountId: aws.String(acceptorID)},
				Proposer:       &types.Proposer{AccountId: aws.String(proposerID)},
				ProposalSummary: &types.ProposalSummary{OfferId: aws.String(offerID),
					Resources: []types.Resource{{Id: aws.String(productID), Type: aws.String("SaaSProduct")}}},
				Status:             types.AgreementStatusActive,
				Entitlements:       []types.Entitlement{{LicenseArn: aws.String(licenseArn)}},
				InitialAgreementId: aws.String("agmt-initial000000000000000"),
			}}
			assertDeepEqual(t, "agreementViewSummaries", &out.AgreementViewSummaries, &want)
		})

		t.Run(p.name+"/paginates", func(t *testing.T) {
			t.Parallel()
			c := newClient(t, searchFixture(), p.opt)
			pager := marketplaceagreement.NewSearchAgreementsPaginator(c, &marketplaceagreement.SearchAgreementsInput{
				Catalog: aws.String("AWSMarketplace"), MaxResults: aws.Int32(2), Filters: filters("PartyType", "Proposer"),
			})
			var got []string
			pages := 0
			for pager.HasMorePages() {
				page, err := pager.NextPage(context.Background())
				if err != nil {
					t.Fatalf("NextPage: %v", err)
				}
				pages++
				got = append(got, ids(page.AgreementViewSummaries)...)
			}
			if want := []string{"agmt-a", "agmt-e", "agmt-b", "agmt-d", "agmt-c"}; pages != 3 || !reflect.DeepEqual(got, want) {
				t.Errorf("pages=%d agreements=%v, want 3 pages of %v", pages, got, want)
			}
		})
	}

	invalid := []struct {
		name   string
		in     marketplaceagreement.SearchAgreementsInput
		reason types.ValidationExceptionReason
	}{
		{"rejects an unknown filter name", marketplaceagreement.SearchAgreementsInput{Filters: filters("Colour", "blue")}, types.ValidationExceptionReasonInvalidFilterName},
		{"rejects a filter with two values", marketplaceagreement.SearchAgreementsInput{Filters: []types.Filter{{Name: aws.String("Status"), Values: []string{"ACTIVE", "EXPIRED"}}}}, types.ValidationExceptionReasonInvalidFilterValues},
		{"rejects a filter without values", marketplaceagreement.SearchAgreementsInput{Filters: []types.Filter{{Name: aws.String("Status")}}}, types.ValidationExceptionReasonMissingFilterValues},
		{"rejects a bad PartyType", marketplaceagreement.SearchAgreementsInput{Filters: filters("PartyType", "Buyer")}, types.ValidationExceptionReasonInvalidPartyType},
		{"rejects another catalog", marketplaceagreement.SearchAgreementsInput{Catalog: aws.String("Elsewhere")}, types.ValidationExceptionReasonInvalidCatalog},
		{"rejects maxResults above 50", marketplaceagreement.SearchAgreementsInput{MaxResults: aws.Int32(51)}, types.ValidationExceptionReasonInvalidMaxResults},
		{"rejects a forged nextToken", marketplaceagreement.SearchAgreementsInput{NextToken: aws.String("bm9wZQ==")}, types.ValidationExceptionReasonInvalidNextToken},
		{"rejects an unknown sortBy", marketplaceagreement.SearchAgreementsInput{Sort: &types.Sort{SortBy: aws.String("Price")}}, types.ValidationExceptionReasonInvalidSortBy},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, searchFixture())
			_, err := c.SearchAgreements(context.Background(), &tc.in)
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *types.ValidationException", err)
			}
			if ve.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", ve.Reason, tc.reason)
			}
			assertStatus(t, err, http.StatusBadRequest)
		})
	}
}

func assertStatus(t *testing.T, err error, want int) {
	t.Helper()
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) {
		t.Fatalf("err %v carries no HTTP status", err)
	}
	if re.HTTPStatusCode() != want {
		t.Errorf("HTTP status = %d, want %d", re.HTTPStatusCode(), want)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.name+"/unknown agreement is ResourceNotFoundException", func(t *testing.T) {
			t.Parallel()
			c := newClient(t, newServer(), p.opt)
			_, err := c.DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String("agmt-missing")})
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				t.Fatalf("err = %v, want *types.ResourceNotFoundException", err)
			}
			if aws.ToString(nf.ResourceId) != "agmt-missing" || nf.ResourceType != types.ResourceTypeAgreement || nf.ErrorMessage() == "" {
				t.Errorf("ResourceNotFoundException = %+v", nf)
			}
			if nf.RequestId == nil || *nf.RequestId == "" {
				t.Errorf("requestId missing")
			}
			assertStatus(t, err, http.StatusNotFound)

			_, err = c.GetAgreementTerms(context.Background(), &marketplaceagreement.GetAgreementTermsInput{AgreementId: aws.String("agmt-missing")})
			if !errors.As(err, &nf) {
				t.Fatalf("GetAgreementTerms err = %v, want *types.ResourceNotFoundException", err)
			}
		})

		for _, tc := range []struct {
			name   string
			id     string
			max    *int32
			token  *string
			reason types.ValidationExceptionReason
		}{
			{"agreementId with invalid characters", "agmt 1!", nil, nil, types.ValidationExceptionReasonInvalidAgreementId},
			{"empty agreementId", "", nil, nil, types.ValidationExceptionReasonInvalidAgreementId},
			{"agreementId longer than 64", strings.Repeat("a", 65), nil, nil, types.ValidationExceptionReasonInvalidAgreementId},
			{"maxResults 0", agreementID, aws.Int32(0), nil, types.ValidationExceptionReasonInvalidMaxResults},
			{"maxResults 51", agreementID, aws.Int32(51), nil, types.ValidationExceptionReasonInvalidMaxResults},
			{"garbage nextToken", agreementID, nil, aws.String("%%%not-base64"), types.ValidationExceptionReasonInvalidNextToken},
		} {
			t.Run(p.name+"/"+tc.name+" is ValidationException", func(t *testing.T) {
				t.Parallel()
				srv := newServer()
				srv.Put(fixtureAgreement())
				c := newClient(t, srv, p.opt)
				_, err := c.GetAgreementTerms(context.Background(), &marketplaceagreement.GetAgreementTermsInput{
					AgreementId: aws.String(tc.id), MaxResults: tc.max, NextToken: tc.token,
				})
				var ve *types.ValidationException
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want *types.ValidationException", err)
				}
				if ve.Reason != tc.reason || len(ve.Fields) != 1 {
					t.Errorf("reason %q fields %+v, want %q with one field", ve.Reason, ve.Fields, tc.reason)
				}
				assertStatus(t, err, http.StatusBadRequest)
			})
		}
	}

	t.Run("valid agreementId of 64 characters is accepted", func(t *testing.T) {
		t.Parallel()
		srv := newServer()
		id := "agmt-/_" + strings.Repeat("Z9", 28) + "x"
		if len(id) != 64 {
			t.Fatalf("test id length %d", len(id))
		}
		srv.Put(Agreement{AgreementID: id})
		c := newClient(t, srv)
		if _, err := c.DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String(id)}); err != nil {
			t.Fatalf("DescribeAgreement: %v", err)
		}
	})
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		fault  error
		status int
		check  func(error) bool
	}{
		{"throttling surfaces as ThrottlingException", &APIError{Code: CodeThrottling, Message: "slow down"}, 429,
			func(err error) bool {
				var e *types.ThrottlingException
				return errors.As(err, &e) && e.ErrorMessage() == "slow down"
			}},
		{"access denied surfaces as AccessDeniedException", &APIError{Code: CodeAccessDenied, Message: "no", Reason: "INVALID_ACCESS"}, 403,
			func(err error) bool {
				var e *types.AccessDeniedException
				return errors.As(err, &e) && e.Reason == types.AccessDeniedExceptionReasonInvalidAccess
			}},
		{"plain error surfaces as InternalServerException 500", errors.New("boom"), 500,
			func(err error) bool {
				var e *types.InternalServerException
				return errors.As(err, &e) && e.ErrorMessage() == "boom"
			}},
		{"unmodelled code surfaces as a generic API error", &APIError{Code: "ServiceUnavailableException", Status: 503, Message: "down"}, 503,
			func(err error) bool {
				var e smithy.APIError
				return errors.As(err, &e) && e.ErrorCode() == "ServiceUnavailableException"
			}},
	}
	for _, p := range protocols {
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				var mu sync.Mutex
				var seen []string
				srv := New(Options{Fault: func(op string) error {
					mu.Lock()
					defer mu.Unlock()
					seen = append(seen, op)
					if op == OpDescribeAgreement {
						return tc.fault
					}
					return nil
				}})
				srv.Put(fixtureAgreement())
				c := newClient(t, srv, p.opt)

				_, err := c.DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String(agreementID)})
				if !tc.check(err) {
					t.Fatalf("err = %#v (%v): wrong type or content", err, err)
				}
				assertStatus(t, err, tc.status)

				if _, err := c.GetAgreementTerms(context.Background(), &marketplaceagreement.GetAgreementTermsInput{AgreementId: aws.String(agreementID)}); err != nil {
					t.Fatalf("GetAgreementTerms is not faulted: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				if !reflect.DeepEqual(seen, []string{OpDescribeAgreement, OpGetAgreementTerms}) {
					t.Errorf("Fault saw %v", seen)
				}
			})
		}
	}
}

func postJSON(t *testing.T, url, target, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", target)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return resp, m
}

func TestJSON10RawHTTP(t *testing.T) {
	t.Parallel()
	srv := newServer()
	srv.Put(fixtureAgreement())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	t.Run("DescribeAgreement answers in lowerCamelCase with epoch-second timestamps", func(t *testing.T) {
		t.Parallel()
		resp, m := postJSON(t, ts.URL, "AWSMPCommerceService_v20200301.DescribeAgreement", `{"agreementId":"`+agreementID+`"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %v", resp.StatusCode, m)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
			t.Errorf("Content-Type = %q", ct)
		}
		if resp.Header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("no x-amzn-RequestId header")
		}
		if m["agreementId"] != agreementID || m["status"] != "ACTIVE" || m["agreementType"] != "PurchaseAgreement" {
			t.Errorf("body = %v", m)
		}
		if got := m["startTime"]; got != json.Number(fmt.Sprint(tStart.Unix())) {
			t.Errorf("startTime = %v, want %d", got, tStart.Unix())
		}
		if got := m["acceptanceTime"]; got != json.Number(fmt.Sprint(tAccept.Unix())+".5") {
			t.Errorf("acceptanceTime = %v", got)
		}
		if acc, _ := m["acceptor"].(map[string]any); acc["accountId"] != acceptorID {
			t.Errorf("acceptor = %v", m["acceptor"])
		}
		if ec, _ := m["estimatedCharges"].(map[string]any); ec["agreementValue"] != "1200.00" || ec["currencyCode"] != "USD" {
			t.Errorf("estimatedCharges = %v", m["estimatedCharges"])
		}
	})

	t.Run("GetAgreementTerms answers union members", func(t *testing.T) {
		t.Parallel()
		resp, m := postJSON(t, ts.URL, "AWSMPCommerceService_v20200301.GetAgreementTerms", `{"agreementId":"`+agreementID+`","maxResults":1}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %v", resp.StatusCode, m)
		}
		terms, _ := m["acceptedTerms"].([]any)
		if len(terms) != 1 {
			t.Fatalf("acceptedTerms = %v", m["acceptedTerms"])
		}
		legal, _ := terms[0].(map[string]any)["legalTerm"].(map[string]any)
		if legal["type"] != "LegalTerm" || legal["id"] != "term-legal" {
			t.Errorf("legalTerm = %v", terms[0])
		}
		if tok, _ := m["nextToken"].(string); tok == "" {
			t.Errorf("nextToken missing")
		}
	})

	t.Run("unknown agreement is a JSON ResourceNotFoundException", func(t *testing.T) {
		t.Parallel()
		resp, m := postJSON(t, ts.URL, "AWSMPCommerceService_v20200301.DescribeAgreement", `{"agreementId":"agmt-nope"}`)
		if resp.StatusCode != http.StatusNotFound || m["__type"] != "ResourceNotFoundException" || m["message"] == "" {
			t.Errorf("status %d body %v", resp.StatusCode, m)
		}
		if h := resp.Header.Get("X-Amzn-ErrorType"); h != "ResourceNotFoundException" {
			t.Errorf("X-Amzn-ErrorType = %q", h)
		}
	})

	t.Run("missing agreementId is a ValidationException", func(t *testing.T) {
		t.Parallel()
		resp, m := postJSON(t, ts.URL, "AWSMPCommerceService_v20200301.DescribeAgreement", `{}`)
		if resp.StatusCode != http.StatusBadRequest || m["__type"] != "ValidationException" || m["reason"] != "MISSING_AGREEMENT_ID" {
			t.Errorf("status %d body %v", resp.StatusCode, m)
		}
	})

	t.Run("wrong member type is a SerializationException", func(t *testing.T) {
		t.Parallel()
		resp, m := postJSON(t, ts.URL, "AWSMPCommerceService_v20200301.DescribeAgreement", `{"agreementId":42}`)
		if resp.StatusCode != http.StatusBadRequest || m["__type"] != "SerializationException" {
			t.Errorf("status %d body %v", resp.StatusCode, m)
		}
	})

	t.Run("unknown target is UnknownOperationException", func(t *testing.T) {
		t.Parallel()
		resp, m := postJSON(t, ts.URL, "AWSMPCommerceService_v20200301.AcceptAgreementRequest", `{}`)
		if resp.StatusCode != http.StatusBadRequest || m["__type"] != "UnknownOperationException" {
			t.Errorf("status %d body %v", resp.StatusCode, m)
		}
	})
}

func TestRawCBORRouting(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(newServer())
	t.Cleanup(ts.Close)
	post := func(path, contentType string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader("\xa0")) // empty CBOR map
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	t.Run("unknown operation is 404", func(t *testing.T) {
		t.Parallel()
		resp := post("/service/AWSMPCommerceService_v20200301/operation/CancelAgreement", "application/cbor")
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
			t.Errorf("status %d headers %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("unknown service is 404", func(t *testing.T) {
		t.Parallel()
		if resp := post("/service/Other/operation/DescribeAgreement", "application/cbor"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("wrong content type is 415", func(t *testing.T) {
		t.Parallel()
		if resp := post("/service/AWSMPCommerceService_v20200301/operation/DescribeAgreement", "text/plain"); resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("path prefix from BaseEndpoint is accepted", func(t *testing.T) {
		t.Parallel()
		resp := post("/emulator/agreement/service/AWSMPCommerceService_v20200301/operation/SearchAgreements", "application/cbor")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/cbor" {
			t.Errorf("status %d headers %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestState(t *testing.T) {
	t.Parallel()
	t.Run("Put and Get copy the agreement", func(t *testing.T) {
		t.Parallel()
		srv := newServer()
		a := fixtureAgreement()
		srv.Put(a)
		a.Terms[0].Documents[0].URL = "mutated"
		a.LicenseArns[0] = "mutated"
		got, ok := srv.Get(agreementID)
		if !ok || got.Terms[0].Documents[0].URL != "https://example.com/eula" || got.LicenseArns[0] != licenseArn {
			t.Fatalf("Get after caller mutation = %+v", got)
		}
		if got.LastUpdateTime == nil || !got.LastUpdateTime.Equal(tUpdate) {
			t.Errorf("LastUpdateTime = %v, want Now()", got.LastUpdateTime)
		}
		got.Terms[0].ID = "mutated"
		if again, _ := srv.Get(agreementID); again.Terms[0].ID != "term-legal" {
			t.Errorf("Get result aliases stored state")
		}
		if !srv.Delete(agreementID) || srv.Delete(agreementID) {
			t.Errorf("Delete reported wrong existence")
		}
		if _, ok := srv.Get(agreementID); ok {
			t.Errorf("Get after Delete found the agreement")
		}
	})

	t.Run("concurrent Put and client calls are safe", func(t *testing.T) {
		t.Parallel()
		srv := newServer()
		srv.Put(fixtureAgreement())
		c := newClient(t, srv)
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := 0; i < 4; i++ {
			wg.Add(2)
			go func(i int) {
				defer wg.Done()
				for j := 0; j < 5; j++ {
					a := fixtureAgreement()
					a.AgreementID = fmt.Sprintf("agmt-%d-%d", i, j)
					srv.Put(a)
				}
			}(i)
			go func() {
				defer wg.Done()
				for j := 0; j < 5; j++ {
					if _, err := c.SearchAgreements(context.Background(), &marketplaceagreement.SearchAgreementsInput{}); err != nil {
						errs <- err
					}
					if _, err := c.DescribeAgreement(context.Background(), &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String(agreementID)}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
