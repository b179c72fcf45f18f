package agreementapi

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	minMaxResults     = 1
	maxMaxResults     = 50
	defaultMaxResults = 50
	maxNextTokenLen   = 1024
	maxAgreementIDLen = 64
)

// ---- DescribeAgreement ----

func (s *Server) describeAgreement(in input) (obj, *APIError) {
	id, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	a, ok := s.lookup(id)
	if !ok {
		return nil, notFound(id)
	}
	out := obj{
		"agreementId":        a.AgreementID,
		"acceptor":           party(a.AcceptorAccountID),
		"proposer":           party(a.ProposerAccountID),
		"startTime":          timeOrNil(a.StartTime),
		"endTime":            timeOrNil(a.EndTime),
		"acceptanceTime":     timeOrNil(a.AcceptanceTime),
		"agreementType":      orDefault(a.AgreementType, DefaultAgreementType),
		"proposalSummary":    proposalSummary(a),
		"status":             orDefault(a.Status, DefaultStatus),
		"initialAgreementId": strOrNil(a.InitialAgreementID),
	}
	if a.Currency != "" || a.EstimatedValue != "" {
		out["estimatedCharges"] = obj{
			"currencyCode":   strOrNil(a.Currency),
			"agreementValue": strOrNil(a.EstimatedValue),
		}
	}
	return out, nil
}

// ---- GetAgreementTerms ----

func (s *Server) getAgreementTerms(in input) (obj, *APIError) {
	id, apiErr := agreementIDParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	limit, apiErr := maxResultsParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	key := "agreementId=" + id
	offset, apiErr := nextTokenParam(in, OpGetAgreementTerms, key)
	if apiErr != nil {
		return nil, apiErr
	}
	a, ok := s.lookup(id)
	if !ok {
		return nil, notFound(id)
	}

	page, next := paginate(a.Terms, offset, limit)
	terms := make([]any, len(page))
	for i, t := range page {
		member, body := termValue(t)
		terms[i] = obj{member: body}
	}
	out := obj{"acceptedTerms": terms}
	if next >= 0 {
		out["nextToken"] = encodeToken(OpGetAgreementTerms, key, next)
	}
	return out, nil
}

