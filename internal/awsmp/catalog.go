package awsmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/document"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog/types"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
)

// CatalogName is the only catalog the Catalog API knows.
const CatalogName = "AWSMarketplace"

// Catalog calls the AWS Marketplace Catalog API: it starts the change sets
// that publish offers and resale authorizations, and follows them.
type Catalog struct {
	Client *marketplacecatalog.Client
}

// NewCatalog builds the adapter over the official client.
func NewCatalog(cfg aws.Config) *Catalog {
	return &Catalog{Client: marketplacecatalog.NewFromConfig(cfg)}
}

// StartChangeSet starts an APPLY change set and returns its id. name and
// clientToken may be empty; a clientToken makes a retry of the same request
// return the same change set instead of starting another. AWS's synchronous
// refusals come back coded: a ValidationException as EInvalid, an entity
// another change set holds (ResourceInUseException) as EConflict, an unknown
// entity as ENotFound.
func (c *Catalog) StartChangeSet(ctx context.Context, name, clientToken string, changes []offer.Change) (string, error) {
	in := &marketplacecatalog.StartChangeSetInput{Catalog: aws.String(CatalogName), ChangeSet: make([]types.Change, len(changes))}
	if name != "" {
		in.ChangeSetName = aws.String(name)
	}
	if clientToken != "" {
		in.ClientRequestToken = aws.String(clientToken)
	}
	for i, ch := range changes {
		tc := types.Change{ChangeType: aws.String(ch.ChangeType), Entity: &types.Entity{Type: aws.String(ch.EntityType)}}
		if ch.Identifier != "" {
			tc.Entity.Identifier = aws.String(ch.Identifier)
		}
		if ch.ChangeName != "" {
			tc.ChangeName = aws.String(ch.ChangeName)
		}
		details := ch.Details
		if details == nil {
			details = map[string]any{}
		}
		tc.DetailsDocument = document.NewLazyDocument(details)
		in.ChangeSet[i] = tc
	}
	out, err := c.Client.StartChangeSet(ctx, in)
	if err != nil {
		return "", catalogError("StartChangeSet", err)
	}
	return aws.ToString(out.ChangeSetId), nil
}

// DescribeChangeSet reports a change set's status, its failure (AWS's code
// and description with each change's ErrorDetailList) and the entities its
// changes applied to.
func (c *Catalog) DescribeChangeSet(ctx context.Context, id string) (offer.ChangeSetStatus, error) {
	out, err := c.Client.DescribeChangeSet(ctx, &marketplacecatalog.DescribeChangeSetInput{Catalog: aws.String(CatalogName), ChangeSetId: aws.String(id)})
	if err != nil {
		return offer.ChangeSetStatus{}, catalogError("DescribeChangeSet", err)
	}
	st := offer.ChangeSetStatus{Status: string(out.Status), EntityIDs: map[string]string{}}
	var failure []string
	if out.FailureCode != "" || aws.ToString(out.FailureDescription) != "" {
		failure = append(failure, strings.TrimPrefix(string(out.FailureCode)+": "+aws.ToString(out.FailureDescription), ": "))
	}
	for _, ch := range out.ChangeSet {
		key := aws.ToString(ch.ChangeName)
		if key == "" {
			key = aws.ToString(ch.ChangeType)
		}
		for _, e := range ch.ErrorDetailList {
			failure = append(failure, strings.TrimSpace(fmt.Sprintf("%s: %s %s", key, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))))
		}
		if ch.Entity == nil {
			continue
		}
		// Before the set applies, a new entity's identifier is empty or the
		// "$Name.Entity.Identifier" reference; after, "id@revision".
		ident := aws.ToString(ch.Entity.Identifier)
		if ident == "" || strings.HasPrefix(ident, "$") {
			continue
		}
		ident, _, _ = strings.Cut(ident, "@")
		if _, seen := st.EntityIDs[key]; !seen {
			st.EntityIDs[key] = ident
		}
	}
	st.Failure = strings.Join(failure, "; ")
	return st, nil
}

// catalogError codes the Catalog API's refusals that retrying cannot fix.
func catalogError(op string, err error) error {
	var (
		invalid  *types.ValidationException
		inUse    *types.ResourceInUseException
		notFound *types.ResourceNotFoundException
	)
	switch {
	case errors.As(err, &invalid):
		return marketplace.Errorf(marketplace.EInvalid, "AWS refused the change set (%s): %s", op, aws.ToString(invalid.Message))
	case errors.As(err, &inUse):
		return marketplace.Errorf(marketplace.EConflict, "%s: %s", op, aws.ToString(inUse.Message))
	case errors.As(err, &notFound):
		return marketplace.Errorf(marketplace.ENotFound, "%s: %s", op, aws.ToString(notFound.Message))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// DescribeOffer tells whether an offer is private: DescribeEntity's Offer
// details, whose TargetingRule names buyer accounts for a private offer.
func (c *Catalog) DescribeOffer(ctx context.Context, offerID string) (offer.OfferInfo, error) {
	out, err := c.Client.DescribeEntity(ctx, &marketplacecatalog.DescribeEntityInput{Catalog: aws.String(CatalogName), EntityId: aws.String(offerID)})
	if err != nil {
		return offer.OfferInfo{}, catalogError("DescribeEntity", err)
	}
	var d struct {
		Rules []struct {
			Type              string
			PositiveTargeting *struct{ BuyerAccounts []string }
		}
	}
	if out.DetailsDocument != nil {
		if err := out.DetailsDocument.UnmarshalSmithyDocument(&d); err != nil {
			return offer.OfferInfo{}, fmt.Errorf("DescribeEntity %s: read details: %w", offerID, err)
		}
	} else if err := json.Unmarshal([]byte(aws.ToString(out.Details)), &d); err != nil {
		return offer.OfferInfo{}, fmt.Errorf("DescribeEntity %s: read details: %w", offerID, err)
	}
	info := offer.OfferInfo{OfferID: offerID}
	for _, r := range d.Rules {
		if r.Type == "TargetingRule" && r.PositiveTargeting != nil && len(r.PositiveTargeting.BuyerAccounts) > 0 {
			info.Private = true
		}
	}
	return info, nil
}
