package metering_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/concordmp/concord/internal/emulator/metering"
	"github.com/concordmp/concord/internal/emulator/world"
)

const (
	buyerA = "444455556666"
	buyerB = "777788889999"
)

func TestResolveCustomer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("concurrent agreements product returns account, product code and license but no customer identifier", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(true)
		_, l := e.subscribe(p, buyerA)
		out, err := e.c.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(e.token(l.Arn))})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.CustomerAWSAccountId) != buyerA || aws.ToString(out.ProductCode) != p.ProductCode || aws.ToString(out.LicenseArn) != l.Arn {
			t.Fatalf("got account %q product %q license %q", aws.ToString(out.CustomerAWSAccountId), aws.ToString(out.ProductCode), aws.ToString(out.LicenseArn))
		}
		if out.CustomerIdentifier != nil {
			t.Fatalf("CustomerIdentifier = %q, want absent for a Concurrent Agreements product", *out.CustomerIdentifier)
		}
	})

	t.Run("legacy product also returns the customer identifier", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(false)
		_, l := e.subscribe(p, buyerA)
		if l.CustomerIdentifier == "" {
			t.Fatal("legacy license has no customer identifier")
		}
		out, err := e.c.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(e.token(l.Arn))})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.CustomerIdentifier) != l.CustomerIdentifier || aws.ToString(out.CustomerAWSAccountId) != buyerA || aws.ToString(out.LicenseArn) != l.Arn {
			t.Fatalf("got %+v", out)
		}
	})

	t.Run("repeated resolution before expiry returns the same answer", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(false), buyerA)
		tok := e.token(l.Arn)
		first, err := e.c.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(tok)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.w.Advance(3 * time.Hour); err != nil {
			t.Fatal(err)
		}
		again, err := e.c.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(tok)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(first.CustomerAWSAccountId) != aws.ToString(again.CustomerAWSAccountId) || aws.ToString(first.LicenseArn) != aws.ToString(again.LicenseArn) ||
			aws.ToString(first.ProductCode) != aws.ToString(again.ProductCode) || aws.ToString(first.CustomerIdentifier) != aws.ToString(again.CustomerIdentifier) {
			t.Fatalf("first %+v, again %+v", first, again)
		}
	})

	t.Run("unknown token is InvalidTokenException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, err := e.c.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String("bm90IGEgdG9rZW4=")})
		wantErr[*types.InvalidTokenException](t, err)
		wantCode(t, err, "InvalidTokenException", http.StatusBadRequest)
	})

	t.Run("token past its lifetime is ExpiredTokenException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		tok := e.token(l.Arn)
		if err := e.w.Advance(world.DefaultConfig().TokenTTL + time.Second); err != nil {
			t.Fatal(err)
		}
		_, err := e.c.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(tok)})
		wantErr[*types.ExpiredTokenException](t, err)
	})

	t.Run("empty token is a ValidationException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, err := e.c.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String("")})
		wantCode(t, err, "ValidationException", http.StatusBadRequest)
	})
}

