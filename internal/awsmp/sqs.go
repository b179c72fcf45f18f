package awsmp

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/concordmp/concord/internal/inbox"
)

// Queue is the SQS queue an EventBridge rule delivers marketplace events to.
type Queue struct {
	Client *sqs.Client
	URL    string
}

// NewQueue builds the adapter over the official SQS client.
func NewQueue(cfg aws.Config, queueURL string) *Queue {
	return &Queue{Client: sqs.NewFromConfig(cfg), URL: queueURL}
}

var _ inbox.Queue = (*Queue)(nil)

// Receive long-polls for up to max messages.
func (q *Queue) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]inbox.QueueMessage, error) {
	out, err := q.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.URL),
		MaxNumberOfMessages: int32(max),
		WaitTimeSeconds:     int32(wait / time.Second),
		VisibilityTimeout:   int32(visibility / time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("ReceiveMessage: %w", err)
	}
	msgs := make([]inbox.QueueMessage, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, inbox.QueueMessage{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), ReceiptHandle: aws.ToString(m.ReceiptHandle)})
	}
	return msgs, nil
}

// Delete removes committed messages, ten per call as SQS allows.
func (q *Queue) Delete(ctx context.Context, handles []string) error {
	for start := 0; start < len(handles); start += 10 {
		end := min(start+10, len(handles))
		entries := make([]types.DeleteMessageBatchRequestEntry, 0, end-start)
		for i, h := range handles[start:end] {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)})
		}
		out, err := q.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil {
			return fmt.Errorf("DeleteMessageBatch: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("DeleteMessageBatch: %d of %d failed: %s", len(out.Failed), len(entries), aws.ToString(out.Failed[0].Message))
		}
	}
	return nil
}

// ExtendVisibility keeps a message hidden while a slow batch is processed.
func (q *Queue) ExtendVisibility(ctx context.Context, handle string, visibility time.Duration) error {
	_, err := q.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(q.URL), ReceiptHandle: aws.String(handle), VisibilityTimeout: int32(visibility / time.Second),
	})
	if err != nil {
		return fmt.Errorf("ChangeMessageVisibility: %w", err)
	}
	return nil
}
