package sqs

import (
	"slices"
	"strconv"
	"time"
)

// Limits and defaults from the SQS documentation.
const (
	defaultVisibilityTimeout = 30
	defaultMaxMessageSize    = 1 << 20 // 1 MiB
	defaultRetention         = 345600  // 4 days
	maxVisibilityTimeout     = 43200   // 12 hours
	maxDelaySeconds          = 900
	maxWaitTimeSeconds       = 20
	maxBatchEntries          = 10
	maxBatchPayload          = 1 << 20 // total of a SendMessageBatch
	maxQueueNameLength       = 80
	maxBatchEntryIDLength    = 80
)

type intRange struct{ min, max int }

// numericQueueAttrs are the settable numeric queue attributes.
var numericQueueAttrs = map[string]intRange{
	"DelaySeconds":                  {0, maxDelaySeconds},
	"MaximumMessageSize":            {1024, 1 << 20},
	"MessageRetentionPeriod":        {60, 1209600},
	"ReceiveMessageWaitTimeSeconds": {0, maxWaitTimeSeconds},
	"VisibilityTimeout":             {0, maxVisibilityTimeout},
}

// opaqueQueueAttrs are accepted, stored and echoed, but have no effect.
var opaqueQueueAttrs = map[string]bool{
	"Policy":                       true,
	"RedrivePolicy":                true,
	"RedriveAllowPolicy":           true,
	"KmsMasterKeyId":               true,
	"KmsDataKeyReusePeriodSeconds": true,
	"SqsManagedSseEnabled":         true,
}

// readOnlyQueueAttrs can be read with GetQueueAttributes but not set.
var readOnlyQueueAttrs = map[string]bool{
	"ApproximateNumberOfMessages":           true,
	"ApproximateNumberOfMessagesNotVisible": true,
	"ApproximateNumberOfMessagesDelayed":    true,
	"CreatedTimestamp":                      true,
	"LastModifiedTimestamp":                 true,
	"QueueArn":                              true,
}

// fifoQueueAttrs only apply to FIFO queues, which are not emulated.
var fifoQueueAttrs = map[string]bool{
	"FifoQueue":                 true,
	"ContentBasedDeduplication": true,
	"DeduplicationScope":        true,
	"FifoThroughputLimit":       true,
}

// parseQueueAttributes validates settable queue attributes and returns them
// normalised.
func parseQueueAttributes(in map[string]string) (map[string]string, *apiError) {
	out := make(map[string]string, len(in))
	for name, v := range in {
		r, numeric := numericQueueAttrs[name]
		switch {
		case numeric:
			n, err := strconv.Atoi(v)
			if err != nil || n < r.min || n > r.max {
				return nil, errInvalidAttributeValue("Invalid value for the parameter %s.", name)
			}
			out[name] = strconv.Itoa(n)
		case opaqueQueueAttrs[name]:
			if name == "SqsManagedSseEnabled" && v != "true" && v != "false" {
				return nil, errInvalidAttributeValue("Invalid value for the parameter %s.", name)
			}
			out[name] = v
		case name == "FifoQueue":
			if v != "false" {
				return nil, errInvalidAttributeValue("FIFO queues are not supported by the Concord SQS emulator.")
			}
		default:
			return nil, errInvalidAttributeName(name)
		}
	}
	return out, nil
}

type queue struct {
	name       string
	created    time.Time
	modified   time.Time
	visibility int
	delay      int
	maxSize    int
	retention  int
	wait       int
	opaque     map[string]string

	msgs []*message
	byID map[string]*message
	// notify is closed (and replaced) whenever a message may have become
	// receivable, to wake long polls.
	notify  chan struct{}
	deleted bool
}

type message struct {
	id           string
	body         string
	md5          string
	attrs        map[string]messageAttr
	sysAttrs     map[string]messageAttr
	groupID      string
	sentAt       time.Time
	visibleAt    time.Time
	receivedAt   time.Time // latest receive
	firstRecvAt  time.Time
	receiveCount int
	seq          uint64 // receive sequence of the latest receipt handle
}

func newQueue(name string, now time.Time) *queue {
	return &queue{
		name:       name,
		created:    now,
		modified:   now,
		visibility: defaultVisibilityTimeout,
		maxSize:    defaultMaxMessageSize,
		retention:  defaultRetention,
		opaque:     map[string]string{},
		byID:       map[string]*message{},
		notify:     make(chan struct{}),
	}
}

// attr returns the current value of a settable attribute.
func (q *queue) attr(name string) string {
	switch name {
	case "DelaySeconds":
		return strconv.Itoa(q.delay)
	case "MaximumMessageSize":
		return strconv.Itoa(q.maxSize)
	case "MessageRetentionPeriod":
		return strconv.Itoa(q.retention)
	case "ReceiveMessageWaitTimeSeconds":
		return strconv.Itoa(q.wait)
	case "VisibilityTimeout":
		return strconv.Itoa(q.visibility)
	}
	return q.opaque[name]
}

// apply sets attributes returned by parseQueueAttributes.
func (q *queue) apply(attrs map[string]string, now time.Time) {
	for name, v := range attrs {
		n, _ := strconv.Atoi(v)
		switch name {
		case "DelaySeconds":
			q.delay = n
		case "MaximumMessageSize":
			q.maxSize = n
		case "MessageRetentionPeriod":
			q.retention = n
		case "ReceiveMessageWaitTimeSeconds":
			q.wait = n
		case "VisibilityTimeout":
			q.visibility = n
		default:
			q.opaque[name] = v
		}
	}
	if len(attrs) > 0 {
		q.modified = now
	}
}

// wake wakes every long poll waiting on the queue.
func (q *queue) wake() {
	close(q.notify)
	q.notify = make(chan struct{})
}

// expire drops messages older than the retention period.
func (q *queue) expire(now time.Time) {
	keep := q.msgs[:0]
	for _, m := range q.msgs {
		if now.Sub(m.sentAt) >= time.Duration(q.retention)*time.Second {
			delete(q.byID, m.id)
			continue
		}
		keep = append(keep, m)
	}
	clear(q.msgs[len(keep):])
	q.msgs = keep
}

func (q *queue) add(m *message, now time.Time) {
	q.msgs = append(q.msgs, m)
	q.byID[m.id] = m
	if !m.visibleAt.After(now) {
		q.wake()
	}
}

func (q *queue) remove(m *message) {
	delete(q.byID, m.id)
	for i, x := range q.msgs {
		if x == m {
			q.msgs = slices.Delete(q.msgs, i, i+1)
			return
		}
	}
}

func (q *queue) purge() {
	q.msgs = nil
	q.byID = map[string]*message{}
}

// counts returns the approximate visible, in-flight and delayed counts.
func (q *queue) counts(now time.Time) (visible, inflight, delayed int) {
	q.expire(now)
	for _, m := range q.msgs {
		switch {
		case !m.visibleAt.After(now):
			visible++
		case m.receiveCount > 0:
			inflight++
		default:
			delayed++
		}
	}
	return visible, inflight, delayed
}
