package marketplace

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// Product types AWS Marketplace sells as SaaS. Only the contract types can be
// amended, which the offers feature relies on.
const (
	ProductSaaSContract            = "saas_contract"
	ProductSaaSContractConsumption = "saas_contract_consumption"
	ProductSaaSUsage               = "saas_usage"
	ProductProfessionalServices    = "professional_services"
)

// ValidProductType reports whether t is one of the product types above.
func ValidProductType(t string) bool {
	switch t {
	case ProductSaaSContract, ProductSaaSContractConsumption, ProductSaaSUsage, ProductProfessionalServices:
		return true
	}
	return false
}

// Agreement intents as AWS sends them in Purchase Agreement events.
const (
	IntentNew     = "NEW"
	IntentRenew   = "RENEW"
	IntentReplace = "REPLACE"
	IntentAmend   = "AMEND"
)

// Agreement statuses as AWS names them.
const (
	StatusActive     = "ACTIVE"
	StatusArchived   = "ARCHIVED"
	StatusCancelled  = "CANCELLED"
	StatusExpired    = "EXPIRED"
	StatusRenewed    = "RENEWED"
	StatusReplaced   = "REPLACED"
	StatusRolledBack = "ROLLED_BACK"
	StatusSuperseded = "SUPERSEDED"
	StatusTerminated = "TERMINATED"
)

// IsTerminalStatus reports whether an agreement in status s has ended.
func IsTerminalStatus(s string) bool {
	switch s {
	case StatusArchived, StatusCancelled, StatusExpired, StatusRenewed, StatusReplaced,
		StatusRolledBack, StatusSuperseded, StatusTerminated:
		return true
	}
	return false
}

// License states. A license is pending while its agreement has not started
// (future-dated), active while usage is billable, ending during the final metering
// window (agreement ended, license not yet deprovisioned) and deprovisioned after.
const (
	LicensePending       = "pending"
	LicenseActive        = "active"
	LicenseEnding        = "ending"
	LicenseDeprovisioned = "deprovisioned"
)

// ValidLicenseState reports whether s is one of the license states.
func ValidLicenseState(s string) bool {
	switch s {
	case LicensePending, LicenseActive, LicenseEnding, LicenseDeprovisioned:
		return true
	}
	return false
}

// Buyer is an AWS account that has bought through the marketplace.
type Buyer struct {
	AccountID   string    `json:"accountId"`
	FirstSeenAt time.Time `json:"firstSeenAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Dimension is a pricing dimension of a product; metering and entitlements name it
// by its API name (Key).
type Dimension struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
	Unit string `json:"unit,omitempty"`
	// Kind is "contract" (entitlement) or "usage" (metered).
	Kind string `json:"kind,omitempty"`
}

// Product is a listing the vendor sells. Events teach Concord a product's id and
// code; the vendor configures its type, Concurrent Agreements flag and dimensions.
type Product struct {
	ProductID            string      `json:"productId"`
	ProductCode          string      `json:"productCode,omitempty"`
	Title                string      `json:"title,omitempty"`
	Type                 string      `json:"type,omitempty"`
	ConcurrentAgreements bool        `json:"concurrentAgreements"`
	Dimensions           []Dimension `json:"dimensions"`
	// Registration configures the buyer registration page and tenant strategy.
	Registration Registration `json:"registration"`
	// ZeroUsageDimension, when set, is a usage dimension for which Concord sends
	// a zero-quantity record every hour to each license in force that reported
	// no usage in that hour.
	ZeroUsageDimension string `json:"zeroUsageDimension,omitempty"`
	// ContractMetadata lists the contract metadata fields the product's
	// offers carry (the listing's booking fields). A field named exactly
	// "CPPO Opportunity ID" turns on CPPO tracking: partner offers then need
	// it.
	ContractMetadata []MetadataField `json:"contractMetadata"`
	CreatedAt        time.Time       `json:"createdAt"`
	UpdatedAt        time.Time       `json:"updatedAt"`
}

var (
	productIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)
	productCodePattern = regexp.MustCompile(`^[-a-zA-Z0-9/=:_.@]{0,255}$`)
	dimensionPattern   = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,255}$`)
	accountIDPattern   = regexp.MustCompile(`^[0-9]{12}$`)
)

// ValidProductID reports whether s is a product id Concord can store.
func ValidProductID(s string) bool { return productIDPattern.MatchString(s) }

// ValidAccountID reports whether s looks like an AWS account id (12 digits).
func ValidAccountID(s string) bool { return accountIDPattern.MatchString(s) }

// MetadataField is one contract metadata field of a product's offers.
type MetadataField struct {
	Key      string `json:"key" maxLength:"100"`
	Label    string `json:"label,omitempty" maxLength:"255"`
	Required bool   `json:"required,omitempty"`
}

// CPPOOpportunityField is the case-sensitive contract metadata key that turns
// on CPPO tracking.
const CPPOOpportunityField = "CPPO Opportunity ID"

// TracksCPPO reports whether the product's listing turns on CPPO tracking.
func (p *Product) TracksCPPO() bool {
	for _, f := range p.ContractMetadata {
		if f.Key == CPPOOpportunityField {
			return true
		}
	}
	return false
}

