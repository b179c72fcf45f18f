package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// productsSync runs `concord products sync`: products' title, type and
// dimensions read again from the Catalog API, Concord's own settings kept.
func productsSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("products sync", "Read products' title, type and dimensions from the AWS Marketplace Catalog API (DescribeEntity)\n"+
		"and store them, keeping Concord's own settings (registration, tenant strategy, contract metadata).\n"+
		"--product syncs one (and creates it if Concord does not know it); without it, every product Concord knows.", stderr)
	product := fs.String("product", "", "the product id (prod-…); empty syncs every product Concord knows")
	endpoint := fs.String("aws-endpoint", env("CONCORD_AWS_ENDPOINT", ""), "base URL for the AWS clients, e.g. a standalone emulator or a sandbox serve's http://127.0.0.1:8080/emulator (CONCORD_AWS_ENDPOINT)")
	region := fs.String("aws-region", env("CONCORD_AWS_REGION", "us-east-1"), "AWS region (CONCORD_AWS_REGION)")
	anonymous := fs.Bool("aws-anonymous", envBool("CONCORD_AWS_ANONYMOUS", false), "send unsigned requests, for an emulator at --aws-endpoint (CONCORD_AWS_ANONYMOUS)")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := c.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := awsmp.Load(ctx, awsmp.Config{Region: *region, Endpoint: *endpoint, Anonymous: *anonymous})
	if err != nil {
		return err
	}
	catalog := awsmp.NewCatalog(cfg)
	return c.withDB(ctx, func(db *store.DB) error {
		ledger := app.NewServices(db, time.Now, logger).Ledger
		ids := []string{*product}
		if *product == "" {
			ids = nil
			for page := (inbox.Page{Limit: 500}); ; {
				list, err := ledger.ListProducts(ctx, page)
				if err != nil {
					return err
				}
				for _, p := range list {
					ids = append(ids, p.ProductID)
				}
				if len(list) < 500 {
					break
				}
				page.Cursor = list[len(list)-1].ProductID
			}
		}
		failed := 0
		for _, id := range ids {
			p, err := ledger.SyncProduct(ctx, catalog, id)
			if err != nil {
				failed++
				fmt.Fprintf(stderr, "%s: %s\n", id, marketplace.ErrorMessage(err))
				if marketplace.ErrorCode(err) == marketplace.EInternal {
					logger.Error("product sync", "product", id, "err", err)
				}
				continue
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%d dimensions\n", p.ProductID, p.Title, p.Type, len(p.Dimensions))
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d products not synced", failed, len(ids))
		}
		return nil
	})
}