func TestBatchMeterUsageByLicense(t *testing.T) {
	t.Parallel()

	t.Run("records are metered, echoed and listed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(true)
		_, l := e.subscribe(p, buyerA)
		now := e.w.Now()
		out := e.mustBatch(rec(l, dimAPI, 42, now), rec(l, dimStorage, 7, now))
		if len(out.Results) != 2 || len(out.UnprocessedRecords) != 0 {
			t.Fatalf("results %d unprocessed %d", len(out.Results), len(out.UnprocessedRecords))
		}
		for i, r := range out.Results {
			if r.Status != types.UsageRecordResultStatusSuccess || aws.ToString(r.MeteringRecordId) == "" {
				t.Fatalf("result %d: status %q id %q", i, r.Status, aws.ToString(r.MeteringRecordId))
			}
			u := r.UsageRecord
			if u == nil || aws.ToString(u.LicenseArn) != l.Arn || aws.ToString(u.CustomerAWSAccountId) != buyerA || u.CustomerIdentifier != nil {
				t.Fatalf("result %d echoes %+v", i, u)
			}
			if !u.Timestamp.Equal(now.Truncate(time.Millisecond)) {
				t.Fatalf("echoed timestamp %s, sent %s", u.Timestamp, now)
			}
		}
		if aws.ToInt32(out.Results[0].UsageRecord.Quantity) != 42 || aws.ToString(out.Results[1].UsageRecord.Dimension) != dimStorage {
			t.Fatalf("echo out of order: %+v", out.Results)
		}
		got := metering.Accepted(e.w)
		want := map[string]int64{hourKey(l.Arn, dimAPI, now): 42, hourKey(l.Arn, dimStorage, now): 7}
		if len(got) != len(want) || got[hourKey(l.Arn, dimAPI, now)] != 42 || got[hourKey(l.Arn, dimStorage, now)] != 7 {
			t.Fatalf("Accepted = %v, want %v", got, want)
		}
		recs := metering.Records(e.w)
		if len(recs) != 2 || recs[0].Status != "Success" || recs[0].ProductCode != p.ProductCode || recs[0].Operation != "BatchMeterUsage" ||
			recs[0].MeteringRecordID != aws.ToString(out.Results[0].MeteringRecordId) {
			t.Fatalf("Records = %+v", recs)
		}
	})

	t.Run("fractional epoch seconds keep their milliseconds", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		ts := e.w.Now().Truncate(time.Second).Add(-1*time.Second + 123*time.Millisecond)
		out := e.mustBatch(rec(l, dimAPI, 1, ts))
		if got := *out.Results[0].UsageRecord.Timestamp; !got.Equal(ts) {
			t.Fatalf("echoed %s, sent %s", got.Format(time.RFC3339Nano), ts.Format(time.RFC3339Nano))
		}
		if r := metering.Records(e.w)[0]; !r.Timestamp.Equal(ts) {
			t.Fatalf("recorded %s, sent %s", r.Timestamp, ts)
		}
	})

	t.Run("ProductCode with LicenseArn is refused as a double-billing hazard", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(true)
		_, l := e.subscribe(p, buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{rec(l, dimAPI, 1, e.w.Now())}})
		ie := wantErr[*types.InvalidProductCodeException](t, err)
		if !strings.Contains(ie.ErrorMessage(), "omit ProductCode") || !strings.Contains(ie.ErrorMessage(), "twice") {
			t.Fatalf("message %q does not explain the hazard", ie.ErrorMessage())
		}
		recs := metering.Records(e.w)
		if len(recs) != 1 || recs[0].Status != "Rejected" || !strings.HasPrefix(recs[0].Reason, "InvalidProductCodeException") {
			t.Fatalf("Records = %+v", recs)
		}
		if len(metering.Accepted(e.w)) != 0 {
			t.Fatal("a rejected record was billed")
		}
	})

	t.Run("ProductCode of a concurrent agreements product is refused", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(true)
		e.subscribe(p, buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{
			{CustomerAWSAccountId: aws.String(buyerA), Dimension: aws.String(dimAPI), Quantity: aws.Int32(1), Timestamp: aws.Time(e.w.Now())}}})
		wantErr[*types.InvalidProductCodeException](t, err)
	})

	t.Run("record without LicenseArn and request without ProductCode is InvalidProductCodeException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.subscribe(e.product(true), buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{
			{CustomerAWSAccountId: aws.String(buyerA), Dimension: aws.String(dimAPI), Quantity: aws.Int32(1), Timestamp: aws.Time(e.w.Now())}}})
		wantErr[*types.InvalidProductCodeException](t, err)
	})

	t.Run("unknown LicenseArn is InvalidLicenseException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		r := rec(l, dimAPI, 1, e.w.Now())
		r.LicenseArn = aws.String(l.Arn + "0")
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{r}})
		wantErr[*types.InvalidLicenseException](t, err)
		wantCode(t, err, "InvalidLicenseException", http.StatusBadRequest)
	})

	t.Run("LicenseArn of another account is InvalidLicenseException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(true)
		_, l := e.subscribe(p, buyerA)
		e.subscribe(p, buyerB)
		r := rec(l, dimAPI, 1, e.w.Now())
		r.CustomerAWSAccountId = aws.String(buyerB)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{r}})
		wantErr[*types.InvalidLicenseException](t, err)
	})

	t.Run("licenses of two products in one call is InvalidLicenseException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l1 := e.subscribe(e.product(true), buyerA)
		_, l2 := e.subscribe(e.product(true), buyerA)
		now := e.w.Now()
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l1, dimAPI, 1, now), rec(l2, dimAPI, 1, now)}})
		ie := wantErr[*types.InvalidLicenseException](t, err)
		if !strings.Contains(ie.ErrorMessage(), "one product") {
			t.Fatalf("message %q", ie.ErrorMessage())
		}
		if recs := metering.Records(e.w); len(recs) != 2 || recs[0].Status != "Rejected" || recs[1].Status != "Rejected" {
			t.Fatalf("Records = %+v", recs)
		}
	})

	t.Run("two licenses of one buyer and product in one call are metered separately", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(true)
		_, l1 := e.subscribe(p, buyerA)
		_, l2 := e.subscribe(p, buyerA)
		now := e.w.Now()
		out := e.mustBatch(rec(l1, dimAPI, 3, now), rec(l2, dimAPI, 5, now))
		if s := statuses(out); s[0] != "Success" || s[1] != "Success" {
			t.Fatalf("statuses %v", s)
		}
		acc := metering.Accepted(e.w)
		if acc[hourKey(l1.Arn, dimAPI, now)] != 3 || acc[hourKey(l2.Arn, dimAPI, now)] != 5 {
			t.Fatalf("Accepted = %v", acc)
		}
	})

	t.Run("LicenseArn without CustomerAWSAccountId is InvalidCustomerIdentifierException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		r := rec(l, dimAPI, 1, e.w.Now())
		r.CustomerAWSAccountId = nil
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{r}})
		wantErr[*types.InvalidCustomerIdentifierException](t, err)
	})

	t.Run("CustomerIdentifier with LicenseArn is InvalidCustomerIdentifierException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		r := rec(l, dimAPI, 1, e.w.Now())
		r.CustomerIdentifier = aws.String("abc123")
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{r}})
		wantErr[*types.InvalidCustomerIdentifierException](t, err)
	})

	t.Run("unknown dimension is InvalidUsageDimensionException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l, "API_CALLS", 1, e.w.Now())}})
		wantErr[*types.InvalidUsageDimensionException](t, err)
	})

	t.Run("contract dimension is InvalidUsageDimensionException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l, dimSeats, 1, e.w.Now())}})
		ie := wantErr[*types.InvalidUsageDimensionException](t, err)
		if !strings.Contains(ie.ErrorMessage(), "contract") {
			t.Fatalf("message %q", ie.ErrorMessage())
		}
	})

	t.Run("more than 25 records is a ValidationException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		now := e.w.Now()
		var recs []types.UsageRecord
		for i := range 26 {
			recs = append(recs, rec(l, dimAPI, int32(i), now.Add(-time.Duration(i)*time.Minute)))
		}
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: recs})
		wantCode(t, err, "ValidationException", http.StatusBadRequest)
		if got := metering.Records(e.w); len(got) != 26 || got[25].Status != "Rejected" {
			t.Fatalf("rejected records not listed: %d", len(got))
		}
		if _, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: recs[:25]}); err != nil {
			t.Fatalf("25 records: %v", err)
		}
	})

	t.Run("request of 1 MB or more is a ValidationException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		now := e.w.Now()
		tags := []types.Tag{}
		for k := range 5 {
			tags = append(tags, types.Tag{Key: aws.String(strings.Repeat(string(rune('a'+k)), 100)), Value: aws.String(strings.Repeat("v", 256))})
		}
		var recs []types.UsageRecord
		for i := range 25 {
			r := rec(l, dimAPI, 30, now)
			for j := range 30 {
				ts := append([]types.Tag(nil), tags...)
				ts[0].Value = aws.String(strings.Repeat("v", 200) + string(rune('a'+j%26)) + string(rune('a'+j/26)))
				r.UsageAllocations = append(r.UsageAllocations, types.UsageAllocation{AllocatedUsageQuantity: aws.Int32(1), Tags: ts})
			}
			recs = append(recs, r)
			_ = i
		}
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: recs})
		wantCode(t, err, "ValidationException", http.StatusBadRequest)
		if len(metering.Records(e.w)) != 0 {
			t.Fatal("an oversized request left records")
		}
	})

	t.Run("negative quantity is a ValidationException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l, dimAPI, -1, e.w.Now())}})
		wantCode(t, err, "ValidationException", http.StatusBadRequest)
	})

	t.Run("largest quantity and an absent quantity (zero) are accepted", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		now := e.w.Now()
		zero := rec(l, dimStorage, 0, now)
		zero.Quantity = nil
		out := e.mustBatch(rec(l, dimAPI, 2147483647, now), zero)
		if s := statuses(out); s[0] != "Success" || s[1] != "Success" {
			t.Fatalf("statuses %v", s)
		}
		if acc := metering.Accepted(e.w); acc[hourKey(l.Arn, dimAPI, now)] != 2147483647 || acc[hourKey(l.Arn, dimStorage, now)] != 0 {
			t.Fatalf("Accepted = %v", acc)
		}
	})

	t.Run("usage before the license started is CustomerNotSubscribed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		out := e.mustBatch(rec(l, dimAPI, 1, l.StartTime.Truncate(time.Hour).Add(-time.Minute)), rec(l, dimAPI, 1, e.w.Now()))
		if s := statuses(out); s[0] != "CustomerNotSubscribed" || s[1] != "Success" {
			t.Fatalf("statuses %v", s)
		}
		if out.Results[0].MeteringRecordId != nil {
			t.Fatal("a refused record got a metering record id")
		}
	})

	t.Run("empty batch succeeds with no results", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		out := e.mustBatch()
		if len(out.Results) != 0 || len(out.UnprocessedRecords) != 0 {
			t.Fatalf("%+v", out)
		}
	})
}