// Validate checks a product as the vendor configures it.
func (p *Product) Validate() error {
	if !productIDPattern.MatchString(p.ProductID) {
		return Errorf(EInvalid, "productId %q is invalid: use 1-255 letters, digits, '.', '_' or '-'", p.ProductID)
	}
	if !productCodePattern.MatchString(p.ProductCode) {
		return Errorf(EInvalid, "productCode %q is invalid", p.ProductCode)
	}
	if p.Type != "" && !ValidProductType(p.Type) {
		return Errorf(EInvalid, "type %q is invalid: use saas_contract, saas_contract_consumption, saas_usage or professional_services", p.Type)
	}
	if len(p.Title) > 255 {
		return Errorf(EInvalid, "title is longer than 255 characters")
	}
	seen := map[string]bool{}
	for _, d := range p.Dimensions {
		if !dimensionPattern.MatchString(d.Key) {
			return Errorf(EInvalid, "dimension key %q is invalid", d.Key)
		}
		if seen[d.Key] {
			return Errorf(EInvalid, "dimension key %q appears twice", d.Key)
		}
		seen[d.Key] = true
		if d.Kind != "" && d.Kind != "contract" && d.Kind != "usage" {
			return Errorf(EInvalid, "dimension %q kind %q is invalid: use contract or usage", d.Key, d.Kind)
		}
	}
	if p.ZeroUsageDimension != "" {
		if d, ok := p.Dimension(p.ZeroUsageDimension); !ok || d.Kind == "contract" {
			return Errorf(EInvalid, "zeroUsageDimension %q must be one of the product's usage dimensions", p.ZeroUsageDimension)
		}
	}
	if len(p.ContractMetadata) > 50 {
		return Errorf(EInvalid, "at most 50 contract metadata fields")
	}
	keys := map[string]bool{}
	for _, f := range p.ContractMetadata {
		switch {
		case strings.TrimSpace(f.Key) == "" || len(f.Key) > 100:
			return Errorf(EInvalid, "contract metadata field keys are 1-100 characters")
		case keys[f.Key]:
			return Errorf(EInvalid, "contract metadata field %q appears twice", f.Key)
		case strings.EqualFold(f.Key, CPPOOpportunityField) && f.Key != CPPOOpportunityField:
			return Errorf(EInvalid, "contract metadata field %q: CPPO tracking needs the key spelt exactly %q (it is case-sensitive)", f.Key, CPPOOpportunityField)
		}
		keys[f.Key] = true
	}
	return p.Registration.Validate()
}

// Dimension returns the product's dimension with this key.
func (p *Product) Dimension(key string) (Dimension, bool) {
	for _, d := range p.Dimensions {
		if d.Key == key {
			return d, true
		}
	}
	return Dimension{}, false
}

// Agreement is one purchase agreement between a buyer and a seller of record.
// Under Concurrent Agreements a buyer may hold several for one product.
type Agreement struct {
	AgreementID           string          `json:"agreementId"`
	InitialAgreementID    string          `json:"initialAgreementId"`
	PreviousAgreementID   string          `json:"previousAgreementId,omitempty"`
	NextAgreementID       string          `json:"nextAgreementId,omitempty"`
	Intent                string          `json:"intent,omitempty"`
	Status                string          `json:"status"`
	AcceptanceTime        *time.Time      `json:"acceptanceTime,omitempty"`
	StartTime             *time.Time      `json:"startTime,omitempty"`
	EndTime               *time.Time      `json:"endTime,omitempty"`
	EndedAt               *time.Time      `json:"endedAt,omitempty"`
	AcceptorAccountID     string          `json:"acceptorAccountId"`
	ProposerAccountID     string          `json:"proposerAccountId,omitempty"`
	ManufacturerAccountID string          `json:"manufacturerAccountId,omitempty"`
	ResaleAuthorizationID string          `json:"resaleAuthorizationId,omitempty"`
	OfferID               string          `json:"offerId,omitempty"`
	ProductID             string          `json:"productId,omitempty"`
	AutoRenewal           *bool           `json:"autoRenewal,omitempty"`
	Terms                 json.RawMessage `json:"terms,omitempty"`
	TermsFetchedAt        *time.Time      `json:"termsFetchedAt,omitempty"`
	LastEventTime         time.Time       `json:"lastEventTime"`
	UpdatedAt             time.Time       `json:"updatedAt"`
}

// License is the buyer's right to use a product under one agreement, keyed by its
// LicenseArn. It is the unit of entitlement and metering.
type License struct {
	LicenseArn  string `json:"licenseArn"`
	LicenseID   string `json:"licenseId"`
	AgreementID string `json:"agreementId"`
	ProductID   string `json:"productId,omitempty"`
	ProductCode string `json:"productCode,omitempty"`
	AccountID   string `json:"accountId"`
	// CustomerIdentifier is the legacy (SNS-era) id of the same buyer, when a
	// backfill or registration mapped it to this license.
	CustomerIdentifier string     `json:"customerIdentifier,omitempty"`
	State              string     `json:"state"`
	ActivatedAt        *time.Time `json:"activatedAt,omitempty"`
	StartsAt           *time.Time `json:"startsAt,omitempty"`
	EndingAt           *time.Time `json:"endingAt,omitempty"`
	DeprovisionedAt    *time.Time `json:"deprovisionedAt,omitempty"`
	UpdatedAt          time.Time  `json:"updatedAt"`
}

// Subscription is a legacy (pre-Concurrent Agreements) SNS-era subscription, known
// only by CustomerIdentifier and product code.
type Subscription struct {
	CustomerIdentifier   string     `json:"customerIdentifier"`
	ProductCode          string     `json:"productCode"`
	State                string     `json:"state"`
	OfferID              string     `json:"offerId,omitempty"`
	FreeTrial            bool       `json:"freeTrial"`
	EntitlementUpdatedAt *time.Time `json:"entitlementUpdatedAt,omitempty"`
	LastEventTime        time.Time  `json:"lastEventTime"`
	UpdatedAt            time.Time  `json:"updatedAt"`
}

// Legacy subscription states, one per SNS action.
const (
	SubscriptionSubscribed         = "subscribed"
	SubscriptionFailed             = "failed"
	SubscriptionUnsubscribePending = "unsubscribe_pending"
	SubscriptionUnsubscribed       = "unsubscribed"
)
