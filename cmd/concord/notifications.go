package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
)

func notificationsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("notifications list", "List notifications, newest first: what Concord told whom, and how their deliveries went.\n"+
		"Reads the database only; safe while serve runs.", stderr)
	kind := fs.String("kind", "", "only this kind: "+strings.Join(notify.Kinds, ", "))
	status := fs.String("status", "", "only notifications with a delivery in this status: pending, sent, failed, skipped, or none")
	limit := fs.Int("limit", 100, "print at most this many")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit <= 0 {
		return usageError{errors.New("--limit must be positive")}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		svc := &notify.Service{DB: db}
		f := notify.Filter{Kind: *kind, Status: *status}
		var items []notify.NotificationSummary
		for len(items) < *limit {
			f.Limit = min(*limit-len(items), 500)
			page, err := svc.List(ctx, f)
			if err != nil {
				return err
			}
			items = append(items, page...)
			if len(page) < f.Limit {
				break
			}
			f.Cursor = page[len(page)-1].ID
		}
		if *asJSON {
			if items == nil {
				items = []notify.NotificationSummary{}
			}
			return printJSON(stdout, struct {
				Items []notify.NotificationSummary `json:"items"`
			}{items})
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tKIND\tSTATUS\tDELIVERIES\tSUBJECT")
		for _, n := range items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.CreatedAt.Format(time.RFC3339), n.Kind, n.Status, counts(n.Counts), oneLine(n.Subject))
		}
		return tw.Flush()
	})
}

// counts prints "2 sent, 1 failed".
func counts(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func notificationsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("notifications show", "Print one notification: its subject, recipients, deliveries and plain text\n"+
		"(--html for the HTML body, --json for everything).", stderr)
	id := fs.String("id", "", "notification id (ntf_…, required)")
	asJSON := fs.Bool("json", false, "print the notification as JSON, as GET /v1/notifications/{id} returns it")
	html := fs.Bool("html", false, "print the HTML body only")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usageError{errors.New("--id is required")}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		n, err := (&notify.Service{DB: db}).Get(ctx, *id)
		if err != nil {
			return err
		}
		switch {
		case *asJSON:
			return printJSON(stdout, n)
		case *html:
			_, err := io.WriteString(stdout, n.HTML)
			return err
		}
		printNotification(stdout, n)
		return nil
	})
}

func printNotification(w io.Writer, n notify.Notification) {
	fmt.Fprintf(w, "Notification %s (%s), %s\n", n.ID, n.Kind, n.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "Key:         %s\n", n.Key)
	fmt.Fprintf(w, "Subject:     %s\n", n.Subject)
	fmt.Fprintf(w, "Status:      %s\n", n.Status)
	if len(n.Recipients) > 0 {
		fmt.Fprintf(w, "Recipients:  %s\n", strings.Join(n.Recipients, ", "))
	}
	for _, a := range n.Attachments {
		fmt.Fprintf(w, "Attachment:  %s (%s, %d bytes)\n", a.Name, a.ContentType, a.Size)
	}
	if len(n.Deliveries) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DELIVERY\tCHANNEL\tTARGET\tSTATUS\tATTEMPTS\tSENT\tLAST ERROR")
		for _, d := range n.Deliveries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Channel, d.Target, d.Status, d.Attempts, fmtTime(d.SentAt), oneLine(d.LastError))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\n%s", n.Text)
}

func notificationsResend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("notifications resend", "Send a notification's failed and skipped deliveries again (or one, --delivery) with a\n"+
		"fresh set of attempts. The running serve's job runner sends them.", stderr)
	id := fs.String("id", "", "notification id (ntf_…, required)")
	delivery := fs.String("delivery", "", "only this delivery (ntd_…), whatever its status unless it is pending")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usageError{errors.New("--id is required")}
	}
	return c.withDB(ctx, func(db *store.DB) error {
		n, err := (&notify.Service{DB: db, Now: c.now()}).Resend(ctx, *id, *delivery)
		if err != nil {
			return err
		}
		k := 0
		for _, d := range n.Deliveries {
			if d.Status == notify.StatusPending {
				k++
			}
		}
		noun := "deliveries"
		if k == 1 {
			noun = "delivery"
		}
		fmt.Fprintf(stdout, "%d %s of %s queued to be sent again (serve's job runner sends them)\n", k, noun, n.ID)
		return nil
	})
}