func TestBatchMeterUsageLegacy(t *testing.T) {
	t.Parallel()

	t.Run("ProductCode with CustomerIdentifier is metered", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(false)
		_, l := e.subscribe(p, buyerA)
		now := e.w.Now()
		out, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{legacyRec(l.CustomerIdentifier, dimAPI, 9, now)}})
		if err != nil {
			t.Fatal(err)
		}
		if s := statuses(out); s[0] != "Success" {
			t.Fatalf("statuses %v", s)
		}
		if aws.ToString(out.Results[0].UsageRecord.CustomerIdentifier) != l.CustomerIdentifier {
			t.Fatalf("echo %+v", out.Results[0].UsageRecord)
		}
		if acc := metering.Accepted(e.w); acc[hourKey(l.CustomerIdentifier, dimAPI, now)] != 9 {
			t.Fatalf("Accepted = %v", acc)
		}
	})

	t.Run("ProductCode with CustomerAWSAccountId meters the same customer as the identifier", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(false)
		_, l := e.subscribe(p, buyerA)
		now := e.w.Now()
		byAccount := types.UsageRecord{CustomerAWSAccountId: aws.String(buyerA), Dimension: aws.String(dimAPI), Quantity: aws.Int32(4), Timestamp: aws.Time(now)}
		out, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{
			legacyRec(l.CustomerIdentifier, dimAPI, 4, now), byAccount}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Results[0].Status != "Success" || out.Results[1].Status != "Success" ||
			aws.ToString(out.Results[0].MeteringRecordId) != aws.ToString(out.Results[1].MeteringRecordId) {
			t.Fatalf("the account form did not dedupe against the identifier form: %+v", out.Results)
		}
	})

	t.Run("both CustomerIdentifier and CustomerAWSAccountId is InvalidCustomerIdentifierException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(false)
		_, l := e.subscribe(p, buyerA)
		r := legacyRec(l.CustomerIdentifier, dimAPI, 1, e.w.Now())
		r.CustomerAWSAccountId = aws.String(buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{r}})
		wantErr[*types.InvalidCustomerIdentifierException](t, err)
	})

	t.Run("neither CustomerIdentifier nor CustomerAWSAccountId is InvalidCustomerIdentifierException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(false)
		e.subscribe(p, buyerA)
		r := legacyRec("", dimAPI, 1, e.w.Now())
		r.CustomerIdentifier = nil
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{r}})
		wantErr[*types.InvalidCustomerIdentifierException](t, err)
	})

	t.Run("unknown CustomerIdentifier is InvalidCustomerIdentifierException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(false)
		e.subscribe(p, buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{legacyRec("nosuchcustomer", dimAPI, 1, e.w.Now())}})
		wantErr[*types.InvalidCustomerIdentifierException](t, err)
	})

	t.Run("customer identifier of another product is InvalidCustomerIdentifierException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p1, p2 := e.product(false), e.product(false)
		_, l1 := e.subscribe(p1, buyerA)
		e.subscribe(p2, buyerB)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p2.ProductCode), UsageRecords: []types.UsageRecord{legacyRec(l1.CustomerIdentifier, dimAPI, 1, e.w.Now())}})
		wantErr[*types.InvalidCustomerIdentifierException](t, err)
	})

	t.Run("unknown ProductCode is InvalidProductCodeException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(false), buyerA)
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String("nosuchproduct"), UsageRecords: []types.UsageRecord{legacyRec(l.CustomerIdentifier, dimAPI, 1, e.w.Now())}})
		wantErr[*types.InvalidProductCodeException](t, err)
	})

	t.Run("account without a subscription is CustomerNotSubscribed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(false)
		e.subscribe(p, buyerA)
		out, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{
			{CustomerAWSAccountId: aws.String(buyerB), Dimension: aws.String(dimAPI), Quantity: aws.Int32(1), Timestamp: aws.Time(e.w.Now())}}})
		if err != nil {
			t.Fatal(err)
		}
		if s := statuses(out); s[0] != "CustomerNotSubscribed" {
			t.Fatalf("statuses %v", s)
		}
	})

	t.Run("metering one customer by ProductCode and by LicenseArn bills twice, as AWS warns", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(false)
		_, l := e.subscribe(p, buyerA)
		now := e.w.Now()
		if _, err := e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{legacyRec(l.CustomerIdentifier, dimAPI, 5, now)}}); err != nil {
			t.Fatal(err)
		}
		out := e.mustBatch(rec(l, dimAPI, 5, now))
		if s := statuses(out); s[0] != "Success" {
			t.Fatalf("statuses %v", s)
		}
		acc := metering.Accepted(e.w)
		if acc[hourKey(l.CustomerIdentifier, dimAPI, now)] != 5 || acc[hourKey(l.Arn, dimAPI, now)] != 5 {
			t.Fatalf("Accepted = %v, want the usage billed under both keys", acc)
		}
	})
}

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

