// Command example drives `concord emulator` the way an ISV's integration
// test would, through the official AWS SDK for Go v2: a buyer accepts a
// private offer, the SaaS resolves the registration token, meters usage and
// reads the outcome, and checks the buyer's entitlement. Start the emulator
// with the example world, then run this with AWS_ENDPOINT_URL pointing at it:
//
//	concord emulator --addr 127.0.0.1:8090 --world examples/world.json &
//	AWS_ENDPOINT_URL=http://127.0.0.1:8090 AWS_REGION=us-east-1 \
//	  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test go run ./examples/go
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	enttypes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
)

// emulator is the emulator's base URL: the AWS APIs and its control API
// (which plays the buyer) share it.
var emulator = os.Getenv("AWS_ENDPOINT_URL")

// control calls the emulator's control API (JSON over HTTP, not AWS).
func control(method, path string, in, out any) {
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, emulator+path, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		log.Fatal(err)
	}
}

func main() {
	ctx := context.Background()
	// LoadDefaultConfig reads AWS_ENDPOINT_URL, AWS_REGION and the credentials.
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	metering := marketplacemetering.NewFromConfig(cfg)
	entitlements := marketplaceentitlementservice.NewFromConfig(cfg)

	// 1. The buyer accepts the private offer of the world file.
	var offers []struct{ OfferID, Name string }
	control("GET", "/control/offers", nil, &offers)
	offerID := ""
	for _, o := range offers {
		if o.Name == "Acme, 20 seats for a year" {
			offerID = o.OfferID
		}
	}
	var agreement struct{ AgreementID, LicenseArn string }
	control("POST", "/control/accept", map[string]string{"buyer": "777788889999", "offerId": offerID}, &agreement)
	fmt.Println("accepted:", agreement.AgreementID)

	// 2. AWS sends the buyer to the fulfillment URL with a token; resolve it.
	var token struct{ Token string }
	control("POST", "/control/tokens", map[string]string{"agreementId": agreement.AgreementID}, &token)
	customer, err := metering.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: &token.Token})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resolved:", *customer.CustomerAWSAccountId, *customer.ProductCode, *customer.LicenseArn == agreement.LicenseArn)

	// 3. Meter usage by license (Concurrent Agreements) and read the outcome.
	out, err := metering.BatchMeterUsage(ctx, &marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{{
		CustomerAWSAccountId: customer.CustomerAWSAccountId, LicenseArn: customer.LicenseArn,
		Dimension: aws.String("api_calls"), Quantity: aws.Int32(42), Timestamp: aws.Time(time.Now()),
	}}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range out.Results {
		fmt.Println("metered:", r.Status, *r.UsageRecord.Quantity)
	}
	fmt.Println("unprocessed:", len(out.UnprocessedRecords))

	// 4. What did the buyer buy?
	ents, err := entitlements.GetEntitlements(ctx, &marketplaceentitlementservice.GetEntitlementsInput{
		ProductCode: customer.ProductCode,
		Filter:      map[string][]string{string(enttypes.GetEntitlementFilterNameLicenseArn): {*customer.LicenseArn}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range ents.Entitlements {
		fmt.Println("entitled:", *e.Dimension, *e.Value.IntegerValue)
	}
}
