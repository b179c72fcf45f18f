package snsverify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const validNotificationJSON = `{
  "Type" : "Notification",
  "MessageId" : "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
  "TopicArn" : "arn:aws:sns:us-west-2:123456789012:MyTopic",
  "Subject" : "My First Message",
  "Message" : "Hello world!",
  "Timestamp" : "2026-03-02T15:04:05.123Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEw6JRN...",
  "SigningCertURL" : "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
  "UnsubscribeURL" : "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96",
  "MessageAttributes" : {"AttributeName" : {"Type" : "String", "Value" : "AttributeValue"}}
}`

const validConfirmationJSON = `{
  "Type" : "SubscriptionConfirmation",
  "MessageId" : "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
  "Token" : "2336412f37",
  "TopicArn" : "arn:aws:sns:us-west-2:123456789012:MyTopic",
  "Message" : "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
  "SubscribeURL" : "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37",
  "Timestamp" : "2026-03-02T15:04:05.123Z",
  "SignatureVersion" : "2",
  "Signature" : "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
  "SigningCertURL" : "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
}`

func TestParse(t *testing.T) {
	t.Parallel()

	t.Run("valid notification", func(t *testing.T) {
		t.Parallel()
		m, err := Parse([]byte(validNotificationJSON))
		if err != nil {
			t.Fatalf("Parse = %v", err)
		}
		if m.Type != TypeNotification || m.MessageID != "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324" ||
			m.Subject == nil || *m.Subject != "My First Message" || m.Message != "Hello world!" ||
			m.MessageAttributes["AttributeName"].Value != "AttributeValue" {
			t.Fatalf("Parse decoded %+v", m)
		}
		ts, err := m.Time()
		if err != nil || !ts.Equal(time.Date(2026, 3, 2, 15, 4, 5, 123e6, time.UTC)) {
			t.Fatalf("Time() = %v, %v", ts, err)
		}
	})
	t.Run("valid subscription confirmation", func(t *testing.T) {
		t.Parallel()
		m, err := Parse([]byte(validConfirmationJSON))
		if err != nil {
			t.Fatalf("Parse = %v", err)
		}
		if m.Type != TypeSubscriptionConfirmation || m.Token != "2336412f37" || m.Subject != nil {
			t.Fatalf("Parse decoded %+v", m)
		}
	})
	t.Run("null Subject is absent", func(t *testing.T) {
		t.Parallel()
		m, err := Parse([]byte(strings.Replace(validNotificationJSON, `"My First Message"`, "null", 1)))
		if err != nil {
			t.Fatalf("Parse = %v", err)
		}
		if m.Subject != nil {
			t.Fatalf("Subject = %q, want nil", *m.Subject)
		}
	})
	t.Run("notification without UnsubscribeURL accepted", func(t *testing.T) {
		t.Parallel()
		body := removeField(validNotificationJSON, "UnsubscribeURL")
		if _, err := Parse([]byte(body)); err != nil {
			t.Fatalf("Parse = %v", err)
		}
	})

	bad := []struct {
		name    string
		body    string
		errText string
	}{
		{"empty body", "", "empty body"},
		{"whitespace body", " \n\t", "empty body"},
		{"invalid JSON", "{", "invalid JSON"},
		{"JSON array", "[]", "invalid JSON"},
		{"JSON null", "null", "missing Type"},
		{"trailing garbage", validNotificationJSON + "x", "invalid JSON"},
		{"Message not a string", strings.Replace(validNotificationJSON, `"Hello world!"`, `{"a":1}`, 1), "invalid JSON"},
		{"missing Type", removeField(validNotificationJSON, "Type"), "missing Type"},
		{"unknown Type", strings.Replace(validNotificationJSON, `"Notification"`, `"Notifcation"`, 1), "unknown Type"},
		{"notification missing Message", removeField(validNotificationJSON, "Message"), "Message"},
		{"notification missing MessageId", removeField(validNotificationJSON, "MessageId"), "MessageId"},
		{"notification missing TopicArn", removeField(validNotificationJSON, "TopicArn"), "TopicArn"},
		{"notification missing Timestamp", removeField(validNotificationJSON, "Timestamp"), "Timestamp"},
		{"missing Signature", removeField(validNotificationJSON, "Signature"), "Signature"},
		{"missing SignatureVersion", removeField(validNotificationJSON, "SignatureVersion"), "SignatureVersion"},
		{"missing SigningCertURL", removeField(validNotificationJSON, "SigningCertURL"), "SigningCertURL"},
		{"confirmation missing Token", removeField(validConfirmationJSON, "Token"), "Token"},
		{"confirmation missing SubscribeURL", removeField(validConfirmationJSON, "SubscribeURL"), "SubscribeURL"},
		{"unsubscribe confirmation missing Token",
			removeField(strings.Replace(validConfirmationJSON, TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation, 1), "Token"), "Token"},
		{"unsupported SignatureVersion", strings.Replace(validNotificationJSON, `"SignatureVersion" : "1"`, `"SignatureVersion" : "3"`, 1), "SignatureVersion"},
		{"bad Timestamp", strings.Replace(validNotificationJSON, "2026-03-02T15:04:05.123Z", "yesterday", 1), "Timestamp"},
		{"line break in TopicArn", strings.Replace(validNotificationJSON, `MyTopic",`, `MyTopic\nType\nNotification",`, 1), "line break"},
		{"line break in Subject", strings.Replace(validNotificationJSON, "My First Message", `My\nFirst`, 1), "line break"},
		{"line break in Token", strings.Replace(validConfirmationJSON, `"Token" : "2336412f37"`, `"Token" : "23\r\n36"`, 1), "line break"},
		{"body over 256 KiB", `{"Type":"Notification","Message":"` + strings.Repeat("a", MaxBodySize) + `"}`, "limit"},
	}
	for _, tc := range bad {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse([]byte(tc.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %v, %v; want ErrMalformed", m, err)
			}
			if m != nil {
				t.Fatal("Parse returned a message with an error")
			}
			if !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("error %q does not mention %q", err, tc.errText)
			}
		})
	}

	t.Run("body at exactly 256 KiB is not rejected for size", func(t *testing.T) {
		t.Parallel()
		body := []byte(validNotificationJSON)
		body = append(body, strings.Repeat(" ", MaxBodySize-len(body))...)
		if _, err := Parse(body); err != nil {
			t.Fatalf("Parse = %v", err)
		}
	})
	t.Run("long attacker strings are clipped in errors", func(t *testing.T) {
		t.Parallel()
		_, err := Parse([]byte(`{"Type":"` + strings.Repeat("x", 10000) + `"}`))
		if err == nil || len(err.Error()) > 200 {
			t.Fatalf("error is %d bytes", len(err.Error()))
		}
	})
}

