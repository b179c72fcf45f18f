package offer_test

import (
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
)

// TestValidateListingMetadata: the product's contract metadata fields are
// checked on the form: required ones, CPPO tracking for partner offers, and
// keys the listing does not know.
func TestValidateListingMetadata(t *testing.T) {
	fields := []marketplace.MetadataField{{Key: "Salesforce Opportunity", Label: "SFDC opportunity", Required: true},
		{Key: offer.MetaCPPOOpportunityID}, {Key: "Region"}}
	withListing := func(c *offer.Context) { c.Product.ContractMetadata = fields }
	cases := []struct {
		name               string
		partner            bool
		meta               map[string]string
		problems, warnings []want
	}{
		{name: "all there", meta: map[string]string{"Salesforce Opportunity": "006A"}},
		{name: "required field missing", meta: map[string]string{"Region": "EMEA"},
			problems: []want{{"metadata.Salesforce Opportunity", "SFDC opportunity (Salesforce Opportunity) is a required contract metadata field of product prod-o"}}},
		{name: "required field blank", meta: map[string]string{"Salesforce Opportunity": "  "},
			problems: []want{{"metadata.Salesforce Opportunity", "is a required contract metadata field"}}},
		{name: "partner without CPPO opportunity", partner: true, meta: map[string]string{"Salesforce Opportunity": "006A"},
			problems: []want{{"metadata.CPPO Opportunity ID", `product prod-o tracks CPPO opportunities: a partner offer needs its "CPPO Opportunity ID"`}}},
		{name: "partner with CPPO opportunity", partner: true, meta: map[string]string{"Salesforce Opportunity": "006A", offer.MetaCPPOOpportunityID: "O-1"}},
		{name: "unknown key", meta: map[string]string{"Salesforce Opportunity": "006A", "Deal desk": "x"},
			warnings: []want{{"metadata.Deal desk", `"Deal desk" is not one of product prod-o's contract metadata fields`}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, c := direct(), baseContext()
			if tc.partner {
				o = partner()
			}
			withListing(&c)
			o.Metadata = map[string]string{offer.MetaBuyerAccount: o.Metadata[offer.MetaBuyerAccount], offer.MetaPartnerAccount: o.Metadata[offer.MetaPartnerAccount]}
			if !tc.partner {
				delete(o.Metadata, offer.MetaPartnerAccount)
			}
			for k, v := range tc.meta {
				o.Metadata[k] = v
			}
			expect(t, offer.Validate(o, c), tc.problems, tc.warnings)
		})
	}
	// Without listing fields, nothing is required and no key is unknown.
	o, c := partner(), baseContext()
	o.Metadata["Anything"] = "x"
	expect(t, offer.Validate(o, c), nil, nil)
}

// TestProductContractMetadataRules: the listing's own rules.
func TestProductContractMetadataRules(t *testing.T) {
	for _, tc := range []struct {
		fields []marketplace.MetadataField
		msg    string
	}{
		{[]marketplace.MetadataField{{Key: "cppo opportunity id"}}, `CPPO tracking needs the key spelt exactly "CPPO Opportunity ID"`},
		{[]marketplace.MetadataField{{Key: "A"}, {Key: "A"}}, `contract metadata field "A" appears twice`},
		{[]marketplace.MetadataField{{Key: " "}}, "contract metadata field keys are 1-100 characters"},
	} {
		p := marketplace.Product{ProductID: "prod-o", ContractMetadata: tc.fields}
		err := p.Validate()
		if marketplace.ErrorCode(err) != marketplace.EInvalid || !strings.Contains(marketplace.ErrorMessage(err), tc.msg) {
			t.Errorf("%+v: %v, want %q", tc.fields, err, tc.msg)
		}
	}
	p := marketplace.Product{ProductID: "prod-o", ContractMetadata: []marketplace.MetadataField{{Key: offer.MetaCPPOOpportunityID}}}
	if err := p.Validate(); err != nil || !p.TracksCPPO() {
		t.Errorf("CPPO field: %v, tracks %v", err, p.TracksCPPO())
	}
}
