package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
)

// offerCmd runs `concord offer <sub>`: private offers on the database serve
// uses. Submitting queues the publishing job; serve's job runner carries it out.
func offerCmd(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	summary := map[string]string{
		"list":         "List offers, newest first.",
		"show":         "Print one offer, with its history, as JSON.",
		"check":        "Check a form (JSON, as POST /v1/offers takes it) against the marketplace's rules without saving it.",
		"create":       "Draft an offer from a form (JSON).",
		"edit":         "Replace an offer's form: a draft in full, an offer out with the buyer in its booking data only.",
		"clone":        "Make a new draft from an offer's form.",
		"submit":       "Publish a draft through the Catalog API (serve's job runner starts the change set).",
		"cancel":       "Cancel an offer the buyer has not accepted.",
		"associate":    "Track an offer made outside Concord: --offer-id, or a partner form with its \"CPPO Opportunity ID\".",
		"extended":     "Record the offer id of the CPPO the partner extended from a partner offer.",
		"instructions": "Record that purchase instructions went to the buyer of a published direct offer (--to), and print them with the tracked link.",
		"amend":        "Print an amendment of an accepted agreement (--agreement), prefilled from its terms, with what the buyer will owe; save .form and create it.",
	}[sub]
	if summary == "" {
		return usageError{fmt.Errorf("unknown subcommand %q: use list, show, check, create, edit, clone, submit, cancel, associate, extended, instructions or amend", sub)}
	}
	fs, c := newFlags("offer "+sub, summary, stderr)
	id := fs.String("id", "", "Concord's offer id (ofr_…)")
	file := fs.String("file", "", "the form, a JSON file (- for standard input)")
	offerID := fs.String("offer-id", "", "the AWS offer id (offer-…)")
	reason := fs.String("reason", "", "why (cancel)")
	to := fs.String("to", "", "instructions: comma-separated email addresses at the buyer")
	note := fs.String("note", "", "instructions: a personal line added to them")
	offerURL := fs.String("offer-url", "", "instructions: the offer's page as the AWS Marketplace Management Portal shows it (default: AWS's standard offer URL)")
	publicURL := fs.String("public-url", env("CONCORD_PUBLIC_URL", "http://127.0.0.1:8080"), "instructions: the URL buyers reach Concord at, for the tracked link (CONCORD_PUBLIC_URL)")
	agreementID := fs.String("agreement", "", "amend: the accepted agreement to amend")
	var f offer.Filter
	fs.StringVar(&f.State, "state", "", "list: only offers in this state")
	fs.StringVar(&f.Type, "type", "", "list: direct or partner")
	fs.StringVar(&f.ProductID, "product", "", "list: only this product")
	fs.StringVar(&f.BuyerAccountID, "account", "", "list: only this buyer account")
	fs.StringVar(&f.Query, "q", "", "list: search the buyer's company, the offer name and the ids")
	asJSON := fs.Bool("json", false, "list: print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	needID := sub != "list" && sub != "check" && sub != "create" && sub != "associate" && sub != "amend"
	if sub == "amend" && *agreementID == "" {
		return usageError{errors.New("--agreement is required")}
	}
	if needID && *id == "" {
		return usageError{errors.New("--id is required")}
	}
	var form offer.Offer
	if sub == "check" || sub == "create" || sub == "edit" || sub == "associate" {
		if *file == "" {
			return usageError{errors.New("--file is required: the offer form as JSON")}
		}
		var r io.Reader = os.Stdin
		if *file != "-" {
			fh, err := os.Open(*file)
			if err != nil {
				return usageError{err}
			}
			defer fh.Close()
			r = fh
		}
		dec := json.NewDecoder(r)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&form); err != nil {
			return usageError{fmt.Errorf("%s is not an offer form: %v", *file, err)}
		}
	}
	if sub == "extended" && *offerID == "" {
		return usageError{errors.New("--offer-id is required")}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		// Custom documents are uploaded to S3 by serve's publish job.
		svc := &offer.Service{DB: db, Now: c.now(), PublicURL: func() string { return strings.TrimRight(*publicURL, "/") }, DeferDocuments: true}
		var d offer.Detail
		var err error
		switch sub {
		case "list":
			items, err := svc.List(ctx, f)
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(stdout, items)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tSTATE\tBUYER\tACCOUNT\tPRODUCT\tAWS OFFER\tAGREEMENT\tEXPIRES")
			for _, o := range items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Type, o.State, o.BuyerCompany, o.Metadata[offer.MetaBuyerAccount],
					o.ProductID, o.OfferID, o.AgreementID, o.ExpiresOn)
			}
			return tw.Flush()
		case "check":
			chk, err := svc.Check(ctx, form)
			if err != nil {
				return err
			}
			if err := printJSON(stdout, chk); err != nil {
				return err
			}
			if !chk.OK() {
				return errors.New("the form breaks the rules above")
			}
			return nil
		case "show":
			d, err = svc.Get(ctx, *id)
		case "create":
			d, err = svc.Create(ctx, form)
		case "edit":
			d, err = svc.Update(ctx, *id, form)
		case "clone":
			d, err = svc.Clone(ctx, *id)
		case "submit":
			d, err = svc.Submit(ctx, *id)
		case "cancel":
			d, err = svc.Cancel(ctx, *id, *reason)
		case "associate":
			d, err = svc.Associate(ctx, offer.Association{Form: form, OfferID: *offerID})
		case "extended":
			d, err = svc.Extended(ctx, *id, *offerID)
		case "instructions":
			var recipients []string
			for _, a := range strings.Split(*to, ",") {
				if a = strings.TrimSpace(a); a != "" {
					recipients = append(recipients, a)
				}
			}
			in, err := svc.SendInstructions(ctx, *id, offer.InstructionsRequest{To: recipients, OfferURL: *offerURL, Note: *note})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "To: %s\nSubject: %s\n\n%s\nTracked link: %s\n", strings.Join(in.To, ", "), in.Subject, in.Text, in.Link)
			return nil
		case "amend":
			draft, err := svc.AmendmentDraft(ctx, *agreementID)
			if err != nil {
				return err
			}
			return printJSON(stdout, draft)
		}
		if err != nil {
			return err
		}
		return printJSON(stdout, d)
	})
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
