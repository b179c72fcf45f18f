package inbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	emusqs "github.com/concordmp/concord/internal/emulator/sqs"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/snsverify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

const topic = "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-code123"

type snsBundle struct {
	ledger    *inbox.Ledger
	signer    *snsverify.Signer
	server    *httptest.Server
	confirmed []string
	mu        sync.Mutex
}

func setupSNS(t *testing.T, db *store.DB) *snsBundle {
	t.Helper()
	b := &snsBundle{ledger: &inbox.Ledger{DB: db, Now: time.Now}} // SNS messages are stamped with the real time
	signer, err := snsverify.NewSigner("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem")
	if err != nil {
		t.Fatal(err)
	}
	b.signer = signer
	// The signer's certificate is valid around the real time, so SNS timestamps use it.
	v := snsverify.New(snsverify.Options{Now: time.Now,
		Fetch:        func(ctx context.Context, url string) ([]byte, error) { return signer.CertPEM(), nil },
		TopicAllowed: func(arn string) bool { return strings.Contains(arn, ":aws-mp-") }})
	h := &inbox.SNSReceiver{Ledger: b.ledger, Verifier: v, Logger: discard(),
		Confirm: func(ctx context.Context, url string) error {
			b.mu.Lock()
			b.confirmed = append(b.confirmed, url)
			b.mu.Unlock()
			return nil
		}}
	b.server = httptest.NewServer(h)
	t.Cleanup(b.server.Close)
	return b
}

