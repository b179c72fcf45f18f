package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestNotificationsCommands lists, shows and resends a notification whose
// email was skipped for want of an SMTP server.
func TestNotificationsCommands(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, url, dir := migratedDB(t, d)
			now := func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }
			svc := app.NewServices(db, now, slog.New(slog.DiscardHandler)).Notify
			if _, err := svc.CreateRoute(ctx, notify.NotificationRouteInput{Kind: "*", Channel: notify.ChannelEmail, Target: "finance@seller.example"}); err != nil {
				t.Fatal(err)
			}
			var id string
			var err error
			err = db.Write(ctx, func(tx *store.Tx) error {
				id, _, err = svc.Emit(ctx, tx, now(), notify.Notice{Kind: notify.KindMeteringFailed, Key: "metering_failed:mr_1", ProductID: "prod-cli",
					Data: notify.MeteringData{RecordID: "mr_1", Outcome: "rejected", Reason: "bad dimension", ProductID: "prod-cli",
						AccountID: "430000000001", Dimension: "api_calls", Hour: now().Truncate(time.Hour), Quantity: 12}})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			// What serve's runner does without SMTP: the email is skipped.
			err = db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE notification_deliveries SET status = ?, last_error = ?`, notify.StatusSkipped, notify.ReasonNoSMTP)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			flags := []string{"--data-dir", dir, "--database", url}

			code, out, errs := runCLI(append([]string{"notifications", "list"}, flags...)...)
			if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "metering_failed") || !strings.Contains(out, "1 skipped") ||
				!strings.Contains(out, "Metering failed: 12 api_calls") {
				t.Fatalf("list: exit %d\n%s%s", code, out, errs)
			}
			code, out, errs = runCLI(append([]string{"notifications", "list", "--json", "--status", "sent"}, flags...)...)
			var page struct {
				Items []notify.NotificationSummary `json:"items"`
			}
			if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != 0 {
				t.Fatalf("list --status sent: exit %d\n%s%s", code, out, errs)
			}
			if code, _, errs = runCLI(append([]string{"notifications", "list", "--status", "bounced"}, flags...)...); code != 1 || !strings.Contains(errs, "status") {
				t.Fatalf("bad status: exit %d %s", code, errs)
			}

			code, out, errs = runCLI(append([]string{"notifications", "show", "--id", id}, flags...)...)
			if code != 0 || !strings.Contains(out, "finance@seller.example") || !strings.Contains(out, notify.ReasonNoSMTP) ||
				!strings.Contains(out, "bad dimension") {
				t.Fatalf("show: exit %d\n%s%s", code, out, errs)
			}
			code, out, _ = runCLI(append([]string{"notifications", "show", "--id", id, "--html"}, flags...)...)
			if code != 0 || !strings.HasPrefix(out, "<!DOCTYPE html>") {
				t.Fatalf("show --html: exit %d\n%s", code, out)
			}
			if code, _, _ = runCLI(append([]string{"notifications", "show"}, flags...)...); code != 2 {
				t.Fatalf("show without --id: exit %d", code)
			}

			code, out, errs = runCLI(append([]string{"notifications", "resend", "--id", id}, flags...)...)
			if code != 0 || !strings.Contains(out, "1 delivery of "+id+" queued") {
				t.Fatalf("resend: exit %d\n%s%s", code, out, errs)
			}
			if n, err := svc.Get(ctx, id); err != nil || n.Deliveries[0].Status != notify.StatusPending {
				t.Fatalf("after resend: %+v %v", n.Deliveries, err)
			}
			if code, _, errs = runCLI(append([]string{"notifications", "resend", "--id", id}, flags...)...); code != 1 || !strings.Contains(errs, "no failed or skipped") {
				t.Fatalf("second resend: exit %d %s", code, errs)
			}
			if code, _, _ = runCLI(append([]string{"notifications"}, flags...)...); code != 2 {
				t.Fatalf("no subcommand: exit %d", code)
			}
		})
	}
}
