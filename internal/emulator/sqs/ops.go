package sqs

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ---- queues ----

func validQueueName(name string) bool {
	if name == "" || len(name) > maxQueueNameLength {
		return false
	}
	for _, c := range []byte(name) {
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func (s *Server) createQueue(name string, rawAttrs map[string]string) *apiError {
	if strings.HasSuffix(name, ".fifo") {
		return errInvalidParameterValue("FIFO queues are not supported by the Concord SQS emulator.")
	}
	if !validQueueName(name) {
		return errInvalidParameterValue(
			"Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	attrs, aerr := parseQueueAttributes(rawAttrs)
	if aerr != nil {
		return aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[name]; q != nil {
		names := make([]string, 0, len(attrs))
		for k := range attrs {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			if q.attr(k) != attrs[k] {
				return errQueueNameExists(k)
			}
		}
		return nil
	}
	now := s.now()
	q := newQueue(name, now)
	q.apply(attrs, now)
	q.modified = now
	s.queues[name] = q
	return nil
}

func (s *Server) opCreateQueue(r *http.Request, in *createQueueInput) (any, *apiError) {
	if in.QueueName == nil {
		return nil, errMissingParameter("QueueName")
	}
	if err := s.createQueue(*in.QueueName, in.Attributes); err != nil {
		return nil, err
	}
	return queueURLOutput{QueueUrl: s.queueURL(r, *in.QueueName)}, nil
}

func (s *Server) opGetQueueURL(r *http.Request, in *getQueueURLInput) (any, *apiError) {
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	if in.QueueOwnerAWSAccountId != nil && *in.QueueOwnerAWSAccountId != s.accountID {
		return nil, errQueueDoesNotExist()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queues[*in.QueueName] == nil {
		return nil, errQueueDoesNotExist()
	}
	return queueURLOutput{QueueUrl: s.queueURL(r, *in.QueueName)}, nil
}

func (s *Server) opListQueues(r *http.Request, in *listQueuesInput) (any, *apiError) {
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, errInvalidParameterValue(
				"Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *in.MaxResults)
		}
		limit = int(*in.MaxResults)
	}
	after := ""
	if in.NextToken != nil && *in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil {
			return nil, errInvalidParameterValue("Invalid NextToken value.")
		}
		after = string(b)
	}
	prefix := ""
	if in.QueueNamePrefix != nil {
		prefix = *in.QueueNamePrefix
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.queues))
	for name := range s.queues {
		if strings.HasPrefix(name, prefix) && name > after {
			names = append(names, name)
		}
	}
	s.mu.Unlock()
	slices.Sort(names)
	var out listQueuesOutput
	for i, name := range names {
		if i == limit {
			if in.MaxResults != nil {
				out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(names[i-1]))
			}
			break
		}
		out.QueueUrls = append(out.QueueUrls, s.queueURL(r, name))
	}
	return out, nil
}

func (s *Server) opDeleteQueue(_ *http.Request, in *queueURLInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	delete(s.queues, q.name)
	q.deleted = true
	q.wake()
	return emptyOutput{}, nil
}

func (s *Server) opPurgeQueue(_ *http.Request, in *queueURLInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	q.purge()
	return emptyOutput{}, nil
}

func (s *Server) opGetQueueAttributes(_ *http.Request, in *getQueueAttributesInput) (any, *apiError) {
	all := false
	want := map[string]bool{}
	for _, n := range in.AttributeNames {
		switch {
		case n == "All":
			all = true
		case numericQueueAttrs[n] != (intRange{}), opaqueQueueAttrs[n], readOnlyQueueAttrs[n], fifoQueueAttrs[n]:
			want[n] = true
		default:
			return nil, errInvalidAttributeName(n)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]string{}
	add := func(name, value string) {
		if all || want[name] {
			out[name] = value
		}
	}
	for name := range numericQueueAttrs {
		add(name, q.attr(name))
	}
	for name, v := range q.opaque {
		add(name, v)
	}
	visible, inflight, delayed := q.counts(s.now())
	add("ApproximateNumberOfMessages", strconv.Itoa(visible))
	add("ApproximateNumberOfMessagesNotVisible", strconv.Itoa(inflight))
	add("ApproximateNumberOfMessagesDelayed", strconv.Itoa(delayed))
	add("CreatedTimestamp", strconv.FormatInt(q.created.Unix(), 10))
	add("LastModifiedTimestamp", strconv.FormatInt(q.modified.Unix(), 10))
	add("QueueArn", s.queueARN(q.name))
	if len(out) == 0 {
		out = nil
	}
	return attributesOutput{Attributes: out}, nil
}

func (s *Server) opSetQueueAttributes(_ *http.Request, in *setQueueAttributesInput) (any, *apiError) {
	if len(in.Attributes) == 0 {
		return nil, errMissingParameter("Attributes")
	}
	attrs, aerr := parseQueueAttributes(in.Attributes)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	q.apply(attrs, s.now())
	// A shorter delay or wait may make messages receivable.
	q.wake()
	return emptyOutput{}, nil
}

// ---- sending ----

type sendParams struct {
	body     *string
	delay    *int32
	attrs    map[string]attributeValue
	sysAttrs map[string]attributeValue
	dedupID  *string
	groupID  *string
}

// sendLocked validates and enqueues one message.
func (s *Server) sendLocked(q *queue, p sendParams) (sendMessageOutput, *apiError) {
	if p.body == nil || *p.body == "" {
		return sendMessageOutput{}, errMissingParameter("MessageBody")
	}
	body := *p.body
	if !validBody(body) {
		return sendMessageOutput{}, errInvalidMessageContents()
	}
	delay := q.delay
	if p.delay != nil {
		if *p.delay < 0 || *p.delay > maxDelaySeconds {
			return sendMessageOutput{}, errInvalidParameterValue(
				"Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *p.delay)
		}
		delay = int(*p.delay)
	}
	if p.dedupID != nil {
		return sendMessageOutput{}, errInvalidParameterValue(
			"The request include parameter MessageDeduplicationId that is not valid for this queue type")
	}
	attrs, aerr := validateMessageAttributes(p.attrs)
	if aerr != nil {
		return sendMessageOutput{}, aerr
	}
	sysAttrs, aerr := validateSystemAttributes(p.sysAttrs)
	if aerr != nil {
		return sendMessageOutput{}, aerr
	}
	size := len(body)
	for name, a := range attrs {
		size += len(name) + a.size()
	}
	if size > q.maxSize {
		return sendMessageOutput{}, errInvalidParameterValue(
			"One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.maxSize)
	}
	now := s.now()
	q.expire(now)
	m := &message{
		id:        newUUID(),
		body:      body,
		md5:       bodyMD5(body),
		attrs:     attrs,
		sysAttrs:  sysAttrs,
		sentAt:    now,
		visibleAt: now.Add(time.Duration(delay) * time.Second),
	}
	if p.groupID != nil {
		m.groupID = *p.groupID
	}
	q.add(m, now)
	return sendMessageOutput{
		MessageId:                    m.id,
		MD5OfMessageBody:             m.md5,
		MD5OfMessageAttributes:       attributesMD5(attrs),
		MD5OfMessageSystemAttributes: attributesMD5(sysAttrs),
	}, nil
}

func (s *Server) opSendMessage(_ *http.Request, in *sendMessageInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	return s.sendLocked(q, sendParams{
		body:     in.MessageBody,
		delay:    in.DelaySeconds,
		attrs:    in.MessageAttributes,
		sysAttrs: in.MessageSystemAttributes,
		dedupID:  in.MessageDeduplicationId,
		groupID:  in.MessageGroupId,
	})
}

// checkBatchIDs applies the request-level checks shared by batch operations.
func checkBatchIDs(ids []*string) *apiError {
	if len(ids) == 0 {
		return errEmptyBatchRequest()
	}
	if len(ids) > maxBatchEntries {
		return errTooManyEntriesInBatchRequest(len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == nil || !validBatchEntryID(*id) {
			return errInvalidBatchEntryID()
		}
		if seen[*id] {
			return errBatchEntryIdsNotDistinct(*id)
		}
		seen[*id] = true
	}
	return nil
}

func validBatchEntryID(id string) bool {
	if id == "" || len(id) > maxBatchEntryIDLength {
		return false
	}
	for _, c := range []byte(id) {
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func failure(id string, e *apiError) batchResultError {
	return batchResultError{Id: id, SenderFault: e.sender, Code: e.code(), Message: e.msg}
}

func (s *Server) opSendMessageBatch(_ *http.Request, in *sendMessageBatchInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	ids := make([]*string, len(in.Entries))
	total := 0
	for i, e := range in.Entries {
		ids[i] = e.Id
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
		for name, a := range e.MessageAttributes {
			total += len(name)
			if a.DataType != nil {
				total += len(*a.DataType)
			}
			if a.StringValue != nil {
				total += len(*a.StringValue)
			}
			total += len(a.BinaryValue)
		}
	}
	if aerr := checkBatchIDs(ids); aerr != nil {
		return nil, aerr
	}
	if total > maxBatchPayload {
		return nil, errBatchRequestTooLong(maxBatchPayload)
	}
	out := sendMessageBatchOutput{Successful: []sendMessageBatchResult{}, Failed: []batchResultError{}}
	for _, e := range in.Entries {
		res, aerr := s.sendLocked(q, sendParams{
			body:     e.MessageBody,
			delay:    e.DelaySeconds,
			attrs:    e.MessageAttributes,
			sysAttrs: e.MessageSystemAttributes,
			dedupID:  e.MessageDeduplicationId,
			groupID:  e.MessageGroupId,
		})
		if aerr != nil {
			out.Failed = append(out.Failed, failure(*e.Id, aerr))
			continue
		}
		out.Successful = append(out.Successful, sendMessageBatchResult{Id: *e.Id, sendMessageOutput: res})
	}
	return out, nil
}

// ---- receiving ----

// systemAttrSelection says which message system attributes to return.
type systemAttrSelection struct {
	all   bool
	names map[string]bool
}

func newSystemAttrSelection(lists ...[]string) systemAttrSelection {
	sel := systemAttrSelection{names: map[string]bool{}}
	for _, l := range lists {
		for _, n := range l {
			if n == "All" {
				sel.all = true
			}
			sel.names[n] = true
		}
	}
	return sel
}

func (sel systemAttrSelection) wants(name string) bool { return sel.all || sel.names[name] }

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// receiveLocked makes up to maxN visible messages invisible for the
// visibility timeout and renders them with fresh receipt handles.
func (s *Server) receiveLocked(q *queue, maxN int, visibility *int32, sysSel systemAttrSelection, userSel []string, now time.Time) []messageOutput {
	q.expire(now)
	vt := q.visibility
	if visibility != nil {
		vt = int(*visibility)
	}
	var out []messageOutput
	for _, m := range q.msgs {
		if len(out) == maxN {
			break
		}
		if m.visibleAt.After(now) {
			continue
		}
		m.receiveCount++
		if m.receiveCount == 1 {
			m.firstRecvAt = now
		}
		m.receivedAt = now
		m.seq++
		m.visibleAt = now.Add(time.Duration(vt) * time.Second)

		mo := messageOutput{
			MessageId:     m.id,
			ReceiptHandle: s.receiptHandle(q.name, m.id, m.seq),
			MD5OfBody:     m.md5,
			Body:          m.body,
		}
		sys := map[string]string{}
		if sysSel.wants("SenderId") {
			sys["SenderId"] = s.accountID
		}
		if sysSel.wants("SentTimestamp") {
			sys["SentTimestamp"] = millis(m.sentAt)
		}
		if sysSel.wants("ApproximateReceiveCount") {
			sys["ApproximateReceiveCount"] = strconv.Itoa(m.receiveCount)
		}
		if sysSel.wants("ApproximateFirstReceiveTimestamp") {
			sys["ApproximateFirstReceiveTimestamp"] = millis(m.firstRecvAt)
		}
		if a, ok := m.sysAttrs["AWSTraceHeader"]; ok && sysSel.wants("AWSTraceHeader") {
			sys["AWSTraceHeader"] = a.str
		}
		if m.groupID != "" && sysSel.wants("MessageGroupId") {
			sys["MessageGroupId"] = m.groupID
		}
		if len(sys) > 0 {
			mo.Attributes = sys
		}
		if sel := selectAttributes(m.attrs, userSel); len(sel) > 0 {
			mo.MessageAttributes = make(map[string]attributeValue, len(sel))
			for name, a := range sel {
				mo.MessageAttributes[name] = a.wire()
			}
			mo.MD5OfMessageAttributes = attributesMD5(sel)
		}
		out = append(out, mo)
	}
	return out
}

func (s *Server) opReceiveMessage(r *http.Request, in *receiveMessageInput) (any, *apiError) {
	maxN := 1
	if in.MaxNumberOfMessages != nil {
		n := *in.MaxNumberOfMessages
		if n < 1 || n > maxBatchEntries {
			return nil, errInvalidParameterValue(
				"Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
		}
		maxN = int(n)
	}
	if v := in.VisibilityTimeout; v != nil && (*v < 0 || *v > maxVisibilityTimeout) {
		return nil, errInvalidParameterValue(
			"Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", *v)
	}
	if v := in.WaitTimeSeconds; v != nil && (*v < 0 || *v > maxWaitTimeSeconds) {
		return nil, errInvalidParameterValue(
			"Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *v)
	}
	sysSel := newSystemAttrSelection(in.AttributeNames, in.MessageSystemAttributeNames)

	s.mu.Lock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		s.mu.Unlock()
		return nil, aerr
	}
	wait := time.Duration(q.wait) * time.Second
	s.mu.Unlock()
	if in.WaitTimeSeconds != nil {
		wait = time.Duration(*in.WaitTimeSeconds) * time.Second
	}

	var (
		start    = s.now()
		timeout  <-chan time.Time
		tick     <-chan time.Time
		final    = wait == 0
		ctxDone  = r.Context().Done()
		srvClose = s.closed
	)
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		ticker := time.NewTicker(pollInterval)
		defer ticker.Stop()
		timeout, tick = timer.C, ticker.C
	}
	for {
		s.mu.Lock()
		if q.deleted {
			s.mu.Unlock()
			return receiveMessageOutput{}, nil
		}
		now := s.now()
		msgs := s.receiveLocked(q, maxN, in.VisibilityTimeout, sysSel, in.MessageAttributeNames, now)
		notify := q.notify
		s.mu.Unlock()

		if len(msgs) > 0 || final || !now.Before(start.Add(wait)) {
			return receiveMessageOutput{Messages: msgs}, nil
		}
		select {
		case <-ctxDone:
			return receiveMessageOutput{}, nil
		case <-srvClose:
			return receiveMessageOutput{}, nil
		case <-notify:
		case <-tick:
		case <-timeout:
			final = true
		}
	}
}

// ---- deleting and visibility ----

// deleteLocked deletes the message a receipt handle refers to if the handle
// is the message's latest one. See the package documentation.
func (s *Server) deleteLocked(q *queue, handle *string) *apiError {
	if handle == nil || *handle == "" {
		return errMissingParameter("ReceiptHandle")
	}
	qn, id, seq, ok := s.parseReceiptHandle(*handle)
	if !ok || qn != q.name {
		return errReceiptHandleIsInvalid(*handle)
	}
	m := q.byID[id]
	if m == nil || m.seq != seq {
		return nil // already gone, or a stale handle: succeed without deleting
	}
	q.remove(m)
	return nil
}

func (s *Server) changeVisibilityLocked(q *queue, handle *string, vt int32, now time.Time) *apiError {
	if handle == nil || *handle == "" {
		return errMissingParameter("ReceiptHandle")
	}
	if vt < 0 || vt > maxVisibilityTimeout {
		return errInvalidParameterValue(
			"Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", vt)
	}
	qn, id, seq, ok := s.parseReceiptHandle(*handle)
	if !ok || qn != q.name {
		return errReceiptHandleIsInvalid(*handle)
	}
	q.expire(now)
	m := q.byID[id]
	if m == nil || m.seq != seq {
		return errReceiptHandleIsInvalid(*handle)
	}
	if !m.visibleAt.After(now) {
		return errMessageNotInflight()
	}
	next := now.Add(time.Duration(vt) * time.Second)
	if next.Sub(m.receivedAt) > maxVisibilityTimeout*time.Second {
		return errInvalidParameterValue(
			"Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]", vt)
	}
	m.visibleAt = next
	if vt == 0 {
		q.wake()
	}
	return nil
}

func (s *Server) opDeleteMessage(_ *http.Request, in *deleteMessageInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.deleteLocked(q, in.ReceiptHandle); aerr != nil {
		return nil, aerr
	}
	return emptyOutput{}, nil
}

func (s *Server) opDeleteMessageBatch(_ *http.Request, in *deleteMessageBatchInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	ids := make([]*string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if aerr := checkBatchIDs(ids); aerr != nil {
		return nil, aerr
	}
	out := batchOutput{Successful: []batchResultID{}, Failed: []batchResultError{}}
	for _, e := range in.Entries {
		if aerr := s.deleteLocked(q, e.ReceiptHandle); aerr != nil {
			out.Failed = append(out.Failed, failure(*e.Id, aerr))
			continue
		}
		out.Successful = append(out.Successful, batchResultID{Id: *e.Id})
	}
	return out, nil
}

func (s *Server) opChangeMessageVisibility(_ *http.Request, in *changeVisibilityInput) (any, *apiError) {
	if in.VisibilityTimeout == nil {
		return nil, errMissingParameter("VisibilityTimeout")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.changeVisibilityLocked(q, in.ReceiptHandle, *in.VisibilityTimeout, s.now()); aerr != nil {
		return nil, aerr
	}
	return emptyOutput{}, nil
}

func (s *Server) opChangeMessageVisibilityBatch(_ *http.Request, in *changeVisibilityBatchInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, aerr := s.lookupLocked(in.QueueUrl)
	if aerr != nil {
		return nil, aerr
	}
	ids := make([]*string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if aerr := checkBatchIDs(ids); aerr != nil {
		return nil, aerr
	}
	now := s.now()
	out := batchOutput{Successful: []batchResultID{}, Failed: []batchResultError{}}
	for _, e := range in.Entries {
		var vt int32
		if e.VisibilityTimeout != nil {
			vt = *e.VisibilityTimeout
		}
		if aerr := s.changeVisibilityLocked(q, e.ReceiptHandle, vt, now); aerr != nil {
			out.Failed = append(out.Failed, failure(*e.Id, aerr))
			continue
		}
		out.Successful = append(out.Successful, batchResultID{Id: *e.Id})
	}
	return out, nil
}
