package awsmp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	etypes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	mtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/concordmp/concord/internal/marketplace"
)

// Customer is what ResolveCustomer says about a registration token.
type Customer struct {
	AccountID          string
	ProductCode        string
	LicenseArn         string
	CustomerIdentifier string // legacy products only
}

// Token errors ResolveCustomer can return; the registration page explains each.
var (
	ErrInvalidToken = errors.New("the registration token is invalid")
	ErrExpiredToken = errors.New("the registration token has expired or was already used")
)

// Metering calls the AWS Marketplace Metering Service.
type Metering struct {
	Client *marketplacemetering.Client
}

// NewMetering builds the adapter over the official client. Throttling is
// retried with backoff by the SDK's standard retryer, given more attempts here
// because a buyer is waiting on the other end.
func NewMetering(cfg aws.Config) *Metering {
	return &Metering{Client: marketplacemetering.NewFromConfig(cfg, func(o *marketplacemetering.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 6
			so.MaxBackoff = 2 * time.Second
		})
	})}
}

// ResolveCustomer exchanges a registration token for the buyer's identity. An
// unknown token wraps ErrInvalidToken, an expired one ErrExpiredToken.
func (m *Metering) ResolveCustomer(ctx context.Context, token string) (Customer, error) {
	out, err := m.Client.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(token)})
	var inv *mtypes.InvalidTokenException
	var exp *mtypes.ExpiredTokenException
	switch {
	case errors.As(err, &inv):
		return Customer{}, fmt.Errorf("%w: %s", ErrInvalidToken, aws.ToString(inv.Message))
	case errors.As(err, &exp):
		return Customer{}, fmt.Errorf("%w: %s", ErrExpiredToken, aws.ToString(exp.Message))
	case err != nil:
		return Customer{}, fmt.Errorf("ResolveCustomer: %w", err)
	}
	return Customer{AccountID: aws.ToString(out.CustomerAWSAccountId), ProductCode: aws.ToString(out.ProductCode),
		LicenseArn: aws.ToString(out.LicenseArn), CustomerIdentifier: aws.ToString(out.CustomerIdentifier)}, nil
}

// Entitlements calls the AWS Marketplace Entitlement Service.
type Entitlements struct {
	Client *marketplaceentitlementservice.Client
}

// NewEntitlements builds the adapter over the official client.
func NewEntitlements(cfg aws.Config) *Entitlements {
	return &Entitlements{Client: marketplaceentitlementservice.NewFromConfig(cfg)}
}

// EntitlementFilter selects entitlements; empty fields do not filter. AWS
// refuses CustomerIdentifier together with AccountID.
type EntitlementFilter struct {
	LicenseArn         string
	AccountID          string
	CustomerIdentifier string
}

// GetEntitlements returns every page of GetEntitlements for one product code.
func (e *Entitlements) GetEntitlements(ctx context.Context, productCode string, f EntitlementFilter) ([]marketplace.Entitlement, error) {
	filter := map[string][]string{}
	if f.LicenseArn != "" {
		filter[string(etypes.GetEntitlementFilterNameLicenseArn)] = []string{f.LicenseArn}
	}
	if f.AccountID != "" {
		filter[string(etypes.GetEntitlementFilterNameCustomerAwsAccountId)] = []string{f.AccountID}
	}
	if f.CustomerIdentifier != "" {
		filter[string(etypes.GetEntitlementFilterNameCustomerIdentifier)] = []string{f.CustomerIdentifier}
	}
	in := &marketplaceentitlementservice.GetEntitlementsInput{ProductCode: aws.String(productCode), MaxResults: aws.Int32(25)}
	if len(filter) > 0 {
		in.Filter = filter
	}
	out := []marketplace.Entitlement{}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			return nil, fmt.Errorf("GetEntitlements: more than 10,000 pages for %s", productCode)
		}
		page, err := e.Client.GetEntitlements(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("GetEntitlements: %w", err)
		}
		for _, x := range page.Entitlements {
			en := marketplace.Entitlement{Dimension: aws.ToString(x.Dimension), LicenseArn: aws.ToString(x.LicenseArn),
				AccountID: aws.ToString(x.CustomerAWSAccountId), CustomerID: aws.ToString(x.CustomerIdentifier),
				ProductCode: aws.ToString(x.ProductCode), ExpiresAt: utc(x.ExpirationDate)}
			if v := x.Value; v != nil {
				switch {
				case v.IntegerValue != nil:
					n := int64(*v.IntegerValue)
					en.Integer = &n
				case v.DoubleValue != nil:
					en.Double = v.DoubleValue
				case v.BooleanValue != nil:
					en.Boolean = v.BooleanValue
				case v.StringValue != nil:
					en.String = v.StringValue
				}
			}
			out = append(out, en)
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}