// termValue returns the acceptedTerms union member name and its structure.
func termValue(t Term) (string, obj) {
	m := obj{"type": strOrNil(t.Type), "id": strOrNil(t.ID)}
	switch t.Type {
	case TermLegal:
		if t.Documents != nil {
			docs := make([]any, len(t.Documents))
			for i, d := range t.Documents {
				docs[i] = obj{"type": strOrNil(d.Type), "url": strOrNil(d.URL), "version": strOrNil(d.Version)}
			}
			m["documents"] = docs
		}
	case TermSupport:
		m["refundPolicy"] = strOrNil(t.RefundPolicy)
	case TermRenewal:
		if t.EnableAutoRenew != nil {
			m["configuration"] = obj{"enableAutoRenew": *t.EnableAutoRenew}
		}
	case TermUsageBasedPricing:
		m["currencyCode"] = strOrNil(t.CurrencyCode)
		if t.RateCards != nil {
			cards := make([]any, len(t.RateCards))
			for i, rc := range t.RateCards {
				cards[i] = obj{"rateCard": rateCardItems(rc.Items)}
			}
			m["rateCards"] = cards
		}
	case TermConfigurableUpfrontPricing:
		m["currencyCode"] = strOrNil(t.CurrencyCode)
		if t.RateCards != nil {
			cards := make([]any, len(t.RateCards))
			for i, rc := range t.RateCards {
				card := obj{"rateCard": rateCardItems(rc.Items)}
				if rc.Selector != nil {
					card["selector"] = obj{"type": strOrNil(rc.Selector.Type), "value": strOrNil(rc.Selector.Value)}
				}
				if rc.Constraints != nil {
					card["constraints"] = obj{
						"multipleDimensionSelection": strOrNil(rc.Constraints.MultipleDimensionSelection),
						"quantityConfiguration":      strOrNil(rc.Constraints.QuantityConfiguration),
					}
				}
				cards[i] = card
			}
			m["rateCards"] = cards
		}
		if c := t.Configuration; c != nil {
			conf := obj{"selectorValue": strOrNil(c.SelectorValue)}
			if c.Dimensions != nil {
				dims := make([]any, len(c.Dimensions))
				for i, d := range c.Dimensions {
					dims[i] = obj{"dimensionKey": strOrNil(d.DimensionKey), "dimensionValue": int64(d.DimensionValue)}
				}
				conf["dimensions"] = dims
			}
			m["configuration"] = conf
		}
	case TermByolPricing:
	case TermRecurringPayment:
		m["currencyCode"] = strOrNil(t.CurrencyCode)
		m["billingPeriod"] = strOrNil(t.BillingPeriod)
		m["price"] = strOrNil(t.Price)
	case TermValidity:
		m["agreementDuration"] = strOrNil(t.AgreementDuration)
		m["agreementStartDate"] = timeOrNil(t.AgreementStartDate)
		m["agreementEndDate"] = timeOrNil(t.AgreementEndDate)
	case TermPaymentSchedule:
		m["currencyCode"] = strOrNil(t.CurrencyCode)
		if t.Schedule != nil {
			items := make([]any, len(t.Schedule))
			for i, it := range t.Schedule {
				item := obj{"chargeAmount": strOrNil(it.ChargeAmount)}
				if !it.ChargeDate.IsZero() {
					item["chargeDate"] = it.ChargeDate
				}
				items[i] = item
			}
			m["schedule"] = items
		}
	case TermFreeTrialPricing:
		m["duration"] = strOrNil(t.Duration)
		m["grants"] = grants(t.Grants)
	case TermFixedUpfrontPricing:
		m["currencyCode"] = strOrNil(t.CurrencyCode)
		m["duration"] = strOrNil(t.Duration)
		m["price"] = strOrNil(t.Price)
		m["grants"] = grants(t.Grants)
	case TermVariablePayment:
		m["currencyCode"] = strOrNil(t.CurrencyCode)
		m["maxTotalChargeAmount"] = strOrNil(t.MaxTotalChargeAmount)
		if t.PaymentRequestApprovalStrategy != "" || t.ExpirationDuration != "" {
			m["configuration"] = obj{
				"paymentRequestApprovalStrategy": strOrNil(t.PaymentRequestApprovalStrategy),
				"expirationDuration":             strOrNil(t.ExpirationDuration),
			}
		}
	case TermNetPayment:
		m["paymentDuePeriod"] = strOrNil(t.PaymentDuePeriod)
	}
	member := "unknownTerm"
	if t.Type != "" {
		member = strings.ToLower(t.Type[:1]) + t.Type[1:]
	}
	return member, m
}

func rateCardItems(items []RateCardItem) any {
	if items == nil {
		return nil
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = obj{"dimensionKey": strOrNil(it.DimensionKey), "price": strOrNil(it.Price)}
	}
	return out
}

func grants(gs []Grant) any {
	if gs == nil {
		return nil
	}
	out := make([]any, len(gs))
	for i, g := range gs {
		item := obj{"dimensionKey": strOrNil(g.DimensionKey)}
		if g.MaxQuantity != nil {
			item["maxQuantity"] = int64(*g.MaxQuantity)
		}
		out[i] = item
	}
	return out
}

// ---- SearchAgreements ----

// Filters SearchAgreements matches against stored agreements.
var stringFilters = map[string]func(a Agreement) []string{
	"AgreementType":      func(a Agreement) []string { return []string{orDefault(a.AgreementType, DefaultAgreementType)} },
	"AcceptorAccountId":  func(a Agreement) []string { return []string{a.AcceptorAccountID} },
	"OfferId":            func(a Agreement) []string { return []string{a.OfferID} },
	"Status":             func(a Agreement) []string { return []string{orDefault(a.Status, DefaultStatus)} },
	"ResourceIdentifier": func(a Agreement) []string { return []string{a.ProductID} },
	"ResourceType":       func(a Agreement) []string { return []string{orDefault(a.ProductType, DefaultProductType)} },
	"InitialAgreementId": func(a Agreement) []string { return []string{a.InitialAgreementID} },
	"LicenseArn":         func(a Agreement) []string { return a.LicenseArns },
}

