package metering

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

func (srv *Server) batchMeterUsage(ctx context.Context, body []byte) (any, *apiError) {
	var in batchInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := srv.gate(ctx, OpBatchMeterUsage, func(s *world.State, e *apiError) { rejectBatch(s, &in, e) }); err != nil {
		return nil, err
	}
	var out *batchOutput
	var aerr *apiError
	_ = srv.w.Do(func(s *world.State) error {
		out, aerr = processBatch(s, &in)
		if aerr != nil {
			rejectBatch(s, &in, aerr)
		}
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	return out, nil
}

// rejectBatch records every record of a rejected request, with the reason.
func rejectBatch(s *world.State, in *batchInput, e *apiError) {
	now := s.Now()
	reason := e.code + ": " + e.msg
	for i := range in.UsageRecords {
		w := &in.UsageRecords[i]
		mr := &world.MeteringRecord{ReceivedAt: now, Operation: OpBatchMeterUsage, ProductCode: str(in.ProductCode),
			LicenseArn: str(w.LicenseArn), CustomerAWSAccount: str(w.CustomerAWSAccountId), CustomerIdentifier: str(w.CustomerIdentifier),
			Dimension: str(w.Dimension), Status: StatusRejected, Reason: reason}
		if mr.ProductCode == "" {
			if l := s.Licenses[mr.LicenseArn]; l != nil {
				mr.ProductCode = l.ProductCode
			}
		}
		if w.Quantity != nil {
			mr.Quantity, _ = w.Quantity.int32Value()
		}
		if w.Timestamp != nil {
			mr.Timestamp, _ = w.Timestamp.timeValue()
		}
		if w.UsageAllocations != nil {
			mr.Allocations, _ = json.Marshal(w.UsageAllocations)
		}
		s.Metering = append(s.Metering, mr)
	}
}

func productByCode(s *world.State, code string) *world.Product {
	for _, p := range s.Products {
		if p.ProductCode == code {
			return p
		}
	}
	return nil
}

// processBatch validates the whole request (any failure rejects every
// record) and then meters the records one by one.
func processBatch(s *world.State, in *batchInput) (*batchOutput, *apiError) {
	if in.UsageRecords == nil {
		return nil, validation("usageRecords", "Member must not be null")
	}
	if len(in.UsageRecords) > MaxRecords {
		return nil, validation("usageRecords", fmt.Sprintf("Member must have length less than or equal to %d", MaxRecords))
	}
	if len(str(in.ProductCode)) > maxProductCodeLen {
		return nil, validation("productCode", "Member must have length less than or equal to 255")
	}
	recs := make([]record, len(in.UsageRecords))
	for i := range in.UsageRecords {
		r, err := shapeRecord(i, &in.UsageRecords[i])
		if err != nil {
			return nil, err
		}
		recs[i] = r
	}

	// Which product, and who each record is for.
	code := str(in.ProductCode)
	legacy := code != ""
	var product *world.Product
	accounts := make([]string, len(recs))
	licenses := make([]*world.License, len(recs))
	if legacy {
		for i, r := range recs {
			if r.licenseArn != "" {
				return nil, newError(CodeInvalidProductCode, "UsageRecords[%d] carries a LicenseArn and the request carries ProductCode %q: omit ProductCode when metering by LicenseArn. "+
					"Metering a customer by ProductCode and by LicenseArn in the same hour bills the usage twice.", i, clip(code, 255))
			}
		}
		if product = productByCode(s, code); product == nil {
			return nil, newError(CodeInvalidProductCode, "ProductCode %q does not match any product of the seller.", clip(code, 255))
		}
		if product.ConcurrentAgreements {
			return nil, newError(CodeInvalidProductCode, "Product %s uses Concurrent Agreements: omit ProductCode and send LicenseArn and CustomerAWSAccountId in every record.", code)
		}
		idents := map[string]string{}
		for acct, b := range s.Buyers {
			if id := b.CustomerIdentifiers[code]; id != "" {
				idents[id] = acct
			}
		}
		for i, r := range recs {
			switch {
			case r.customer != "" && r.account != "":
				return nil, newError(CodeInvalidCustomerIdentifier, "UsageRecords[%d] has both CustomerIdentifier and CustomerAWSAccountId; provide one, not both.", i)
			case r.customer == "" && r.account == "":
				return nil, newError(CodeInvalidCustomerIdentifier, "UsageRecords[%d] has neither CustomerIdentifier nor CustomerAWSAccountId; provide one.", i)
			case r.customer != "":
				acct, ok := idents[r.customer]
				if !ok {
					return nil, newError(CodeInvalidCustomerIdentifier, "CustomerIdentifier %q of UsageRecords[%d] does not exist for product %s.", clip(r.customer, 255), i, code)
				}
				accounts[i] = acct
			default:
				accounts[i] = r.account
			}
		}
	} else {
		for i, r := range recs {
			switch {
			case r.licenseArn == "":
				return nil, newError(CodeInvalidProductCode, "UsageRecords[%d] has no LicenseArn and the request has no ProductCode: send LicenseArn and CustomerAWSAccountId in every record "+
					"(or, for a legacy integration, ProductCode with CustomerIdentifier).", i)
			case r.customer != "" && r.account != "":
				return nil, newError(CodeInvalidCustomerIdentifier, "UsageRecords[%d] has both CustomerIdentifier and CustomerAWSAccountId; provide one, not both.", i)
			case r.customer != "":
				return nil, newError(CodeInvalidCustomerIdentifier, "UsageRecords[%d]: CustomerIdentifier is not supported with LicenseArn; send CustomerAWSAccountId.", i)
			case r.account == "":
				return nil, newError(CodeInvalidCustomerIdentifier, "UsageRecords[%d] has a LicenseArn but no CustomerAWSAccountId; send both.", i)
			}
			l := s.Licenses[r.licenseArn]
			if l == nil {
				return nil, newError(CodeInvalidLicense, "LicenseArn %q of UsageRecords[%d] does not exist.", clip(r.licenseArn, 1100), i)
			}
			if l.AccountID != r.account {
				return nil, newError(CodeInvalidLicense, "LicenseArn %s of UsageRecords[%d] does not belong to CustomerAWSAccountId %s.", l.Arn, i, r.account)
			}
			if product == nil {
				if product = s.Products[l.ProductID]; product == nil {
					return nil, newError(CodeInvalidLicense, "LicenseArn %s of UsageRecords[%d] is for a product the seller no longer has.", l.Arn, i)
				}
			} else if l.ProductCode != product.ProductCode {
				return nil, newError(CodeInvalidLicense, "LicenseArn %s of UsageRecords[%d] is for product %s, earlier records for %s: one BatchMeterUsage call meters one product.",
					l.Arn, i, l.ProductCode, product.ProductCode)
			}
			licenses[i], accounts[i] = l, r.account
		}
	}

	for i, r := range recs {
		d, ok := product.Dimension(r.dimension)
		if !ok {
			return nil, newError(CodeInvalidUsageDimension, "Dimension %q of UsageRecords[%d] is not a dimension of product %s.", clip(r.dimension, 255), i, product.ProductCode)
		}
		if d.Kind == "contract" {
			return nil, newError(CodeInvalidUsageDimension, "Dimension %q of UsageRecords[%d] is a contract (entitlement) dimension of product %s; only usage dimensions are metered.",
				r.dimension, i, product.ProductCode)
		}
	}
	for i, r := range recs {
		if err := checkAllocations(fmt.Sprintf("UsageRecords[%d]", i), r.wire.UsageAllocations, r.quantity); err != nil {
			return nil, err
		}
	}
	now := s.Now()
	for i, r := range recs {
		if !r.tsOK || !InBounds(s.Config, now, r.ts) {
			e := timestampError(s.Config, now, fmt.Sprintf("UsageRecords[%d]", i), r.ts, r.tsOK)
			e.msg += " If any record is out of range, the entire batch is not processed."
			return nil, e
		}
	}

	// Meter the records.
	var byAccount map[string][]*world.License
	if legacy {
		byAccount = map[string][]*world.License{}
		for _, l := range s.Licenses {
			if l.ProductCode == code {
				byAccount[l.AccountID] = append(byAccount[l.AccountID], l)
			}
		}
	}
	if s.MeteringKeys == nil {
		s.MeteringKeys = map[string]int{}
	}
	out := &batchOutput{Results: []wireResult{}, UnprocessedRecords: []wireRecord{}}
	for i := range recs {
		r := &recs[i]
		mr := &world.MeteringRecord{ReceivedAt: now, Operation: OpBatchMeterUsage, ProductCode: product.ProductCode, LicenseArn: r.licenseArn,
			CustomerAWSAccount: r.account, CustomerIdentifier: r.customer, Dimension: r.dimension, Quantity: r.quantity, Timestamp: r.ts, Allocations: r.allocJSON}
		if s.Unprocessed(OpBatchMeterUsage) {
			mr.Status, mr.Reason = StatusUnprocessed, "left unprocessed (injected transient failure); the client should retry it"
			s.Metering = append(s.Metering, mr)
			out.UnprocessedRecords = append(out.UnprocessedRecords, *r.wire)
			continue
		}
		subscribed := false
		if legacy {
			for _, l := range byAccount[accounts[i]] {
				if subscribedAt(l, r.ts) {
					subscribed = true
					break
				}
			}
		} else {
			subscribed = subscribedAt(licenses[i], r.ts)
		}
		if !subscribed {
			mr.Status, mr.Reason = StatusCustomerNotSubscribed, notSubscribedReason(legacy, licenses[i], accounts[i], r.ts)
			s.Metering = append(s.Metering, mr)
			out.Results = append(out.Results, wireResult{Status: StatusCustomerNotSubscribed, UsageRecord: r.wire})
			continue
		}
		scope := r.licenseArn
		if legacy {
			scope = "product/" + code
		}
		key := strings.Join([]string{OpBatchMeterUsage, accounts[i], scope, r.dimension, hourOf(r.ts)}, "|")
		if idx, ok := s.MeteringKeys[key]; ok && idx >= 0 && idx < len(s.Metering) {
			orig := s.Metering[idx]
			if orig.Quantity == r.quantity {
				id := orig.MeteringRecordID
				mr.Status, mr.MeteringRecordID = StatusSuccess, id
				mr.Reason = "identical to metering record " + id + "; not billed again"
				out.Results = append(out.Results, wireResult{MeteringRecordId: &id, Status: StatusSuccess, UsageRecord: r.wire})
			} else {
				mr.Status = StatusDuplicateRecord
				mr.Reason = fmt.Sprintf("metering record %s already billed quantity %d for this customer, dimension and hour; quantity %d is not billed",
					orig.MeteringRecordID, orig.Quantity, r.quantity)
				out.Results = append(out.Results, wireResult{Status: StatusDuplicateRecord, UsageRecord: r.wire})
			}
			s.Metering = append(s.Metering, mr)
			continue
		}
		id := newUUID()
		mr.Status, mr.MeteringRecordID = StatusSuccess, id
		s.Metering = append(s.Metering, mr)
		s.MeteringKeys[key] = len(s.Metering) - 1
		out.Results = append(out.Results, wireResult{MeteringRecordId: &id, Status: StatusSuccess, UsageRecord: r.wire})
	}
	return out, nil
}

func notSubscribedReason(legacy bool, l *world.License, account string, ts time.Time) string {
	at := ts.Format(time.RFC3339)
	if legacy {
		return fmt.Sprintf("customer %s has no license of the product active at %s", account, at)
	}
	switch {
	case l.State == world.LicenseDeprovisioned:
		return fmt.Sprintf("license %s was deprovisioned at %s", l.Arn, fmtTime(l.DeprovisionedAt))
	case ts.Before(l.StartTime.Truncate(time.Hour)):
		return fmt.Sprintf("license %s starts at %s, after the usage at %s", l.Arn, l.StartTime.Format(time.RFC3339), at)
	default:
		return fmt.Sprintf("license %s is not active at %s", l.Arn, at)
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "?"
	}
	return t.Format(time.RFC3339)
}

// timestampError explains the accepted range at now.
func timestampError(cfg world.Config, now time.Time, where string, ts time.Time, tsOK bool) *apiError {
	window := cfg.MeteringWindow
	if window <= 0 {
		window = defaultWindow
	}
	from := now.Add(-window)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	rule := fmt.Sprintf("%s window", window)
	if cfg.MonthEndGrace {
		rule += "; a month's usage is accepted until 06:00 UTC on the 1st of the next month"
		if !now.Before(monthStart.Add(MonthEndCutoff)) && from.Before(monthStart) {
			from = monthStart
		}
	}
	at := "an unrepresentable time"
	if tsOK {
		at = ts.Format(time.RFC3339Nano)
	}
	return newError(CodeTimestampOutOfBounds, "The Timestamp of %s (%s) is out of the allowed range: usage is accepted from %s until %s (%s).",
		where, at, from.UTC().Format(time.RFC3339), now.Add(FutureSkew).UTC().Format(time.RFC3339), rule)
}