func alloc(q int32, tags ...types.Tag) types.UsageAllocation {
	return types.UsageAllocation{AllocatedUsageQuantity: aws.Int32(q), Tags: tags}
}

func TestUsageAllocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.product(true)
	_, l := e.subscribe(p, buyerA)

	meter := func(qty int32, allocs ...types.UsageAllocation) error {
		r := rec(l, dimAPI, qty, e.w.Now())
		r.UsageAllocations = allocs
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{r}})
		return err
	}
	cases := []struct {
		name   string
		qty    int32
		allocs []types.UsageAllocation
		check  func(t *testing.T, err error)
	}{
		{"allocations summing to the quantity are accepted, with an untagged bucket", 10,
			[]types.UsageAllocation{alloc(6, tag("team", "blue"), tag("env", "prod")), alloc(4)}, func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			}},
		{"characters of the pattern's space-to-equals range are accepted", 1,
			[]types.UsageAllocation{alloc(1, tag("a b!#$%&'()*,;<=", "x/y@z:1.2_3-4+5"))}, func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			}},
		{"allocations not summing to the quantity is InvalidUsageAllocationsException", 10,
			[]types.UsageAllocation{alloc(6, tag("team", "blue")), alloc(3, tag("team", "red"))}, func(t *testing.T, err error) {
				wantErr[*types.InvalidUsageAllocationsException](t, err)
			}},
		{"an empty allocation list is InvalidUsageAllocationsException", 0,
			[]types.UsageAllocation{}, func(t *testing.T, err error) { wantErr[*types.InvalidUsageAllocationsException](t, err) }},
		{"two allocations with the same tag set is InvalidUsageAllocationsException", 2,
			[]types.UsageAllocation{alloc(1, tag("a", "1"), tag("b", "2")), alloc(1, tag("b", "2"), tag("a", "1"))}, func(t *testing.T, err error) {
				wantErr[*types.InvalidUsageAllocationsException](t, err)
			}},
		{"more than five tags is InvalidTagException", 1,
			[]types.UsageAllocation{alloc(1, tag("a", "1"), tag("b", "1"), tag("c", "1"), tag("d", "1"), tag("e", "1"), tag("f", "1"))}, func(t *testing.T, err error) {
				wantErr[*types.InvalidTagException](t, err)
			}},
		{"an empty tag list is InvalidTagException", 1,
			[]types.UsageAllocation{{AllocatedUsageQuantity: aws.Int32(1), Tags: []types.Tag{}}}, func(t *testing.T, err error) {
				wantErr[*types.InvalidTagException](t, err)
			}},
		{"a tag key over 100 characters is InvalidTagException", 1,
			[]types.UsageAllocation{alloc(1, tag(strings.Repeat("k", 101), "v"))}, func(t *testing.T, err error) { wantErr[*types.InvalidTagException](t, err) }},
		{"a tag value over 256 characters is InvalidTagException", 1,
			[]types.UsageAllocation{alloc(1, tag("k", strings.Repeat("v", 257)))}, func(t *testing.T, err error) { wantErr[*types.InvalidTagException](t, err) }},
		{"an empty tag value is InvalidTagException", 1,
			[]types.UsageAllocation{alloc(1, tag("k", ""))}, func(t *testing.T, err error) { wantErr[*types.InvalidTagException](t, err) }},
		{"a character outside the pattern is InvalidTagException", 1,
			[]types.UsageAllocation{alloc(1, tag("team?", "blue"))}, func(t *testing.T, err error) { wantErr[*types.InvalidTagException](t, err) }},
		{"a repeated tag key is InvalidTagException", 1,
			[]types.UsageAllocation{alloc(1, tag("team", "blue"), tag("team", "red"))}, func(t *testing.T, err error) { wantErr[*types.InvalidTagException](t, err) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, meter(c.qty, c.allocs...))
		})
	}
	t.Run("accepted allocations are kept for inspection", func(t *testing.T) {
		found := false
		for _, r := range metering.Records(e.w) {
			if r.Status == "Success" && strings.Contains(string(r.Allocations), `"team"`) {
				found = true
			}
		}
		if !found {
			t.Fatal("no Success record carries its allocations")
		}
	})
}

