package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// ProductAPI reads a product as AWS lists it (awsmp.Catalog.DescribeProduct:
// the Catalog API's DescribeEntity): its title, code, type and dimensions.
type ProductAPI interface {
	DescribeProduct(ctx context.Context, productID string) (marketplace.Product, error)
}

// JobSyncProduct reads a product Concord just met from the Catalog API.
const JobSyncProduct = "product.sync"

type syncArgs struct {
	ProductID string `json:"productId"`
}

// syncLater queues the sync of a product Concord has just met, in the
// caller's transaction.
func syncLater(ctx context.Context, tx *store.Tx, productID string, now time.Time) error {
	_, _, err := job.Enqueue(ctx, tx, now, JobSyncProduct, syncArgs{productID}, job.Options{UniqueKey: "product-sync:" + productID})
	return err
}

// ProductHandlers registers the product sync job. Without an API, or for a
// product the Catalog API does not know (a test product, another seller's),
// the job does nothing: the product stays as events and the vendor made it.
func (l *Ledger) ProductHandlers(r *job.Runner, api ProductAPI) {
	r.Handle(JobSyncProduct, func(ctx context.Context, j *job.Job) error {
		var a syncArgs
		if err := json.Unmarshal(j.Args, &a); err != nil || a.ProductID == "" {
			return job.Permanent(fmt.Errorf("bad %s job arguments %s", j.Kind, j.Args))
		}
		if api == nil {
			return nil
		}
		_, err := l.SyncProduct(ctx, api, a.ProductID)
		if code := marketplace.ErrorCode(err); code == marketplace.ENotFound || code == marketplace.EInvalid || code == marketplace.EConflict {
			l.Logger.Warn("product not synced from the Catalog API", "product", a.ProductID, "err", marketplace.ErrorMessage(err))
			return nil
		}
		return err
	})
}

// SyncProduct reads a product from the Catalog API and stores what AWS owns
// of it (title, code, type, dimensions), keeping everything only Concord
// knows (registration, tenant strategy, contract metadata, zero-usage
// dimension, Concurrent Agreements flag). A product Concord did not know is
// created; a new product has Concurrent Agreements on, as PUT gives it.
func (l *Ledger) SyncProduct(ctx context.Context, api ProductAPI, productID string) (marketplace.Product, error) {
	if !marketplace.ValidProductID(productID) {
		return marketplace.Product{}, marketplace.Errorf(marketplace.EInvalid, "productId %q is invalid", productID)
	}
	aws, err := api.DescribeProduct(ctx, productID)
	if err != nil {
		return marketplace.Product{}, err
	}
	var known bool
	out, err := l.updateProduct(ctx, productID, "product.sync", func(p *marketplace.Product, exists bool) error {
		known = exists && p.Title != ""
		if !exists {
			p.ConcurrentAgreements = true
		}
		if aws.Title != "" {
			p.Title = aws.Title
		}
		if aws.ProductCode != "" {
			p.ProductCode = aws.ProductCode
		}
		if aws.Type != "" {
			p.Type = aws.Type
		}
		p.Dimensions = aws.Dimensions
		if d, ok := p.Dimension(p.ZeroUsageDimension); p.ZeroUsageDimension != "" && (!ok || d.Kind == "contract") {
			return marketplace.Errorf(marketplace.EConflict, "the zero-usage dimension %q of product %s is no longer one of its usage dimensions in AWS: change zeroUsageDimension (PATCH /v1/products/%s), then sync again",
				p.ZeroUsageDimension, productID, productID)
		}
		return nil
	})
	if err != nil || known {
		return out, err
	}
	// What was folded before Concord knew the product (an agreement whose
	// event named it first, and its booking) lacks the title: fold the
	// product's agreements again, so their hooks record them anew (a booking
	// gets a new version only when its content changes).
	err = l.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		// A product may have more agreements than PostgreSQL has advisory
		// locks for one transaction: take the ledger whole (once per product).
		if err := tx.LockTables(ctx, ledgerTables...); err != nil {
			return err
		}
		ids, err := store.QueryAll(ctx, tx, store.ScanString, `SELECT agreement_id FROM agreements WHERE product_id = ? ORDER BY agreement_id`, productID)
		if err != nil {
			return err
		}
		p := l.newProjector(tx, l.Now())
		for _, id := range ids {
			if err := p.agreement(ctx, id); err != nil {
				return err
			}
		}
		return p.flush(ctx)
	})
	if err != nil {
		return out, fmt.Errorf("fold the agreements of product %s again: %w", productID, err)
	}
	return out, nil
}

// UpdateProduct changes a product in one write transaction: change gets the
// stored product (or a new one with only its id, exists false), and what it
// leaves is validated and stored. So a sync and a PATCH never undo each
// other's changes. An error from change (or validation) changes nothing.
func (l *Ledger) UpdateProduct(ctx context.Context, productID string, change func(p *marketplace.Product, exists bool) error) (marketplace.Product, error) {
	return l.updateProduct(ctx, productID, "product.update", change)
}

// updateProduct is UpdateProduct, recorded in the audit trail as action.
func (l *Ledger) updateProduct(ctx context.Context, productID, action string, change func(p *marketplace.Product, exists bool) error) (marketplace.Product, error) {
	var out marketplace.Product
	err := l.DB.Write(ctx, func(tx *store.Tx) error {
		p, ok, err := LoadProduct(ctx, tx, productID)
		if err != nil {
			return err
		}
		if !ok {
			p = marketplace.Product{ProductID: productID}
		}
		// JSON now: change may edit the product's slices in place.
		before, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := change(&p, ok); err != nil {
			return err
		}
		p.ProductID = productID
		out, err = putProduct(ctx, tx, p, l.Now())
		if err != nil {
			return err
		}
		return auditProduct(ctx, tx, action, json.RawMessage(before), ok, out)
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return out, fmt.Errorf("update product %s: %w", productID, err)
	}
	return out, err
}
