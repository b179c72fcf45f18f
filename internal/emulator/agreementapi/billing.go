package agreementapi

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Billing operations.
const (
	OpListAgreementInvoiceLineItems       = "ListAgreementInvoiceLineItems"
	OpListAgreementCharges                = "ListAgreementCharges"
	OpBatchCreateBillingAdjustmentRequest = "BatchCreateBillingAdjustmentRequest"
	OpGetBillingAdjustmentRequest         = "GetBillingAdjustmentRequest"
	OpListBillingAdjustmentRequests       = "ListBillingAdjustmentRequests"
)

// Charge is one ListAgreementCharges item.
type Charge struct {
	ID, AgreementID, Amount, Currency string
	Time                              time.Time
}

// Invoice is one ListAgreementInvoiceLineItems group (by INVOICE_ID).
type Invoice struct {
	ID, AgreementID, Type           string
	Issued                          time.Time
	Year, Month                     int
	Amount, Currency, MaxAdjustment string
}

// BillingAdjustment is a billing adjustment request.
type BillingAdjustment struct {
	ID, AgreementID, InvoiceID, Amount, Currency   string
	ReasonCode, Description, Status, StatusMessage string
	CreatedAt, UpdatedAt                           time.Time
}

// AdjustmentEntry is one BatchCreateBillingAdjustmentRequest entry.
type AdjustmentEntry struct {
	AgreementID, InvoiceID, Amount, Currency, ReasonCode, Description, ClientToken string
}

// AdjustmentResult is one entry's outcome: RequestID, or ErrorCode
// (BillingAdjustmentErrorCode) and Message.
type AdjustmentResult struct {
	ClientToken, RequestID, ErrorCode, Message string
}

// Billing is what the billing operations act on.
type Billing interface {
	Charges(agreementID string) ([]Charge, error)
	Invoices(agreementID string) ([]Invoice, error)
	CreateBillingAdjustments(entries []AdjustmentEntry) ([]AdjustmentResult, error)
	GetBillingAdjustment(agreementID, id string) (BillingAdjustment, error)
	ListBillingAdjustments(agreementID, status string) ([]BillingAdjustment, error)
}

// billingAdjustmentIDPattern: API reference GetBillingAdjustmentRequest,
// "Length 1-64, Pattern ba-[a-zA-Z0-9]+".
var billingAdjustmentIDPattern = regexp.MustCompile(`^ba-[a-zA-Z0-9]{1,61}$`)

var adjustmentStatuses = []string{"PENDING", "VALIDATION_FAILED", "COMPLETED"}

func (s *Server) billing() (Billing, *APIError) {
	life, apiErr := s.lifecycleOrErr()
	if apiErr != nil {
		return nil, apiErr
	}
	b, ok := life.(Billing)
	if !ok {
		return nil, &APIError{Code: CodeUnknownOperation, Message: "this agreement API emulator does not model billing"}
	}
	return b, nil
}

// optionalFilters reads agreementType and catalog, which must name the only
// values the emulator has.
func optionalFilters(in input) *APIError {
	if v, ok, apiErr := in.str("agreementType"); apiErr != nil {
		return apiErr
	} else if ok && v != DefaultAgreementType {
		return validationError("INVALID_AGREEMENT_TYPE", "agreementType", "agreementType must be "+DefaultAgreementType)
	}
	if v, ok, apiErr := in.str("catalog"); apiErr != nil {
		return apiErr
	} else if ok && v != Catalog {
		return validationError("INVALID_CATALOG", "catalog", "catalog must be "+Catalog)
	}
	return nil
}

func optionalAgreementID(in input) (string, *APIError) {
	v, ok, apiErr := in.str("agreementId")
	if apiErr != nil || !ok {
		return "", apiErr
	}
	if !validAgreementID(v) {
		return "", validationError("INVALID_AGREEMENT_ID", "agreementId", "agreementId must be 1-64 characters matching ^[A-Za-z0-9_/-]+$")
	}
	return v, nil
}

func (in input) timestamp(name string) (*time.Time, *APIError) {
	switch v := in.m[name].(type) {
	case nil:
		return nil, nil
	case time.Time:
		return &v, nil
	case int64:
		t := time.Unix(v, 0).UTC()
		return &t, nil
	case float64:
		t := time.UnixMilli(int64(v * 1000)).UTC()
		return &t, nil
	default:
		return nil, serializationError("member %s: expected a timestamp, got %s", name, kindOf(v))
	}
}

// ---- ListAgreementCharges ----

func (s *Server) listAgreementCharges(in input) (obj, *APIError) {
	b, apiErr := s.billing()
	if apiErr != nil {
		return nil, apiErr
	}
	id, apiErr := optionalAgreementID(in)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := optionalFilters(in); apiErr != nil {
		return nil, apiErr
	}
	limit, apiErr := maxResultsParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	key := "agreementId=" + id
	offset, apiErr := nextTokenParam(in, OpListAgreementCharges, key)
	if apiErr != nil {
		return nil, apiErr
	}
	charges, err := b.Charges(id)
	if err != nil {
		return nil, asAPIError(err)
	}
	page, next := paginate(charges, offset, limit)
	items := make([]any, len(page))
	for i, c := range page {
		items[i] = obj{"id": c.ID, "agreementId": c.AgreementID, "agreementType": DefaultAgreementType, "amount": c.Amount,
			"currencyCode": c.Currency, "time": c.Time, "revision": int64(1)}
	}
	out := obj{"items": items}
	if next >= 0 {
		out["nextToken"] = encodeToken(OpListAgreementCharges, key, next)
	}
	return out, nil
}