func (b *snsBundle) post(t *testing.T, m *snsverify.Message, version string) *http.Response {
	t.Helper()
	if version != "" {
		if err := b.signer.Sign(m, version); err != nil {
			t.Fatal(err)
		}
	}
	body, _ := json.Marshal(m)
	resp, err := http.Post(b.server.URL, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func notification(id, action, customer string) *snsverify.Message {
	msg, _ := json.Marshal(map[string]string{"action": action, "customer-identifier": customer, "product-code": "code123",
		"offer-identifier": "offer-1", "isFreeTrialTermPresent": "false"})
	return &snsverify.Message{Type: snsverify.TypeNotification, MessageID: id, TopicArn: topic, Message: string(msg),
		Timestamp: snsverify.FormatTimestamp(time.Now().Add(-time.Minute)), UnsubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
}

func TestSNSReceiver(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setupSNS(t, db)
		ctx := context.Background()
		t.Run("SignedActionsFoldIntoSubscription", func(t *testing.T) {
			for i, v := range []struct{ action, version string }{{"subscribe-success", "1"}, {"unsubscribe-pending", "2"}} {
				m := notification("msg-"+v.action, v.action, "cust-A")
				m.Timestamp = snsverify.FormatTimestamp(time.Now().Add(time.Duration(i-10) * time.Minute))
				if resp := b.post(t, m, v.version); resp.StatusCode != 200 {
					t.Fatalf("%s: status %d", v.action, resp.StatusCode)
				}
			}
			subs, err := b.ledger.ListSubscriptions(ctx, "code123", inbox.Page{})
			if err != nil || len(subs) != 1 || subs[0].State != marketplace.SubscriptionUnsubscribePending || subs[0].OfferID != "offer-1" {
				t.Fatalf("subscriptions %+v err %v", subs, err)
			}
		})
		t.Run("ForgedSignatureRejectedNothingApplied", func(t *testing.T) {
			m := notification("msg-forged", "subscribe-success", "cust-forged")
			b.signer.Sign(m, "2")
			m.Message = strings.Replace(m.Message, "cust-forged", "cust-evil", 1)
			if resp := b.post(t, m, ""); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("forged: status %d, want 403", resp.StatusCode)
			}
			if _, err := b.ledger.GetEvent(ctx, "msg-forged"); marketplace.ErrorCode(err) != marketplace.ENotFound {
				t.Fatalf("forged message stored: %v", err)
			}
		})
		t.Run("UnexpectedTopicRejected", func(t *testing.T) {
			m := notification("msg-topic", "subscribe-success", "cust-B")
			m.TopicArn = "arn:aws:sns:us-east-1:123456789012:someone-else"
			if resp := b.post(t, m, "2"); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
		})
		t.Run("SubscriptionIsConfirmed", func(t *testing.T) {
			m := &snsverify.Message{Type: snsverify.TypeSubscriptionConfirmation, MessageID: "msg-confirm", TopicArn: topic, Message: "You have chosen to subscribe",
				Timestamp: snsverify.FormatTimestamp(time.Now()), Token: "tok", SubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok"}
			if resp := b.post(t, m, "2"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(b.confirmed) != 1 || b.confirmed[0] != m.SubscribeURL {
				t.Fatalf("confirmed %v", b.confirmed)
			}
		})
		t.Run("MalformedAndOversized", func(t *testing.T) {
			resp, _ := http.Post(b.server.URL, "text/plain", strings.NewReader("{not json"))
			if resp.StatusCode != 400 {
				t.Fatalf("malformed: %d", resp.StatusCode)
			}
			resp, _ = http.Post(b.server.URL, "text/plain", bytes.NewReader(make([]byte, snsverify.MaxBodySize+1)))
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized: %d", resp.StatusCode)
			}
		})
	})
}

func TestEventBridgeReceiver(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(db, t0)
		srv := httptest.NewServer(&inbox.EventBridgeReceiver{Ledger: l, Secret: "s3cret", Logger: discard()})
		t.Cleanup(srv.Close)
		post := func(secret string, body []byte) int {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
			if secret != "" {
				req.Header.Set(inbox.DefaultSecretHeader, secret)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		a := agreementFixture("agmt-eb", "444455556666")
		body := eventbridge.Created(seller, a, t0)
		for name, tc := range map[string]struct {
			secret string
			body   []byte
			want   int
		}{
			"MissingSecret": {"", body, 401},
			"WrongSecret":   {"nope", body, 401},
			"Malformed":     {"s3cret", []byte(`{"id":`), 400},
			"NoDetailType":  {"s3cret", []byte(`{"id":"x","source":"aws.agreement-marketplace","time":"2026-01-01T00:00:00Z"}`), 400},
			"Oversized":     {"s3cret", bytes.Repeat([]byte(" "), marketplace.MaxEventSize+1), 413},
		} {
			if got := post(tc.secret, tc.body); got != tc.want {
				t.Errorf("%s: status %d, want %d", name, got, tc.want)
			}
		}
		if evs, _ := l.ListEvents(context.Background(), inbox.EventFilter{}); len(evs) != 0 {
			t.Fatalf("rejected requests stored %d events", len(evs))
		}
		if got := post("s3cret", body); got != 200 {
			t.Fatalf("valid event: %d", got)
		}
		if _, err := l.GetAgreement(context.Background(), a.ID); err != nil {
			t.Fatalf("valid event not applied: %v", err)
		}
	})
}

// slowQueue wraps a queue and records visibility extensions.
type countingQueue struct {
	inbox.Queue
	mu       sync.Mutex
	extended int
}

func (q *countingQueue) ExtendVisibility(ctx context.Context, h string, d time.Duration) error {
	q.mu.Lock()
	q.extended++
	q.mu.Unlock()
	return q.Queue.ExtendVisibility(ctx, h, d)
}

func TestSQSPoller(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		emu := emusqs.New(emusqs.Options{})
		srv := httptest.NewServer(emu)
		t.Cleanup(func() { emu.Close(); srv.Close() })
		cfg, err := awsmp.Load(ctx, awsmp.Config{Endpoint: srv.URL, Anonymous: true})
		if err != nil {
			t.Fatal(err)
		}
		client := sqs.NewFromConfig(cfg)
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("events")})
		if err != nil {
			t.Fatal(err)
		}
		queueURL := aws.ToString(out.QueueUrl)
		l := newLedger(db, t0)
		q := &countingQueue{Queue: awsmp.NewQueue(cfg, queueURL)}
		p := &inbox.Poller{Ledger: l, Queue: q, Logger: discard(), Wait: time.Second, Visibility: 2 * time.Second}

		a := agreementFixture("agmt-sqs", "444455556666")
		created := eventbridge.Created(seller, a, t0)
		bodies := []string{string(created), string(created), // a duplicate delivery
			string(eventbridge.LicenseUpdated(seller, a, eventbridge.LicenseArn(a.AcceptorAccountID, "l-sqs"), t0)), "this is not an event"}
		for _, body := range bodies {
			if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
				t.Fatal(err)
			}
		}
		total := 0
		for range 5 {
			n, err := p.PollOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			total += n
			if visible, _ := emu.Depth(queueURL); visible == 0 {
				break
			}
		}
		if total != 3 {
			t.Fatalf("committed %d messages, want 3 (two events and a duplicate)", total)
		}
		visible, inflight := emu.Depth(queueURL)
		if visible+inflight != 1 {
			t.Fatalf("queue holds %d visible + %d in flight, want only the bad message left", visible, inflight)
		}
		lic, err := l.GetLicense(ctx, "l-sqs")
		if err != nil || lic.State != marketplace.LicenseActive {
			t.Fatalf("license %+v err %v", lic, err)
		}
		evs, _ := l.ListEvents(ctx, inbox.EventFilter{AgreementID: a.ID})
		if len(evs) != 2 {
			t.Fatalf("inbox holds %d events for the agreement, want 2", len(evs))
		}
	})
}

