package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestAgreementCommand: `concord agreement` refuses bad input and an ended
// agreement before AWS is asked (no endpoint answers here), and prints an
// agreement's lifecycle from the ledger.
func TestAgreementCommand(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, url, dir := migratedDB(t, d)
			const account, seller = "220000000002", "111122223333"
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			svc := app.NewServices(db, time.Now, slog.New(slog.DiscardHandler))
			a := eventbridge.Agreement{ID: "agmt-cli-life", Intent: "NEW", AcceptanceTime: at, StartTime: at, EndTime: at.AddDate(1, 0, 0),
				AcceptorAccountID: account, ProposerAccountID: seller, OfferID: "offer-cli-life", ProductID: "prod-cli-life"}
			ended := a
			ended.ID = "agmt-cli-ended"
			for _, body := range [][]byte{eventbridge.Created(seller, a, at), eventbridge.Created(seller, ended, at), eventbridge.Ended(seller, ended, "EXPIRED", at.Add(time.Minute)),
				eventbridge.Custom("Purchase Agreement Renewal Upcoming - Proposer", marketplace.SourceAgreement, seller, at.Add(2*time.Minute),
					map[string]any{"agreement": map[string]any{"id": a.ID}, "renewalSummary": map[string]any{"lockoutReached": true, "tcv": "990.00", "currency": "USD"}})} {
				ev, err := marketplace.ParseEventBridge(body)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.Ledger.Ingest(ctx, "sqs", ev); err != nil {
					t.Fatal(err)
				}
			}
			flags := []string{"--data-dir", dir, "--database", url, "--aws-endpoint", "http://127.0.0.1:1"}
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"agreement", "cancel", "--agreement", a.ID, "--reason-code", "BOGUS"}, "unknown reasonCode"},
				{[]string{"agreement", "cancel", "--agreement", ended.ID, "--reason-code", "TEST_AGREEMENT"}, "is EXPIRED, not ACTIVE"},
				{[]string{"agreement", "refund", "--agreement", a.ID, "--invoice", "inv-1", "--amount", "-5", "--reason-code", "OTHER"}, "not a decimal amount"},
				{[]string{"agreement", "pay", "--agreement", a.ID, "--amount", "5", "--name", "abc"}, "name must be 5 to 64 characters"},
				{[]string{"agreement", "withdraw", "--agreement", a.ID, "--request", "acr-nope", "--reason", "x"}, "not found"},
			} {
				code, out, errs := runCLI(append(c.args, flags...)...)
				if code != 1 || !strings.Contains(errs, c.want) || out != "" {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 saying %q", c.args, code, out, errs, c.want)
				}
			}
			code, out, errs := runCLI(append([]string{"agreement", "show", "--agreement", a.ID}, flags...)...)
			var l struct {
				Outlook struct {
					RenewalValue   string `json:"renewalValue"`
					LockoutReached bool   `json:"lockoutReached"`
				} `json:"outlook"`
				CancellationRequests []any `json:"cancellationRequests"`
			}
			if code != 0 || json.Unmarshal([]byte(out), &l) != nil || l.Outlook.RenewalValue != "990.00" || !l.Outlook.LockoutReached || l.CancellationRequests == nil {
				t.Fatalf("show: exit %d\n%s\n%s", code, out, errs)
			}
			if code, _, _ := runCLI(append([]string{"agreement", "cancel"}, flags...)...); code != 2 {
				t.Errorf("cancel without --agreement: exit %d, want 2", code)
			}
		})
	}
}
