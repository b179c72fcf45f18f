package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Input shapes. Pointers tell an absent member from an empty one.

type tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

type entityInput struct {
	Type       *string `json:"Type"`
	Identifier *string `json:"Identifier"`
}

type changeInput struct {
	ChangeType      *string         `json:"ChangeType"`
	Entity          *entityInput    `json:"Entity"`
	ChangeName      *string         `json:"ChangeName"`
	Details         *string         `json:"Details"`
	DetailsDocument json.RawMessage `json:"DetailsDocument"`
	EntityTags      []tag           `json:"EntityTags"`
}

type startChangeSetInput struct {
	Catalog            *string       `json:"Catalog"`
	ChangeSet          []changeInput `json:"ChangeSet"`
	ChangeSetName      *string       `json:"ChangeSetName"`
	ClientRequestToken *string       `json:"ClientRequestToken"`
	Intent             *string       `json:"Intent"`
	ChangeSetTags      []tag         `json:"ChangeSetTags"`
}

type filter struct {
	Name      *string  `json:"Name"`
	ValueList []string `json:"ValueList"`
}

type sortInput struct {
	SortBy    *string `json:"SortBy"`
	SortOrder *string `json:"SortOrder"`
}

type listChangeSetsInput struct {
	Catalog    *string    `json:"Catalog"`
	FilterList []filter   `json:"FilterList"`
	Sort       *sortInput `json:"Sort"`
	MaxResults *int       `json:"MaxResults"`
	NextToken  *string    `json:"NextToken"`
}

type changeSetQuery struct {
	Catalog     string
	ChangeSetID string
}

type describeEntityInput struct {
	Catalog  string
	EntityID string
}

type batchDescribeInput struct {
	EntityRequestList []struct {
		Catalog  *string `json:"Catalog"`
		EntityId *string `json:"EntityId"`
	} `json:"EntityRequestList"`
}

type valueFilter struct {
	ValueList     []string `json:"ValueList"`
	WildCardValue *string  `json:"WildCardValue"`
}

type dateRangeFilter struct {
	DateRange *struct {
		AfterValue  *string `json:"AfterValue"`
		BeforeValue *string `json:"BeforeValue"`
	} `json:"DateRange"`
}

// saasProductFilters are the SDK's types.SaaSProductFilters.
type saasProductFilters struct {
	EntityId         *valueFilter     `json:"EntityId"`
	ProductTitle     *valueFilter     `json:"ProductTitle"`
	Visibility       *valueFilter     `json:"Visibility"`
	LastModifiedDate *dateRangeFilter `json:"LastModifiedDate"`
}

type offerFilters struct {
	EntityId              *valueFilter     `json:"EntityId"`
	Name                  *valueFilter     `json:"Name"`
	ProductId             *valueFilter     `json:"ProductId"`
	ResaleAuthorizationId *valueFilter     `json:"ResaleAuthorizationId"`
	State                 *valueFilter     `json:"State"`
	Targeting             *valueFilter     `json:"Targeting"`
	BuyerAccounts         *valueFilter     `json:"BuyerAccounts"`
	CreatedBySource       *valueFilter     `json:"CreatedBySource"`
	TargetAgreementId     *valueFilter     `json:"TargetAgreementId"`
	AvailabilityEndDate   *dateRangeFilter `json:"AvailabilityEndDate"`
	LastModifiedDate      *dateRangeFilter `json:"LastModifiedDate"`
	ReleaseDate           *dateRangeFilter `json:"ReleaseDate"`
}

type resaleAuthorizationFilters struct {
	EntityId              *valueFilter     `json:"EntityId"`
	Name                  *valueFilter     `json:"Name"`
	ProductId             *valueFilter     `json:"ProductId"`
	ProductName           *valueFilter     `json:"ProductName"`
	ResellerAccountID     *valueFilter     `json:"ResellerAccountID"`
	ManufacturerAccountId *valueFilter     `json:"ManufacturerAccountId"`
	Status                *valueFilter     `json:"Status"`
	AvailabilityEndDate   *dateRangeFilter `json:"AvailabilityEndDate"`
	CreatedDate           *dateRangeFilter `json:"CreatedDate"`
	LastModifiedDate      *dateRangeFilter `json:"LastModifiedDate"`
}

type listEntitiesInput struct {
	Catalog           *string    `json:"Catalog"`
	EntityType        *string    `json:"EntityType"`
	FilterList        []filter   `json:"FilterList"`
	Sort              *sortInput `json:"Sort"`
	NextToken         *string    `json:"NextToken"`
	MaxResults        *int       `json:"MaxResults"`
	OwnershipType     *string    `json:"OwnershipType"`
	EntityTypeFilters *struct {
		OfferFilters               *offerFilters               `json:"OfferFilters"`
		ResaleAuthorizationFilters *resaleAuthorizationFilters `json:"ResaleAuthorizationFilters"`
		SaaSProductFilters         *saasProductFilters         `json:"SaaSProductFilters"`
	} `json:"EntityTypeFilters"`
	EntityTypeSort *struct {
		OfferSort               *sortInput `json:"OfferSort"`
		ResaleAuthorizationSort *sortInput `json:"ResaleAuthorizationSort"`
		SaaSProductSort         *sortInput `json:"SaaSProductSort"`
	} `json:"EntityTypeSort"`
}

