package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/pdfdoc"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestArtifactsCommand records an agreement's artifact, lists it, shows it
// in each format and exports the day it was recorded.
func TestArtifactsCommand(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, url, dir := migratedDB(t, d)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			l := &inbox.Ledger{DB: db, Now: time.Now}
			a := eventbridge.Agreement{ID: "agmt-cli-art", Intent: "NEW", AcceptanceTime: at, StartTime: at, AcceptorAccountID: "444455556666",
				ProposerAccountID: "111122223333", OfferID: "offer-cli-art", ProductID: "prod-cli-art", ProductCode: "cliart"}
			for _, body := range [][]byte{eventbridge.Created("111122223333", a, at), eventbridge.LicenseUpdated("111122223333", a, eventbridge.LicenseArn("444455556666", "l-cli-art"), at)} {
				ev, err := marketplace.ParseEventBridge(body)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := l.Ingest(ctx, "sqs", ev); err != nil {
					t.Fatal(err)
				}
			}
			flags := []string{"--data-dir", dir, "--database", url}

			code, out, errs := runCLI(append([]string{"artifacts", "record", "--agreement", a.ID}, flags...)...)
			var rec artifact.BookableArtifact
			if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec.Version != 1 || !strings.Contains(errs, "recorded version 1") {
				t.Fatalf("record: exit %d\n%s\n%s", code, out, errs)
			}
			if code, _, errs = runCLI(append([]string{"artifacts", "record", "--agreement", a.ID}, flags...)...); code != 0 || !strings.Contains(errs, "unchanged: version 1") {
				t.Fatalf("record again: exit %d %s", code, errs)
			}

			code, out, errs = runCLI(append([]string{"artifacts", "list", "--agreement", a.ID}, flags...)...)
			if code != 0 || !strings.Contains(out, "VERSION  ID") || !strings.Contains(out, rec.ID+"  new   unknown/direct  pending") {
				t.Fatalf("list: exit %d\n%s\n%s", code, out, errs)
			}

			code, out, errs = runCLI(append([]string{"artifacts", "show", "--id", rec.ID, "--format", "csv"}, flags...)...)
			if code != 0 || !strings.HasPrefix(out, "artifact_id,") || !strings.Contains(out, rec.ID+","+a.ID+",1,") {
				t.Fatalf("show csv: exit %d\n%s\n%s", code, out, errs)
			}
			pdf := filepath.Join(t.TempDir(), "a.pdf")
			if code, _, errs = runCLI(append([]string{"artifacts", "show", "--id", rec.ID, "--format", "pdf", "--out", pdf}, flags...)...); code != 0 {
				t.Fatalf("show pdf: exit %d %s", code, errs)
			}
			if b, err := os.ReadFile(pdf); err != nil {
				t.Fatal(err)
			} else if n, err := pdfdoc.PageCount(b); err != nil || n != 1 {
				t.Fatalf("pdf: %d pages, %v", n, err)
			}

			day := rec.CreatedAt.Format(time.DateOnly)
			next := rec.CreatedAt.AddDate(0, 0, 1).Format(time.DateOnly)
			code, out, errs = runCLI(append([]string{"artifacts", "export", "--from", day, "--to", next, "--kind", "new"}, flags...)...)
			if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, rec.ID) {
				t.Fatalf("export: exit %d\n%s\n%s", code, out, errs)
			}

			// Without --to the period ends now: the artifact recorded today is
			// in an export from today, and in one from the first of the month.
			for _, from := range []string{day, rec.CreatedAt.Format("2006-01-02")[:8] + "01"} {
				code, out, errs = runCLI(append([]string{"artifacts", "export", "--from", from}, flags...)...)
				if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, rec.ID) {
					t.Fatalf("export --from %s (no --to): exit %d\n%s\n%s", from, code, out, errs)
				}
			}

			for _, tc := range []struct {
				args []string
				code int
				err  string
			}{
				{[]string{"artifacts"}, 2, "missing command"},
				{[]string{"artifacts", "export"}, 2, "from is required"},
				{[]string{"artifacts", "export", "--from", "2999-01-01"}, 2, "must be after from"},
				{[]string{"artifacts", "frob"}, 2, `unknown command "frob"`},
				{[]string{"artifacts", "list"}, 2, "--agreement is required"},
				{[]string{"artifacts", "show", "--id", rec.ID, "--format", "pdf"}, 2, "--format pdf needs --out FILE"},
				{[]string{"artifacts", "export", "--from", "2026-11-01", "--to", "2026-10-01"}, 2, "must be after from"},
				{[]string{"artifacts", "export", "--from", "11/01/2026", "--to", "2026-12-01"}, 2, "is not a date"},
				{[]string{"artifacts", "show", "--id", "art_nope"}, 1, "artifact art_nope not found"},
			} {
				code, _, errs := runCLI(append(tc.args, flags...)...)
				if code != tc.code || !strings.Contains(errs, tc.err) {
					t.Errorf("%v: exit %d %s, want %d with %q", tc.args, code, errs, tc.code, tc.err)
				}
			}
		})
	}
}
