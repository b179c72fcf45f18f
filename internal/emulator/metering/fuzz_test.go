package metering_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/concordmp/concord/internal/emulator/metering"
	"github.com/concordmp/concord/internal/emulator/world"
)

// Placeholders the fuzz bodies may carry; each run replaces them with the
// values of its fresh world so the seeds reach the deep paths.
var placeholders = []string{"__LICENSE__", "__ACCOUNT__", "__LEGACYCODE__", "__CACODE__", "__CUSTOMER__", "__TOKEN__", "__NOW__", "__OTHERLICENSE__"}

// FuzzServeHTTP: any target and body get a JSON answer with a status the
// design allows, never a panic and never a 5xx (no fault is injected).
func FuzzServeHTTP(f *testing.F) {
	seeds := []struct{ op, body string }{
		{"BatchMeterUsage", `{"UsageRecords":[{"CustomerAWSAccountId":"__ACCOUNT__","Dimension":"api_calls","LicenseArn":"__LICENSE__","Quantity":42,"Timestamp":__NOW__,"UsageAllocations":[{"AllocatedUsageQuantity":42,"Tags":[{"Key":"team","Value":"blue"}]}]}]}`},
		{"BatchMeterUsage", `{"UsageRecords":[{"CustomerAWSAccountId":"__ACCOUNT__","Dimension":"api_calls","LicenseArn":"__LICENSE__","Quantity":1,"Timestamp":__NOW__},{"CustomerAWSAccountId":"__ACCOUNT__","Dimension":"api_calls","LicenseArn":"__LICENSE__","Quantity":2,"Timestamp":__NOW__}]}`},
		{"BatchMeterUsage", `{"UsageRecords":[{"CustomerAWSAccountId":"__ACCOUNT__","Dimension":"api_calls","LicenseArn":"__OTHERLICENSE__","Quantity":1,"Timestamp":__NOW__.5}]}`},
		{"BatchMeterUsage", `{"ProductCode":"__LEGACYCODE__","UsageRecords":[{"CustomerIdentifier":"__CUSTOMER__","Dimension":"storage_gb","Quantity":3,"Timestamp":__NOW__}]}`},
		{"BatchMeterUsage", `{"ProductCode":"__CACODE__","UsageRecords":[{"CustomerAWSAccountId":"__ACCOUNT__","Dimension":"seats","LicenseArn":"__LICENSE__","Quantity":-1,"Timestamp":1e300}]}`},
		{"BatchMeterUsage", `{"UsageRecords":[{"CustomerAWSAccountId":"__ACCOUNT__","Dimension":"api_calls","LicenseArn":"__LICENSE__","Quantity":2,"Timestamp":__NOW__,"UsageAllocations":[{"AllocatedUsageQuantity":1},{"AllocatedUsageQuantity":1,"Tags":[]}]}]}`},
		{"MeterUsage", `{"ClientToken":"t1","DryRun":false,"ProductCode":"__CACODE__","Timestamp":__NOW__,"UsageDimension":"api_calls","UsageQuantity":1,"UsageAllocations":[{"AllocatedUsageQuantity":1,"Tags":[{"Key":"k","Value":"v"}]}]}`},
		{"MeterUsage", `{"ClientToken":"t1","DryRun":true,"ProductCode":"__LEGACYCODE__","Timestamp":__NOW__,"UsageDimension":"storage_gb"}`},
		{"ResolveCustomer", `{"RegistrationToken":"__TOKEN__"}`},
		{"ResolveCustomer", `{"RegistrationToken":""}`},
		{"RegisterUsage", `{"Nonce":"n","ProductCode":"__CACODE__","PublicKeyVersion":1}`},
		{"Nope", `{}`},
		{"BatchMeterUsage", `{"UsageRecords":[`},
		{"BatchMeterUsage", `null`},
		{"BatchMeterUsage", ``},
	}
	for _, s := range seeds {
		f.Add("AWSMPMeteringService."+s.op, []byte(s.body))
	}
	f.Add("", []byte(`{}`))

	f.Fuzz(func(t *testing.T, target string, body []byte) {
		cfg := world.DefaultConfig()
		cfg.ThrottleRPS = 0
		w := world.New(cfg)
		values := map[string]string{}
		err := w.Do(func(s *world.State) error {
			ca, err := s.CreateProduct(world.Product{ProductCode: "cacode", Type: world.ProductSaaSUsage, ConcurrentAgreements: true, Dimensions: []world.Dimension{
				{Key: dimAPI, Kind: "usage"}, {Key: dimStorage, Kind: "usage"}, {Key: dimSeats, Kind: "contract"}}})
			if err != nil {
				return err
			}
			legacy, err := s.CreateProduct(world.Product{ProductCode: "legacycode", Type: world.ProductSaaSUsage, Dimensions: []world.Dimension{
				{Key: dimAPI, Kind: "usage"}, {Key: dimStorage, Kind: "usage"}}})
			if err != nil {
				return err
			}
			for _, b := range []string{buyerA, buyerB} {
				if _, err := s.CreateBuyer(b); err != nil {
					return err
				}
			}
			a1, err := s.Accept(buyerA, ca.PublicOfferID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			a2, err := s.Accept(buyerB, ca.PublicOfferID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			a3, err := s.Accept(buyerA, legacy.PublicOfferID, world.AcceptOptions{})
			if err != nil {
				return err
			}
			tok, err := s.MintToken(a1.LicenseArn)
			if err != nil {
				return err
			}
			values["__LICENSE__"], values["__OTHERLICENSE__"], values["__ACCOUNT__"] = a1.LicenseArn, a2.LicenseArn, buyerA
			values["__LEGACYCODE__"], values["__CACODE__"] = legacy.ProductCode, ca.ProductCode
			values["__CUSTOMER__"], values["__TOKEN__"] = s.Licenses[a3.LicenseArn].CustomerIdentifier, tok.Value
			values["__NOW__"] = strconv.FormatInt(s.Now().Unix(), 10)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range placeholders {
			body = bytes.ReplaceAll(body, []byte(p), []byte(values[p]))
		}

		srv := metering.New(w)
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
		rr := httptest.NewRecorder()
		srv.ServeHTTP(rr, req)

		switch rr.Code {
		case http.StatusOK, http.StatusBadRequest:
		case http.StatusConflict:
			if target != "AWSMPMeteringService.MeterUsage" {
				t.Fatalf("409 for %q", target)
			}
		default:
			t.Fatalf("status %d for %q %q: %s", rr.Code, target, body, rr.Body.Bytes())
		}
		if ct := rr.Header().Get("Content-Type"); ct != metering.ContentType {
			t.Fatalf("Content-Type %q", ct)
		}
		var m map[string]any
		if err := json.Unmarshal(rr.Body.Bytes(), &m); err != nil {
			t.Fatalf("answer %q is not a JSON object: %v", rr.Body.Bytes(), err)
		}
		if rr.Code != http.StatusOK {
			typ, _ := m["__type"].(string)
			if !knownErrors[typ] {
				t.Fatalf("unexpected __type %q: %s", typ, rr.Body.Bytes())
			}
			if msg, _ := m["message"].(string); msg == "" {
				t.Fatalf("error without a message: %s", rr.Body.Bytes())
			}
		}
		// What was billed is consistent with what was listed.
		for k, v := range metering.Accepted(w) {
			if v < 0 || v > 2147483647 {
				t.Fatalf("Accepted[%s] = %d", k, v)
			}
		}
	})
}

var knownErrors = map[string]bool{
	"CustomerNotEntitledException": true, "DuplicateRequestException": true, "ExpiredTokenException": true,
	"IdempotencyConflictException": true, "InvalidCustomerIdentifierException": true, "InvalidLicenseException": true,
	"InvalidProductCodeException": true, "InvalidTagException": true, "InvalidTokenException": true,
	"InvalidUsageAllocationsException": true, "InvalidUsageDimensionException": true, "PlatformNotSupportedException": true,
	"TimestampOutOfBoundsException": true, "SerializationException": true, "ValidationException": true, "UnknownOperationException": true,
}
