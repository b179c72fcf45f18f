package awsmp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
)

// Agreements calls the AWS Marketplace Agreement API.
type Agreements struct {
	Client *marketplaceagreement.Client
}

// NewAgreements builds the adapter over the official client.
func NewAgreements(cfg aws.Config) *Agreements {
	return &Agreements{Client: marketplaceagreement.NewFromConfig(cfg)}
}

var _ inbox.AgreementAPI = (*Agreements)(nil)

// DescribeAgreement implements inbox.AgreementAPI with DescribeAgreement and every
// page of GetAgreementTerms.
func (a *Agreements) DescribeAgreement(ctx context.Context, id string) (marketplace.AgreementDetails, error) {
	var d marketplace.AgreementDetails
	out, err := a.Client.DescribeAgreement(ctx, &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String(id)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return d, fmt.Errorf("%w: %s", inbox.ErrAgreementNotFound, aws.ToString(nf.Message))
	} else if err != nil {
		return d, fmt.Errorf("DescribeAgreement: %w", err)
	}
	f := &d.Fact
	f.AgreementID = aws.ToString(out.AgreementId)
	f.InitialAgreementID = aws.ToString(out.InitialAgreementId)
	f.Status = string(out.Status)
	f.AcceptanceTime, f.StartTime, f.EndTime = utc(out.AcceptanceTime), utc(out.StartTime), utc(out.EndTime)
	if out.Acceptor != nil {
		f.AcceptorAccountID = aws.ToString(out.Acceptor.AccountId)
	}
	if out.Proposer != nil {
		f.ProposerAccountID = aws.ToString(out.Proposer.AccountId)
	}
	if p := out.ProposalSummary; p != nil {
		f.OfferID = aws.ToString(p.OfferId)
		for _, r := range p.Resources {
			if f.ProductID == "" {
				f.ProductID = aws.ToString(r.Id)
			}
		}
	}
	if c := out.EstimatedCharges; c != nil {
		d.Terms.EstimatedValue = aws.ToString(c.AgreementValue)
		d.Terms.Currency = aws.ToString(c.CurrencyCode)
	}
	d.Terms.Pricing, d.Terms.PaymentSchedule, d.Terms.Types = []marketplace.PriceItem{}, []marketplace.Installment{}, []string{}
	p := marketplaceagreement.NewGetAgreementTermsPaginator(a.Client, &marketplaceagreement.GetAgreementTermsInput{AgreementId: aws.String(id)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return d, fmt.Errorf("GetAgreementTerms: %w", err)
		}
		for _, t := range page.AcceptedTerms {
			addTerm(&d.Terms, t)
		}
	}
	return d, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func setCurrency(t *marketplace.Terms, c *string) {
	if t.Currency == "" {
		t.Currency = aws.ToString(c)
	}
}

// addTerm folds one accepted term into t.
func addTerm(t *marketplace.Terms, term types.AcceptedTerm) {
	switch v := term.(type) {
	case *types.AcceptedTermMemberUsageBasedPricingTerm:
		t.Types = append(t.Types, "UsageBasedPricingTerm")
		setCurrency(t, v.Value.CurrencyCode)
		for _, rc := range v.Value.RateCards {
			for _, it := range rc.RateCard {
				t.Pricing = append(t.Pricing, marketplace.PriceItem{Term: "UsageBasedPricingTerm", Dimension: aws.ToString(it.DimensionKey), Price: aws.ToString(it.Price)})
			}
		}
	case *types.AcceptedTermMemberConfigurableUpfrontPricingTerm:
		t.Types = append(t.Types, "ConfigurableUpfrontPricingTerm")
		setCurrency(t, v.Value.CurrencyCode)
		selected := ""
		qty := map[string]int64{}
		if c := v.Value.Configuration; c != nil {
			selected = aws.ToString(c.SelectorValue)
			for _, dim := range c.Dimensions {
				qty[aws.ToString(dim.DimensionKey)] = int64(dim.DimensionValue)
			}
		}
		for _, rc := range v.Value.RateCards {
			sel := ""
			if rc.Selector != nil {
				sel = aws.ToString(rc.Selector.Value)
			}
			if selected != "" && sel != "" && sel != selected {
				continue
			}
			for _, it := range rc.RateCard {
				pi := marketplace.PriceItem{Term: "ConfigurableUpfrontPricingTerm", Dimension: aws.ToString(it.DimensionKey), Price: aws.ToString(it.Price), Selector: sel}
				if q, ok := qty[pi.Dimension]; ok {
					pi.Quantity = &q
				}
				t.Pricing = append(t.Pricing, pi)
			}
		}
	case *types.AcceptedTermMemberFixedUpfrontPricingTerm:
		t.Types = append(t.Types, "FixedUpfrontPricingTerm")
		setCurrency(t, v.Value.CurrencyCode)
		for _, g := range v.Value.Grants {
			pi := marketplace.PriceItem{Term: "FixedUpfrontPricingTerm", Dimension: aws.ToString(g.DimensionKey), Price: aws.ToString(v.Value.Price)}
			if g.MaxQuantity != nil {
				q := int64(*g.MaxQuantity)
				pi.Quantity = &q
			}
			t.Pricing = append(t.Pricing, pi)
		}
	case *types.AcceptedTermMemberRecurringPaymentTerm:
		t.Types = append(t.Types, "RecurringPaymentTerm")
		setCurrency(t, v.Value.CurrencyCode)
		t.Pricing = append(t.Pricing, marketplace.PriceItem{Term: "RecurringPaymentTerm", Dimension: aws.ToString(v.Value.BillingPeriod), Price: aws.ToString(v.Value.Price)})
	case *types.AcceptedTermMemberPaymentScheduleTerm:
		t.Types = append(t.Types, "PaymentScheduleTerm")
		setCurrency(t, v.Value.CurrencyCode)
		for _, s := range v.Value.Schedule {
			in := marketplace.Installment{Amount: aws.ToString(s.ChargeAmount)}
			if s.ChargeDate != nil {
				in.ChargeDate = s.ChargeDate.UTC()
			}
			t.PaymentSchedule = append(t.PaymentSchedule, in)
		}
	case *types.AcceptedTermMemberValidityTerm:
		t.Types = append(t.Types, "ValidityTerm")
		t.Validity = &marketplace.Validity{Duration: aws.ToString(v.Value.AgreementDuration), Start: utc(v.Value.AgreementStartDate), End: utc(v.Value.AgreementEndDate)}
	case *types.AcceptedTermMemberRenewalTerm:
		t.Types = append(t.Types, "RenewalTerm")
		if c := v.Value.Configuration; c != nil && c.EnableAutoRenew != nil {
			b := *c.EnableAutoRenew
			t.AutoRenew = &b
		}
	case *types.AcceptedTermMemberFreeTrialPricingTerm:
		t.Types = append(t.Types, "FreeTrialPricingTerm")
		t.FreeTrial = &marketplace.FreeTrial{Duration: aws.ToString(v.Value.Duration)}
	case *types.AcceptedTermMemberLegalTerm:
		t.Types = append(t.Types, "LegalTerm")
	case *types.AcceptedTermMemberSupportTerm:
		t.Types = append(t.Types, "SupportTerm")
	case *types.AcceptedTermMemberByolPricingTerm:
		t.Types = append(t.Types, "ByolPricingTerm")
	case *types.AcceptedTermMemberNetPaymentTerm:
		t.Types = append(t.Types, "NetPaymentTerm")
	case *types.AcceptedTermMemberVariablePaymentTerm:
		t.Types = append(t.Types, "VariablePaymentTerm")
		setCurrency(t, v.Value.CurrencyCode)
		vp := &marketplace.VariablePayment{TermID: aws.ToString(v.Value.Id), Currency: aws.ToString(v.Value.CurrencyCode),
			MaxTotalChargeAmount: aws.ToString(v.Value.MaxTotalChargeAmount)}
		if c := v.Value.Configuration; c != nil {
			vp.ApprovalStrategy, vp.ExpirationDuration = string(c.PaymentRequestApprovalStrategy), aws.ToString(c.ExpirationDuration)
		}
		t.VariablePayment = vp
	default:
		t.Types = append(t.Types, fmt.Sprintf("%T", term))
	}
}
