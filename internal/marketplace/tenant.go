package marketplace

import (
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Tenant strategies: how the licenses of one buyer account map onto tenants of
// the vendor's SaaS app (the Concurrent Agreements guide asks every vendor to
// choose one).
const (
	// StrategySeparate makes a new tenant for each license.
	StrategySeparate = "separate"
	// StrategyUnified attaches every license of one buyer account for the
	// product to one tenant.
	StrategyUnified = "unified"
	// StrategyChoice lets the buyer create a new tenant or attach the license to
	// an existing tenant of the same AWS account.
	StrategyChoice = "choice"
)

// Where a tenant or a tenant's license came from.
const (
	SourceRegistration = "registration" // the buyer filled in the registration page
	SourceAuto         = "auto"         // registered by Concord from a private offer's registration details
	SourceLineage      = "lineage"      // an amendment or renewal of a license the tenant already held
	SourceAPI          = "api"          // attached by the vendor through the API
)

// Built-in registration field keys: they fill the tenant's own columns.
const (
	FieldCompany     = "company"
	FieldContactName = "contactName"
	FieldEmail       = "email"
)

// Registration field types.
var fieldTypes = map[string]bool{"text": true, "textarea": true, "email": true, "tel": true, "url": true, "number": true, "select": true, "checkbox": true}

// RegistrationField is one question on the registration page.
type RegistrationField struct {
	Key      string   `json:"key" doc:"Form field name; company, contactName and email fill the tenant's own columns."`
	Label    string   `json:"label"`
	Type     string   `json:"type" enum:"text,textarea,email,tel,url,number,select,checkbox"`
	Required bool     `json:"required,omitempty"`
	Options  []string `json:"options,omitempty" doc:"The choices of a select field."`
	Help     string   `json:"help,omitempty"`
}

// Registration is the vendor's configuration of the buyer registration page for
// one product.
type Registration struct {
	Strategy   string              `json:"strategy,omitempty" enum:"separate,unified,choice," doc:"Tenant strategy; separate when empty."`
	LogoURL    string              `json:"logoUrl,omitempty"`
	SupportURL string              `json:"supportUrl,omitempty"`
	AppURL     string              `json:"appUrl,omitempty" doc:"Where the buyer continues after registering."`
	Fields     []RegistrationField `json:"fields,omitempty" doc:"The questions, in order. Defaults to company, contact name and email."`
	// AutoRegisterAfter is how long Concord waits for the buyer before it
	// registers a private offer's buyer from the offer's registration details
	// ("1h" when empty, "off" to never).
	AutoRegisterAfter string `json:"autoRegisterAfter,omitempty" doc:"A Go duration such as 1h or 30m, or off. Default 1h."`
}

// DefaultFields are the questions asked when a product configures none.
func DefaultFields() []RegistrationField {
	return []RegistrationField{
		{Key: FieldCompany, Label: "Company name", Type: "text", Required: true},
		{Key: FieldContactName, Label: "Your name", Type: "text", Required: true},
		{Key: FieldEmail, Label: "Work email", Type: "email", Required: true},
	}
}

// Normalized returns r with defaults filled in: the strategy, the fields, and
// the company field, which every tenant needs, first if it was left out.
func (r Registration) Normalized() Registration {
	if r.Strategy == "" {
		r.Strategy = StrategySeparate
	}
	if len(r.Fields) == 0 {
		r.Fields = DefaultFields()
	}
	has := false
	for _, f := range r.Fields {
		has = has || f.Key == FieldCompany
	}
	if !has {
		r.Fields = append([]RegistrationField{DefaultFields()[0]}, r.Fields...)
	}
	return r
}

// AutoRegisterDelay is how long to wait before auto-registering; ok is false
// when auto-registration is off.
func (r Registration) AutoRegisterDelay() (d time.Duration, ok bool) {
	switch strings.TrimSpace(r.AutoRegisterAfter) {
	case "":
		return time.Hour, true
	case "off":
		return 0, false
	}
	d, err := time.ParseDuration(r.AutoRegisterAfter)
	return d, err == nil && d >= 0
}

var fieldKeyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// ValidFieldKey reports whether k can name a registration field.
func ValidFieldKey(k string) bool { return fieldKeyPattern.MatchString(k) }

// Validate checks the configuration as the vendor sends it.
func (r Registration) Validate() error {
	switch r.Strategy {
	case "", StrategySeparate, StrategyUnified, StrategyChoice:
	default:
		return Errorf(EInvalid, "registration strategy %q is invalid: use separate, unified or choice", r.Strategy)
	}
	for name, u := range map[string]string{"logoUrl": r.LogoURL, "supportUrl": r.SupportURL, "appUrl": r.AppURL} {
		if u != "" && !validWebURL(u) {
			return Errorf(EInvalid, "registration %s %q must be an absolute http(s) URL", name, u)
		}
	}
	if _, ok := r.AutoRegisterDelay(); !ok && strings.TrimSpace(r.AutoRegisterAfter) != "off" {
		return Errorf(EInvalid, "autoRegisterAfter %q is invalid: use a duration such as 1h or 30m, or off", r.AutoRegisterAfter)
	}
	if len(r.Fields) > 30 {
		return Errorf(EInvalid, "at most 30 registration fields")
	}
	seen := map[string]bool{}
	for _, f := range r.Fields {
		if !fieldKeyPattern.MatchString(f.Key) {
			return Errorf(EInvalid, "registration field key %q is invalid: start with a letter, then letters, digits or _ (at most 64)", f.Key)
		}
		if seen[f.Key] {
			return Errorf(EInvalid, "registration field %q appears twice", f.Key)
		}
		seen[f.Key] = true
		if !fieldTypes[f.Type] {
			return Errorf(EInvalid, "registration field %q has type %q: use text, textarea, email, tel, url, number, select or checkbox", f.Key, f.Type)
		}
		if f.Label == "" || len(f.Label) > 200 || len(f.Help) > 500 {
			return Errorf(EInvalid, "registration field %q needs a label of at most 200 characters (help at most 500)", f.Key)
		}
		if (f.Type == "select") != (len(f.Options) > 0) {
			return Errorf(EInvalid, "registration field %q: options belong to select fields, and a select field needs them", f.Key)
		}
		if f.Key == FieldCompany && !f.Required {
			return Errorf(EInvalid, "the company field is always required")
		}
	}
	return nil
}

func validWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(s) <= 2048
}

