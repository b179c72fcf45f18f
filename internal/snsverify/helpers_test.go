package snsverify

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testCertURL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
	testTopic   = "arn:aws:sns:us-east-1:123456789012:concord-marketplace"
)

// RSA key generation is slow, so tests share signers.
var (
	sharedSigner = sync.OnceValues(func() (*Signer, error) { return NewSigner(testCertURL) })
	otherSigner  = sync.OnceValues(func() (*Signer, error) { return NewSigner(testCertURL) })
)

func testSigner(tb testing.TB) *Signer {
	tb.Helper()
	s, err := sharedSigner()
	if err != nil {
		tb.Fatalf("NewSigner: %v", err)
	}
	return s
}

func newNotification(ts time.Time, subject *string) *Message {
	return &Message{
		Type:           TypeNotification,
		MessageID:      "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		TopicArn:       testTopic,
		Subject:        subject,
		Message:        `{"action":"subscribe-success","customer-identifier":"X01EXAMPLEX","product-code":"n0123EXAMPLEXXXXXXXXXXXX"}`,
		Timestamp:      FormatTimestamp(ts),
		UnsubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + testTopic + ":c9135db0",
		MessageAttributes: map[string]MessageAttribute{
			"source": {Type: "String", Value: "aws-marketplace"},
		},
	}
}

func newConfirmation(typ string, ts time.Time) *Message {
	return &Message{
		Type:         typ,
		MessageID:    "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
		TopicArn:     testTopic,
		Message:      "You have chosen to subscribe to the topic " + testTopic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		Timestamp:    FormatTimestamp(ts),
		Token:        "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
		SubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + testTopic + "&Token=2336412f37fb687f",
	}
}

func mustSign(tb testing.TB, s *Signer, m *Message, version string) *Message {
	tb.Helper()
	if err := s.Sign(m, version); err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return m
}

func mustJSON(tb testing.TB, m *Message) []byte {
	tb.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatalf("json.Marshal: %v", err)
	}
	return b
}

// fakeFetcher serves PEM bodies by URL and counts calls.
type fakeFetcher struct {
	mu    sync.Mutex
	certs map[string][]byte
	err   error
	calls atomic.Int64
}

func newFakeFetcher(certs map[string][]byte) *fakeFetcher {
	return &fakeFetcher{certs: certs}
}

func (f *fakeFetcher) Fetch(_ context.Context, url string) ([]byte, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	b, ok := f.certs[url]
	if !ok {
		return nil, fmt.Errorf("404 for %s", url)
	}
	return b, nil
}

func (f *fakeFetcher) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// newTestVerifier returns a verifier whose fetcher serves s's certificate at
// s.CertURL(); opts may tweak the remaining options.
func newTestVerifier(s *Signer, opts Options) (*Verifier, *fakeFetcher) {
	f := newFakeFetcher(map[string][]byte{s.CertURL(): s.CertPEM()})
	if opts.Fetch == nil {
		opts.Fetch = f.Fetch
	}
	return New(opts), f
}
