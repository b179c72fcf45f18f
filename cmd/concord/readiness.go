package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/readiness"
	"github.com/concordmp/concord/internal/store"
)

func readinessCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("readiness", "Report a product's Concurrent Agreements opt-in readiness: the $0 test transactions of the\n"+
		"test buyer accounts (Agreement ID, LicenseArn, entitlements fetched, tenant, metering tested),\n"+
		"the checks of what AWS asks for before it enables Concurrent Agreements for all buyers, and\n"+
		"AWS's integration checklist with the evidence Concord holds for each step. Once every check\n"+
		"passes, the table output ends with the text to send AWS; --format csv prints the transactions\n"+
		"to attach. Reads the database only; safe while serve runs. See docs/concurrent-agreements.md.", stderr)
	product := fs.String("product", "", "the product id, prod-… (required)")
	accounts := fs.String("accounts", "", "comma-separated test buyer AWS account ids given to AWS; default: the buyers of accepted\n"+
		"zero-dollar Concord offers and of the product's agreements whose terms total zero")
	format := fs.String("format", "table", "output: table, csv or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *product == "" {
		return usageError{errors.New("--product is required")}
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usageError{fmt.Errorf("--format must be table, csv or json, not %q", *format)}
	}
	accts, err := readiness.ParseAccounts(*accounts)
	if err != nil {
		return usageError{fmt.Errorf("--accounts: %s", marketplace.ErrorMessage(err))}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		r, err := readiness.Report(ctx, db, *product, accts, c.now()())
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		case "csv":
			return readiness.WriteCSV(stdout, r)
		}
		return readiness.WriteText(stdout, r)
	})
}