// Answers are a buyer's registration answers by field key.
type Answers map[string]string

// Check validates answers against the (normalized) fields. It returns the
// cleaned answers (trimmed, only known keys) and, per field key, a message for
// each problem; an empty problems map means the answers are acceptable.
func (r Registration) Check(in Answers) (Answers, map[string]string) {
	r = r.Normalized()
	out, problems := Answers{}, map[string]string{}
	for _, f := range r.Fields {
		v := strings.TrimSpace(in[f.Key])
		if f.Type == "checkbox" {
			if v != "" && v != "false" && v != "off" {
				v = "true"
			} else {
				v = ""
			}
		}
		switch {
		case len(v) > 2000:
			problems[f.Key] = f.Label + " is too long (at most 2,000 characters)."
		case !Storable(v):
			problems[f.Key] = f.Label + " contains characters that cannot be stored."
		case v == "" && f.Required:
			problems[f.Key] = f.Label + " is required."
		case v == "":
		case f.Type == "email":
			if a, err := mail.ParseAddress(v); err != nil || a.Address != v || !strings.Contains(v, "@") {
				problems[f.Key] = f.Label + " must be an email address such as name@example.com."
			}
		case f.Type == "url":
			if !validWebURL(v) {
				problems[f.Key] = f.Label + " must be a web address starting with https://."
			}
		case f.Type == "number":
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				problems[f.Key] = f.Label + " must be a number."
			}
		case f.Type == "select":
			ok := false
			for _, o := range f.Options {
				ok = ok || o == v
			}
			if !ok {
				problems[f.Key] = f.Label + " must be one of the listed choices."
			}
		}
		if v != "" {
			out[f.Key] = v
		}
	}
	return out, problems
}

// Tenant is a tenant of the vendor's SaaS app: owned by the AWS account that
// ResolveCustomer proved, holding one or more licenses.
type Tenant struct {
	TenantID    string            `json:"tenantId"`
	AccountID   string            `json:"accountId"`
	ProductID   string            `json:"productId,omitempty"`
	ProductCode string            `json:"productCode,omitempty"`
	Company     string            `json:"company"`
	ContactName string            `json:"contactName,omitempty"`
	Email       string            `json:"email,omitempty"`
	Fields      map[string]string `json:"fields"`
	// BillingLicenseID is the license usage is billed to unless a usage record
	// names another of the tenant's licenses.
	BillingLicenseID string          `json:"billingLicenseId,omitempty"`
	Source           string          `json:"source"`
	Licenses         []TenantLicense `json:"licenses"`
	CreatedAt        time.Time       `json:"createdAt"`
	UpdatedAt        time.Time       `json:"updatedAt"`
}

// TenantLicense is one license a tenant holds, with its ledger state ("unknown"
// while the license's events have not arrived).
type TenantLicense struct {
	LicenseID   string    `json:"licenseId"`
	LicenseArn  string    `json:"licenseArn"`
	AgreementID string    `json:"agreementId,omitempty"`
	State       string    `json:"state"`
	Billing     bool      `json:"billing" doc:"Usage is billed to this license by default."`
	Source      string    `json:"source"`
	AttachedAt  time.Time `json:"attachedAt"`
}

// LicenseUnknown is a TenantLicense state: registered, but no event about the
// license has arrived yet.
const LicenseUnknown = "unknown"

// Entitlement is one dimension a license is entitled to, as GetEntitlements
// returned it. Exactly one of the value fields is set.
type Entitlement struct {
	Dimension   string     `json:"dimension"`
	Integer     *int64     `json:"integer,omitempty"`
	Double      *float64   `json:"double,omitempty"`
	Boolean     *bool      `json:"boolean,omitempty"`
	String      *string    `json:"string,omitempty"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	LicenseArn  string     `json:"licenseArn,omitempty"`
	AccountID   string     `json:"accountId,omitempty"`
	CustomerID  string     `json:"customerIdentifier,omitempty"`
	ProductCode string     `json:"productCode,omitempty"`
}
