package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/concordmp/concord/internal/marketplace"
)

// productPatchable are the members of a product PATCH may set; the rest
// (productId, createdAt, updatedAt) are Concord's.
var productPatchable = map[string]bool{"productCode": true, "title": true, "type": true, "concurrentAgreements": true, "dimensions": true,
	"registration": true, "zeroUsageDimension": true, "contractMetadata": true}

// PatchProduct applies a JSON merge patch (RFC 7386) to a product: members
// present replace the stored ones (objects merge member by member, null
// removes), members absent stay as they are. It refuses a body that is not a
// JSON object, members a product does not have or Concord owns, and values
// of the wrong type, with a clear EInvalid error and the product unchanged.
func PatchProduct(p marketplace.Product, patch []byte) (marketplace.Product, error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(patch))
	if err := dec.Decode(&members); err != nil || members == nil || dec.More() {
		return p, marketplace.Errorf(marketplace.EInvalid, "the body must be one JSON object of the product members to change (a JSON merge patch)")
	}
	for k := range members {
		if !productPatchable[k] {
			return p, marketplace.Errorf(marketplace.EInvalid, "member %q cannot be patched: a product patch sets productCode, title, type, concurrentAgreements, dimensions, registration, zeroUsageDimension or contractMetadata", marketplace.Clip(k, 64))
		}
	}
	cur, err := json.Marshal(p)
	if err != nil {
		return p, fmt.Errorf("encode product %s: %w", p.ProductID, err)
	}
	var doc any
	if err := json.Unmarshal(cur, &doc); err != nil {
		return p, fmt.Errorf("decode product %s: %w", p.ProductID, err)
	}
	var body any
	json.Unmarshal(patch, &body)
	merged, err := json.Marshal(mergePatch(doc, body))
	if err != nil {
		return p, fmt.Errorf("encode patched product %s: %w", p.ProductID, err)
	}
	var out marketplace.Product
	dec = json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return p, marketplace.Errorf(marketplace.EInvalid, "the patch does not fit a product: %s", marketplace.Clip(err.Error(), 200))
	}
	out.ProductID, out.CreatedAt, out.UpdatedAt = p.ProductID, p.CreatedAt, p.UpdatedAt
	return out, nil
}

// mergePatch is RFC 7386's MergePatch(target, patch).
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
		} else {
			tm[k] = mergePatch(tm[k], v)
		}
	}
	return tm
}

type productPatchInput struct {
	ProductID string `path:"productId" maxLength:"255"`
	RawBody   []byte `contentType:"application/merge-patch+json"`
}

type productSyncInput struct {
	ProductID string `path:"productId" maxLength:"255"`
}

func (s *Server) registerProducts(api huma.API) {
	huma.Register(api, huma.Operation{OperationID: "patch-product", Method: http.MethodPatch, Path: "/v1/products/{productId}",
		Summary: "Change some of a product's settings", Tags: []string{"Products"}, Security: security, MaxBodyBytes: 64 << 10,
		Description: "A JSON merge patch (RFC 7386): the members present replace the stored ones (registration merges member by member; null clears), the others stay as they are. The product must exist (PUT creates one, or sync it from AWS)."},
		func(ctx context.Context, in *productPatchInput) (*bodyOutput[marketplace.Product], error) {
			p, err := s.Ledger.UpdateProduct(ctx, in.ProductID, func(p *marketplace.Product, exists bool) error {
				if !exists {
					return marketplace.Errorf(marketplace.ENotFound, "product %s not found: create it with PUT /v1/products/%s, or read it from AWS with POST /v1/products/%s/sync", in.ProductID, in.ProductID, in.ProductID)
				}
				patched, err := PatchProduct(*p, in.RawBody)
				*p = patched
				return err
			})
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Product]{p}, nil
		})

	huma.Register(api, huma.Operation{OperationID: "sync-product", Method: http.MethodPost, Path: "/v1/products/{productId}/sync",
		Summary: "Read a product's title, type and dimensions from AWS", Tags: []string{"Products"}, Security: security,
		Description: "DescribeEntity on the SaaS product; Concord-only settings (registration, tenant strategy, contract metadata, zero-usage dimension) are kept. A product Concord did not know is created."},
		func(ctx context.Context, in *productSyncInput) (*bodyOutput[marketplace.Product], error) {
			if s.Products == nil {
				return nil, huma.NewError(http.StatusServiceUnavailable, "no Catalog API client is configured")
			}
			p, err := s.Ledger.SyncProduct(ctx, s.Products, in.ProductID)
			if err != nil {
				return nil, s.apiError(err)
			}
			return &bodyOutput[marketplace.Product]{p}, nil
		})
}
