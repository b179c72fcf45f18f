package inbox_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestProductContractMetadata: a listing's contract metadata fields are
// stored and read back as given, and a bad field changes nothing.
func TestProductContractMetadata(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(db, t0)
		fields := []marketplace.MetadataField{{Key: "Salesforce Opportunity", Label: "SFDC", Required: true}, {Key: marketplace.CPPOOpportunityField}}
		p, err := l.PutProduct(ctx, marketplace.Product{ProductID: "prod-m", ProductCode: "code-m", ContractMetadata: fields})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p.ContractMetadata, fields) || !p.TracksCPPO() {
			t.Fatalf("stored %+v", p.ContractMetadata)
		}
		_, err = l.PutProduct(ctx, marketplace.Product{ProductID: "prod-m", ProductCode: "code-m",
			ContractMetadata: []marketplace.MetadataField{{Key: "Cppo Opportunity Id"}}})
		if marketplace.ErrorCode(err) != marketplace.EInvalid {
			t.Fatalf("mis-cased CPPO field: %v", err)
		}
		got, err := l.GetProduct(ctx, "prod-m")
		if err != nil || !reflect.DeepEqual(got.ContractMetadata, fields) {
			t.Fatalf("after a refused change: %+v, %v", got.ContractMetadata, err)
		}
		// A product configured without fields reads back an empty list.
		p, err = l.PutProduct(ctx, marketplace.Product{ProductID: "prod-n"})
		if err != nil || p.ContractMetadata == nil || len(p.ContractMetadata) != 0 {
			t.Fatalf("no fields: %+v, %v", p.ContractMetadata, err)
		}
	})
}