// ---- ListAgreementInvoiceLineItems ----

func (s *Server) listAgreementInvoiceLineItems(in input) (obj, *APIError) {
	b, apiErr := s.billing()
	if apiErr != nil {
		return nil, apiErr
	}
	id, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	groupBy, ok, apiErr := in.str("groupBy")
	if apiErr != nil {
		return nil, apiErr
	}
	if !ok || groupBy != "INVOICE_ID" {
		// LineItemGroupBy has the one value INVOICE_ID (SDK types/enums.go).
		return nil, validationError("OTHER", "groupBy", "groupBy is required and must be INVOICE_ID")
	}
	invoiceID, _, apiErr := in.str("invoiceId")
	if apiErr != nil {
		return nil, apiErr
	}
	invoiceType, ok, apiErr := in.str("invoiceType")
	if apiErr != nil {
		return nil, apiErr
	}
	if ok && invoiceType != "INVOICE" && invoiceType != "CREDIT_MEMO" {
		return nil, validationError("INVALID_FILTERS", "invoiceType", "invoiceType must be INVOICE or CREDIT_MEMO")
	}
	after, apiErr := in.timestamp("afterIssuedTime")
	if apiErr != nil {
		return nil, apiErr
	}
	before, apiErr := in.timestamp("beforeIssuedTime")
	if apiErr != nil {
		return nil, apiErr
	}
	period, hasPeriod, apiErr := in.object("invoiceBillingPeriod")
	if apiErr != nil {
		return nil, apiErr
	}
	var year, month int64
	if hasPeriod {
		var okY, okM bool
		if month, okM, apiErr = period.integer("month"); apiErr != nil {
			return nil, apiErr
		}
		if year, okY, apiErr = period.integer("year"); apiErr != nil {
			return nil, apiErr
		}
		if !okM || !okY || month < 1 || month > 12 {
			return nil, validationError("INVALID_FILTERS", "invoiceBillingPeriod", "invoiceBillingPeriod needs month (1-12) and year")
		}
	}
	limit, apiErr := maxResultsParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	key := fmt.Sprintf("agreementId=%s\x00invoice=%s\x00type=%s\x00after=%v\x00before=%v\x00period=%d-%d", id, invoiceID, invoiceType, after, before, year, month)
	offset, apiErr := nextTokenParam(in, OpListAgreementInvoiceLineItems, key)
	if apiErr != nil {
		return nil, apiErr
	}
	all, err := b.Invoices(id)
	if err != nil {
		return nil, asAPIError(err)
	}
	var matched []Invoice
	for _, inv := range all {
		if (invoiceID == "" || inv.ID == invoiceID) && (invoiceType == "" || inv.Type == invoiceType) &&
			(after == nil || inv.Issued.After(*after)) && (before == nil || inv.Issued.Before(*before)) &&
			(!hasPeriod || int64(inv.Year) == year && int64(inv.Month) == month) {
			matched = append(matched, inv)
		}
	}
	page, next := paginate(matched, offset, limit)
	items := make([]any, len(page))
	for i, inv := range page {
		items[i] = obj{"agreementId": inv.AgreementID, "invoiceId": inv.ID, "invoiceType": inv.Type, "issuedTime": inv.Issued,
			"invoiceBillingPeriod":  obj{"month": int64(inv.Month), "year": int64(inv.Year)},
			"pricingCurrencyAmount": obj{"amount": inv.Amount, "currencyCode": inv.Currency, "maxAdjustmentAmount": inv.MaxAdjustment}}
	}
	out := obj{"agreementInvoiceLineItemGroupSummaries": items}
	if next >= 0 {
		out["nextToken"] = encodeToken(OpListAgreementInvoiceLineItems, key, next)
	}
	return out, nil
}

// ---- BatchCreateBillingAdjustmentRequest ----