// Time filters: value is an RFC 3339 timestamp; an agreement without the
// time never matches.
var timeFilters = map[string]struct {
	field  func(a Agreement) *time.Time
	before bool
}{
	"BeforeEndTime":        {func(a Agreement) *time.Time { return a.EndTime }, true},
	"AfterEndTime":         {func(a Agreement) *time.Time { return a.EndTime }, false},
	"BeforeStartTime":      {func(a Agreement) *time.Time { return a.StartTime }, true},
	"AfterStartTime":       {func(a Agreement) *time.Time { return a.StartTime }, false},
	"BeforeLastUpdateTime": {func(a Agreement) *time.Time { return a.LastUpdateTime }, true},
	"AfterLastUpdateTime":  {func(a Agreement) *time.Time { return a.LastUpdateTime }, false},
}

// Filters the real service accepts that the emulator does not model.
var unsupportedFilters = map[string]bool{
	"OfferSetId":                true,
	"EndTimeBehaviorType":       true,
	"EndTimeBehaviorReasonCode": true,
}

var sortFields = map[string]func(a Agreement) *time.Time{
	"EndTime":        func(a Agreement) *time.Time { return a.EndTime },
	"StartTime":      func(a Agreement) *time.Time { return a.StartTime },
	"LastUpdateTime": func(a Agreement) *time.Time { return a.LastUpdateTime },
}

type searchFilter struct {
	name, value string
	at          time.Time
}

