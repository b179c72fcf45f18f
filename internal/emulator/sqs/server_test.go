package sqs

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/concordmp/concord/internal/clocktest"
)

type env struct {
	srv      *Server
	client   *awssqs.Client
	clock    *clocktest.Clock
	endpoint string
}

// newEnv starts a Server behind an httptest.Server and returns an official
// SDK client pointed at it.
func newEnv(t *testing.T) *env {
	t.Helper()
	clock := clocktest.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	srv := New(Options{Now: clock.Now})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close) // runs first: releases pending long polls
	client := awssqs.NewFromConfig(aws.Config{
		Region:           "us-east-1",
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	}, func(o *awssqs.Options) {
		o.BaseEndpoint = aws.String(hs.URL)
	})
	return &env{srv: srv, client: client, clock: clock, endpoint: hs.URL}
}

func (e *env) createQueue(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := e.client.CreateQueue(t.Context(), &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func (e *env) send(t *testing.T, queueURL, body string) string {
	t.Helper()
	out, err := e.client.SendMessage(t.Context(), &awssqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return aws.ToString(out.MessageId)
}

func (e *env) receive(t *testing.T, in *awssqs.ReceiveMessageInput) []types.Message {
	t.Helper()
	out, err := e.client.ReceiveMessage(t.Context(), in)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func (e *env) receiveOne(t *testing.T, queueURL string) types.Message {
	t.Helper()
	msgs := e.receive(t, &awssqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(queueURL),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func (e *env) receiveNone(t *testing.T, queueURL string) {
	t.Helper()
	if msgs := e.receive(t, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10}); len(msgs) != 0 {
		t.Fatalf("received %d messages, want none", len(msgs))
	}
}

func (e *env) queueAttrs(t *testing.T, queueURL string) map[string]string {
	t.Helper()
	out, err := e.client.GetQueueAttributes(t.Context(), &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	return out.Attributes
}

func wantDepth(t *testing.T, e *env, queueURL string, visible, inflight int) {
	t.Helper()
	if v, i := e.srv.Depth(queueURL); v != visible || i != inflight {
		t.Fatalf("Depth = (%d, %d), want (%d, %d)", v, i, visible, inflight)
	}
}

func wantAPIErrorCode(t *testing.T, err error, code string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not a smithy.APIError", err, err)
	}
	if apiErr.ErrorCode() != code {
		t.Fatalf("error code = %q, want %q (error: %v)", apiErr.ErrorCode(), code, err)
	}
}

func TestQueues(t *testing.T) {
	t.Parallel()

	t.Run("create returns an account scoped URL and is idempotent", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "orders", map[string]string{"VisibilityTimeout": "45"})
		if want := e.endpoint + "/000000000000/orders"; url != want {
			t.Fatalf("QueueUrl = %q, want %q", url, want)
		}
		if again := e.createQueue(t, "orders", map[string]string{"VisibilityTimeout": "45"}); again != url {
			t.Fatalf("second CreateQueue = %q, want %q", again, url)
		}
		if again := e.createQueue(t, "orders", nil); again != url {
			t.Fatalf("CreateQueue without attributes = %q, want %q", again, url)
		}
		got, err := e.client.GetQueueUrl(t.Context(), &awssqs.GetQueueUrlInput{QueueName: aws.String("orders")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(got.QueueUrl) != url {
			t.Fatalf("GetQueueUrl = %q, want %q", aws.ToString(got.QueueUrl), url)
		}
		attrs := e.queueAttrs(t, url)
		if attrs["VisibilityTimeout"] != "45" || attrs["QueueArn"] != "arn:aws:sqs:us-east-1:000000000000:orders" {
			t.Fatalf("attributes = %v", attrs)
		}
	})

	t.Run("create with a different attribute value is QueueNameExists", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.createQueue(t, "orders", map[string]string{"VisibilityTimeout": "45"})
		_, err := e.client.CreateQueue(t.Context(), &awssqs.CreateQueueInput{
			QueueName: aws.String("orders"), Attributes: map[string]string{"VisibilityTimeout": "60"},
		})
		var exists *types.QueueNameExists
		if !errors.As(err, &exists) {
			t.Fatalf("error = %v (%T), want *types.QueueNameExists", err, err)
		}
	})

	t.Run("invalid names and attributes are rejected", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, err := e.client.CreateQueue(t.Context(), &awssqs.CreateQueueInput{QueueName: aws.String("bad name!")})
		wantAPIErrorCode(t, err, "InvalidParameterValue")
		_, err = e.client.CreateQueue(t.Context(), &awssqs.CreateQueueInput{
			QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "99999"},
		})
		var badValue *types.InvalidAttributeValue
		if !errors.As(err, &badValue) {
			t.Fatalf("error = %v (%T), want *types.InvalidAttributeValue", err, err)
		}
		_, err = e.client.CreateQueue(t.Context(), &awssqs.CreateQueueInput{
			QueueName: aws.String("q"), Attributes: map[string]string{"Colour": "blue"},
		})
		var badName *types.InvalidAttributeName
		if !errors.As(err, &badName) {
			t.Fatalf("error = %v (%T), want *types.InvalidAttributeName", err, err)
		}
	})

	t.Run("missing queue surfaces as QueueDoesNotExist", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, err := e.client.GetQueueUrl(t.Context(), &awssqs.GetQueueUrlInput{QueueName: aws.String("nope")})
		var notExist *types.QueueDoesNotExist
		if !errors.As(err, &notExist) {
			t.Fatalf("error = %v (%T), want *types.QueueDoesNotExist", err, err)
		}
		// The x-amzn-query-error header sets the legacy query code.
		if got := notExist.ErrorCode(); got != "AWS.SimpleQueueService.NonExistentQueue" {
			t.Fatalf("ErrorCode() = %q", got)
		}
		if notExist.ErrorMessage() == "" {
			t.Fatal("empty error message")
		}

		_, err = e.client.SendMessage(t.Context(), &awssqs.SendMessageInput{
			QueueUrl: aws.String(e.endpoint + "/000000000000/nope"), MessageBody: aws.String("x"),
		})
		if !errors.As(err, &notExist) {
			t.Fatalf("SendMessage error = %v (%T), want *types.QueueDoesNotExist", err, err)
		}
		url := e.createQueue(t, "exists", nil)
		_, err = e.client.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.endpoint + "/123456789012/exists"),
		})
		if !errors.As(err, &notExist) {
			t.Fatalf("other account: error = %v (%T), want *types.QueueDoesNotExist", err, err)
		}
		if _, err := e.srv.Send(e.endpoint+"/000000000000/nope", "x"); !errors.Is(err, ErrQueueDoesNotExist) {
			t.Fatalf("Server.Send error = %v, want ErrQueueDoesNotExist", err)
		}
		e.send(t, url, "still works")
	})

	t.Run("list and delete queues", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		a := e.createQueue(t, "app-a", nil)
		b := e.createQueue(t, "app-b", nil)
		e.createQueue(t, "other", nil)
		out, err := e.client.ListQueues(t.Context(), &awssqs.ListQueuesInput{QueueNamePrefix: aws.String("app-"), MaxResults: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.QueueUrls) != 1 || out.QueueUrls[0] != a || out.NextToken == nil {
			t.Fatalf("first page = %v, token %v", out.QueueUrls, out.NextToken)
		}
		out, err = e.client.ListQueues(t.Context(), &awssqs.ListQueuesInput{
			QueueNamePrefix: aws.String("app-"), MaxResults: aws.Int32(1), NextToken: out.NextToken,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.QueueUrls) != 1 || out.QueueUrls[0] != b {
			t.Fatalf("second page = %v", out.QueueUrls)
		}
		if _, err := e.client.DeleteQueue(t.Context(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(a)}); err != nil {
			t.Fatal(err)
		}
		_, err = e.client.GetQueueUrl(t.Context(), &awssqs.GetQueueUrlInput{QueueName: aws.String("app-a")})
		var notExist *types.QueueDoesNotExist
		if !errors.As(err, &notExist) {
			t.Fatalf("error = %v, want *types.QueueDoesNotExist", err)
		}
	})

	t.Run("unsupported operations are reported as such", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "q", nil)
		_, err := e.client.TagQueue(t.Context(), &awssqs.TagQueueInput{QueueUrl: aws.String(url), Tags: map[string]string{"a": "b"}})
		var unsupported *types.UnsupportedOperation
		if !errors.As(err, &unsupported) {
			t.Fatalf("error = %v (%T), want *types.UnsupportedOperation", err, err)
		}
	})
}

