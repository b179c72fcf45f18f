package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

const artifactsUsage = `Usage: concord artifacts <command> [flags]

Finance's bookable artifacts: one versioned record per agreement event (docs/artifacts.md).

Commands:
  list     every version of an agreement's artifact (--agreement)
  show     one version as JSON, CSV or PDF (--id, --format, --out)
  export   every version created in a period as CSV (--from, --to, --kind, --out)
  record   record an agreement's artifact now: a new version only if it changed (--agreement)

Run "concord artifacts <command> -h" for its flags.
`

// artifactsCmd runs "concord artifacts <command>".
func artifactsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || args[0] == "help" {
		fmt.Fprint(stderr, artifactsUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return usageError{errors.New("missing command: list, show, export or record")}
	}
	switch args[0] {
	case "list":
		return artifactsList(ctx, args[1:], stdout, stderr)
	case "show":
		return artifactsShow(ctx, args[1:], stdout, stderr)
	case "export":
		return artifactsExport(ctx, args[1:], stdout, stderr)
	case "record":
		return artifactsRecord(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, artifactsUsage)
	return usageError{fmt.Errorf("unknown command %q: use list, show, export or record", args[0])}
}

func artifactsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("artifacts list", "List every version of an agreement's bookable artifact, oldest first.\n"+
		"Reads the database only; safe while serve runs.", stderr)
	agreement := fs.String("agreement", "", "the agreement id, agmt-… (required)")
	format := fs.String("format", "table", "output: table, csv or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *agreement == "" {
		return usageError{errors.New("--agreement is required")}
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usageError{fmt.Errorf("--format must be table, csv or json, not %q", *format)}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		items, err := artifact.List(ctx, db, *agreement)
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			b, err := json.MarshalIndent(struct {
				Items []artifact.BookableArtifact `json:"items"`
			}{items}, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "%s\n", b)
			return err
		case "csv":
			return artifact.CSV(stdout, items)
		}
		if len(items) == 0 {
			_, err := fmt.Fprintf(stdout, "agreement %s has no artifact yet: record one with `concord artifacts record --agreement %s`\n", *agreement, *agreement)
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tID\tKIND\tORDER\tTERMS\tTCV\tBASIS\tCREATED")
		for _, a := range items {
			terms := "pending"
			if a.TermsKnown {
				terms = "known"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Version, a.ID, a.Kind, a.OrderType+"/"+a.Channel, terms,
				strings.TrimSpace(a.TotalContractValue+" "+a.Currency), a.TCVBasis, a.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

func artifactsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("artifacts show", "Print one version of a bookable artifact as JSON, CSV or PDF.\n"+
		"Reads the database only; safe while serve runs.", stderr)
	id := fs.String("id", "", "the artifact id, art_… (required; `concord artifacts list` shows them)")
	format := fs.String("format", "json", "output: json, csv or pdf")
	out := fs.String("out", "", "write to this file instead of standard output (a PDF needs it, or - for standard output)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usageError{errors.New("--id is required")}
	}
	switch *format {
	case "json", "csv":
	case "pdf":
		if *out == "" {
			return usageError{errors.New("--format pdf needs --out FILE (or --out - to write the PDF to standard output)")}
		}
	default:
		return usageError{fmt.Errorf("--format must be json, csv or pdf, not %q", *format)}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		a, err := artifact.Get(ctx, db, *id)
		if err != nil {
			return err
		}
		var data []byte
		switch *format {
		case "json":
			data, err = artifact.JSON(a)
		case "csv":
			var b bytes.Buffer
			err = artifact.CSV(&b, []artifact.BookableArtifact{a})
			data = b.Bytes()
		case "pdf":
			data, err = artifact.PDF(a)
		}
		if err != nil {
			return err
		}
		return writeArtifactOut(*out, stdout, stderr, data)
	})
}

func artifactsExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("artifacts export", "Export every bookable artifact version created in [--from, --to) as CSV: a header, then\n"+
		"one row per priced line. Dates are UTC days; --to is exclusive, so --from 2026-11-01 --to 2026-12-01\n"+
		"is November, and without --to the period ends now (--from 2026-12-01 is this month so far); at\n"+
		"most a year. Reads the database only; safe while serve runs.", stderr)
	from := fs.String("from", "", "first day, YYYY-MM-DD (UTC), inclusive (required)")
	to := fs.String("to", "", "day after the last, YYYY-MM-DD (UTC), exclusive (default: tomorrow, so the period ends now)")
	kind := fs.String("kind", "", "only this kind: "+strings.Join(artifact.Kinds, ", "))
	out := fs.String("out", "", "write to this file instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to == "" && *from != "" {
		// "From the 1st up to now" is finance's usual question; today is
		// Concord's today (the emulator's clock in sandbox mode, which the
		// walkthrough moves forward), so a newcomer's export holds what the
		// sandbox just recorded.
		*to = c.now()().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	}
	p, err := artifact.ParseExportParams(*from, *to, *kind)
	if err != nil {
		return usageError{errors.New(marketplace.ErrorMessage(err))}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		if *out == "" || *out == "-" {
			return artifact.Export(ctx, db, stdout, p.From, p.To, p.Kind)
		}
		var b bytes.Buffer
		if err := artifact.Export(ctx, db, &b, p.From, p.To, p.Kind); err != nil {
			return err
		}
		return writeArtifactOut(*out, stdout, stderr, b.Bytes())
	})
}

func artifactsRecord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("artifacts record", "Record an agreement's bookable artifact from the ledger as it is now: a new version when its\n"+
		"content changed, else the latest version again. Prints the version as JSON.", stderr)
	agreement := fs.String("agreement", "", "the agreement id, agmt-… (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *agreement == "" {
		return usageError{errors.New("--agreement is required")}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		var a artifact.BookableArtifact
		var created bool
		err := db.Write(ctx, func(tx *store.Tx) error {
			var err error
			a, created, err = artifact.Record(ctx, tx, *agreement, c.now()())
			return err
		})
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(stderr, "recorded version %d of agreement %s's artifact\n", a.Version, *agreement)
		} else {
			fmt.Fprintf(stderr, "unchanged: version %d is the latest\n", a.Version)
		}
		data, err := artifact.JSON(a)
		if err != nil {
			return err
		}
		_, err = stdout.Write(data)
		return err
	})
}

// writeArtifactOut writes data to the file out, or to stdout when out is "" or "-".
func writeArtifactOut(out string, stdout, stderr io.Writer, data []byte) error {
	if out == "" || out == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (%s bytes)\n", out, strconv.Itoa(len(data)))
	return nil
}
