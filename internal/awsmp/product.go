package awsmp

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"

	"github.com/concordmp/concord/internal/marketplace"
)

// saasProductDetails is the part of a SaaSProduct@1.0 entity's
// DetailsDocument Concord reads, as AWS's shape library defines it
// (awslabs/aws-marketplace-catalog-api-shapes-for-python
// src/aws_marketplace_catalog_shapes_saasproduct_1_0_entitytype/models/
// saa_s_product_entity_detail.py, description.py, dimension.py): every
// member is optional, and members Concord does not use are ignored.
type saasProductDetails struct {
	Description *struct {
		ProductTitle *string
		ProductCode  *string
	}
	Dimensions []struct {
		Key   *string
		Name  *string
		Unit  *string
		Types []string
	}
}

// Dimension types of a SaaS product (the shape library's
// src/aws_marketplace_catalog_shapes_saasproduct_1_0_changetypes/models/dimension_type.py):
// Entitled dimensions are contract entitlements, ExternallyMetered ones are
// metered by the seller (BatchMeterUsage).
const (
	dimensionEntitled          = "Entitled"
	dimensionExternallyMetered = "ExternallyMetered"
)

// ParseSaaSProduct reads a SaaSProduct@1.0 DetailsDocument into what Concord
// keeps of a product: its title and code, its dimensions (key, name, unit;
// kind contract for Entitled, usage for ExternallyMetered) and, from them,
// its type (contract and usage dimensions: saas_contract_consumption; only
// contract: saas_contract; only usage: saas_usage; none: unknown).
func ParseSaaSProduct(productID string, details []byte) (marketplace.Product, error) {
	var d saasProductDetails
	if err := json.Unmarshal(details, &d); err != nil {
		return marketplace.Product{}, fmt.Errorf("read the SaaSProduct details of %s: %w", productID, err)
	}
	p := marketplace.Product{ProductID: productID, Dimensions: []marketplace.Dimension{}}
	if d.Description != nil {
		p.Title, p.ProductCode = aws.ToString(d.Description.ProductTitle), aws.ToString(d.Description.ProductCode)
	}
	var contract, usage bool
	for _, dim := range d.Dimensions {
		key := aws.ToString(dim.Key)
		if key == "" {
			continue // nothing to meter or entitle by
		}
		nd := marketplace.Dimension{Key: key, Name: aws.ToString(dim.Name), Unit: aws.ToString(dim.Unit)}
		switch {
		case slices.Contains(dim.Types, dimensionEntitled):
			nd.Kind, contract = "contract", true
		case slices.Contains(dim.Types, dimensionExternallyMetered):
			nd.Kind, usage = "usage", true
		}
		p.Dimensions = append(p.Dimensions, nd)
	}
	switch {
	case contract && usage:
		p.Type = marketplace.ProductSaaSContractConsumption
	case contract:
		p.Type = marketplace.ProductSaaSContract
	case usage:
		p.Type = marketplace.ProductSaaSUsage
	}
	return p, nil
}

// DescribeProduct reads a SaaS product from the Catalog API (DescribeEntity)
// for inbox.Ledger.SyncProduct. An entity that is not a SaaS product is
// EInvalid; an unknown one ENotFound.
func (c *Catalog) DescribeProduct(ctx context.Context, productID string) (marketplace.Product, error) {
	out, err := c.Client.DescribeEntity(ctx, &marketplacecatalog.DescribeEntityInput{Catalog: aws.String(CatalogName), EntityId: aws.String(productID)})
	if err != nil {
		return marketplace.Product{}, catalogError("DescribeEntity", err)
	}
	if typ := aws.ToString(out.EntityType); !strings.HasPrefix(typ, "SaaSProduct@") {
		return marketplace.Product{}, marketplace.Errorf(marketplace.EInvalid, "entity %s is a %s: Concord reads SaaS products (SaaSProduct@1.0)", productID, typ)
	}
	raw := []byte(aws.ToString(out.Details))
	if out.DetailsDocument != nil {
		if raw, err = out.DetailsDocument.MarshalSmithyDocument(); err != nil {
			return marketplace.Product{}, fmt.Errorf("DescribeEntity %s: read details: %w", productID, err)
		}
	}
	return ParseSaaSProduct(productID, raw)
}
