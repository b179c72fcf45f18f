package console

import (
	"context"
	"net/http"

	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/marketplace"
)

// The sample product lets a newcomer walk the whole lifecycle on a fresh
// sandbox: AWS would list it in the seller's account, and the seller would
// describe it to Concord in Settings; here one button does both.
const (
	sampleProductID   = "prod-sample"
	sampleProductCode = "samplecode123"
	sampleTitle       = "Sample Analytics"
)

// sbProduct is a product listed in the emulator.
type sbProduct struct {
	ID, Code, Title, Type string
	Concurrent            bool
	// InConcord says whether Concord has the product in its settings.
	InConcord bool
}

// sandboxProducts lists the emulator's products and whether Concord knows
// each (offers can only be made for products in both).
func (s *Service) sandboxProducts(ctx context.Context) ([]sbProduct, bool, error) {
	var out []sbProduct
	hasSample := false
	err := s.Emulator.World.Read(func(st *world.State) error {
		for _, id := range world.SortedKeys(st.Products) {
			p := st.Products[id]
			out = append(out, sbProduct{ID: p.ProductID, Code: p.ProductCode, Title: p.Title, Type: p.Type, Concurrent: p.ConcurrentAgreements})
			hasSample = hasSample || p.ProductID == sampleProductID
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	for i := range out {
		_, err := s.Ledger.GetProduct(ctx, out[i].ID)
		switch {
		case err == nil:
			out[i].InConcord = true
		case marketplace.ErrorCode(err) != marketplace.ENotFound:
			return nil, false, err
		}
	}
	return out, hasSample, nil
}

// sandboxSampleProduct lists the sample product in the emulator (a SaaS
// contract with consumption, under Concurrent Agreements: 40.00 a seat,
// 0.01 an API call) and describes it to Concord, each only if missing.
func (s *Service) sandboxSampleProduct(w http.ResponseWriter, r *http.Request) {
	err := s.Emulator.World.Do(func(st *world.State) error {
		if st.Products[sampleProductID] != nil {
			return nil
		}
		_, err := st.CreateProduct(world.Product{ProductID: sampleProductID, ProductCode: sampleProductCode, Title: sampleTitle,
			Type: world.ProductSaaSContractConsumption, ConcurrentAgreements: true,
			Dimensions: []world.Dimension{{Key: "seats", Name: "Seats", Kind: "contract", Price: "40.00"}, {Key: "api_calls", Name: "API calls", Kind: "usage", Price: "0.01"}}})
		return err
	})
	if err != nil {
		s.sandboxError(w, r, "Could not list the sample product", "add-sample-product", "products", err)
		return
	}
	if _, err := s.Ledger.GetProduct(r.Context(), sampleProductID); marketplace.ErrorCode(err) == marketplace.ENotFound {
		_, err = s.Ledger.PutProduct(r.Context(), marketplace.Product{ProductID: sampleProductID, ProductCode: sampleProductCode, Title: sampleTitle,
			Type: marketplace.ProductSaaSContractConsumption, ConcurrentAgreements: true,
			Dimensions: []marketplace.Dimension{{Key: "seats", Name: "Seats", Kind: "contract"}, {Key: "api_calls", Name: "API calls", Kind: "usage"}}})
		if err != nil {
			s.fail(w, r, err)
			return
		}
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: sandbox sample product added", "product", sampleProductID, "user", sessionOf(r).User.Email)
	s.sandboxRedirect(w, r, "product", "", "")
}
