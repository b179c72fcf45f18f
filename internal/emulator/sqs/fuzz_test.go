package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func FuzzServeHTTP(f *testing.F) {
	const q = `"QueueUrl":"http://localhost/000000000000/fuzz"`
	seeds := []struct{ target, body string }{
		{"AmazonSQS.CreateQueue", `{"QueueName":"fuzz","Attributes":{"VisibilityTimeout":"5"}}`},
		{"AmazonSQS.CreateQueue", `{"QueueName":"x.fifo"}`},
		{"AmazonSQS.GetQueueUrl", `{"QueueName":"fuzz"}`},
		{"AmazonSQS.ListQueues", `{"MaxResults":1,"NextToken":"!!"}`},
		{"AmazonSQS.SendMessage", `{` + q + `,"MessageBody":"hi","DelaySeconds":1,"MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AAE="}}}`},
		{"AmazonSQS.SendMessage", `{` + q + `,"MessageBody":"\u0000"}`},
		{"AmazonSQS.SendMessageBatch", `{` + q + `,"Entries":[{"Id":"a","MessageBody":"x"},{"Id":"a"}]}`},
		{"AmazonSQS.ReceiveMessage", `{` + q + `,"MaxNumberOfMessages":10,"WaitTimeSeconds":20,"VisibilityTimeout":0,"AttributeNames":["All"],"MessageAttributeNames":["a.*"]}`},
		{"AmazonSQS.DeleteMessage", `{` + q + `,"ReceiptHandle":"YQ.YQ"}`},
		{"AmazonSQS.DeleteMessageBatch", `{` + q + `,"Entries":[{"Id":"1","ReceiptHandle":"x"}]}`},
		{"AmazonSQS.ChangeMessageVisibility", `{` + q + `,"ReceiptHandle":"x","VisibilityTimeout":-1}`},
		{"AmazonSQS.ChangeMessageVisibilityBatch", `{` + q + `,"Entries":[]}`},
		{"AmazonSQS.GetQueueAttributes", `{` + q + `,"AttributeNames":["All","Nope"]}`},
		{"AmazonSQS.SetQueueAttributes", `{` + q + `,"Attributes":{"DelaySeconds":"2"}}`},
		{"AmazonSQS.PurgeQueue", `{"QueueUrl":"::bad"}`},
		{"AmazonSQS.DeleteQueue", `{"QueueUrl":"http://localhost/1/fuzz"}`},
		{"AmazonSQS.TagQueue", `{}`},
		{"AmazonSQS.SendMessage", `{"MessageBody":12}`},
		{"AmazonSQS.ReceiveMessage", `{"MaxNumberOfMessages":1e40}`},
		{"AmazonSQS.ReceiveMessage", `[`},
		{"Nope", ``},
		{"", `null`},
	}
	for _, s := range seeds {
		f.Add(s.target, []byte(s.body))
	}

	srv := New(Options{})
	srv.CreateQueue("fuzz")
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Amz-Target", target)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)

		if rec.Code < 200 || rec.Code >= 500 || (rec.Code >= 300 && rec.Code < 400) {
			t.Fatalf("status %d for %q %q: %s", rec.Code, target, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON response for %q %q: %q", target, body, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Type string `json:"__type"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type == "" {
				t.Fatalf("error response without __type: %s", rec.Body)
			}
		}
	})
}