func TestTimestampBounds(t *testing.T) {
	t.Parallel()

	// at moves a fresh world to when, with a subscribed license.
	at := func(t *testing.T, when time.Time, configure ...func(*world.Config)) (*env, world.License) {
		e := newEnv(t, configure...)
		_, l := e.subscribe(e.product(true), buyerA)
		e.advanceTo(when)
		return e, l
	}
	meter := func(e *env, l world.License, ts time.Time) error {
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l, dimAPI, 1, ts)}})
		return err
	}

	t.Run("usage just under 24 hours old is accepted and 24 hours old is refused", func(t *testing.T) {
		t.Parallel()
		e, l := at(t, midMonth(time.Now()))
		now := e.w.Now()
		if err := meter(e, l, now.Add(-24*time.Hour+time.Minute)); err != nil {
			t.Fatal(err)
		}
		err := meter(e, l, e.w.Now().Add(-24*time.Hour))
		te := wantErr[*types.TimestampOutOfBoundsException](t, err)
		if !strings.Contains(te.ErrorMessage(), "entire batch") {
			t.Fatalf("message %q", te.ErrorMessage())
		}
	})

	t.Run("usage slightly in the future is accepted, further ahead refused", func(t *testing.T) {
		t.Parallel()
		e, l := at(t, midMonth(time.Now()))
		if err := meter(e, l, e.w.Now().Add(metering.FutureSkew-time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantErr[*types.TimestampOutOfBoundsException](t, meter(e, l, e.w.Now().Add(metering.FutureSkew+time.Minute)))
	})

	t.Run("the previous month is accepted until 06:00 UTC on the 1st", func(t *testing.T) {
		t.Parallel()
		first := firstOfMonth(time.Now(), 0)
		e, l := at(t, first.Add(5*time.Hour+50*time.Minute))
		if err := meter(e, l, first.Add(-10*time.Hour)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the previous month is refused after 06:00 UTC on the 1st even within 24 hours", func(t *testing.T) {
		t.Parallel()
		first := firstOfMonth(time.Now(), 0)
		e, l := at(t, first.Add(6*time.Hour+time.Minute))
		wantErr[*types.TimestampOutOfBoundsException](t, meter(e, l, first.Add(-time.Hour)))
		if err := meter(e, l, first.Add(time.Minute)); err != nil {
			t.Fatalf("the new month: %v", err)
		}
	})

	t.Run("without MonthEndGrace only the window applies", func(t *testing.T) {
		t.Parallel()
		first := firstOfMonth(time.Now(), 0)
		e, l := at(t, first.Add(8*time.Hour), func(c *world.Config) { c.MonthEndGrace = false })
		if err := meter(e, l, first.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a six hour window refuses older usage", func(t *testing.T) {
		t.Parallel()
		e, l := at(t, midMonth(time.Now()), func(c *world.Config) { c.MeteringWindow = 6 * time.Hour })
		if err := meter(e, l, e.w.Now().Add(-5*time.Hour)); err != nil {
			t.Fatal(err)
		}
		wantErr[*types.TimestampOutOfBoundsException](t, meter(e, l, e.w.Now().Add(-7*time.Hour)))
	})

	t.Run("one record out of range rejects the whole batch", func(t *testing.T) {
		t.Parallel()
		e, l := at(t, midMonth(time.Now()))
		now := e.w.Now()
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{
			rec(l, dimAPI, 1, now), rec(l, dimStorage, 1, now.Add(-30*time.Hour))}})
		wantErr[*types.TimestampOutOfBoundsException](t, err)
		if len(metering.Accepted(e.w)) != 0 {
			t.Fatal("part of a rejected batch was billed")
		}
		for _, r := range metering.Records(e.w) {
			if r.Status != "Rejected" || !strings.HasPrefix(r.Reason, "TimestampOutOfBoundsException") {
				t.Fatalf("record %+v", r)
			}
		}
	})
}

func TestDedupe(t *testing.T) {
	t.Parallel()

	t.Run("an identical resubmission returns the original MeteringRecordId", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		e.advanceTo(midMonth(time.Now()))
		ts := e.w.Now().Add(-90 * time.Minute)
		first := e.mustBatch(rec(l, dimAPI, 10, ts))
		again := e.mustBatch(rec(l, dimAPI, 10, ts.Truncate(time.Hour).Add(59*time.Minute)))
		if again.Results[0].Status != "Success" || aws.ToString(again.Results[0].MeteringRecordId) != aws.ToString(first.Results[0].MeteringRecordId) {
			t.Fatalf("first %+v again %+v", first.Results[0], again.Results[0])
		}
		if acc := metering.Accepted(e.w); acc[hourKey(l.Arn, dimAPI, ts)] != 10 || len(acc) != 1 {
			t.Fatalf("Accepted = %v", acc)
		}
		if n := len(metering.Records(e.w)); n != 2 {
			t.Fatalf("%d records listed, want both submissions", n)
		}
	})

	t.Run("another quantity in the same hour is DuplicateRecord and the original stays billed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		now := e.w.Now()
		e.mustBatch(rec(l, dimAPI, 10, now))
		out := e.mustBatch(rec(l, dimAPI, 11, now))
		if out.Results[0].Status != "DuplicateRecord" || out.Results[0].MeteringRecordId != nil {
			t.Fatalf("%+v", out.Results[0])
		}
		if acc := metering.Accepted(e.w); acc[hourKey(l.Arn, dimAPI, now)] != 10 {
			t.Fatalf("Accepted = %v", acc)
		}
		last := metering.Records(e.w)[1]
		if last.Status != "DuplicateRecord" || !strings.Contains(last.Reason, "quantity 10") {
			t.Fatalf("record %+v", last)
		}
	})

	t.Run("another hour, dimension or license is a new record", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(true)
		_, l1 := e.subscribe(p, buyerA)
		_, l2 := e.subscribe(p, buyerA)
		e.advanceTo(midMonth(time.Now()))
		now := e.w.Now()
		out := e.mustBatch(rec(l1, dimAPI, 1, now), rec(l1, dimAPI, 2, now.Add(-time.Hour)), rec(l1, dimStorage, 3, now), rec(l2, dimAPI, 4, now))
		ids := map[string]bool{}
		for _, r := range out.Results {
			if r.Status != "Success" {
				t.Fatalf("%+v", r)
			}
			ids[aws.ToString(r.MeteringRecordId)] = true
		}
		if len(ids) != 4 {
			t.Fatalf("%d distinct ids, want 4", len(ids))
		}
	})

	t.Run("duplicates within one batch follow the same rule", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		now := e.w.Now()
		out := e.mustBatch(rec(l, dimAPI, 5, now), rec(l, dimAPI, 5, now), rec(l, dimAPI, 6, now))
		if s := statuses(out); s[0] != "Success" || s[1] != "Success" || s[2] != "DuplicateRecord" {
			t.Fatalf("statuses %v", s)
		}
		if aws.ToString(out.Results[0].MeteringRecordId) != aws.ToString(out.Results[1].MeteringRecordId) {
			t.Fatal("identical records in one batch got different ids")
		}
	})
}

