package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store"
)

// OfferRow is one offer as the Offers and Partner offers lists show it.
type OfferRow struct {
	offer.Offer
	// ProductTitle is the product's title, when Concord knows it.
	ProductTitle string `json:"productTitle,omitempty"`
}

// OfferStates are the states an offer can be in, along its lifecycle.
var OfferStates = []string{offer.StateDraft, offer.StateSubmitted, offer.StatePublished, offer.StateInstructionsSent, offer.StateViewed,
	offer.StateExtended, offer.StateAccepted, offer.StateExpired, offer.StateCancelling, offer.StateCancelled, offer.StateFailed}

// OfferSortKeys are the columns the offer lists sort by.
var OfferSortKeys = []string{"offer", "buyer", "partner", "product", "type", "state", "agreement", "expires", "created", "updated"}

// DefaultOfferOrder lists the newest offers first.
var DefaultOfferOrder = Order{Key: "created", Desc: true}

// OfferFilter narrows an offer list. Empty fields match all.
type OfferFilter struct {
	State, Type, ProductID string
	// Account keeps the offers to one buyer account.
	Account string
	// Query searches the buyer's company, the offer name, the contract
	// metadata and the ids, in any case and script (offer.Offer.Matches).
	Query string
	Order Order
	Page
}

// Validate checks a filter, with a message people can act on.
func (f *OfferFilter) Validate() error {
	var err error
	if f.Query, err = cleanSearch(f.Query); err != nil {
		return err
	}
	if f.State != "" && !slices.Contains(OfferStates, f.State) {
		return marketplace.Errorf(marketplace.EInvalid, "state %q is not an offer state: use one of %s", marketplace.Clip(f.State, 40), strings.Join(OfferStates, ", "))
	}
	if f.Type != "" && f.Type != offer.TypeDirect && f.Type != offer.TypePartner {
		return marketplace.Errorf(marketplace.EInvalid, "type %q is invalid: use direct or partner", marketplace.Clip(f.Type, 40))
	}
	if f.Account != "" && !marketplace.ValidAccountID(f.Account) {
		return marketplace.Errorf(marketplace.EInvalid, "account %q is not an AWS account id (12 digits)", marketplace.Clip(f.Account, 40))
	}
	if f.Order.Key == "" {
		f.Order = DefaultOfferOrder
	}
	if !slices.Contains(OfferSortKeys, f.Order.Key) {
		return marketplace.Errorf(marketplace.EInvalid, "sort %q is not a column of this list", marketplace.Clip(f.Order.Key, 40))
	}
	return nil
}

// Offers lists offers with their products' titles, filtered, searched,
// sorted and paged: the console's Offers and Partner offers lists, their
// CSV downloads and GET /v1/reports/offers.
func Offers(ctx context.Context, db *store.DB, offers *offer.Service, f OfferFilter) (Paged[OfferRow], error) {
	if err := f.Validate(); err != nil {
		return Paged[OfferRow]{}, err
	}
	list, err := offers.ListAll(ctx, offer.Filter{State: f.State, Type: f.Type, ProductID: f.ProductID, BuyerAccountID: f.Account, Query: f.Query})
	if err != nil {
		return Paged[OfferRow]{}, fmt.Errorf("list offers: %w", err)
	}
	var titles map[string]string
	err = db.Read(ctx, func(tx *store.Tx) error {
		titles, err = productTitles(ctx, tx)
		return err
	})
	if err != nil {
		return Paged[OfferRow]{}, fmt.Errorf("list offers: %w", err)
	}
	rows := make([]OfferRow, len(list))
	for i, o := range list {
		rows[i] = OfferRow{Offer: o, ProductTitle: titles[o.ProductID]}
	}
	return sortPage(rows, f.Order, offerOrders, func(a, b OfferRow) int { return strings.Compare(b.ID, a.ID) }, f.Page), nil
}

// title is how the lists name an offer: its name, else its id.
func (r OfferRow) title() string { return cmp.Or(r.Name, r.ID) }

var offerOrders = map[string]func(a, b OfferRow) int{
	"offer": func(a, b OfferRow) int { return textCompare(a.title(), b.title()) },
	"buyer": func(a, b OfferRow) int {
		return cmp.Or(textCompare(a.BuyerCompany, b.BuyerCompany), strings.Compare(a.Metadata[offer.MetaBuyerAccount], b.Metadata[offer.MetaBuyerAccount]))
	},
	"partner": func(a, b OfferRow) int {
		return textCompare(a.Metadata[offer.MetaPartnerAccount], b.Metadata[offer.MetaPartnerAccount])
	},
	"product": func(a, b OfferRow) int {
		return cmp.Or(textCompare(a.ProductTitle, b.ProductTitle), strings.Compare(a.ProductID, b.ProductID))
	},
	"type": func(a, b OfferRow) int { return strings.Compare(a.Type, b.Type) },
	// States sort along the lifecycle, as the state filter lists them.
	"state": func(a, b OfferRow) int {
		return cmp.Compare(slices.Index(OfferStates, a.State), slices.Index(OfferStates, b.State))
	},
	"agreement": func(a, b OfferRow) int { return textCompare(a.AgreementID, b.AgreementID) },
	// Expiry dates are YYYY-MM-DD: text order is date order; none sorts last.
	"expires": func(a, b OfferRow) int { return textCompare(a.ExpiresOn, b.ExpiresOn) },
	"created": func(a, b OfferRow) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"updated": func(a, b OfferRow) int { return a.UpdatedAt.Compare(b.UpdatedAt) },
}

// OfferColumns are the columns of an offers CSV: the flat fields of the
// offers of GET /v1/offers, named as in its JSON.
var OfferColumns = []string{"id", "type", "state", "name", "productId", "buyerCompany", "buyerAccount", "partnerAccount", "expiresOn",
	"offerId", "resaleAuthorizationId", "agreementId", "createdAt", "updatedAt"}

// Cells are the row's CSV cells, in OfferColumns order.
func (r OfferRow) Cells() []string {
	return []string{r.ID, r.Type, r.State, r.Name, r.ProductID, r.BuyerCompany, r.Metadata[offer.MetaBuyerAccount], r.Metadata[offer.MetaPartnerAccount],
		r.ExpiresOn, r.OfferID, r.ResaleAuthorizationID, r.AgreementID, r.CreatedAt.UTC().Format(time.RFC3339), r.UpdatedAt.UTC().Format(time.RFC3339)}
}