func TestMessages(t *testing.T) {
	t.Parallel()

	t.Run("send receive delete round trip", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "events", nil)
		body := `{"detail-type":"Purchase Agreement Created - Manufacturer","detail":{"a":"<&>"}}`
		sent, err := e.client.SendMessage(t.Context(), &awssqs.SendMessageInput{
			QueueUrl:    aws.String(url),
			MessageBody: aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"kind":  {DataType: aws.String("String"), StringValue: aws.String("agreement")},
				"count": {DataType: aws.String("Number"), StringValue: aws.String("3")},
				"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 255}},
			},
		})
		if err != nil {
			t.Fatal(err) // includes the SDK's MD5OfMessageBody validation
		}
		if aws.ToString(sent.MD5OfMessageBody) != bodyMD5(body) || aws.ToString(sent.MessageId) == "" {
			t.Fatalf("SendMessage output = %+v", sent)
		}
		wantDepth(t, e, url, 1, 0)

		msgs := e.receive(t, &awssqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp},
			MessageAttributeNames:       []string{"All"},
		})
		if len(msgs) != 1 {
			t.Fatalf("received %d messages", len(msgs))
		}
		m := msgs[0]
		if aws.ToString(m.Body) != body || aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) {
			t.Fatalf("message = %+v", m)
		}
		if got, want := m.Attributes["SentTimestamp"], strconv.FormatInt(e.clock.Now().UnixMilli(), 10); got != want {
			t.Fatalf("SentTimestamp = %q, want %q", got, want)
		}
		if m.Attributes["ApproximateReceiveCount"] != "1" {
			t.Fatalf("attributes = %v", m.Attributes)
		}
		if len(m.MessageAttributes) != 3 || aws.ToString(m.MessageAttributes["kind"].StringValue) != "agreement" ||
			string(m.MessageAttributes["blob"].BinaryValue) != "\x00\x01\x02\xff" {
			t.Fatalf("message attributes = %+v", m.MessageAttributes)
		}
		if aws.ToString(m.MD5OfMessageAttributes) != aws.ToString(sent.MD5OfMessageAttributes) {
			t.Fatalf("MD5OfMessageAttributes %q on receive, %q on send", aws.ToString(m.MD5OfMessageAttributes), aws.ToString(sent.MD5OfMessageAttributes))
		}
		wantDepth(t, e, url, 0, 1)

		if _, err := e.client.DeleteMessage(t.Context(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
		wantDepth(t, e, url, 0, 0)
		e.clock.Advance(time.Hour)
		e.receiveNone(t, url)
		// Deleting again with the same handle is a no-op success.
		if _, err := e.client.DeleteMessage(t.Context(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatalf("second delete: %v", err)
		}
	})

	t.Run("message attribute MD5 matches the documented algorithm", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "md5", nil)
		// Expected digests published alongside other SQS implementations.
		cases := []struct {
			attrs map[string]types.MessageAttributeValue
			want  string
		}{
			{map[string]types.MessageAttributeValue{
				"timestamp": {DataType: aws.String("Number"), StringValue: aws.String("1493147359900")},
			}, "235c5c510d26fb653d073faed50ae77c"},
			{map[string]types.MessageAttributeValue{
				"ordinal":  {DataType: aws.String("Number"), StringValue: aws.String("1")},
				"category": {DataType: aws.String("String"), StringValue: aws.String("test")},
			}, "d21ae90c49061e927f57df5f5d72be1f"},
			{map[string]types.MessageAttributeValue{
				"SellerName": {DataType: aws.String("String"), StringValue: aws.String("Example Store")},
			}, "cd28f3b68aeee4b2eac9c66f2f694b58"},
		}
		for _, c := range cases {
			out, err := e.client.SendMessage(t.Context(), &awssqs.SendMessageInput{
				QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageAttributes: c.attrs,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(out.MD5OfMessageAttributes); got != c.want {
				t.Errorf("MD5OfMessageAttributes = %s, want %s", got, c.want)
			}
		}
	})

	t.Run("visibility timeout hides a message until the injected clock passes it", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "vis", nil) // default VisibilityTimeout 30 s
		e.send(t, url, "hello")
		first := e.receiveOne(t, url)
		e.receiveNone(t, url)
		wantDepth(t, e, url, 0, 1)

		e.clock.Advance(29 * time.Second)
		e.receiveNone(t, url)
		e.clock.Advance(2 * time.Second)
		wantDepth(t, e, url, 1, 0)

		second := e.receiveOne(t, url)
		if second.Attributes["ApproximateReceiveCount"] != "2" {
			t.Fatalf("ApproximateReceiveCount = %q, want 2", second.Attributes["ApproximateReceiveCount"])
		}
		if aws.ToString(second.ReceiptHandle) == aws.ToString(first.ReceiptHandle) {
			t.Fatal("receipt handle reused across receives")
		}

		// The first handle is stale now.
		_, err := e.client.ChangeMessageVisibility(t.Context(), &awssqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 10,
		})
		var invalid *types.ReceiptHandleIsInvalid
		if !errors.As(err, &invalid) {
			t.Fatalf("stale handle: error = %v (%T), want *types.ReceiptHandleIsInvalid", err, err)
		}
		if _, err := e.client.DeleteMessage(t.Context(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: first.ReceiptHandle}); err != nil {
			t.Fatalf("delete with stale handle: %v", err)
		}
		wantDepth(t, e, url, 0, 1) // stale delete did not delete
		if _, err := e.client.DeleteMessage(t.Context(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: second.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
		wantDepth(t, e, url, 0, 0)
	})

	t.Run("receive visibility override and queue default", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "override", map[string]string{"VisibilityTimeout": "100"})
		e.send(t, url, "a")
		e.receive(t, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), VisibilityTimeout: 5})
		e.clock.Advance(6 * time.Second)
		e.receiveOne(t, url) // now hidden for the queue default of 100 s
		e.clock.Advance(99 * time.Second)
		e.receiveNone(t, url)
		e.clock.Advance(time.Second)
		e.receiveOne(t, url)
	})

	t.Run("change visibility extends and zero makes the message visible at once", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "change", nil)
		e.send(t, url, "a")
		m := e.receiveOne(t, url)
		if _, err := e.client.ChangeMessageVisibility(t.Context(), &awssqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 120,
		}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(60 * time.Second)
		e.receiveNone(t, url)
		if _, err := e.client.ChangeMessageVisibility(t.Context(), &awssqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			t.Fatal(err)
		}
		wantDepth(t, e, url, 1, 0)
		again := e.receiveOne(t, url)
		if aws.ToString(again.MessageId) != aws.ToString(m.MessageId) {
			t.Fatal("different message")
		}
		// Past the 12 hour limit counted from the receive.
		_, err := e.client.ChangeMessageVisibility(t.Context(), &awssqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: again.ReceiptHandle, VisibilityTimeout: 43201,
		})
		wantAPIErrorCode(t, err, "InvalidParameterValue")
	})

	t.Run("change visibility after the timeout expired is MessageNotInflight", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "expired", nil)
		e.send(t, url, "a")
		m := e.receiveOne(t, url)
		e.clock.Advance(31 * time.Second)
		_, err := e.client.ChangeMessageVisibility(t.Context(), &awssqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 10,
		})
		var notInflight *types.MessageNotInflight
		if !errors.As(err, &notInflight) {
			t.Fatalf("error = %v (%T), want *types.MessageNotInflight", err, err)
		}
	})

	t.Run("invalid receipt handle is ReceiptHandleIsInvalid", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "handles", nil)
		other := e.createQueue(t, "other", nil)
		e.send(t, other, "a")
		fromOther := e.receiveOne(t, other)
		for _, h := range []string{"garbage", aws.ToString(fromOther.ReceiptHandle)} {
			_, err := e.client.DeleteMessage(t.Context(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(h)})
			var invalid *types.ReceiptHandleIsInvalid
			if !errors.As(err, &invalid) {
				t.Fatalf("handle %.20q: error = %v (%T), want *types.ReceiptHandleIsInvalid", h, err, err)
			}
		}
	})

	t.Run("delay seconds postpone delivery", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "delay", nil)
		if _, err := e.client.SendMessage(t.Context(), &awssqs.SendMessageInput{
			QueueUrl: aws.String(url), MessageBody: aws.String("later"), DelaySeconds: 10,
		}); err != nil {
			t.Fatal(err)
		}
		if got := e.queueAttrs(t, url)["ApproximateNumberOfMessagesDelayed"]; got != "1" {
			t.Fatalf("ApproximateNumberOfMessagesDelayed = %q", got)
		}
		e.receiveNone(t, url)
		e.clock.Advance(10 * time.Second)
		if m := e.receiveOne(t, url); aws.ToString(m.Body) != "later" {
			t.Fatalf("body = %q", aws.ToString(m.Body))
		}
	})

	t.Run("send batch and delete batch with one bad handle", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "batch", nil)
		sent, err := e.client.SendMessageBatch(t.Context(), &awssqs.SendMessageBatchInput{
			QueueUrl: aws.String(url),
			Entries: []types.SendMessageBatchRequestEntry{
				{Id: aws.String("a"), MessageBody: aws.String("one")},
				{Id: aws.String("b"), MessageBody: aws.String("two")},
				{Id: aws.String("c"), MessageBody: aws.String("bad \x00 char")},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(sent.Successful) != 2 || len(sent.Failed) != 1 || aws.ToString(sent.Failed[0].Id) != "c" ||
			aws.ToString(sent.Failed[0].Code) != "InvalidMessageContents" || !sent.Failed[0].SenderFault {
			t.Fatalf("SendMessageBatch = %+v", sent)
		}
		msgs := e.receive(t, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if len(msgs) != 2 {
			t.Fatalf("received %d messages, want 2", len(msgs))
		}
		out, err := e.client.DeleteMessageBatch(t.Context(), &awssqs.DeleteMessageBatchInput{
			QueueUrl: aws.String(url),
			Entries: []types.DeleteMessageBatchRequestEntry{
				{Id: aws.String("m0"), ReceiptHandle: msgs[0].ReceiptHandle},
				{Id: aws.String("bogus"), ReceiptHandle: aws.String("not-a-handle")},
				{Id: aws.String("m1"), ReceiptHandle: msgs[1].ReceiptHandle},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Successful) != 2 || len(out.Failed) != 1 {
			t.Fatalf("DeleteMessageBatch = %+v", out)
		}
		f := out.Failed[0]
		if aws.ToString(f.Id) != "bogus" || aws.ToString(f.Code) != "ReceiptHandleIsInvalid" || !f.SenderFault {
			t.Fatalf("failed entry = %+v", f)
		}
		wantDepth(t, e, url, 0, 0)
	})

	t.Run("change visibility batch reports per entry results", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "cvb", nil)
		e.send(t, url, "a")
		m := e.receiveOne(t, url)
		out, err := e.client.ChangeMessageVisibilityBatch(t.Context(), &awssqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(url),
			Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
				{Id: aws.String("ok"), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0},
				{Id: aws.String("bad"), ReceiptHandle: aws.String("x")},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Successful) != 1 || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "bad" {
			t.Fatalf("ChangeMessageVisibilityBatch = %+v", out)
		}
		wantDepth(t, e, url, 1, 0)
	})

	t.Run("batch request errors are typed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "batcherr", nil)
		_, err := e.client.SendMessageBatch(t.Context(), &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{}})
		var empty *types.EmptyBatchRequest
		if !errors.As(err, &empty) {
			t.Fatalf("empty batch: error = %v (%T)", err, err)
		}
		_, err = e.client.DeleteMessageBatch(t.Context(), &awssqs.DeleteMessageBatchInput{
			QueueUrl: aws.String(url),
			Entries: []types.DeleteMessageBatchRequestEntry{
				{Id: aws.String("x"), ReceiptHandle: aws.String("h")},
				{Id: aws.String("x"), ReceiptHandle: aws.String("h")},
			},
		})
		var dup *types.BatchEntryIdsNotDistinct
		if !errors.As(err, &dup) {
			t.Fatalf("duplicate ids: error = %v (%T)", err, err)
		}
		entries := make([]types.SendMessageBatchRequestEntry, 11)
		for i := range entries {
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String("x")}
		}
		_, err = e.client.SendMessageBatch(t.Context(), &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		var tooMany *types.TooManyEntriesInBatchRequest
		if !errors.As(err, &tooMany) {
			t.Fatalf("11 entries: error = %v (%T)", err, err)
		}
	})

	t.Run("purge and approximate counts", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "purge", nil)
		for i := range 3 {
			e.send(t, url, "m"+strconv.Itoa(i))
		}
		e.receiveOne(t, url)
		attrs := e.queueAttrs(t, url)
		if attrs["ApproximateNumberOfMessages"] != "2" || attrs["ApproximateNumberOfMessagesNotVisible"] != "1" {
			t.Fatalf("attributes = %v", attrs)
		}
		if _, err := e.client.PurgeQueue(t.Context(), &awssqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
			t.Fatal(err)
		}
		attrs = e.queueAttrs(t, url)
		if attrs["ApproximateNumberOfMessages"] != "0" || attrs["ApproximateNumberOfMessagesNotVisible"] != "0" {
			t.Fatalf("attributes after purge = %v", attrs)
		}
	})

	t.Run("invalid parameters are InvalidParameterValue", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "params", nil)
		_, err := e.client.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 11})
		wantAPIErrorCode(t, err, "InvalidParameterValue")
		_, err = e.client.ReceiveMessage(t.Context(), &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 21})
		wantAPIErrorCode(t, err, "InvalidParameterValue")
		_, err = e.client.SendMessage(t.Context(), &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), DelaySeconds: 901})
		wantAPIErrorCode(t, err, "InvalidParameterValue")
		_, err = e.client.SendMessage(t.Context(), &awssqs.SendMessageInput{
			QueueUrl: aws.String(url), MessageBody: aws.String("x"),
			MessageAttributes: map[string]types.MessageAttributeValue{"AWS.reserved": {DataType: aws.String("String"), StringValue: aws.String("v")}},
		})
		wantAPIErrorCode(t, err, "InvalidParameterValue")
	})

	t.Run("oversized message is rejected", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "small", map[string]string{"MaximumMessageSize": "1024"})
		big := make([]byte, 1025)
		for i := range big {
			big[i] = 'a'
		}
		_, err := e.client.SendMessage(t.Context(), &awssqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(big))})
		wantAPIErrorCode(t, err, "InvalidParameterValue")
	})

	t.Run("in-process API interoperates with the client", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.srv.CreateQueue("eventbridge-target")
		if url != "http://localhost/000000000000/eventbridge-target" {
			t.Fatalf("CreateQueue = %q", url)
		}
		if e.srv.CreateQueue("bad name") != "" {
			t.Fatal("invalid name accepted")
		}
		id, err := e.srv.Send(url, `{"source":"aws.agreement-marketplace"}`)
		if err != nil {
			t.Fatal(err)
		}
		wantDepth(t, e, url, 1, 0)
		got, err := e.client.GetQueueUrl(t.Context(), &awssqs.GetQueueUrlInput{QueueName: aws.String("eventbridge-target")})
		if err != nil {
			t.Fatal(err)
		}
		m := e.receiveOne(t, aws.ToString(got.QueueUrl))
		if aws.ToString(m.MessageId) != id {
			t.Fatalf("MessageId = %q, want %q", aws.ToString(m.MessageId), id)
		}
		wantDepth(t, e, url, 0, 1)
	})
}