func (s *Server) searchAgreements(in input) (obj, *APIError) {
	catalog, ok, apiErr := in.str("catalog")
	if apiErr != nil {
		return nil, apiErr
	}
	if ok && catalog != Catalog {
		return nil, validationError("INVALID_CATALOG", "catalog", fmt.Sprintf("catalog must be %s", Catalog))
	}

	filters, apiErr := searchFiltersParam(in)
	if apiErr != nil {
		return nil, apiErr
	}

	sortBy, sortOrder := "EndTime", "ASCENDING"
	sortIn, _, apiErr := in.object("sort")
	if apiErr != nil {
		return nil, apiErr
	}
	if v, ok, apiErr := sortIn.str("sortBy"); apiErr != nil {
		return nil, apiErr
	} else if ok {
		if _, known := sortFields[v]; !known {
			return nil, validationError("INVALID_SORT_BY", "sort.sortBy", "sortBy must be EndTime, StartTime or LastUpdateTime")
		}
		sortBy = v
	}
	if v, ok, apiErr := sortIn.str("sortOrder"); apiErr != nil {
		return nil, apiErr
	} else if ok {
		if v != "ASCENDING" && v != "DESCENDING" {
			return nil, validationError("INVALID_SORT_ORDER", "sort.sortOrder", "sortOrder must be ASCENDING or DESCENDING")
		}
		sortOrder = v
	}

	limit, apiErr := maxResultsParam(in)
	if apiErr != nil {
		return nil, apiErr
	}
	keyParts := []string{"catalog=" + catalog, "sortBy=" + sortBy, "sortOrder=" + sortOrder}
	for _, f := range filters {
		keyParts = append(keyParts, "filter:"+f.name+"="+f.value)
	}
	key := strings.Join(keyParts, "\x00")
	offset, apiErr := nextTokenParam(in, OpSearchAgreements, key)
	if apiErr != nil {
		return nil, apiErr
	}

	var matched []Agreement
	for _, a := range s.snapshot() {
		if matchAll(a, filters) {
			matched = append(matched, a)
		}
	}
	field := sortFields[sortBy]
	slices.SortFunc(matched, func(x, y Agreement) int {
		tx, ty := field(x), field(y)
		switch {
		case tx == nil && ty == nil:
		case tx == nil:
			return 1 // agreements without the time sort last
		case ty == nil:
			return -1
		default:
			c := tx.Compare(*ty)
			if sortOrder == "DESCENDING" {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Compare(x.AgreementID, y.AgreementID)
	})

	page, next := paginate(matched, offset, limit)
	summaries := make([]any, len(page))
	for i, a := range page {
		summaries[i] = viewSummary(a)
	}
	out := obj{"agreementViewSummaries": summaries}
	if next >= 0 {
		out["nextToken"] = encodeToken(OpSearchAgreements, key, next)
	}
	return out, nil
}

func searchFiltersParam(in input) ([]searchFilter, *APIError) {
	raw, _, apiErr := in.list("filters")
	if apiErr != nil {
		return nil, apiErr
	}
	var filters []searchFilter
	seen := map[string]bool{}
	for i, item := range raw {
		field := fmt.Sprintf("filters[%d]", i)
		f, ok, apiErr := asObject(item, field)
		if apiErr != nil {
			return nil, apiErr
		}
		if !ok {
			return nil, validationError("INVALID_FILTERS", field, "filters must not contain null entries")
		}
		name, ok, apiErr := f.str("name")
		if apiErr != nil {
			return nil, apiErr
		}
		if !ok || name == "" {
			return nil, validationError("MISSING_FILTER_NAME", field+".name", "filter name is required")
		}
		vals, _, apiErr := f.list("values")
		if apiErr != nil {
			return nil, apiErr
		}
		if len(vals) == 0 {
			return nil, validationError("MISSING_FILTER_VALUES", field+".values", "filter "+name+" requires a value")
		}
		if len(vals) != 1 {
			return nil, validationError("INVALID_FILTER_VALUES", field+".values", "filter "+name+" accepts exactly one value")
		}
		value, ok, apiErr := asString(vals[0], field+".values[0]")
		if apiErr != nil {
			return nil, apiErr
		}
		if !ok || value == "" {
			return nil, validationError("INVALID_FILTER_VALUES", field+".values", "filter "+name+" value must not be empty")
		}
		if seen[name] {
			return nil, validationError("INVALID_FILTERS", field+".name", "filter "+name+" is given more than once")
		}
		seen[name] = true

		sf := searchFilter{name: name, value: value}
		_, isString := stringFilters[name]
		_, isTime := timeFilters[name]
		switch {
		case name == "PartyType":
			if value != "Proposer" && value != "Acceptor" {
				return nil, validationError("INVALID_PARTY_TYPE", field+".values", "PartyType must be Proposer or Acceptor")
			}
		case isString:
		case isTime:
			at, err := time.Parse(time.RFC3339, value)
			if err != nil {
				return nil, validationError("INVALID_FILTER_VALUES", field+".values", "filter "+name+" requires an RFC 3339 timestamp")
			}
			sf.at = at
		case unsupportedFilters[name]:
			return nil, validationError("UNSUPPORTED_FILTERS", field+".name", "filter "+name+" is not supported by the agreement API emulator")
		default:
			return nil, validationError("INVALID_FILTER_NAME", field+".name", "unknown filter name "+name)
		}
		filters = append(filters, sf)
	}
	slices.SortFunc(filters, func(x, y searchFilter) int { return cmp.Compare(x.name, y.name) })
	return filters, nil
}

func matchAll(a Agreement, filters []searchFilter) bool {
	for _, f := range filters {
		if get, ok := stringFilters[f.name]; ok {
			if !slices.Contains(get(a), f.value) {
				return false
			}
			continue
		}
		if tf, ok := timeFilters[f.name]; ok {
			t := tf.field(a)
			if t == nil {
				return false
			}
			if tf.before && !t.Before(f.at) || !tf.before && !t.After(f.at) {
				return false
			}
		}
		// PartyType: the emulator has no caller identity; it only validates.
	}
	return true
}

func viewSummary(a Agreement) obj {
	m := obj{
		"agreementId":        a.AgreementID,
		"acceptanceTime":     timeOrNil(a.AcceptanceTime),
		"startTime":          timeOrNil(a.StartTime),
		"endTime":            timeOrNil(a.EndTime),
		"lastUpdateTime":     timeOrNil(a.LastUpdateTime),
		"agreementType":      orDefault(a.AgreementType, DefaultAgreementType),
		"acceptor":           party(a.AcceptorAccountID),
		"proposer":           party(a.ProposerAccountID),
		"proposalSummary":    proposalSummary(a),
		"status":             orDefault(a.Status, DefaultStatus),
		"initialAgreementId": strOrNil(a.InitialAgreementID),
	}
	if len(a.LicenseArns) > 0 {
		ents := make([]any, len(a.LicenseArns))
		for i, arn := range a.LicenseArns {
			ents[i] = obj{"licenseArn": arn}
		}
		m["entitlements"] = ents
	}
	return m
}

// ---- shared parameters and rendering ----

func validAgreementID(id string) bool {
	if len(id) < 1 || len(id) > maxAgreementIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '/' || c == '-') {
			return false
		}
	}
	return true
}

