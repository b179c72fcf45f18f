package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/backfill"
	"github.com/concordmp/concord/internal/store"
)

func backfillEntitlements(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("backfill entitlements", "Map the existing customers of a contract product (saas_contract, saas_contract_consumption) to\n"+
		"their LicenseArns before the listing moves to Concurrent Agreements. Every buyer Concord knows for the\n"+
		"product, every legacy SNS subscriber of its product code (resolved with GetEntitlements by\n"+
		"CUSTOMER_IDENTIFIER) and the accounts in --accounts are asked about with GetEntitlements by\n"+
		"CUSTOMER_AWS_ACCOUNT_ID; every LicenseArn found is imported into the ledger in one transaction,\n"+
		"after all calls succeeded. Running it again changes nothing. Usage-only products: see import-csv.", stderr)
	product := fs.String("product", "", "Concord product id to backfill (required; configured with its product code and type)")
	accountsFile := fs.String("accounts", "", "file of more buyer account ids to ask about: one 12-digit id per line, # starts a comment")
	endpoint := fs.String("aws-endpoint", env("CONCORD_AWS_ENDPOINT", ""), "base URL for the AWS clients, e.g. a standalone emulator (CONCORD_AWS_ENDPOINT)")
	region := fs.String("aws-region", env("CONCORD_AWS_REGION", "us-east-1"), "AWS region (CONCORD_AWS_REGION)")
	anonymous := fs.Bool("aws-anonymous", envBool("CONCORD_AWS_ANONYMOUS", false), "send unsigned requests, for an emulator at --aws-endpoint (CONCORD_AWS_ANONYMOUS)")
	rate := fs.Float64("rate", envFloat("CONCORD_BACKFILL_RATE", backfill.DefaultRate), "GetEntitlements calls per second at most; 0 does not pace them (CONCORD_BACKFILL_RATE)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *product == "" {
		return usageError{errors.New("--product is required")}
	}
	logger, err := c.logger(stderr)
	if err != nil {
		return err
	}
	var accounts []string
	if *accountsFile != "" {
		f, err := os.Open(*accountsFile)
		if err != nil {
			return err
		}
		accounts, err = backfill.ParseAccounts(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *accountsFile, err)
		}
	}
	cfg, err := awsmp.Load(ctx, awsmp.Config{Region: *region, Endpoint: *endpoint, Anonymous: *anonymous})
	if err != nil {
		return err
	}
	if *rate <= 0 {
		*rate = -1
	}
	return c.withDB(ctx, func(db *store.DB) error {
		sum, err := backfill.Entitlements(ctx, backfill.Options{Product: *product, Accounts: accounts, API: awsmp.NewEntitlements(cfg),
			Ledger: app.NewServices(db, c.now(), logger).Ledger, Progress: stderr, Rate: *rate})
		if err != nil {
			return err
		}
		return printSummary(stdout, sum, *asJSON)
	})
}

func backfillImportCSV(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	summary := "Map the existing customers of a usage-only product (saas_usage) to their LicenseArns from\n" +
		"the CSV AWS Marketplace provides: a header row naming CustomerIdentifier, CustomerAWSAccountId,\n" +
		"AgreementId and LicenseArn (any order and case; other columns are ignored), then one mapping per\n" +
		"row. Every row is checked first: if any is bad, each is reported by line and nothing is imported.\n" +
		"Licenses whose agreement Concord does not know yet wait for it. Running it again changes nothing.\n" +
		"FILE may be - for standard input."
	fs, c := newFlags("backfill import-csv", summary, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: concord backfill import-csv --product ID [flags] FILE\n\n%s\n\nFlags:\n", summary)
		fs.PrintDefaults()
	}
	product := fs.String("product", "", "Concord product id to backfill (required; configured with its product code and type saas_usage)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	if *product == "" {
		return usageError{errors.New("--product is required")}
	}
	logger, err := c.logger(stderr)
	if err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	return c.withDB(ctx, func(db *store.DB) error {
		sum, err := backfill.ImportCSV(ctx, r, backfill.Options{Product: *product, Ledger: app.NewServices(db, c.now(), logger).Ledger, Progress: stderr})
		if err != nil {
			return err
		}
		return printSummary(stdout, sum, *asJSON)
	})
}

func printSummary(w io.Writer, sum backfill.Summary, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	_, err := fmt.Fprint(w, sum.String())
	return err
}

// parseWithFile parses flags given before or after one positional FILE.
func parseWithFile(fs *flag.FlagSet, args []string) (string, error) {
	if len(envErrs) > 0 {
		return "", usageError{errors.Join(envErrs...)}
	}
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", err
			}
			return "", usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(files) {
	case 0:
		return "", usageError{errors.New("give the CSV file to import (or - for standard input)")}
	case 1:
		return files[0], nil
	}
	return "", usageError{fmt.Errorf("give one CSV file, not %d: %s", len(files), strings.Join(files, " "))}
}
