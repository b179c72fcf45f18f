// Package metering emulates the AWS Marketplace Metering Service
// (AWSMPMeteringService: ResolveCustomer, BatchMeterUsage, MeterUsage,
// RegisterUsage) over the emulator's world, speaking awsJson1_1 so the
// official github.com/aws/aws-sdk-go-v2/service/marketplacemetering client
// works unchanged through BaseEndpoint. Its point is fidelity: every rule
// below is what AWS documents, or, where AWS is silent, a stated choice.
//
// # Protocol
//
// Requests are POST with X-Amz-Target: AWSMPMeteringService.<Operation> and
// a JSON body with the model's member names (the path is not checked, so the
// server can sit under a prefix the BaseEndpoint carries; Content-Type is not
// checked). Responses are application/x-amz-json-1.1 with an
// X-Amzn-Requestid. Timestamps are epoch seconds, possibly fractional, in
// both directions; like the SDK the emulator keeps milliseconds (truncating),
// and it echoes a UsageRecord's Timestamp exactly as it was sent.
//
// Errors are {"__type":"<Name>","message":"..."} with the bare shape name
// (the SDK also accepts a namespace prefix; the bare name is what the SDK's
// response snapshots show) and the same name in X-Amzn-Errortype. Modeled
// errors are HTTP 400, InternalServiceErrorException 500 and
// IdempotencyConflictException 409, so errors.As works with
// *types.InvalidTokenException, *types.ThrottlingException and the rest.
// Three protocol errors are not modeled by the service and surface in the SDK
// as *smithy.GenericAPIError with their code, all HTTP 400:
//
//   - SerializationException: the body is not one JSON object of the model's
//     member types (a quoted number, a fraction or a value beyond int32 where
//     an integer belongs, trailing data).
//   - ValidationException: a model constraint is violated: more than 25
//     UsageRecords, a request of 1 MB or more, a missing required member
//     (UsageRecords, Timestamp, Dimension; ProductCode, Timestamp,
//     UsageDimension for MeterUsage; RegistrationToken), an empty
//     RegistrationToken, a ProductCode over 255 characters (or empty, for
//     MeterUsage), a negative Quantity, a Dimension not 1-255
//     characters, a CustomerAWSAccountId that is not digits. This is what
//     AWS's JSON front end answers for constraint violations ("1 validation
//     error detected: Value at 'usageRecords' failed to satisfy constraint:
//     Member must have length less than or equal to 25"). AWS does not
//     document the error for an oversized request; the model's
//     UsageRecordList max of 25 is a length constraint, and the emulator
//     treats the documented "must be less than 1 MB" the same way rather than
//     inventing a 413 no client handles.
//   - UnknownOperationException: an X-Amz-Target that is not an operation of
//     the service (405 with Allow: POST for other methods).
//
// The size limit counts body bytes and reads "1 MB" as 1,000,000 bytes, the
// stricter of the two readings, so a client that passes here passes AWS.
// What is left of an oversized body is read and discarded (up to 16 MiB) so
// the client gets the answer instead of a reset connection.
//
// No input makes the server panic (a recovered panic would be a 500, which
// FuzzServeHTTP treats as a failure); a 5xx only ever comes from fault
// injection.
//
// # Order of evaluation
//
// A request is read and decoded first: an oversized body, or one that does
// not decode into the request's shape, is answered at once and leaves no
// trace. Then, inside one world.Do, fault
// injection is drawn (s.Inject(op)) and a request is taken from the seller's
// quota (s.Allow(Config.SellerAccountID, op), ThrottleRPS per second with an
// equal burst, per operation); the injected latency is slept outside the
// lock, after which a throttled call is ThrottlingException (400) and an
// injected failure InternalServiceErrorException (500). An injected failure
// happens before anything is metered. Only then is the request validated
// (constraint checks, including integers beyond int32, come here, so such
// records are listed as Rejected) and executed, in a second Do.
//
// # ResolveCustomer
//
// The token is looked up in world.State.Tokens: unknown is
// InvalidTokenException, past ExpiresAt (on the emulator clock)
// ExpiredTokenException. It answers CustomerAWSAccountId, ProductCode and
// LicenseArn from the token's license, and CustomerIdentifier only when the
// license has one (legacy, non Concurrent Agreements products); for
// Concurrent Agreements products the member is absent (AWS documents it as
// "not populated"). A token resolves to the same answer every time until it
// expires, even if the license has ended since (the token attests an
// identity, not an entitlement).
//
// # BatchMeterUsage
//
// Request-level rules reject the whole batch; every record of a rejected
// request (including throttled and failed ones) is still appended to
// world.State.Metering with Status "Rejected" and the error as Reason. The
// checks run in this order, each over all records, so the first problem in
// the most basic category wins:
//
//  1. Shape (ValidationException/SerializationException, above). An empty
//     UsageRecords list is valid and answers empty Results.
//  2. Product and customer. A ProductCode of "" counts as absent.
//     - With ProductCode (legacy integration): no record may carry a
//     LicenseArn: that is InvalidProductCodeException whose message names the
//     double-billing hazard AWS documents (metering a customer by ProductCode
//     and by LicenseArn in the same hour bills twice). An unknown ProductCode
//     is InvalidProductCodeException, and so is the ProductCode of a
//     Concurrent Agreements product (it must be metered by LicenseArn). Each
//     record names its customer by exactly one of CustomerIdentifier and
//     CustomerAWSAccountId (both or neither: InvalidCustomerIdentifierException,
//     as the SDK documents since v1.27.0). A CustomerIdentifier that is not a
//     customer of this product is InvalidCustomerIdentifierException ("You
//     have metered usage for a CustomerIdentifier that does not exist"); a
//     CustomerAWSAccountId is taken as given (an account that never subscribed
//     gets CustomerNotSubscribed per record).
//     - Without ProductCode (license-based integration, required for
//     Concurrent Agreements products and allowed for legacy ones, as AWS
//     allows during migration): every record needs a LicenseArn (else
//     InvalidProductCodeException: nothing names the product) and a
//     CustomerAWSAccountId; a CustomerIdentifier is
//     InvalidCustomerIdentifierException. An unknown LicenseArn, or one whose
//     account is not the record's CustomerAWSAccountId, is
//     InvalidLicenseException, and so are licenses of more than one product in
//     one call (one product per call).
//  3. Dimension: it must be a dimension of the product (case-sensitive), else
//     InvalidUsageDimensionException. A contract (entitlement) dimension is
//     refused the same way: AWS meters only the usage ("externally metered")
//     dimensions; an entitled dimension is prepaid and metering it is a
//     seller bug worth surfacing.
//  4. UsageAllocations, when present: 1-2500 allocations (else
//     InvalidUsageAllocationsException) whose AllocatedUsageQuantity (0 to
//     2147483647; required) sum to the record's Quantity (Quantity defaults to
//     0), else InvalidUsageAllocationsException. An allocation without Tags is
//     the untagged bucket (the model makes Tags optional: "for the bucket of
//     items with no tags, this parameter can be left out"); Tags present must
//     be 1-5 tags with distinct keys, each key 1-100 and value 1-256
//     characters matching the model's ^[a-zA-Z0-9+ -=._:\/@]+$, else
//     InvalidTagException. Note that " -=" in that pattern is a range: every
//     ASCII character from space to '=' (such as '!', '#', '(', ',', ';') is
//     allowed; '?' is not. Two allocations of one record with the same tag set
//     are InvalidUsageAllocationsException (MeterUsage documents "each
//     UsageAllocation must have a unique set of tags").
//  5. Timestamp (see InBounds): less than Config.MeteringWindow old (AWS:
//     "not accepted 24 hours or more after an event"; 24 h when unset), at
//     most FutureSkew (5 minutes) in the future (AWS does not document future
//     timestamps; a small skew tolerates unsynchronized clocks), and with
//     Config.MonthEndGrace a billing month closes at 06:00 UTC on the 1st of
//     the next month: previous-month records are accepted until then and
//     refused after "regardless of the normal 24-hour submission window".
//     The grace never extends the window. Without MonthEndGrace only the
//     rolling window applies (the pre-2026 behaviour, when the 6 h window
//     made the cutoff implicit). Any record out of range is
//     TimestampOutOfBoundsException for the whole batch.
//
// Then each record, in order:
//
//   - With fault injection it may be drawn unprocessed
//     (s.Unprocessed("BatchMeterUsage")): it is returned in UnprocessedRecords
//     as sent, listed with Status "Unprocessed", neither billed nor entered in
//     the dedupe index, so a retry meters it normally.
//   - CustomerNotSubscribed when the customer has no license active at the
//     record's Timestamp: before the hour the license started, or once it is
//     deprovisioned. The final window between Purchase Agreement Ended and
//     License Deprovisioned (Config.FinalWindow) is still active: usage in it
//     is accepted. After deprovisioning usage is refused whatever its
//     timestamp, including usage timed inside the final window. For legacy
//     records any license of the product held by the customer's account
//     counts. (AWS leaves open whether this case is a per-record
//     CustomerNotSubscribed or InvalidLicenseException; the emulator picks the
//     per-record status, which AWS documents for "no active agreement".)
//   - Dedupe: the key is (customer account, LicenseArn or ProductCode,
//     dimension, timestamp truncated to the hour); for legacy records the
//     customer is the account behind the CustomerIdentifier, so the identifier
//     and account forms of one customer share a key. The first record of a
//     key wins and gets a new MeteringRecordId (a UUID). A later record with
//     the same quantity (allocations are not compared) is an identical
//     resubmission: Success with the original MeteringRecordId, not billed
//     again. A different quantity is DuplicateRecord, without a
//     MeteringRecordId; the original stays billed. The same applies within
//     one batch. Because license-based and ProductCode-based records have
//     different keys, metering one customer both ways bills twice, as AWS
//     warns.
//
// CustomerNotSubscribed and DuplicateRecord results carry no
// MeteringRecordId. Results keep the order of the records; UnprocessedRecords
// is always present (empty when nothing was left).
//
// # MeterUsage
//
// AMI/container-style metering for completeness. The emulator cannot tell
// which buyer's instance calls (there is no SigV4 identity), so records are
// keyed by Config.SellerAccountID and the product code: one record per
// (product, dimension, hour), the documented once-per-hour rule for
// non-AgentCore deployments. The product code must exist
// (InvalidProductCodeException), the dimension must be a usage dimension of
// it (InvalidUsageDimensionException), allocations and the timestamp follow
// the BatchMeterUsage rules (the same window; the SDK's doc string still says
// six hours), and some license of the product must be active at the
// timestamp, else CustomerNotEntitledException. An identical call in the same
// hour answers the original MeteringRecordId; another quantity is
// DuplicateRequestException. ClientToken (which the SDK fills with a UUID when
// unset): the same token with the same parameters (product, dimension,
// quantity, timestamp to the millisecond, allocations) replays the first
// successful answer; with other parameters it is IdempotencyConflictException
// (409). Tokens are kept by the Server, not in the world, so they do not
// survive Snapshot/Restore. DryRun validates everything (including the
// token, entitlement and duplicate checks) and answers 200 with no
// MeteringRecordId, metering and listing nothing. AWS's doc text ("returns
// DryRunOperation") names no modeled error, so there is nothing more faithful
// to return. MeterUsage outcomes are listed like BatchMeterUsage records
// (Operation "MeterUsage"; DuplicateRequestException as DuplicateRecord,
// other errors as Rejected).
//
// # RegisterUsage
//
// Answers PlatformNotSupportedException, as AWS does for a caller that is not
// an Amazon ECS, EKS or Fargate task: the emulator is not a container
// platform.
//
// # Inspection
//
// Records returns copies of every record received with its outcome; Accepted
// sums what was billed, per "<LicenseArn, else CustomerIdentifier, else
// CustomerAWSAccountId, else ProductCode>|<dimension>|<hour RFC 3339>",
// counting each dedupe key once (identical resubmissions are listed by
// Records but not added again).
package metering