func agreementIDParam(in input) (string, *APIError) {
	id, ok, apiErr := in.str("agreementId")
	if apiErr != nil {
		return "", apiErr
	}
	if !ok {
		return "", validationError("MISSING_AGREEMENT_ID", "agreementId", "agreementId is required")
	}
	if !validAgreementID(id) {
		return "", validationError("INVALID_AGREEMENT_ID", "agreementId",
			"agreementId must be 1-64 characters matching ^[A-Za-z0-9_/-]+$")
	}
	return id, nil
}

func maxResultsParam(in input) (int, *APIError) {
	n, ok, apiErr := in.integer("maxResults")
	if apiErr != nil {
		return 0, apiErr
	}
	if !ok {
		return defaultMaxResults, nil
	}
	if n < minMaxResults || n > maxMaxResults {
		return 0, validationError("INVALID_MAX_RESULTS", "maxResults",
			fmt.Sprintf("maxResults must be between %d and %d", minMaxResults, maxMaxResults))
	}
	return int(n), nil
}

// nextTokenParam returns the page offset encoded in nextToken (0 when
// absent). Tokens are bound to the operation and its query (key).
func nextTokenParam(in input, op, key string) (int, *APIError) {
	tok, ok, apiErr := in.str("nextToken")
	if apiErr != nil {
		return 0, apiErr
	}
	if !ok {
		return 0, nil
	}
	offset, valid := decodeToken(tok, op, key)
	if !valid {
		return 0, validationError("INVALID_NEXT_TOKEN", "nextToken", "nextToken is invalid or does not belong to this request")
	}
	return offset, nil
}

func tokenFingerprint(op, key string) string {
	h := fnv.New64a()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return strconv.FormatUint(h.Sum64(), 16)
}

func encodeToken(op, key string, offset int) string {
	raw := "v1:" + tokenFingerprint(op, key) + ":" + strconv.Itoa(offset)
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

func decodeToken(tok, op, key string) (int, bool) {
	if len(tok) == 0 || len(tok) > maxNextTokenLen {
		return 0, false
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != "v1" || parts[1] != tokenFingerprint(op, key) {
		return 0, false
	}
	offset, err := strconv.Atoi(parts[2])
	if err != nil || offset < 1 {
		return 0, false
	}
	return offset, true
}

// paginate returns items[offset:offset+limit] and the next offset, or -1
// when there is no further page.
func paginate[T any](items []T, offset, limit int) ([]T, int) {
	if offset >= len(items) {
		return nil, -1
	}
	end := offset + limit
	if end >= len(items) {
		return items[offset:], -1
	}
	return items[offset:end], end
}

func party(accountID string) any {
	if accountID == "" {
		return nil
	}
	return obj{"accountId": accountID}
}

func proposalSummary(a Agreement) any {
	if a.OfferID == "" && a.ProductID == "" {
		return nil
	}
	m := obj{"offerId": strOrNil(a.OfferID)}
	if a.ProductID != "" {
		m["resources"] = []any{obj{"id": a.ProductID, "type": orDefault(a.ProductType, DefaultProductType)}}
	}
	return m
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