func (s *Server) batchCreateBillingAdjustmentRequest(in input) (obj, *APIError) {
	b, apiErr := s.billing()
	if apiErr != nil {
		return nil, apiErr
	}
	raw, _, apiErr := in.list("billingAdjustmentRequestEntries")
	if apiErr != nil {
		return nil, apiErr
	}
	if len(raw) == 0 {
		return nil, validationError("MISSING_BILLING_ADJUSTMENTS", "billingAdjustmentRequestEntries", "billingAdjustmentRequestEntries must hold at least one entry")
	}
	entries := make([]AdjustmentEntry, len(raw))
	for i, item := range raw {
		field := fmt.Sprintf("billingAdjustmentRequestEntries[%d]", i)
		e, ok, apiErr := asObject(item, field)
		if apiErr != nil {
			return nil, apiErr
		}
		if !ok {
			return nil, validationError("MISSING_BILLING_ADJUSTMENT_REQUEST_ENTRY", field, "entries must not be null")
		}
		id, apiErr := agreementIDParam(e)
		if apiErr != nil {
			return nil, apiErr
		}
		var vals [6]string
		for j, name := range []string{"originalInvoiceId", "adjustmentAmount", "currencyCode", "adjustmentReasonCode", "description", "clientToken"} {
			v, _, apiErr := e.str(name)
			if apiErr != nil {
				return nil, apiErr
			}
			vals[j] = v
		}
		entries[i] = AdjustmentEntry{AgreementID: id, InvoiceID: vals[0], Amount: vals[1], Currency: vals[2], ReasonCode: vals[3],
			Description: vals[4], ClientToken: vals[5]}
	}
	results, err := b.CreateBillingAdjustments(entries)
	if err != nil {
		return nil, asAPIError(err)
	}
	items, errs := []any{}, []any{}
	for _, r := range results {
		if r.ErrorCode != "" {
			errs = append(errs, obj{"clientToken": r.ClientToken, "code": r.ErrorCode, "message": r.Message})
		} else {
			items = append(items, obj{"billingAdjustmentRequestId": r.RequestID, "clientToken": r.ClientToken})
		}
	}
	return obj{"items": items, "errors": errs}, nil
}

// ---- GetBillingAdjustmentRequest ----

func (s *Server) getBillingAdjustmentRequest(in input) (obj, *APIError) {
	b, apiErr := s.billing()
	if apiErr != nil {
		return nil, apiErr
	}
	baID, ok, apiErr := in.str("billingAdjustmentRequestId")
	if apiErr != nil {
		return nil, apiErr
	}
	if !ok || !billingAdjustmentIDPattern.MatchString(baID) {
		return nil, validationError("OTHER", "billingAdjustmentRequestId", "billingAdjustmentRequestId is required: 1-64 characters matching ba-[a-zA-Z0-9]+")
	}
	id, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	ba, err := b.GetBillingAdjustment(id, baID)
	if err != nil {
		return nil, asAPIError(err)
	}
	return obj{"billingAdjustmentRequestId": ba.ID, "agreementId": ba.AgreementID, "adjustmentReasonCode": ba.ReasonCode,
		"description": strOrNil(ba.Description), "originalInvoiceId": ba.InvoiceID, "adjustmentAmount": ba.Amount,
		"currencyCode": ba.Currency, "status": ba.Status, "statusMessage": strOrNil(ba.StatusMessage),
		"createdAt": ba.CreatedAt, "updatedAt": ba.UpdatedAt}, nil
}

// ---- ListBillingAdjustmentRequests ----

func (s *Server) listBillingAdjustmentRequests(in input) (obj, *APIError) {
	b, apiErr := s.billing()
	if apiErr != nil {
		return nil, apiErr
	}
	id, apiErr := optionalAgreementID(in)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := optionalFilters(in); apiErr != nil {
		return nil, apiErr
	}
	status, ok, apiErr := in.str("status")
	if apiErr != nil {
		return nil, apiErr
	}
	if ok && !slices.Contains(adjustmentStatuses, status) {
		return nil, validationError("INVALID_STATUS", "status", "status must be PENDING, VALIDATION_FAILED or COMPLETED")
	}
	after, apiErr := in.timestamp("createdAfter")
	if apiErr != nil {
		return nil, apiErr
	}
	before, apiErr := in.timestamp("createdBefore")
	if apiErr != nil {
		return nil, apiErr
	}
	limit, apiErr := maxResultsParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	key := fmt.Sprintf("agreementId=%s\x00status=%s\x00after=%v\x00before=%v", id, status, after, before)
	offset, apiErr := nextTokenParam(in, OpListBillingAdjustmentRequests, key)
	if apiErr != nil {
		return nil, apiErr
	}
	all, err := b.ListBillingAdjustments(id, status)
	if err != nil {
		return nil, asAPIError(err)
	}
	var matched []BillingAdjustment
	for _, ba := range all {
		if (after == nil || ba.CreatedAt.After(*after)) && (before == nil || ba.CreatedAt.Before(*before)) {
			matched = append(matched, ba)
		}
	}
	page, next := paginate(matched, offset, limit)
	items := make([]any, len(page))
	for i, ba := range page {
		items[i] = obj{"billingAdjustmentRequestId": ba.ID, "agreementId": ba.AgreementID, "agreementType": DefaultAgreementType,
			"catalog": Catalog, "originalInvoiceId": ba.InvoiceID, "adjustmentAmount": ba.Amount, "currencyCode": ba.Currency,
			"status": ba.Status, "createdAt": ba.CreatedAt, "updatedAt": ba.UpdatedAt}
	}
	out := obj{"items": items}
	if next >= 0 {
		out["nextToken"] = encodeToken(OpListBillingAdjustmentRequests, key, next)
	}
	return out, nil
}
