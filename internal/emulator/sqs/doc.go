// Package sqs is an in-memory emulator for a subset of Amazon SQS (standard
// queues only) that speaks the AWS JSON 1.0 protocol, so the official AWS SDK
// for Go v2 SQS client works against it unchanged when pointed at it with
// BaseEndpoint.
//
// Concord uses it as the EventBridge target of its built-in marketplace
// emulator and in tests of its SQS poller.
//
// # Protocol
//
// Every request is POST / with X-Amz-Target: AmazonSQS.<Operation> and a JSON
// body that uses the SQS API member names. Responses are JSON with Content-Type
// application/x-amz-json-1.0 and an x-amzn-RequestId header.
//
// Errors are HTTP 4xx with a body of the form
//
//	{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"..."}
//
// plus, because the SQS model carries the awsQueryCompatible trait, an
// x-amzn-query-error header such as
// "AWS.SimpleQueueService.NonExistentQueue;Sender". The SDK resolves the error
// type from the part of __type after '#', looks it up in its type registry
// (so *types.QueueDoesNotExist, *types.ReceiptHandleIsInvalid, ... are
// returned) and then overrides ErrorCode() with the code from the header, as
// it does against real SQS. Errors that are not modelled shapes
// (InvalidParameterValue, MissingParameter) surface as *smithy.GenericAPIError
// whose Code is the query code, for example "InvalidParameterValue".
//
// SendMessage, SendMessageBatch and ReceiveMessage responses carry the MD5
// hex digest of the body, which the SDK validates (MD5OfMessageAttributes and
// MD5OfMessageSystemAttributes are computed with the documented SQS algorithm
// but the SDK does not check them).
//
// # Operations
//
// CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, GetQueueAttributes,
// SetQueueAttributes, PurgeQueue, SendMessage, SendMessageBatch,
// ReceiveMessage, DeleteMessage, DeleteMessageBatch, ChangeMessageVisibility
// and ChangeMessageVisibilityBatch. Other SQS operations return
// UnsupportedOperation; targets that are not SQS operations return
// UnknownOperationException.
//
// # Behavioural choices
//
//   - Time (delays, visibility timeouts, retention, timestamps) comes from
//     Options.Now so an emulator can drive a controllable clock. Long polls
//     wake immediately when a message is sent or made visible, re-check the
//     clock every 100 ms of real time, and end after WaitTimeSeconds of real
//     time or of the injected clock, whichever comes first, or when the
//     request context is cancelled or the Server is closed.
//   - Queues are resolved from the last path segment of QueueUrl (the host is
//     ignored, like SQS); a different account ID segment is QueueDoesNotExist.
//   - Receipt handles are new on every receive and are tied to one queue,
//     message and receive. DeleteMessage with a handle whose message was
//     received again since (a stale handle) succeeds without deleting the
//     message: the SQS documentation says "If you use an old ReceiptHandle,
//     the request will succeed, but the message might not be deleted", and the
//     emulator picks the strict reading so that consumers that process a
//     message after its visibility timeout expired notice. DeleteMessage for a
//     message that is already gone succeeds. A handle that was never issued
//     (or belongs to another queue) is ReceiptHandleIsInvalid.
//   - ChangeMessageVisibility with a stale handle or for a deleted message is
//     ReceiptHandleIsInvalid; with the latest handle of a message whose
//     visibility timeout already expired it is MessageNotInflight. A new
//     timeout counts from the call and may not reach more than 12 hours after
//     the receive.
//   - PurgeQueue takes effect immediately and is not limited to once per 60
//     seconds.
//   - FIFO queues, dead-letter redrive, tags and permissions are not
//     emulated; Policy, RedrivePolicy, KMS and SSE attributes are stored and
//     echoed only.
package sqs