func TestLongPolling(t *testing.T) {
	t.Parallel()

	t.Run("returns as soon as a message is sent concurrently", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "lp", nil)
		go func() {
			time.Sleep(300 * time.Millisecond)
			if _, err := e.client.SendMessage(context.Background(), &awssqs.SendMessageInput{
				QueueUrl: aws.String(url), MessageBody: aws.String("arrived"),
			}); err != nil {
				t.Errorf("concurrent SendMessage: %v", err)
			}
		}()
		start := time.Now()
		msgs := e.receive(t, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 10})
		elapsed := time.Since(start)
		if len(msgs) != 1 || aws.ToString(msgs[0].Body) != "arrived" {
			t.Fatalf("messages = %+v", msgs)
		}
		if elapsed > 5*time.Second {
			t.Fatalf("long poll took %v, want an early return", elapsed)
		}
	})

	t.Run("returns empty after WaitTimeSeconds", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "lp-empty", nil)
		start := time.Now()
		msgs := e.receive(t, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
		elapsed := time.Since(start)
		if len(msgs) != 0 {
			t.Fatalf("messages = %+v", msgs)
		}
		if elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
			t.Fatalf("long poll took %v, want about 1s", elapsed)
		}
	})

	t.Run("queue ReceiveMessageWaitTimeSeconds is the default wait", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "lp-default", map[string]string{"ReceiveMessageWaitTimeSeconds": "1"})
		start := time.Now()
		e.receiveNone(t, url)
		if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
			t.Fatalf("receive took %v, want about 1s", elapsed)
		}
	})

	t.Run("wakes when the injected clock makes a message visible", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "lp-clock", nil)
		e.send(t, url, "retry me")
		e.receiveOne(t, url)
		go func() {
			time.Sleep(300 * time.Millisecond)
			e.clock.Advance(31 * time.Second)
		}()
		start := time.Now()
		msgs := e.receive(t, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 10})
		if len(msgs) != 1 {
			t.Fatalf("messages = %+v", msgs)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("long poll took %v", elapsed)
		}
	})

	t.Run("ends when the request context is cancelled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		url := e.createQueue(t, "lp-cancel", nil)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("receive took %v", elapsed)
		}
		// The server side poll ends with the connection, so a later message
		// goes to the next receiver rather than to the abandoned poll.
		time.Sleep(500 * time.Millisecond)
		e.send(t, url, "next")
		if m := e.receiveOne(t, url); aws.ToString(m.Body) != "next" {
			t.Fatalf("body = %q", aws.ToString(m.Body))
		}
	})
}
