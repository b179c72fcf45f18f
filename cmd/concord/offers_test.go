package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestOfferInstructionsAndAmendCommands: with Concord and its emulator
// running on a database, the CLI sends a published offer's purchase
// instructions with a tracked link, and prints the amendment of the agreement
// the buyer made from it, which `offer create` then drafts; on both databases.
func TestOfferInstructionsAndAmendCommands(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url, dir := storetest.URL(t, d), t.TempDir()
			a, err := app.Start(ctx, app.Config{Addr: "127.0.0.1:0", Database: url, DataDir: dir, AutoMigrate: true, EventBridgeSecret: "s3cret"},
				slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				a.Close(ctx)
			})
			const buyer = "230000000001"
			err = a.Emulator.World.Do(func(s *world.State) error {
				s.Config.ChangeSetDelay = 0
				if _, err := s.CreateProduct(world.Product{ProductID: "prod-cli", ProductCode: "clicode", Type: world.ProductSaaSContract, ConcurrentAgreements: true,
					Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "10.00"}}}); err != nil {
					return err
				}
				_, err := s.CreateBuyer(buyer)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Ledger.PutProduct(ctx, marketplace.Product{ProductID: "prod-cli", ProductCode: "clicode", Type: marketplace.ProductSaaSContract,
				ConcurrentAgreements: true, Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}}}); err != nil {
				t.Fatal(err)
			}
			waitFor := func(what string, cond func() bool) {
				t.Helper()
				for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("timed out waiting for %s", what)
					}
				}
			}
			get := func(id string) offer.Detail {
				t.Helper()
				o, err := a.Offers.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return o
			}
			db := []string{"--data-dir", dir, "--database", url}

			// A direct offer, published through the emulator.
			form := filepath.Join(t.TempDir(), "form.json")
			os.WriteFile(form, []byte(`{"type":"direct","buyerCompany":"Initech","productId":"prod-cli","name":"Initech seats",
				"pricing":{"currency":"USD","duration":"P12M","dimensions":[{"key":"seats","kind":"contract","quantity":10,"price":"120.00"}]},
				"eula":{"kind":"standard"},"metadata":{"AWS Account Number":"`+buyer+`"},"expiresOn":"2099-12-31"}`), 0o600)
			code, out, errs := runCLI(append([]string{"offer", "create", "--file", form}, db...)...)
			var o offer.Detail
			if json.Unmarshal([]byte(out), &o); code != 0 || o.State != offer.StateDraft {
				t.Fatalf("create: exit %d\n%s\n%s", code, out, errs)
			}
			if _, err := a.Offers.Submit(ctx, o.ID); err != nil {
				t.Fatal(err)
			}
			waitFor("the offer to be published", func() bool { o = get(o.ID); return o.State == offer.StatePublished })

			// Purchase instructions, refused without anyone to send them to.
			code, out, errs = runCLI(append([]string{"offer", "instructions", "--id", o.ID}, db...)...)
			if code != 1 || out != "" || !strings.Contains(errs, "to: name at least one person at the buyer the purchase instructions go to") {
				t.Fatalf("instructions to nobody: exit %d\n%s\n%s", code, out, errs)
			}
			code, out, errs = runCLI(append([]string{"offer", "instructions", "--id", o.ID, "--to", "peter@initech.example, cfo@initech.example",
				"--note", "Thanks for your time today.", "--public-url", "https://concord.acme.example/"}, db...)...)
			link := regexp.MustCompile(`(?m)^Tracked link: (https://concord\.acme\.example/o/[0-9a-f]{32})$`).FindStringSubmatch(out)
			if code != 0 || link == nil {
				t.Fatalf("instructions: exit %d\n%s\n%s", code, out, errs)
			}
			for _, s := range []string{"To: peter@initech.example, cfo@initech.example\n", "Subject: Your private offer for prod-cli on AWS Marketplace\n",
				"Hello Initech team,\n\nThanks for your time today.\n", `A private offer for prod-cli is ready for you in AWS Marketplace ("Initech seats").`,
				"Sign in to the AWS account " + buyer, "2. Open the offer: " + link[1] + "\n", "until the end of 2099-12-31 (UTC)", "AWS offer id: " + o.OfferID} {
				if !strings.Contains(out, s) {
					t.Errorf("instructions lack %q:\n%s", s, out)
				}
			}
			o = get(o.ID)
			if o.State != offer.StateInstructionsSent || o.History[len(o.History)-1].Message != "to peter@initech.example, cfo@initech.example" {
				t.Fatalf("after the instructions: %s %+v", o.State, o.History)
			}

			// The buyer accepts; the CLI prints the amendment of the agreement.
			var agreementID string
			err = a.Emulator.World.Do(func(s *world.State) error {
				ag, err := s.Accept(buyer, o.OfferID, world.AcceptOptions{})
				if err == nil {
					agreementID = ag.ID
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			waitFor("the agreement's terms", func() bool {
				ag, err := a.Ledger.GetAgreement(ctx, agreementID)
				return err == nil && ag.TermsFetchedAt != nil && get(o.ID).State == offer.StateAccepted
			})
			code, out, errs = runCLI(append([]string{"offer", "amend", "--agreement", "agmt-none"}, db...)...)
			if code != 1 || !strings.Contains(errs, "agreement agmt-none is not in the ledger") {
				t.Fatalf("amend an unknown agreement: exit %d\n%s\n%s", code, out, errs)
			}
			code, out, errs = runCLI(append([]string{"offer", "amend", "--agreement", agreementID}, db...)...)
			var dr offer.Draft
			if err := json.Unmarshal([]byte(out), &dr); code != 0 || err != nil {
				t.Fatalf("amend: exit %d\n%s\n%s", code, out, errs)
			}
			f := dr.Form
			if f.Amends == nil || f.Amends.AgreementID != agreementID || f.Amends.SourceOfferID != o.OfferID || f.BuyerCompany != "Initech" ||
				len(f.Pricing.Dimensions) != 1 || f.Pricing.Dimensions[0].Quantity != 10 || f.Pricing.EndDate == "" ||
				dr.Preview == nil || dr.Preview.NewChargesTotal != "1200.00" || dr.Alternative == nil || dr.Alternative.Kind != "concurrent_offer" {
				t.Fatalf("amendment draft:\n%s", out)
			}
			// Saved with more seats, the form drafts the amendment.
			f.Pricing.Dimensions[0].Quantity = 20
			raw, _ := json.Marshal(f)
			os.WriteFile(form, raw, 0o600)
			code, out, errs = runCLI(append([]string{"offer", "create", "--file", form}, db...)...)
			var am offer.Detail
			if json.Unmarshal([]byte(out), &am); code != 0 || am.State != offer.StateDraft || am.Amends == nil || am.Amends.AgreementID != agreementID {
				t.Fatalf("create the amendment: exit %d\n%s\n%s", code, out, errs)
			}
			if h := am.History[0]; h.Step != "created" || h.Message != "amendment of agreement "+agreementID+" for Initech ("+buyer+")" {
				t.Fatalf("amendment history %+v", am.History)
			}
		})
	}
}
