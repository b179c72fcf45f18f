package entitlement_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	mes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"

	"github.com/concordmp/concord/internal/emulator/entitlement"
	"github.com/concordmp/concord/internal/emulator/world"
)

// BenchmarkGetEntitlements100kLicenses asks for one license's entitlements,
// by LICENSE_ARN, in a world of 100,000 licenses of one product, through the
// official client (RPC v2 CBOR). The other sub-benchmarks page the same
// product by buyer account and unfiltered.
func BenchmarkGetEntitlements100kLicenses(b *testing.B) {
	const licenses, buyers = 100_000, 1_000
	e := newEnv(b, protocols[0].opt)
	var code string
	var arns []string
	err := e.w.Do(func(s *world.State) error {
		p, err := s.CreateProduct(world.Product{Title: "Bench", ConcurrentAgreements: true, Dimensions: seatsAdmins})
		if err != nil {
			return err
		}
		code = p.ProductCode
		for i := range licenses {
			buyer := fmt.Sprintf("9%011d", i%buyers)
			if _, err := s.CreateBuyer(buyer); err != nil {
				return err
			}
			a, err := s.Accept(buyer, p.PublicOfferID, world.AcceptOptions{Quantities: map[string]int64{"seats": int64(i%50 + 1), "admins": 1}})
			if err != nil {
				return err
			}
			arns = append(arns, a.LicenseArn)
		}
		s.Events = nil // the benchmark does not need the emitted messages
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	run := func(b *testing.B, in func(i int) *mes.GetEntitlementsInput, want int) {
		for i := 0; b.Loop(); i++ {
			out, err := e.client.GetEntitlements(ctx, in(i))
			if err != nil {
				b.Fatal(err)
			}
			if len(out.Entitlements) != want {
				b.Fatalf("got %d entitlements, want %d", len(out.Entitlements), want)
			}
		}
	}
	b.Run("LICENSE_ARN", func(b *testing.B) {
		run(b, func(i int) *mes.GetEntitlementsInput {
			return &mes.GetEntitlementsInput{ProductCode: aws.String(code),
				Filter: map[string][]string{entitlement.FilterLicenseArn: {arns[(i*7919)%len(arns)]}}}
		}, 2)
	})
	b.Run("CUSTOMER_AWS_ACCOUNT_ID", func(b *testing.B) {
		run(b, func(i int) *mes.GetEntitlementsInput {
			return &mes.GetEntitlementsInput{ProductCode: aws.String(code),
				Filter: map[string][]string{entitlement.FilterCustomerAWSAccountID: {fmt.Sprintf("9%011d", i%buyers)}}}
		}, 25)
	})
	b.Run("unfiltered first page", func(b *testing.B) {
		run(b, func(int) *mes.GetEntitlementsInput { return &mes.GetEntitlementsInput{ProductCode: aws.String(code)} }, 25)
	})
}