func TestSQSPollerExtendsVisibilityOfSlowBatches(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	fq := &fakeQueue{}
	for i := range 10 {
		a := agreementFixture("agmt-slow-"+string(rune('a'+i)), "444455556666")
		fq.msgs = append(fq.msgs, inbox.QueueMessage{ID: a.ID, Body: string(eventbridge.Created(seller, a, t0)), ReceiptHandle: "h-" + a.ID})
	}
	fq.delay = 20 * time.Millisecond
	q := &countingQueue{Queue: fq}
	// Each event takes 5 ms to fold, so the batch (50 ms) outlives its 10 ms
	// visibility however fast the machine: the heartbeat must extend it.
	l := newLedger(db, t0)
	l.EventHooks = append(l.EventHooks, func(context.Context, *store.Tx, marketplace.Event, time.Time) error {
		time.Sleep(5 * time.Millisecond)
		return nil
	})
	p := &inbox.Poller{Ledger: l, Queue: q, Logger: discard(), Visibility: 10 * time.Millisecond}
	n, err := p.PollOnce(context.Background())
	if err != nil || n != 10 {
		t.Fatalf("committed %d, err %v", n, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.extended == 0 {
		t.Fatal("a batch slower than the visibility timeout was never extended")
	}
	if len(fq.deleted) != 10 {
		t.Fatalf("deleted %d, want 10", len(fq.deleted))
	}
}

// fakeQueue returns its messages once, after delay; each visibility
// extension takes a quarter of it.
type fakeQueue struct {
	msgs    []inbox.QueueMessage
	delay   time.Duration
	deleted []string
	mu      sync.Mutex
}

func (f *fakeQueue) Receive(ctx context.Context, max int, wait, vis time.Duration) ([]inbox.QueueMessage, error) {
	m := f.msgs
	f.msgs = nil
	// Stretch the batch: processing sees the receive as slow.
	time.Sleep(f.delay)
	return m, nil
}

func (f *fakeQueue) Delete(ctx context.Context, h []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, h...)
	return nil
}

func (f *fakeQueue) ExtendVisibility(ctx context.Context, h string, d time.Duration) error {
	time.Sleep(f.delay / 4)
	return nil
}
