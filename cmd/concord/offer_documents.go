package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
)

// offerDocumentCmd runs `concord offer document add|list|remove`: the TXT and
// PDF documents of an offer's custom EULA or reseller agreement, on the
// database serve uses.
func offerDocumentCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{errors.New("missing subcommand: use add, list or remove")}
	}
	sub, args := args[0], args[1:]
	summary := map[string]string{
		"add": "Add TXT or PDF files, in order, to a draft offer's custom EULA (--kind eula) or a partner offer's custom reseller\n" +
			"agreement (--kind reseller): concord offer document add --id ofr_… [--kind eula] FILE...\n" +
			"Up to five documents, 6 MB in total; they are consolidated into the one PDF AWS fetches.",
		"list":   "List the documents of an offer's custom EULA and reseller agreement.",
		"remove": "Remove a document (--doc doc_…) from a draft offer's contract.",
	}[sub]
	if summary == "" {
		return usageError{fmt.Errorf("unknown subcommand %q: use add, list or remove", sub)}
	}
	fs, c := newFlags("offer document "+sub, summary, stderr)
	id := fs.String("id", "", "Concord's offer id (ofr_…)")
	kind := fs.String("kind", offer.KindEULA, "add: eula, or reseller (a partner offer's reseller agreement)")
	doc := fs.String("doc", "", "remove: the document id (doc_…)")
	asJSON := fs.Bool("json", false, "print JSON")
	var files []string
	if sub == "add" {
		var err error
		if files, err = parseFiles(fs, args); err != nil {
			return err
		}
		if len(files) == 0 {
			return usageError{errors.New("name the files to add: concord offer document add --id ofr_… FILE...")}
		}
	} else if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usageError{errors.New("--id is required")}
	}
	if sub == "remove" && *doc == "" {
		return usageError{errors.New("--doc is required: the document id (doc_…), as concord offer document list shows it")}
	}
	var uploads []offer.Upload
	for _, f := range files {
		u, err := readUpload(f)
		if err != nil {
			return err
		}
		uploads = append(uploads, u)
	}
	return c.withDB(ctx, func(db *store.DB) error {
		svc := &offer.Service{DB: db, Now: c.now()}
		switch sub {
		case "add":
			if _, err := svc.AddDocuments(ctx, *id, *kind, uploads); err != nil {
				return err
			}
		case "remove":
			if _, err := svc.RemoveDocument(ctx, *id, *doc); err != nil {
				return err
			}
		}
		docs, err := svc.Documents(ctx, *id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, docs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tNAME\tTYPE\tSIZE\tPAGES")
		for _, d := range docs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", d.ID, d.Kind, d.Name, d.ContentType, d.Size, d.Pages)
		}
		return tw.Flush()
	})
}

// parseFiles parses flags and the file names among them, in any order.
func parseFiles(fs *flag.FlagSet, args []string) ([]string, error) {
	if len(envErrs) > 0 {
		return nil, usageError{errors.Join(envErrs...)}
	}
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		if fs.NArg() == 0 {
			return files, nil
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// readUpload reads a file to upload; its type comes from its extension
// (.txt, .pdf) or its content, and the service checks the content anyway.
func readUpload(path string) (offer.Upload, error) {
	st, err := os.Stat(path)
	if err != nil {
		return offer.Upload{}, usageError{err}
	}
	if st.IsDir() {
		return offer.Upload{}, usageError{fmt.Errorf("%s is a directory", path)}
	}
	if st.Size() > offer.MaxEULABytes {
		return offer.Upload{}, fmt.Errorf("%s is %.1f MB; the documents of a contract come to at most 6 MB in total", path, float64(st.Size())/(1<<20))
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return offer.Upload{}, err
	}
	name := filepath.Base(path)
	return offer.Upload{Name: name, ContentType: offer.ContentTypeOf(name, content), Content: content}, nil
}