func TestFinalWindow(t *testing.T) {
	t.Parallel()
	for _, concurrent := range []bool{true, false} {
		name := "concurrent agreements"
		if !concurrent {
			name = "legacy"
		}
		t.Run(name+": usage is accepted after the agreement ends until the license is deprovisioned, refused after", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p := e.product(concurrent)
			a, l := e.subscribe(p, buyerA)
			meter := func(ts time.Time) types.UsageRecordResultStatus {
				t.Helper()
				var out *marketplacemetering.BatchMeterUsageOutput
				var err error
				if concurrent {
					out, err = e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l, dimAPI, 1, ts)}})
				} else {
					out, err = e.batch(&marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageRecords: []types.UsageRecord{legacyRec(l.CustomerIdentifier, dimAPI, 1, ts)}})
				}
				if err != nil {
					t.Fatal(err)
				}
				return out.Results[0].Status
			}
			e.do(func(s *world.State) error { _, err := s.Cancel(a.ID); return err })
			ended := e.w.Now()
			if got := meter(e.w.Now()); got != "Success" {
				t.Fatalf("right after the agreement ended: %s", got)
			}
			window := world.DefaultConfig().FinalWindow
			if err := e.w.Advance(window - time.Minute); err != nil {
				t.Fatal(err)
			}
			if got := meter(e.w.Now()); got != "Success" {
				t.Fatalf("a minute before deprovisioning: %s", got)
			}
			if err := e.w.Advance(2 * time.Minute); err != nil {
				t.Fatal(err)
			}
			var state string
			e.do(func(s *world.State) error { state = s.Licenses[l.Arn].State; return nil })
			if state != world.LicenseDeprovisioned {
				t.Fatalf("license is %s after the final window", state)
			}
			if got := meter(e.w.Now()); got != "CustomerNotSubscribed" {
				t.Fatalf("after deprovisioning: %s", got)
			}
			if got := meter(ended.Add(window / 2)); got != "CustomerNotSubscribed" {
				t.Fatalf("usage timed in the final window, sent after deprovisioning: %s", got)
			}
		})
	}
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()

	t.Run("an injected throttle is ThrottlingException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		e.setFaults(map[string]world.Fault{"BatchMeterUsage": {ThrottleShare: 1}})
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l, dimAPI, 1, e.w.Now())}})
		wantErr[*types.ThrottlingException](t, err)
		wantCode(t, err, "ThrottlingException", http.StatusBadRequest)
		recs := metering.Records(e.w)
		if len(recs) != 1 || recs[0].Status != "Rejected" || !strings.HasPrefix(recs[0].Reason, "ThrottlingException") {
			t.Fatalf("Records = %+v", recs)
		}
	})

	t.Run("the request rate quota throttles calls over it", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *world.Config) { c.ThrottleRPS = 2 })
		var throttled int
		for range 5 {
			_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{}})
			if err != nil {
				wantErr[*types.ThrottlingException](t, err)
				throttled++
			}
		}
		if throttled < 2 {
			t.Fatalf("%d of 5 immediate calls throttled at 2/s", throttled)
		}
	})

	t.Run("ResolveCustomer and MeterUsage are throttled too", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.setFaults(map[string]world.Fault{"*": {ThrottleShare: 1}})
		_, err := e.c.ResolveCustomer(context.Background(), &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String("x")})
		wantErr[*types.ThrottlingException](t, err)
		_, err = e.c.MeterUsage(context.Background(), &marketplacemetering.MeterUsageInput{ProductCode: aws.String("p"), UsageDimension: aws.String(dimAPI), Timestamp: aws.Time(e.w.Now())})
		wantErr[*types.ThrottlingException](t, err)
	})

	t.Run("an injected failure is InternalServiceErrorException with status 500 and nothing is billed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		e.setFaults(map[string]world.Fault{"BatchMeterUsage": {ErrorShare: 1}})
		_, err := e.batch(&marketplacemetering.BatchMeterUsageInput{UsageRecords: []types.UsageRecord{rec(l, dimAPI, 1, e.w.Now())}})
		wantErr[*types.InternalServiceErrorException](t, err)
		wantCode(t, err, "InternalServiceErrorException", http.StatusInternalServerError)
		if len(metering.Accepted(e.w)) != 0 {
			t.Fatal("billed")
		}
	})

	t.Run("injected latency delays the answer", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.setFaults(map[string]world.Fault{"BatchMeterUsage": {Latency: 150 * time.Millisecond}})
		start := time.Now()
		e.mustBatch()
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("answered in %s", d)
		}
	})

	t.Run("unprocessed records are returned, not billed, and a retry meters them exactly once", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, l := e.subscribe(e.product(true), buyerA)
		e.advanceTo(midMonth(time.Now()))
		e.setFaults(map[string]world.Fault{"BatchMeterUsage": {UnprocessedShare: 0.5}})
		now := e.w.Now()
		var pending []types.UsageRecord
		want := map[string]int64{}
		for i := range 20 {
			ts := now.Add(-time.Duration(i) * time.Hour)
			pending = append(pending, rec(l, dimAPI, int32(i+1), ts))
			want[hourKey(l.Arn, dimAPI, ts)] = int64(i + 1)
		}
		sawUnprocessed := false
		for round := 0; len(pending) > 0; round++ {
			if round > 50 {
				t.Fatal("records stayed unprocessed")
			}
			out := e.mustBatch(pending...)
			for _, r := range out.Results {
				if r.Status != "Success" {
					t.Fatalf("%+v", r)
				}
			}
			sawUnprocessed = sawUnprocessed || len(out.UnprocessedRecords) > 0
			pending = out.UnprocessedRecords
			for _, u := range pending {
				if _, billed := metering.Accepted(e.w)[hourKey(l.Arn, dimAPI, *u.Timestamp)]; billed {
					t.Fatal("an unprocessed record was billed")
				}
			}
		}
		if !sawUnprocessed {
			t.Fatal("no record was left unprocessed at a share of 0.5")
		}
		got := metering.Accepted(e.w)
		if len(got) != len(want) {
			t.Fatalf("Accepted has %d keys, want %d", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("Accepted[%s] = %d, want %d", k, got[k], v)
			}
		}
	})
}

func TestMeterUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	setup := func(t *testing.T) (*env, *world.Product) {
		e := newEnv(t)
		p := e.product(true)
		e.subscribe(p, buyerA)
		return e, p
	}
	input := func(p *world.Product, dim string, qty int32, ts time.Time) *marketplacemetering.MeterUsageInput {
		return &marketplacemetering.MeterUsageInput{ProductCode: aws.String(p.ProductCode), UsageDimension: aws.String(dim), UsageQuantity: aws.Int32(qty), Timestamp: aws.Time(ts)}
	}

	t.Run("meters once per product, dimension and hour; an identical call returns the same id", func(t *testing.T) {
		t.Parallel()
		e, p := setup(t)
		now := e.w.Now()
		first, err := e.c.MeterUsage(ctx, input(p, dimAPI, 3, now))
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.c.MeterUsage(ctx, input(p, dimAPI, 3, now))
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(first.MeteringRecordId) == "" || aws.ToString(first.MeteringRecordId) != aws.ToString(again.MeteringRecordId) {
			t.Fatalf("first %q again %q", aws.ToString(first.MeteringRecordId), aws.ToString(again.MeteringRecordId))
		}
		if acc := metering.Accepted(e.w); acc[hourKey(p.ProductCode, dimAPI, now)] != 3 {
			t.Fatalf("Accepted = %v", acc)
		}
	})

	t.Run("another quantity in the same hour is DuplicateRequestException", func(t *testing.T) {
		t.Parallel()
		e, p := setup(t)
		now := e.w.Now()
		if _, err := e.c.MeterUsage(ctx, input(p, dimAPI, 3, now)); err != nil {
			t.Fatal(err)
		}
		_, err := e.c.MeterUsage(ctx, input(p, dimAPI, 4, now))
		wantErr[*types.DuplicateRequestException](t, err)
		if acc := metering.Accepted(e.w); acc[hourKey(p.ProductCode, dimAPI, now)] != 3 {
			t.Fatalf("Accepted = %v", acc)
		}
	})

	t.Run("the same ClientToken replays the answer", func(t *testing.T) {
		t.Parallel()
		e, p := setup(t)
		in := input(p, dimAPI, 3, e.w.Now())
		in.ClientToken = aws.String("token-1")
		first, err := e.c.MeterUsage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.c.MeterUsage(ctx, in)
		if err != nil || aws.ToString(again.MeteringRecordId) != aws.ToString(first.MeteringRecordId) {
			t.Fatalf("replay: %v %v", again, err)
		}
	})

	t.Run("the same ClientToken with other parameters is IdempotencyConflictException (409)", func(t *testing.T) {
		t.Parallel()
		e, p := setup(t)
		in := input(p, dimAPI, 3, e.w.Now())
		in.ClientToken = aws.String("token-1")
		if _, err := e.c.MeterUsage(ctx, in); err != nil {
			t.Fatal(err)
		}
		in.UsageQuantity = aws.Int32(5)
		_, err := e.c.MeterUsage(ctx, in)
		wantErr[*types.IdempotencyConflictException](t, err)
		wantCode(t, err, "IdempotencyConflictException", http.StatusConflict)
	})

	t.Run("DryRun validates without metering", func(t *testing.T) {
		t.Parallel()
		e, p := setup(t)
		in := input(p, dimAPI, 3, e.w.Now())
		in.DryRun = aws.Bool(true)
		out, err := e.c.MeterUsage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.MeteringRecordId != nil || len(metering.Records(e.w)) != 0 {
			t.Fatalf("a dry run metered: %v", out.MeteringRecordId)
		}
		bad := input(p, "nope", 3, e.w.Now())
		bad.DryRun = aws.Bool(true)
		_, err = e.c.MeterUsage(ctx, bad)
		wantErr[*types.InvalidUsageDimensionException](t, err)
		in.DryRun = nil
		if _, err := e.c.MeterUsage(ctx, in); err != nil {
			t.Fatalf("the real call after a dry run: %v", err)
		}
	})

	t.Run("a product nobody is subscribed to is CustomerNotEntitledException", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.product(true)
		_, err := e.c.MeterUsage(ctx, input(p, dimAPI, 1, e.w.Now()))
		wantErr[*types.CustomerNotEntitledException](t, err)
	})

	t.Run("unknown product, unknown dimension, bad timestamp and bad tags are refused", func(t *testing.T) {
		t.Parallel()
		e, p := setup(t)
		_, err := e.c.MeterUsage(ctx, input(&world.Product{ProductCode: "nosuch"}, dimAPI, 1, e.w.Now()))
		wantErr[*types.InvalidProductCodeException](t, err)
		_, err = e.c.MeterUsage(ctx, input(p, "nope", 1, e.w.Now()))
		wantErr[*types.InvalidUsageDimensionException](t, err)
		_, err = e.c.MeterUsage(ctx, input(p, dimAPI, 1, e.w.Now().Add(-25*time.Hour)))
		wantErr[*types.TimestampOutOfBoundsException](t, err)
		in := input(p, dimAPI, 1, e.w.Now())
		in.UsageAllocations = []types.UsageAllocation{alloc(1, tag("", "x"))}
		_, err = e.c.MeterUsage(ctx, in)
		wantErr[*types.InvalidTagException](t, err)
		in.UsageAllocations = []types.UsageAllocation{alloc(2, tag("k", "x"))}
		_, err = e.c.MeterUsage(ctx, in)
		wantErr[*types.InvalidUsageAllocationsException](t, err)
	})
}

func TestRegisterUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.c.RegisterUsage(context.Background(), &marketplacemetering.RegisterUsageInput{ProductCode: aws.String("p"), PublicKeyVersion: aws.Int32(1)})
	wantErr[*types.PlatformNotSupportedException](t, err)
}

func TestTypedErrorsAreNotGeneric(t *testing.T) {
	t.Parallel()
	// Every modeled error the emulator answers resolves to its SDK type, so
	// errors.As works in seller code; the protocol-level ones stay generic.
	e := newEnv(t)
	_, err := e.c.ResolveCustomer(context.Background(), &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String("nope")})
	var generic interface{ ErrorCode() string }
	if !errors.As(err, &generic) || generic.ErrorCode() != "InvalidTokenException" {
		t.Fatalf("%v", err)
	}
	var it *types.InvalidTokenException
	if !errors.As(err, &it) || it.ErrorMessage() == "" {
		t.Fatalf("%v", err)
	}
}
