package metering

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/concordmp/concord/internal/emulator/world"
)

// meterUsage is the AMI/container-style MeterUsage: one record for the
// caller's product, dimension and hour.
func (srv *Server) meterUsage(ctx context.Context, body []byte) (any, *apiError) {
	var in meterUsageInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	dry := in.DryRun != nil && *in.DryRun
	err := srv.gate(ctx, OpMeterUsage, func(s *world.State, e *apiError) {
		if !dry {
			s.Metering = append(s.Metering, meterUsageRecord(s, &in, StatusRejected, e.code+": "+e.msg))
		}
	})
	if err != nil {
		return nil, err
	}
	var out *meterUsageOutput
	var aerr *apiError
	_ = srv.w.Do(func(s *world.State) error {
		out, aerr = srv.processMeterUsage(s, &in, dry)
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	return out, nil
}

// meterUsageRecord is the inspection entry of one MeterUsage call.
func meterUsageRecord(s *world.State, in *meterUsageInput, status, reason string) *world.MeteringRecord {
	mr := &world.MeteringRecord{ReceivedAt: s.Now(), Operation: OpMeterUsage, ProductCode: str(in.ProductCode), Dimension: str(in.UsageDimension),
		Status: status, Reason: reason}
	if in.UsageQuantity != nil {
		mr.Quantity, _ = in.UsageQuantity.int32Value()
	}
	if in.Timestamp != nil {
		mr.Timestamp, _ = in.Timestamp.timeValue()
	}
	if in.UsageAllocations != nil {
		mr.Allocations, _ = json.Marshal(in.UsageAllocations)
	}
	return mr
}

func (srv *Server) processMeterUsage(s *world.State, in *meterUsageInput, dry bool) (*meterUsageOutput, *apiError) {
	reject := func(e *apiError) (*meterUsageOutput, *apiError) {
		if !dry {
			status := StatusRejected
			if e.code == CodeDuplicateRequest {
				status = StatusDuplicateRecord
			}
			s.Metering = append(s.Metering, meterUsageRecord(s, in, status, e.code+": "+e.msg))
		}
		return nil, e
	}
	switch {
	case in.ProductCode == nil:
		return reject(validation("productCode", "Member must not be null"))
	case in.Timestamp == nil:
		return reject(validation("timestamp", "Member must not be null"))
	case len(*in.ProductCode) < 1 || len(*in.ProductCode) > maxProductCodeLen:
		return reject(validation("productCode", "Member must have length between 1 and 255"))
	case in.UsageDimension == nil:
		return reject(validation("usageDimension", "Member must not be null"))
	case len(*in.UsageDimension) < 1 || len(*in.UsageDimension) > maxDimensionLen:
		return reject(validation("usageDimension", "Member must have length between 1 and 255"))
	}
	var qty int64
	if in.UsageQuantity != nil {
		q, ok := in.UsageQuantity.int32Value()
		if !ok {
			return reject(newError(CodeSerialization, "UsageQuantity must be an integer between 0 and 2147483647."))
		}
		if q < 0 {
			return reject(validation("usageQuantity", "Member must have value greater than or equal to 0"))
		}
		qty = q
	}
	code, dim := *in.ProductCode, *in.UsageDimension
	ts, tsOK := in.Timestamp.timeValue()

	// ClientToken: the same token with the same parameters replays the
	// first answer; with other parameters it is a conflict.
	token := str(in.ClientToken)
	fp := fingerprint(code, dim, qty, in)
	if token != "" {
		srv.mu.Lock()
		e, seen := srv.tokens[token]
		srv.mu.Unlock()
		if seen {
			if e.fingerprint != fp {
				return reject(newError(CodeIdempotencyConflict, "ClientToken %q was already used with different parameters.", clip(token, 128)))
			}
			if dry {
				return &meterUsageOutput{}, nil
			}
			mr := meterUsageRecord(s, in, StatusSuccess, "ClientToken replay of metering record "+e.recordID+"; not billed again")
			mr.MeteringRecordID = e.recordID
			s.Metering = append(s.Metering, mr)
			return &meterUsageOutput{MeteringRecordId: &e.recordID}, nil
		}
	}

	product := productByCode(s, code)
	if product == nil {
		return reject(newError(CodeInvalidProductCode, "ProductCode %q does not match any product of the seller.", clip(code, 255)))
	}
	d, ok := product.Dimension(dim)
	if !ok {
		return reject(newError(CodeInvalidUsageDimension, "UsageDimension %q is not a dimension of product %s.", clip(dim, 255), code))
	}
	if d.Kind == "contract" {
		return reject(newError(CodeInvalidUsageDimension, "UsageDimension %q is a contract (entitlement) dimension of product %s; only usage dimensions are metered.", dim, code))
	}
	if err := checkAllocations("MeterUsage", in.UsageAllocations, qty); err != nil {
		return reject(err)
	}
	now := s.Now()
	if !tsOK || !InBounds(s.Config, now, ts) {
		return reject(timestampError(s.Config, now, "the request", ts, tsOK))
	}
	entitled := false
	for _, l := range s.Licenses {
		if l.ProductCode == code && subscribedAt(l, ts) {
			entitled = true
			break
		}
	}
	if !entitled {
		return reject(newError(CodeCustomerNotEntitled, "No customer holds an active subscription to product %s at %s.", code, ts.Format("2006-01-02T15:04:05Z")))
	}

	key := strings.Join([]string{OpMeterUsage, s.Config.SellerAccountID, "product/" + code, dim, hourOf(ts)}, "|")
	if s.MeteringKeys == nil {
		s.MeteringKeys = map[string]int{}
	}
	if idx, ok := s.MeteringKeys[key]; ok && idx >= 0 && idx < len(s.Metering) {
		orig := s.Metering[idx]
		if orig.Quantity != qty {
			return reject(newError(CodeDuplicateRequest, "A metering record (%s) was already emitted for dimension %s in this hour with quantity %d, not %d.",
				orig.MeteringRecordID, dim, orig.Quantity, qty))
		}
		if dry {
			return &meterUsageOutput{}, nil
		}
		id := orig.MeteringRecordID
		mr := meterUsageRecord(s, in, StatusSuccess, "identical to metering record "+id+"; not billed again")
		mr.MeteringRecordID = id
		s.Metering = append(s.Metering, mr)
		srv.remember(token, fp, id)
		return &meterUsageOutput{MeteringRecordId: &id}, nil
	}
	if dry {
		return &meterUsageOutput{}, nil
	}
	id := newUUID()
	mr := meterUsageRecord(s, in, StatusSuccess, "")
	mr.MeteringRecordID = id
	s.Metering = append(s.Metering, mr)
	s.MeteringKeys[key] = len(s.Metering) - 1
	srv.remember(token, fp, id)
	return &meterUsageOutput{MeteringRecordId: &id}, nil
}

func (srv *Server) remember(token, fp, id string) {
	if token == "" {
		return
	}
	srv.mu.Lock()
	srv.tokens[token] = clientTokenEntry{fingerprint: fp, recordID: id}
	srv.mu.Unlock()
}

// fingerprint is the canonical form of the parameters a ClientToken binds.
func fingerprint(code, dim string, qty int64, in *meterUsageInput) string {
	var ts string
	if in.Timestamp != nil {
		if t, ok := in.Timestamp.timeValue(); ok {
			ts = t.Format("2006-01-02T15:04:05.000Z")
		} else {
			ts = string(*in.Timestamp)
		}
	}
	b, _ := json.Marshal([]any{code, dim, qty, ts, in.UsageAllocations})
	return string(b)
}
