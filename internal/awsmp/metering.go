package awsmp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	mtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go"

	"github.com/concordmp/concord/internal/metering"
)

// Meter sends usage with BatchMeterUsage. It makes one attempt per call: the
// metering submitter paces calls under the quota and retries with its own
// backoff, so SDK retries would only spend the quota twice.
type Meter struct {
	Client *marketplacemetering.Client
}

// NewMeter builds the adapter over the official client.
func NewMeter(cfg aws.Config) *Meter {
	return &Meter{Client: marketplacemetering.NewFromConfig(cfg, func(o *marketplacemetering.Options) {
		o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1)
	})}
}

// BatchMeterUsage sends recs (one product; productCode only on the legacy
// path) and returns AWS's answer per record, in order. A request-level error
// other than throttling or a server error is a *metering.RejectedError.
func (m *Meter) BatchMeterUsage(ctx context.Context, productCode string, recs []metering.SendRecord) ([]metering.SendResult, error) {
	in := &marketplacemetering.BatchMeterUsageInput{UsageRecords: make([]mtypes.UsageRecord, len(recs))}
	if productCode != "" {
		in.ProductCode = aws.String(productCode)
	}
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		u := mtypes.UsageRecord{Dimension: aws.String(r.Dimension), Timestamp: aws.Time(r.Hour.UTC()), Quantity: aws.Int32(r.Quantity)}
		switch {
		case productCode == "":
			u.LicenseArn, u.CustomerAWSAccountId = aws.String(r.LicenseArn), aws.String(r.AccountID)
		case r.CustomerIdentifier != "":
			u.CustomerIdentifier = aws.String(r.CustomerIdentifier)
		default:
			u.CustomerAWSAccountId = aws.String(r.AccountID)
		}
		in.UsageRecords[i] = u
		index[recordKey(u)] = i
	}
	out, err := m.Client.BatchMeterUsage(ctx, in)
	if err != nil {
		return nil, classify(err)
	}
	res := make([]metering.SendResult, len(recs))
	seen := make([]bool, len(recs))
	for _, r := range out.Results {
		if r.UsageRecord == nil {
			continue
		}
		i, ok := index[recordKey(*r.UsageRecord)]
		if !ok || seen[i] {
			continue
		}
		seen[i] = true
		res[i] = metering.SendResult{Status: string(r.Status), MeteringRecordID: aws.ToString(r.MeteringRecordId)}
	}
	// AWS answers in the order of the request; should an echoed record not
	// match what was sent, fall back on that order when every record was answered.
	if matched := count(seen); matched < len(recs) && len(out.Results) == len(recs) && len(out.UnprocessedRecords) == 0 {
		for i, r := range out.Results {
			res[i], seen[i] = metering.SendResult{Status: string(r.Status), MeteringRecordID: aws.ToString(r.MeteringRecordId)}, true
		}
	}
	// Unprocessed records, and any record AWS did not mention, are retried.
	for i := range res {
		if !seen[i] {
			res[i].Unprocessed = true
		}
	}
	return res, nil
}

// recordKey identifies a record within one call: who, what and when.
func recordKey(u mtypes.UsageRecord) string {
	ts := int64(0)
	if u.Timestamp != nil {
		ts = u.Timestamp.Truncate(time.Second).Unix()
	}
	return aws.ToString(u.LicenseArn) + "|" + aws.ToString(u.CustomerAWSAccountId) + "|" + aws.ToString(u.CustomerIdentifier) + "|" +
		aws.ToString(u.Dimension) + "|" + strconv.FormatInt(ts, 10)
}

// rejections are the request-level errors caused by what the records say: the
// submitter splits the batch to find the records at fault. Anything else
// (throttling, server errors, credentials, a disabled API) is transient:
// retried until the operator fixes it or the records' hour expires.
var rejections = map[string]bool{
	"InvalidLicenseException": true, "InvalidUsageDimensionException": true, "InvalidCustomerIdentifierException": true,
	"InvalidProductCodeException": true, "InvalidTagException": true, "InvalidUsageAllocationsException": true,
	"TimestampOutOfBoundsException": true, "ValidationException": true,
}

// classify turns an SDK error into a transient error or a RejectedError.
func classify(err error) error {
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae) && rejections[ae.ErrorCode()]:
		return &metering.RejectedError{Code: ae.ErrorCode(), Message: ae.ErrorMessage()}
	case errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException":
		return fmt.Errorf("BatchMeterUsage: %w: %w", metering.ErrThrottled, err)
	}
	return fmt.Errorf("BatchMeterUsage: %w", err)
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
