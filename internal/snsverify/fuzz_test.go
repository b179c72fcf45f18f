package snsverify

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

var sentinels = []error{ErrMalformed, ErrBadCertURL, ErrCertFetch, ErrBadSignature, ErrStale, ErrTopicNotAllowed}

func FuzzParse(f *testing.F) {
	s := testSigner(f)
	ts := time.Date(2026, 3, 2, 15, 4, 5, 123e6, time.UTC)
	f.Add(mustJSON(f, mustSign(f, s, newNotification(ts, new("subject")), SignatureVersion1)))
	f.Add(mustJSON(f, mustSign(f, s, newConfirmation(TypeSubscriptionConfirmation, ts), SignatureVersion2)))
	f.Add([]byte(validNotificationJSON))
	f.Add([]byte(validConfirmationJSON))
	f.Add([]byte("garbage"))
	f.Add([]byte(`{"Type":"Notification"}`))
	f.Add([]byte(`null`))
	f.Add([]byte{0xff, 0xfe, '{'})

	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		if err != nil {
			if m != nil {
				t.Fatal("Parse returned a message and an error")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		sts, err := m.StringToSign()
		if err != nil {
			t.Fatalf("Parse succeeded but StringToSign failed: %v", err)
		}
		// Re-encoding a parsed message must preserve what is signed,
		// since the emulator marshals Message values onto the wire.
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if len(again) > MaxBodySize {
			return // escaping may grow a body that was just under the limit
		}
		m2, err := Parse(again)
		if err != nil {
			t.Fatalf("re-Parse of %s: %v", again, err)
		}
		sts2, err := m2.StringToSign()
		if err != nil || sts2 != sts {
			t.Fatalf("round trip changed string to sign: %q -> %q (%v)", sts, sts2, err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	s := testSigner(f)
	now := time.Now()
	f.Add(mustJSON(f, mustSign(f, s, newNotification(now, new("subject")), SignatureVersion1)))
	f.Add(mustJSON(f, mustSign(f, s, newNotification(now, nil), SignatureVersion2)))
	f.Add(mustJSON(f, mustSign(f, s, newConfirmation(TypeSubscriptionConfirmation, now), SignatureVersion2)))
	f.Add(mustJSON(f, mustSign(f, s, newConfirmation(TypeUnsubscribeConfirmation, now), SignatureVersion1)))
	f.Add([]byte(validNotificationJSON))
	f.Add([]byte("garbage"))

	fetcher := newFakeFetcher(map[string][]byte{s.CertURL(): s.CertPEM()})
	v := New(Options{
		Fetch:        fetcher.Fetch,
		Now:          func() time.Time { return now },
		TopicAllowed: func(arn string) bool { return arn == testTopic },
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := v.VerifyBody(context.Background(), body)
		if err == nil {
			if m == nil {
				t.Fatal("VerifyBody returned neither message nor error")
			}
			return
		}
		if m != nil {
			t.Fatal("VerifyBody returned a message with an error")
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error %v wraps no sentinel", err)
	})
}