// removeField deletes the line holding "name" from one of the pretty-printed
// fixtures above.
func removeField(body, name string) string {
	lines := strings.Split(body, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), `"`+name+`" :`) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func TestStringToSign(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want string
	}{
		{"notification with Subject", validNotificationJSON,
			"Message\nHello world!\n" +
				"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n" +
				"Subject\nMy First Message\n" +
				"Timestamp\n2026-03-02T15:04:05.123Z\n" +
				"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n" +
				"Type\nNotification\n"},
		{"notification without Subject", removeField(validNotificationJSON, "Subject"),
			"Message\nHello world!\n" +
				"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n" +
				"Timestamp\n2026-03-02T15:04:05.123Z\n" +
				"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n" +
				"Type\nNotification\n"},
		{"notification with JSON-escaped Message uses decoded value",
			strings.Replace(validNotificationJSON, `"Hello world!"`, `"{\"a\":\"\u00e9\"}\nline2"`, 1),
			"Message\n{\"a\":\"é\"}\nline2\n" +
				"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n" +
				"Subject\nMy First Message\n" +
				"Timestamp\n2026-03-02T15:04:05.123Z\n" +
				"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n" +
				"Type\nNotification\n"},
		{"subscription confirmation", validConfirmationJSON,
			"Message\nYou have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.\n" +
				"MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n" +
				"SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37\n" +
				"Timestamp\n2026-03-02T15:04:05.123Z\n" +
				"Token\n2336412f37\n" +
				"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n" +
				"Type\nSubscriptionConfirmation\n"},
		{"unsubscribe confirmation", strings.Replace(validConfirmationJSON, TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation, 1),
			"Message\nYou have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.\n" +
				"MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n" +
				"SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37\n" +
				"Timestamp\n2026-03-02T15:04:05.123Z\n" +
				"Token\n2336412f37\n" +
				"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n" +
				"Type\nUnsubscribeConfirmation\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			got, err := m.StringToSign()
			if err != nil {
				t.Fatalf("StringToSign = %v", err)
			}
			if got != tc.want {
				t.Fatalf("StringToSign =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}

	t.Run("empty Subject is signed when present", func(t *testing.T) {
		t.Parallel()
		m := newNotification(time.Now(), new(""))
		got, err := m.StringToSign()
		if err != nil || !strings.Contains(got, "\nSubject\n\n") {
			t.Fatalf("StringToSign = %q, %v", got, err)
		}
	})
	t.Run("does not need signature fields", func(t *testing.T) {
		t.Parallel()
		if _, err := newNotification(time.Now(), nil).StringToSign(); err != nil {
			t.Fatalf("StringToSign = %v", err)
		}
	})
	for name, m := range map[string]*Message{
		"nil message":  nil,
		"unknown type": {Type: "Bogus", Message: "m", MessageID: "i", Timestamp: "2026-03-02T15:04:05.123Z", TopicArn: "t"},
		"confirmation without Token": func() *Message {
			m := newConfirmation(TypeSubscriptionConfirmation, time.Now())
			m.Token = ""
			return m
		}(),
		"notification without TopicArn": func() *Message { m := newNotification(time.Now(), nil); m.TopicArn = ""; return m }(),
	} {
		t.Run("rejects "+name, func(t *testing.T) {
			t.Parallel()
			if _, err := m.StringToSign(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("StringToSign = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestFormatTimestamp(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("UTC+2", 2*60*60)
	got := FormatTimestamp(time.Date(2026, 3, 2, 17, 4, 5, 123456789, loc))
	if want := "2026-03-02T15:04:05.123Z"; got != want {
		t.Fatalf("FormatTimestamp = %q, want %q", got, want)
	}
}

func TestIsAWSSNSHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"sns.us-east-1.amazonaws.com":         true,
		"sns.cn-northwest-1.amazonaws.com.cn": true,
		"sns.us-gov-west-1.amazonaws.com":     true,
		"sns.us-east-1.amazonaws.com\n":       false,
		"SNS.us-east-1.amazonaws.com":         false,
		"sns.us-east-1.amazonaws.com:443":     false,
		"xsns.us-east-1.amazonaws.com":        false,
		"":                                    false,
	} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			if got := IsAWSSNSHost(host); got != want {
				t.Fatalf("IsAWSSNSHost(%q) = %v, want %v", host, got, want)
			}
		})
	}
}
