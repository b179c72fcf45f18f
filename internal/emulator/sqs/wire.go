package sqs

// JSON shapes of the supported operations, using the SQS API member names.
// Optional numeric inputs are pointers so that "absent" and 0 differ.

type attributeValue struct {
	DataType         *string  `json:"DataType,omitempty"`
	StringValue      *string  `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

type createQueueInput struct {
	QueueName  *string
	Attributes map[string]string
	Tags       map[string]string
}

type getQueueURLInput struct {
	QueueName              *string
	QueueOwnerAWSAccountId *string
}

type queueURLOutput struct {
	QueueUrl string
}

type queueURLInput struct {
	QueueUrl *string
}

type listQueuesInput struct {
	QueueNamePrefix *string
	MaxResults      *int32
	NextToken       *string
}

type listQueuesOutput struct {
	QueueUrls []string `json:"QueueUrls,omitempty"`
	NextToken string   `json:"NextToken,omitempty"`
}

type getQueueAttributesInput struct {
	QueueUrl       *string
	AttributeNames []string
}

type setQueueAttributesInput struct {
	QueueUrl   *string
	Attributes map[string]string
}

type attributesOutput struct {
	Attributes map[string]string `json:"Attributes,omitempty"`
}

type sendMessageInput struct {
	QueueUrl                *string
	MessageBody             *string
	DelaySeconds            *int32
	MessageAttributes       map[string]attributeValue
	MessageSystemAttributes map[string]attributeValue
	MessageDeduplicationId  *string
	MessageGroupId          *string
}

type sendMessageOutput struct {
	MessageId                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:"MD5OfMessageAttributes,omitempty"`
	MD5OfMessageSystemAttributes string `json:"MD5OfMessageSystemAttributes,omitempty"`
}

type sendMessageBatchEntry struct {
	Id                      *string
	MessageBody             *string
	DelaySeconds            *int32
	MessageAttributes       map[string]attributeValue
	MessageSystemAttributes map[string]attributeValue
	MessageDeduplicationId  *string
	MessageGroupId          *string
}

type sendMessageBatchInput struct {
	QueueUrl *string
	Entries  []sendMessageBatchEntry
}

type sendMessageBatchResult struct {
	Id string
	sendMessageOutput
}

type batchResultError struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string `json:"Message,omitempty"`
}

type sendMessageBatchOutput struct {
	Successful []sendMessageBatchResult
	Failed     []batchResultError
}

type receiveMessageInput struct {
	QueueUrl                    *string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int32
	VisibilityTimeout           *int32
	WaitTimeSeconds             *int32
	ReceiveRequestAttemptId     *string
}

type messageOutput struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string         `json:"Attributes,omitempty"`
	MessageAttributes      map[string]attributeValue `json:"MessageAttributes,omitempty"`
	MD5OfMessageAttributes string                    `json:"MD5OfMessageAttributes,omitempty"`
}

type receiveMessageOutput struct {
	Messages []messageOutput `json:"Messages,omitempty"`
}

type deleteMessageInput struct {
	QueueUrl      *string
	ReceiptHandle *string
}

type deleteMessageBatchEntry struct {
	Id            *string
	ReceiptHandle *string
}

type deleteMessageBatchInput struct {
	QueueUrl *string
	Entries  []deleteMessageBatchEntry
}

type batchResultID struct {
	Id string
}

type batchOutput struct {
	Successful []batchResultID
	Failed     []batchResultError
}

type changeVisibilityInput struct {
	QueueUrl          *string
	ReceiptHandle     *string
	VisibilityTimeout *int32
}

type changeVisibilityBatchEntry struct {
	Id                *string
	ReceiptHandle     *string
	VisibilityTimeout *int32
}

type changeVisibilityBatchInput struct {
	QueueUrl *string
	Entries  []changeVisibilityBatchEntry
}

type emptyOutput struct{}
