package notify_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/notify"
)

// TestReviewLongNonASCIISubjectFitsRFC5322: a notification's subject is up to
// 200 characters; with a Japanese company name it is all non-ASCII. Every
// line of the message (the Subject header included) must stay within RFC
// 5322's 998 characters, or SMTP servers refuse the message (go-smtp's
// server, used here, refuses lines over 2000 bytes).
func TestReviewLongNonASCIISubjectFitsRFC5322(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, "plain")
	m := &notify.SMTPMailer{Addr: srv.addr, Mode: notify.SMTPNone, Username: "concord", Password: "s3cret", From: "Concord <concord@acme.example>"}
	subject := "New order (private offer): " + strings.Repeat("株式会社日本", 40)
	err := m.Send(context.Background(), notify.Message{To: []string{"finance@acme.example"}, Subject: subject, Text: "x", HTML: "<p>x</p>",
		MessageID: "ntd_1", Date: time.Now()})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	got := srv.messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	for i, line := range bytes.Split(got[0].data, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long (RFC 5322 allows 998): %.80s…", i, len(line), line)
		}
	}
}
