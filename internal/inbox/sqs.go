package inbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/marketplace"
)

// QueueMessage is one message received from a queue.
type QueueMessage struct {
	ID            string
	Body          string
	ReceiptHandle string
}

// Queue is the SQS subset the poller needs; internal/awsmp implements it with the
// official client.
type Queue interface {
	Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]QueueMessage, error)
	Delete(ctx context.Context, receiptHandles []string) error
	ExtendVisibility(ctx context.Context, receiptHandle string, visibility time.Duration) error
}

// Poller is the SQS door: it long-polls the queue an EventBridge rule targets,
// ingests each event, and deletes a message only after its event is committed. A
// message that cannot be parsed is left on the queue for its redrive policy (a
// dead-letter queue) and logged; one that fails to commit is retried by SQS.
type Poller struct {
	Ledger     *Ledger
	Queue      Queue
	SNS        *SNSReceiver // optional: for SNS envelopes on the same queue
	Logger     *slog.Logger
	Metrics    *Metrics
	Visibility time.Duration // default 60 s; extended while a batch is slow
	Wait       time.Duration // long-poll wait, default 20 s
}

// Run polls until ctx is cancelled.
func (p *Poller) Run(ctx context.Context) {
	if p.Visibility <= 0 {
		p.Visibility = time.Minute
	}
	if p.Wait <= 0 {
		p.Wait = 20 * time.Second
	}
	backoff := time.Second
	for ctx.Err() == nil {
		var n int
		err := background.Guard(p.Logger, "sqs poller", func() (err error) {
			n, err = p.PollOnce(ctx)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.Logger.Error("sqs: receive", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
			continue
		}
		backoff = time.Second
		_ = n
	}
}

// PollOnce receives one batch, ingests it and deletes what was committed. It
// returns how many messages were committed.
func (p *Poller) PollOnce(ctx context.Context) (int, error) {
	msgs, err := p.Queue.Receive(ctx, 10, p.Wait, p.Visibility)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	var mu sync.Mutex
	pending := map[string]bool{}
	for _, m := range msgs {
		pending[m.ReceiptHandle] = true
	}
	// Keep the batch invisible while it is being processed, however slow.
	hbCtx, cancel := context.WithCancel(ctx)
	var hb sync.WaitGroup
	stop := func() { cancel(); hb.Wait() }
	defer stop()
	// A panic ends the heartbeat only: the batch becomes visible again and is
	// redelivered, and the inbox drops what was already committed.
	hb.Go(func() {
		background.Guard(p.Logger, "sqs visibility heartbeat", func() error {
			t := time.NewTicker(p.Visibility / 2)
			defer t.Stop()
			for {
				select {
				case <-hbCtx.Done():
					return nil
				case <-t.C:
					mu.Lock()
					handles := make([]string, 0, len(pending))
					for h := range pending {
						handles = append(handles, h)
					}
					mu.Unlock()
					for _, h := range handles {
						if err := p.Queue.ExtendVisibility(hbCtx, h, p.Visibility); err != nil && hbCtx.Err() == nil {
							p.Logger.Warn("sqs: extend visibility", "err", err)
						}
					}
				}
			}
		})
	})
	var done []string
	for _, m := range msgs {
		if ok := p.handle(ctx, m); ok {
			done = append(done, m.ReceiptHandle)
			mu.Lock()
			delete(pending, m.ReceiptHandle)
			mu.Unlock()
		}
	}
	stop() // no extension may run after (or race with) the deletes
	if len(done) > 0 {
		if err := p.Queue.Delete(context.WithoutCancel(ctx), done); err != nil {
			// Committed but not deleted: SQS redelivers and the inbox drops the duplicate.
			p.Logger.Warn("sqs: delete", "err", err)
		}
	}
	return len(done), nil
}

func (p *Poller) handle(ctx context.Context, m QueueMessage) bool {
	body := []byte(m.Body)
	if p.SNS != nil && IsSNSEnvelope(body) {
		res, _, err := p.SNS.Handle(ctx, body)
		if err != nil {
			p.Metrics.count(DoorSQS, "rejected")
			p.Logger.Warn("sqs: SNS envelope rejected; left for the dead-letter queue", "message", m.ID, "err", err)
			return false
		}
		p.Metrics.count(DoorSQS, res.Status)
		return true
	}
	ev, err := marketplace.ParseEventBridge(body)
	if err != nil {
		p.Metrics.count(DoorSQS, "rejected")
		p.Logger.Warn("sqs: bad event left for the dead-letter queue", "message", m.ID, "err", err)
		return false
	}
	res, err := p.Ledger.Accept(ctx, DoorSQS, ev)
	if err != nil {
		p.Metrics.count(DoorSQS, "error")
		p.Logger.Error("sqs: ingest", "event", ev.ID, "err", err)
		return false
	}
	p.Metrics.count(DoorSQS, res.Status)
	return true
}