// decodeBody decodes a JSON object request body. Type mismatches and
// malformed JSON are 422 ValidationExceptions, as the service answers them.
func decodeBody(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		e := errValidation("The request body could not be parsed: " + jsonProblem(err))
		e.Fields = []fieldError{{Reason: "CannotParse", Message: jsonProblem(err)}}
		return e
	}
	if dec.More() {
		return errValidation("The request body has trailing data after the JSON object.")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing Go type names.
func jsonProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field != "" {
			return fmt.Sprintf("%s has the wrong type (a JSON %s)", te.Field, te.Value)
		}
		return fmt.Sprintf("unexpected JSON %s", te.Value)
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("malformed JSON at offset %d", se.Offset)
	}
	return "malformed JSON"
}

func parseStartChangeSet(_ *http.Request, body []byte) (any, *apiError) {
	in := new(startChangeSetInput)
	if err := decodeBody(body, in); err != nil {
		return nil, err
	}
	return in, nil
}

func parseListChangeSets(_ *http.Request, body []byte) (any, *apiError) {
	in := new(listChangeSetsInput)
	if err := decodeBody(body, in); err != nil {
		return nil, err
	}
	return in, nil
}

func parseListEntities(_ *http.Request, body []byte) (any, *apiError) {
	in := new(listEntitiesInput)
	if err := decodeBody(body, in); err != nil {
		return nil, err
	}
	return in, nil
}

func parseBatchDescribeEntities(_ *http.Request, body []byte) (any, *apiError) {
	in := new(batchDescribeInput)
	if err := decodeBody(body, in); err != nil {
		return nil, err
	}
	return in, nil
}

var (
	changeSetIDPattern = regexp.MustCompile(`^[\w\-]{1,255}$`)
	entityIDPattern    = regexp.MustCompile(`^[\w\-@]{1,255}$`)
)

func parseChangeSetQuery(r *http.Request, _ []byte) (any, *apiError) {
	q := r.URL.Query()
	in := &changeSetQuery{Catalog: q.Get("catalog"), ChangeSetID: q.Get("changeSetId")}
	if err := checkCatalog(in.Catalog, q.Has("catalog")); err != nil {
		return nil, err
	}
	if !q.Has("changeSetId") || !changeSetIDPattern.MatchString(in.ChangeSetID) {
		return nil, fieldValidation("changeSetId", "changeSetId is required and must match ^[\\w\\-]+$ (1-255 characters)")
	}
	return in, nil
}

func parseDescribeEntity(r *http.Request, _ []byte) (any, *apiError) {
	q := r.URL.Query()
	in := &describeEntityInput{Catalog: q.Get("catalog"), EntityID: q.Get("entityId")}
	if err := checkCatalog(in.Catalog, q.Has("catalog")); err != nil {
		return nil, err
	}
	if !q.Has("entityId") || !entityIDPattern.MatchString(in.EntityID) {
		return nil, fieldValidation("entityId", "entityId is required and must match ^[\\w\\-@]+$ (1-255 characters)")
	}
	return in, nil
}

func checkCatalog(c string, present bool) *apiError {
	if !present {
		return fieldValidation("Catalog", "Catalog is required")
	}
	if c != CatalogName {
		return fieldValidation("Catalog", fmt.Sprintf("Catalog %q is not supported: use %s", c, CatalogName))
	}
	return nil
}

func fieldValidation(field, msg string) *apiError {
	e := errValidation(msg)
	e.Fields = []fieldError{{Field: field, Message: msg, Reason: "FieldValidationFailed"}}
	return e
}

// Timestamps are ISO 8601 strings with second precision in UTC, as the service
// renders StartTime, EndTime and LastModifiedDate.
const isoSeconds = "2006-01-02T15:04:05Z"

func isoTime(t time.Time) string { return t.UTC().Format(isoSeconds) }

func isoPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := isoTime(*t)
	return &s
}

// parseTime accepts the ISO 8601 forms clients send in filters: a full
// timestamp (with or without fractional seconds or offset) or a date.
func parseTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z", "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// pageToken binds a listing offset to the query it pages through.
type pageToken struct {
	Offset int    `json:"o"`
	Query  string `json:"q"`
}

func queryHash(parts ...any) string {
	b, _ := json.Marshal(parts)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func encodeToken(offset int, query string) *string {
	b, _ := json.Marshal(pageToken{Offset: offset, Query: query})
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

func decodeToken(tok *string, query string) (int, *apiError) {
	if tok == nil {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	var pt pageToken
	if err != nil || json.Unmarshal(b, &pt) != nil || pt.Query != query || pt.Offset < 0 {
		return 0, fieldValidation("NextToken", "The NextToken is invalid or belongs to a different request.")
	}
	return pt.Offset, nil
}

func pageSize(max *int, def, limit int, field string) (int, *apiError) {
	if max == nil {
		return def, nil
	}
	if *max < 1 || *max > limit {
		return 0, fieldValidation(field, fmt.Sprintf("MaxResults must be between 1 and %d", limit))
	}
	return *max, nil
}

func sortOrder(in *sortInput) (desc bool, by string, err *apiError) {
	if in == nil {
		return true, "", nil
	}
	if in.SortBy != nil {
		by = *in.SortBy
	}
	if in.SortOrder == nil {
		return true, by, nil
	}
	switch *in.SortOrder {
	case "ASCENDING":
		return false, by, nil
	case "DESCENDING":
		return true, by, nil
	}
	return false, "", fieldValidation("SortOrder", "SortOrder must be ASCENDING or DESCENDING")
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func wildcard(pattern, v string) bool {
	p := strings.Trim(pattern, "*")
	return strings.Contains(strings.ToLower(v), strings.ToLower(p))
}
