package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestOfferKindsAcceptedByTheEmulator publishes each kind of offer Concord
// builds a change set for through the official Catalog client and has the
// buyer (or the partner, then the buyer) accept it, on both databases: the
// change sets are the shapes AWS documents (docs/offers.md), and the
// agreements carry what the offer said.
func TestOfferKindsAcceptedByTheEmulator(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := lifecycleSetup(t, dialect, "220000000001", "220000000002", "220000000003", "220000000004", "220000000005",
				"220000000006", "220000000007", "220000000008")
			emu(t, b, func(s *world.State) error {
				_, err := s.CreateProduct(world.Product{ProductID: "prod-usage", ProductCode: "usagecode", ConcurrentAgreements: true,
					Type: world.ProductSaaSUsage, Dimensions: []world.Dimension{{Key: "calls", Kind: "usage", Price: "0.01"}}})
				return err
			})
			body := `{"productCode":"usagecode","type":"saas_usage","dimensions":[{"key":"calls","kind":"usage"}]}`
			if code, out := b.do(t, "PUT", "/v1/products/prod-usage", b.key, []byte(body)); code != 200 {
				t.Fatalf("configure prod-usage: %d %s", code, out)
			}
			today := b.app.Emulator.World.Now().UTC()
			day := func(days int) string { return today.AddDate(0, 0, days).Format(time.DateOnly) }

			t.Run("PaymentSchedule", func(t *testing.T) {
				t.Parallel()
				form := offerForm("220000000001")
				form["pricing"].(map[string]any)["schedule"] = []map[string]any{{"date": day(1), "amount": "600.00"}, {"date": day(91), "amount": "600.00"}}
				terms := waitTerms(t, b, acceptDirect(t, b, "220000000001", form))
				if got := pricing(terms); got != "FixedUpfrontPricingTerm seats 0.0×10" || len(terms.PaymentSchedule) != 2 || terms.EstimatedValue != "1200.00" {
					t.Fatalf("accepted terms: %s, %d installments, estimated %s", got, len(terms.PaymentSchedule), terms.EstimatedValue)
				}
			})
			t.Run("EndDate", func(t *testing.T) {
				t.Parallel()
				form := offerForm("220000000002")
				pr := form["pricing"].(map[string]any)
				delete(pr, "duration")
				pr["endDate"] = day(200)
				form["expiresOn"] = day(30)
				p := publish(t, b, form)
				// AWS is given the end date itself, not a count of days from
				// the day the change set ran.
				emu(t, b, func(s *world.State) error {
					if v := string(s.Offers[p.OfferID].Details["UpdateValidityTerms"]); v != `{"Terms":[{"AgreementEndDate":"`+day(200)+`","Type":"ValidityTerm"}]}` {
						return fmt.Errorf("offer %s holds UpdateValidityTerms %s", p.OfferID, v)
					}
					return nil
				})
				waitAccepted(t, b, p.ID, accept(t, b, "220000000002", p.OfferID))
			})
			t.Run("FutureDated", func(t *testing.T) {
				t.Parallel()
				form := offerForm("220000000003")
				form["pricing"].(map[string]any)["startDate"] = day(40)
				form["expiresOn"] = day(30)
				id := acceptDirect(t, b, "220000000003", form)
				emu(t, b, func(s *world.State) error {
					if a := s.Agreements[id]; a == nil || a.StartTime.UTC().Format(time.DateOnly) != day(40) {
						return fmt.Errorf("agreement %s starts %v, want %s", id, a.StartTime, day(40))
					}
					return nil
				})
			})
			t.Run("ZeroDollar", func(t *testing.T) {
				t.Parallel()
				form := offerForm("220000000004")
				form["zeroDollar"] = true
				form["pricing"].(map[string]any)["dimensions"] = []map[string]any{{"key": "seats", "kind": "contract", "quantity": 3, "price": "0"}}
				terms := waitTerms(t, b, acceptDirect(t, b, "220000000004", form))
				if got := pricing(terms); got != "FixedUpfrontPricingTerm seats 0.00×3" || terms.EstimatedValue != "0.00" {
					t.Fatalf("accepted terms: %s, estimated %s", got, terms.EstimatedValue)
				}
			})
			t.Run("UsageOnly", func(t *testing.T) {
				t.Parallel()
				form := offerForm("220000000005")
				form["productId"] = "prod-usage"
				form["pricing"].(map[string]any)["dimensions"] = []map[string]any{{"key": "calls", "kind": "usage", "price": "0.00012345"}}
				p := publish(t, b, form)
				var agreementID string
				emu(t, b, func(s *world.State) error {
					a, err := s.Accept("220000000005", p.OfferID, world.AcceptOptions{})
					if err == nil {
						agreementID = a.ID
					}
					return err
				})
				waitAccepted(t, b, p.ID, agreementID)
				terms := waitTerms(t, b, agreementID)
				if got := pricing(terms); got != "UsageBasedPricingTerm calls 0.00012345×-" {
					t.Fatalf("accepted terms: %s", got)
				}
			})
			t.Run("PartnerRenewalFutureDated", func(t *testing.T) {
				t.Parallel()
				form := partnerForm("220000000006")
				form["renewal"], form["renewalChannel"] = true, offer.RenewalFromOutside
				form["pricing"].(map[string]any)["startDate"] = day(20)
				p := publish(t, b, form)
				var partnerOfferID string
				emu(t, b, func(s *world.State) error {
					ra := s.ResaleAuthorizations[p.ResaleAuthorizationID]
					if ra == nil {
						return fmt.Errorf("no resale authorization %s", p.ResaleAuthorizationID)
					}
					var info struct {
						PreExistingBuyerAgreement struct{ AcquisitionChannel, PricingModel string }
					}
					json.Unmarshal(ra.Details["UpdateInformation"], &info)
					if info.PreExistingBuyerAgreement.AcquisitionChannel != "External" || info.PreExistingBuyerAgreement.PricingModel != "Contract" {
						return fmt.Errorf("resale authorization %s holds UpdateInformation %s", ra.ID, ra.Details["UpdateInformation"])
					}
					if v := string(ra.Details["UpdateBuyerValidityTerms"]); !strings.Contains(v, `"MaximumAgreementStartDate":"`+day(20)+`"`) {
						return fmt.Errorf("resale authorization %s holds UpdateBuyerValidityTerms %s", ra.ID, v)
					}
					o, err := s.CreatePartnerOffer(p.ResaleAuthorizationID, world.Offer{BuyerAccounts: []string{"220000000006"}, Quantities: map[string]int64{"seats": 10}})
					if err == nil {
						partnerOfferID = o.OfferID
					}
					return err
				})
				waitOffer(t, b, p.ID, offer.StateExtended)
				agreementID := accept(t, b, "220000000006", partnerOfferID)
				waitAccepted(t, b, p.ID, agreementID)
			})
			t.Run("RefusedByAWSThenFixed", func(t *testing.T) {
				t.Parallel()
				// The seller's own account as the buyer: AWS accepts the change
				// set and fails it (INVALID_BUYER_ACCOUNTS).
				var seller string
				emu(t, b, func(s *world.State) error { seller = s.Config.SellerAccountID; return nil })
				d := createOffer(t, b, offerForm(seller))
				submitOffer(t, b, d.ID)
				f := waitOffer(t, b, d.ID, offer.StateFailed)
				if !strings.Contains(f.Failure, "INVALID_BUYER_ACCOUNTS") || !strings.Contains(f.Failure, seller) {
					t.Fatalf("failure %q lacks AWS's error code and message", f.Failure)
				}
				// The offer stays editable: the seller fixes the buyer and resubmits.
				form := offerForm("220000000007")
				if code, out := b.call(t, "PUT", "/v1/offers/"+d.ID, form); code != 200 {
					t.Fatalf("edit the failed offer: %d %s", code, out)
				}
				submitOffer(t, b, d.ID)
				p := waitOffer(t, b, d.ID, offer.StatePublished)
				if p.Failure != "" {
					t.Fatalf("the published offer still shows AWS's old refusal %q", p.Failure)
				}
				wantHistory(t, p, "draft/created", "submitted/submitted", "submitted/change set started",
					"failed/failed: change set ", "failed/edited", "submitted/submitted", "submitted/change set started", "published/published")
				waitAccepted(t, b, d.ID, accept(t, b, "220000000007", p.OfferID))
			})
		})
	}
}

// acceptDirect publishes a direct offer form, has buyer accept it, waits for
// Concord to see the acceptance, and returns the agreement id.
func acceptDirect(t *testing.T, b *bundle, buyer string, form map[string]any) string {
	t.Helper()
	p := publish(t, b, form)
	agreementID := accept(t, b, buyer, p.OfferID)
	waitAccepted(t, b, p.ID, agreementID)
	return agreementID
}
