package awsmp_test

import (
	"reflect"
	"testing"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/marketplace"
)

// saasProduct is a SaaSProduct@1.0 DetailsDocument with the members of AWS's
// shape library (awslabs/aws-marketplace-catalog-api-shapes-for-python
// src/aws_marketplace_catalog_shapes_saasproduct_1_0_entitytype/models:
// saa_s_product_entity_detail.py, description.py, dimension.py); the values
// are this test's own.
const saasProduct = `{
  "Description": {"ProductTitle": "Acme Analytics", "ProductCode": "acmecode123", "ShortDescription": "Dashboards", "Visibility": "Public", "ProductState": "Active"},
  "Dimensions": [
    {"Name": "Seats", "Description": "Named users", "Key": "seats", "Unit": "Users", "Types": ["Entitled"]},
    {"Name": "API calls", "Key": "api_calls", "Unit": "Requests", "Types": ["ExternallyMetered"]},
    {"Name": "No key"}
  ],
  "Versions": [], "Targeting": {"PositiveTargeting": {"BuyerAccounts": []}}
}`

func TestParseSaaSProduct(t *testing.T) {
	t.Parallel()
	p, err := awsmp.ParseSaaSProduct("prod-acme", []byte(saasProduct))
	if err != nil {
		t.Fatal(err)
	}
	want := marketplace.Product{ProductID: "prod-acme", ProductCode: "acmecode123", Title: "Acme Analytics", Type: marketplace.ProductSaaSContractConsumption,
		Dimensions: []marketplace.Dimension{{Key: "seats", Name: "Seats", Unit: "Users", Kind: "contract"}, {Key: "api_calls", Name: "API calls", Unit: "Requests", Kind: "usage"}}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("parsed %+v\nwant %+v", p, want)
	}
	for doc, typ := range map[string]string{
		`{}`: "", `{"Dimensions":[{"Key":"s","Types":["Entitled"]}]}`: marketplace.ProductSaaSContract,
		`{"Dimensions":[{"Key":"u","Types":["ExternallyMetered"]}]}`: marketplace.ProductSaaSUsage,
	} {
		if p, err := awsmp.ParseSaaSProduct("prod-x", []byte(doc)); err != nil || p.Type != typ {
			t.Errorf("%s: type %q %v, want %q", doc, p.Type, err, typ)
		}
	}
	if _, err := awsmp.ParseSaaSProduct("prod-x", []byte(`{"Dimensions":{}}`)); err == nil {
		t.Error("Dimensions as an object parsed")
	}
}

// FuzzParseSaaSProduct: any details document parses or is refused, never
// panicking, and every dimension kept has a key.
func FuzzParseSaaSProduct(f *testing.F) {
	f.Add([]byte(saasProduct))
	f.Add([]byte(`{"Description":null,"Dimensions":[null]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := awsmp.ParseSaaSProduct("prod-x", doc)
		if err != nil {
			return
		}
		for _, d := range p.Dimensions {
			if d.Key == "" {
				t.Fatalf("a dimension without a key from %q", doc)
			}
		}
	})
}
