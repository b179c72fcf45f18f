package console

// This file holds the offer forms: create, edit and amend an offer; submit,
// clone, cancel, associate it and send its purchase instructions from its
// page; and partner offer tracking. Every rule is offer.Service's: the
// console turns the form into an offer.Offer, and the service's problems
// back into messages next to the fields they concern.

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/report"
	"github.com/concordmp/concord/internal/store"
)

func (s *Service) mountOfferForms(m Mux) {
	offers := func(h http.HandlerFunc) http.HandlerFunc { return s.signedIn(s.may(AreaOffers, h)) }
	s.mountOfferDocuments(m)
	m.HandleFunc("GET "+Prefix+"/offers/new", offers(s.newOfferForm))
	m.HandleFunc("POST "+Prefix+"/offers/new", offers(s.createOffer))
	m.HandleFunc("GET "+Prefix+"/offers/{id}/edit", offers(s.editOfferForm))
	m.HandleFunc("POST "+Prefix+"/offers/{id}/edit", offers(s.updateOffer))
	m.HandleFunc("POST "+Prefix+"/offers/{id}/submit", offers(s.submitOffer))
	m.HandleFunc("POST "+Prefix+"/offers/{id}/cancel", offers(s.cancelOffer))
	m.HandleFunc("POST "+Prefix+"/offers/{id}/instructions", offers(s.sendInstructions))
	m.HandleFunc("GET "+Prefix+"/offers/{id}/associate", offers(s.associateForm))
	m.HandleFunc("POST "+Prefix+"/offers/{id}/associate", offers(s.associateOffer))
	m.HandleFunc("GET "+Prefix+"/agreements/{id}/amend", offers(s.amendForm))
	m.HandleFunc("POST "+Prefix+"/agreements/{id}/amend", offers(s.createAmendment))
	m.HandleFunc("GET "+Prefix+"/partners", s.signedIn(s.partners))
}

// offerDone are the confirmations an action redirects with (?done=…):
// fixed texts, so nothing from the query string is echoed.
var offerDone = map[string]string{
	"created":              "The offer is saved as a draft. Check it, then submit it to AWS when it is ready.",
	"amendment":            "The amendment is saved as a draft. Check the preview, then submit it to AWS when it is ready.",
	"edited":               "Your changes are saved.",
	"submitted":            "The offer is submitted. Concord is publishing it through the AWS Catalog API; it becomes published (or failed, with AWS's reason) when AWS answers.",
	"cloned":               "The clone is saved as a draft. Check it, then submit it to AWS when it is ready.",
	"cancelled":            "The offer is cancelled.",
	"cancelling":           "Cancellation requested: AWS is withdrawing the offer. It becomes cancelled when AWS confirms.",
	"instructions":         "The purchase instructions are recorded. When email is set up, Concord emails them to the buyer; the tracked link is shown below.",
	"associated":           "Concord now tracks this offer. The offer you started from is unchanged: cancel it if it was a draft of the same deal.",
	"associated-cancelled": "Concord now tracks this offer, and the draft it was made from is cancelled.",
	"documents":            "The documents are added and consolidated into the one PDF AWS will fetch: check it below.",
	"document-removed":     "The document is removed.",
}

// safeID keeps ids from the path short and printable.
func safeID(id string) bool { return id != "" && len(id) <= 128 && marketplace.Storable(id) }

// Offer form modes.
const (
	offerFormNew   = "new"
	offerFormEdit  = "edit"
	offerFormAmend = "amend"
)

// offerScheduleRows is how many installments the form shows (at least).
const offerScheduleRows = 6

// offerForm is the offer form as the page shows it: what was typed, one row
// per dimension and installment, and what the page says around the form.
type offerForm struct {
	Mode, Action string
	// Back is where the "back" link goes, with its text.
	Back, BackLabel string
	// OfferID and State are the edited offer's; StateText is the state in words.
	OfferID, State, StateText string
	// Locked: the offer is out with the buyer, so only its booking data can
	// change.
	Locked bool

	Type, BuyerCompany, ProductID, Name  string
	BuyerAccount, PartnerAccount, CPPOID string
	// RowsProduct is the product the dimension and metadata rows were drawn
	// for: a different product chosen means the rows must be drawn again.
	RowsProduct string
	Products    []marketplace.Product
	Meta        []offerMeta
	Currency    string
	Duration    string
	EndDate     string
	// StartDate makes a future-dated agreement; Renews is the agreement a
	// renewal renews, AllowOverlap confirms starting while it is in force.
	StartDate, Renews string
	AllowOverlap      bool
	Dims              []priceRow
	Schedule          []offerInstallment
	EULA              string
	CustomEULA        int  // documents of the custom EULA the offer holds
	HasCustomEULA     bool // the offer holds a custom EULA the form can keep
	CustomReseller    int
	HasCustomResell   bool
	ExpiresOn         string
	Renewal           bool
	RenewalChannel    string
	ZeroDollar        bool
	NotifyUsers       string
	AmendsAgreement   string
	AmendsSource      string
	// FromAgreement and FromKind (renew or concurrent) name the agreement a
	// new offer was prefilled from: on save, what the form does not show
	// (registration answers, custom contract documents) comes from it again.
	FromAgreement, FromKind string
	// CloneOf is the offer a new offer's form was prefilled from (Clone):
	// nothing is stored until the form is saved.
	CloneOf string
	// CloneEULA and CloneReseller: the source holds a custom EULA (reseller
	// agreement), named by its documents; the form asks before copying it
	// (CopyEULA, CopyReseller, unticked by default).
	CloneEULA, CloneReseller *cloneLegal
	CopyEULA, CopyReseller   bool
	Warnings, Notes          []string
	// NoTerms: the amended agreement's terms are not in the ledger.
	NoTerms          bool
	Preview          *offer.Preview
	Alternative      string
	AlternativeURL   string
	RenewalURL       string
	AgreementAccount string
	// Fields are the plain inputs, by id, with their errors.
	Fields map[string]offerField
}

// offerField is one labelled input.
type offerField struct {
	ID, Name, Label, Hint, Value, Type, Error, Autocomplete string
}

// DescribedBy names the hint and the error of the field.
func (f offerField) DescribedBy() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// offerMeta is one contract metadata field of the product (or one the offer
// carries that the product does not list).
type offerMeta struct {
	ID, Key, Label, Value string
	Required              bool
}

// priceRow is one dimension of the product: a quantity and a price for a
// contract dimension, a price per unit for a usage one.
type priceRow struct {
	N               int
	Key, Name, Kind string
	// KindFixed: the product says the kind; otherwise the form asks.
	KindFixed       bool
	Quantity, Price string
}

func (d priceRow) Prefix() string  { return "dim-" + strconv.Itoa(d.N) }
func (d priceRow) QtyID() string   { return d.Prefix() + "-qty" }
func (d priceRow) PriceID() string { return d.Prefix() + "-price" }
func (d priceRow) KindID() string  { return d.Prefix() + "-kind" }

// Label is the dimension's name as the page shows it.
func (d priceRow) Label() string {
	if d.Name != "" && d.Name != d.Key {
		return d.Name + " (" + d.Key + ")"
	}
	return d.Key
}

// offerInstallment is one installment of the payment schedule.
type offerInstallment struct {
	N            int
	Date, Amount string
}

func (i offerInstallment) DateID() string   { return "sched-" + strconv.Itoa(i.N) + "-date" }
func (i offerInstallment) AmountID() string { return "sched-" + strconv.Itoa(i.N) + "-amount" }
func (i offerInstallment) Number() int      { return i.N + 1 }

// Contract metadata keys the form asks for in their own fields.
var offerOwnMeta = map[string]bool{offer.MetaBuyerAccount: true, offer.MetaPartnerAccount: true, offer.MetaCPPOOpportunityID: true}

// offerFirstField is where a problem the form cannot place is linked to.
const offerFirstField = "type-direct"

// formOfOffer fills the form from an offer, with one row for each of the
// offer's dimensions (in its order) and then the product's others.
func formOfOffer(o offer.Offer, p marketplace.Product) offerForm {
	f := offerForm{Type: o.Type, BuyerCompany: o.BuyerCompany, ProductID: o.ProductID, RowsProduct: o.ProductID, Name: o.Name,
		BuyerAccount: o.Metadata[offer.MetaBuyerAccount], PartnerAccount: o.Metadata[offer.MetaPartnerAccount], CPPOID: o.Metadata[offer.MetaCPPOOpportunityID],
		Currency: o.Pricing.Currency, Duration: o.Pricing.Duration, EndDate: o.Pricing.EndDate, EULA: o.EULA.Kind, ExpiresOn: o.ExpiresOn,
		Renewal: o.Renewal, RenewalChannel: o.RenewalChannel, ZeroDollar: o.ZeroDollar, NotifyUsers: strings.Join(o.NotifyUsers, "\n"),
		StartDate: o.Pricing.StartDate, Renews: o.Renews, AllowOverlap: o.AllowOverlap}
	if f.Type == "" {
		f.Type = offer.TypeDirect
	}
	if f.EULA == "" {
		f.EULA = "standard"
	}
	var rows []priceRow
	for _, d := range o.Pricing.Dimensions {
		r := priceRow{Key: d.Key, Kind: d.Kind, Price: d.Price}
		if d.Quantity != 0 {
			r.Quantity = strconv.FormatInt(d.Quantity, 10)
		}
		rows = append(rows, r)
	}
	f.Dims = priceRows(p, rows, true)
	f.Meta = offerMetaFields(p, o.Metadata)
	for _, in := range o.Pricing.Schedule {
		f.Schedule = append(f.Schedule, offerInstallment{Date: in.Date, Amount: in.Amount})
	}
	f.Schedule = numberInstallments(f.Schedule)
	return f
}

// cloneLegal is a custom contract of the offer a clone is made from: the
// names of its documents, for the sentence that asks whether to copy it.
type cloneLegal struct {
	Documents []string
}

// Names lists the documents in words: "terms.txt and security.pdf".
func (c cloneLegal) Names() string {
	switch n := len(c.Documents); n {
	case 0:
		return "no document uploaded yet"
	case 1:
		return c.Documents[0]
	default:
		return strings.Join(c.Documents[:n-1], ", ") + " and " + c.Documents[n-1]
	}
}

// cloneFrom notes the offer a new offer's form is prefilled from, and the
// custom contracts it holds, which are copied only when the user says so.
func (f *offerForm) cloneFrom(src offer.Offer) {
	f.CloneOf = src.ID
	legal := func(l *offer.Legal) *cloneLegal {
		if l == nil || l.Kind != "custom" {
			return nil
		}
		c := &cloneLegal{}
		for _, d := range l.Documents {
			c.Documents = append(c.Documents, d.Name)
		}
		return c
	}
	f.CloneEULA, f.CloneReseller = legal(&src.EULA), legal(src.ResellerAgreement)
	f.HasCustomEULA, f.CustomEULA, f.HasCustomResell, f.CustomReseller = false, 0, false, 0
}

// cloneBase is what a clone keeps that its form does not show: the source's
// registration answers and what it amends, and its custom contracts only
// when the user ticked them (else the standard contracts). It sets the
// form's EULA choice to match.
func (f *offerForm) cloneBase(src offer.Offer) offer.Offer {
	base := offer.Offer{Registration: src.Registration, Amends: src.Amends, EULA: offer.Legal{Kind: "standard"}}
	f.EULA = "standard"
	if f.CopyEULA && f.CloneEULA != nil {
		base.EULA, f.EULA = src.EULA, "custom"
	}
	if f.CopyReseller && f.CloneReseller != nil {
		base.ResellerAgreement = src.ResellerAgreement
	}
	return base
}

// keepLegal notes the custom contracts an offer holds, which the form keeps
// (documents are uploaded through the API).
func (f *offerForm) keepLegal(base offer.Offer) {
	if base.EULA.Kind == "custom" {
		f.HasCustomEULA, f.CustomEULA = true, len(base.EULA.Documents)
	}
	if base.ResellerAgreement != nil && base.ResellerAgreement.Kind == "custom" {
		f.HasCustomResell, f.CustomReseller = true, len(base.ResellerAgreement.Documents)
	}
}

// priceRows are the rows of the form: the given rows first (those of another
// product dropped unless keepOthers), then the product's other dimensions.
func priceRows(p marketplace.Product, given []priceRow, keepOthers bool) []priceRow {
	var out []priceRow
	seen := map[string]bool{}
	for _, r := range given {
		if seen[r.Key] || r.Key == "" {
			continue
		}
		pd, ok := p.Dimension(r.Key)
		if !ok && !keepOthers {
			continue
		}
		if ok {
			r.Name = pd.Name
			if pd.Kind != "" {
				r.Kind, r.KindFixed = pd.Kind, true
			}
		}
		seen[r.Key] = true
		out = append(out, r)
	}
	for _, pd := range p.Dimensions {
		if seen[pd.Key] {
			continue
		}
		out = append(out, priceRow{Key: pd.Key, Name: pd.Name, Kind: pd.Kind, KindFixed: pd.Kind != ""})
	}
	for i := range out {
		out[i].N = i
	}
	return out
}

// offerMetaFields are the product's contract metadata fields, then the other keys
// values holds (in name order); the buyer's and partner's accounts and the
// CPPO opportunity have their own fields.
func offerMetaFields(p marketplace.Product, values map[string]string) []offerMeta {
	var out []offerMeta
	seen := map[string]bool{}
	for _, mf := range p.ContractMetadata {
		if offerOwnMeta[mf.Key] || seen[mf.Key] {
			continue
		}
		seen[mf.Key] = true
		label := mf.Label
		if label == "" {
			label = mf.Key
		}
		out = append(out, offerMeta{Key: mf.Key, Label: label, Value: values[mf.Key], Required: mf.Required})
	}
	var extra []string
	for k, v := range values {
		if !offerOwnMeta[k] && !seen[k] && strings.TrimSpace(v) != "" {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		out = append(out, offerMeta{Key: k, Label: k, Value: values[k]})
	}
	for i := range out {
		out[i].ID = "meta-" + strconv.Itoa(i)
	}
	return out
}

func numberInstallments(rows []offerInstallment) []offerInstallment {
	for len(rows) < offerScheduleRows {
		rows = append(rows, offerInstallment{})
	}
	for i := range rows {
		rows[i].N = i
	}
	return rows
}

// offerFormOfPost reads the posted form. When the product differs from the one
// the rows were drawn for, the rows are drawn again for the new product
// (keeping what was typed for dimensions and fields it shares) and changed
// is true.
func (s *Service) offerFormOfPost(ctx context.Context, r *http.Request) (f offerForm, changed bool, err error) {
	v := r.PostForm
	get := func(name string) string { return strings.TrimSpace(v.Get(name)) }
	f = offerForm{Type: get("type"), BuyerCompany: get("buyer-company"), ProductID: get("product"), RowsProduct: get("rows-product"), Name: get("name"),
		BuyerAccount: get("buyer-account"), PartnerAccount: get("partner-account"), CPPOID: get("cppo-opportunity"),
		Currency: strings.ToUpper(get("currency")), Duration: strings.ToUpper(get("duration")), EndDate: get("end-date"), EULA: get("eula"),
		StartDate: get("start-date"), Renews: get("renews"), AllowOverlap: v.Get("allow-overlap") == "on",
		ExpiresOn: get("expires-on"), Renewal: v.Get("renewal") == "on", RenewalChannel: get("renewal-channel"), ZeroDollar: v.Get("zero-dollar") == "on",
		NotifyUsers: get("notify-users"), AmendsAgreement: get("amends-agreement"), AmendsSource: get("amends-source")}
	var rows []priceRow
	for i := 0; i < 200; i++ {
		p := "dim-" + strconv.Itoa(i)
		if _, ok := v[p+"-key"]; !ok {
			break
		}
		rows = append(rows, priceRow{Key: get(p + "-key"), Kind: get(p + "-kind"), Quantity: get(p + "-qty"), Price: get(p + "-price")})
	}
	meta := map[string]string{}
	keys, values := v["meta-key"], v["meta-value"]
	for i := 0; i < len(keys) && i < len(values) && i < offer.MaxMetadataFields; i++ {
		meta[strings.TrimSpace(keys[i])] = strings.TrimSpace(values[i])
	}
	for i := 0; i < 60; i++ {
		in := offerInstallment{Date: get("sched-" + strconv.Itoa(i) + "-date"), Amount: get("sched-" + strconv.Itoa(i) + "-amount")}
		if _, ok := v["sched-"+strconv.Itoa(i)+"-date"]; !ok {
			break
		}
		f.Schedule = append(f.Schedule, in)
	}
	f.Schedule = numberInstallments(f.Schedule)
	p, err := s.formProduct(ctx, f.ProductID)
	if err != nil {
		return f, false, err
	}
	changed = f.ProductID != f.RowsProduct
	f.Dims = priceRows(p, rows, !changed)
	f.Meta = offerMetaFields(p, meta)
	f.RowsProduct = f.ProductID
	return f, changed, nil
}

// builtOffer is an offer made from the form, with the problems the console found
// reading it and where each of the offer's dimensions and installments is
// in the form.
type builtOffer struct {
	offer    offer.Offer
	errs     []fieldError
	priceRow []int // the form row of each offer dimension
	schedRow []int // the form row of each offer installment
}

// build makes the offer the form describes. base is what the offer keeps
// that the form does not show: its custom contract documents, registration
// answers and, when editing, what it amends.
func (f offerForm) build(base offer.Offer) builtOffer {
	var b builtOffer
	o := offer.Offer{Type: f.Type, BuyerCompany: f.BuyerCompany, ProductID: f.ProductID, Name: f.Name, Registration: base.Registration, Amends: base.Amends,
		ExpiresOn: f.ExpiresOn, Renewal: f.Renewal, ZeroDollar: f.ZeroDollar, Metadata: map[string]string{}}
	o.Pricing = offer.Pricing{Currency: f.Currency, Duration: f.Duration, EndDate: f.EndDate, StartDate: f.StartDate}
	if f.Renewal {
		o.RenewalChannel, o.Renews = f.RenewalChannel, f.Renews
	}
	o.AllowOverlap = f.AllowOverlap
	if f.Mode == offerFormAmend {
		o.Amends = &offer.Amendment{AgreementID: f.AmendsAgreement, SourceOfferID: f.AmendsSource}
	}
	o.EULA = offer.Legal{Kind: "standard"}
	if f.EULA == "custom" {
		o.EULA = offer.Legal{Kind: "custom"}
		if base.EULA.Kind == "custom" {
			o.EULA = base.EULA
		}
	}
	if o.Type == offer.TypePartner {
		o.ResellerAgreement = &offer.Legal{Kind: "standard"}
		if base.ResellerAgreement != nil && base.ResellerAgreement.Kind == "custom" {
			o.ResellerAgreement = base.ResellerAgreement
		}
	}
	for k, v := range map[string]string{offer.MetaBuyerAccount: f.BuyerAccount, offer.MetaPartnerAccount: f.PartnerAccount, offer.MetaCPPOOpportunityID: f.CPPOID} {
		if v != "" {
			o.Metadata[k] = v
		}
	}
	for _, m := range f.Meta {
		if m.Value != "" {
			o.Metadata[m.Key] = m.Value
		}
	}
	for i, d := range f.Dims {
		if d.Quantity == "" && d.Price == "" {
			continue // a dimension this offer does not price
		}
		pd := offer.PricedDimension{Key: d.Key, Kind: d.Kind, Price: d.Price}
		if d.Price == "" {
			b.errs = append(b.errs, fieldError{ID: d.PriceID(), Message: "Enter the price per unit of " + d.Key + ", or clear its quantity to leave it out of the offer."})
		}
		if d.Quantity != "" {
			q, err := strconv.ParseInt(d.Quantity, 10, 64)
			if err != nil || q < 0 {
				b.errs = append(b.errs, fieldError{ID: d.QtyID(), Message: "Enter the quantity of " + d.Key + " as a whole number, such as 10."})
			}
			pd.Quantity = q
		}
		o.Pricing.Dimensions = append(o.Pricing.Dimensions, pd)
		b.priceRow = append(b.priceRow, i)
	}
	for i, in := range f.Schedule {
		if in.Date == "" && in.Amount == "" {
			continue
		}
		o.Pricing.Schedule = append(o.Pricing.Schedule, offer.Installment{Date: in.Date, Amount: in.Amount})
		b.schedRow = append(b.schedRow, i)
	}
	o.NotifyUsers = emailList(f.NotifyUsers)
	b.offer = o
	return b
}

// emailList splits a list of email addresses separated by commas,
// semicolons, spaces or new lines.
func emailList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

// problemText starts a service message with a capital and ends it with a full stop.
func problemText(msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// fieldOf is the id of the input a problem's field path concerns, or "" when
// the form has none.
func (f offerForm) fieldOf(path, msg string, b builtOffer) string {
	if rest, ok := strings.CutPrefix(path, "pricing.dimensions["); ok {
		j, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
		if err != nil || j < 0 || j >= len(b.priceRow) {
			return ""
		}
		d := f.Dims[b.priceRow[j]]
		if d.Kind != "usage" && strings.Contains(msg, "quantity") && !strings.Contains(msg, "price per unit") {
			return d.QtyID()
		}
		return d.PriceID()
	}
	if rest, ok := strings.CutPrefix(path, "pricing.schedule["); ok {
		j, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
		if err != nil || j < 0 || j >= len(b.schedRow) {
			return ""
		}
		in := f.Schedule[b.schedRow[j]]
		if strings.Contains(msg, "amount") {
			return in.AmountID()
		}
		return in.DateID()
	}
	if key, ok := strings.CutPrefix(path, "metadata."); ok {
		switch key {
		case offer.MetaBuyerAccount:
			return "buyer-account"
		case offer.MetaPartnerAccount:
			return "partner-account"
		case offer.MetaCPPOOpportunityID:
			return "cppo-opportunity"
		}
		for _, m := range f.Meta {
			if m.Key == key {
				return m.ID
			}
		}
		return ""
	}
	if strings.HasPrefix(path, "notifyUsers") {
		return "notify-users"
	}
	if strings.HasPrefix(path, "eula") {
		if f.CloneEULA != nil {
			return "copy-eula"
		}
		return "eula-standard"
	}
	switch path {
	case "type", "resellerAgreement":
		if f.Type == offer.TypePartner {
			return "type-partner"
		}
		return "type-direct"
	case "buyerCompany":
		return "buyer-company"
	case "productId":
		return "product"
	case "name":
		return "name"
	case "pricing.currency":
		return "currency"
	case "pricing.duration":
		return "duration"
	case "pricing.endDate":
		return "end-date"
	case "pricing.startDate":
		return "start-date"
	case "renews":
		return "renews"
	case "allowOverlap":
		return "allow-overlap"
	case "pricing.dimensions":
		if len(f.Dims) > 0 {
			return f.Dims[0].PriceID()
		}
		return "product"
	case "pricing.schedule":
		return f.Schedule[0].DateID()
	case "metadata":
		return "buyer-account"
	case "expiresOn":
		return "expires-on"
	case "renewalChannel":
		return "renewal-channel"
	}
	return ""
}

// problemErrors places the service's problems next to their fields, after
// the console's own (a field the console already found wrong keeps its
// message); a problem the form cannot place links to the first field.
func (f offerForm) problemErrors(problems []offer.Problem, b builtOffer) []fieldError {
	errs := slices.Clone(b.errs)
	mine := map[string]bool{}
	for _, e := range errs {
		mine[e.ID] = true
	}
	seen := map[fieldError]bool{}
	for _, p := range problems {
		id := f.fieldOf(p.Field, p.Message, b)
		if mine[id] {
			continue
		}
		e := fieldError{ID: id, Message: problemText(p.Message)}
		if id == "" {
			e.ID = offerFirstField
		}
		if !seen[e] {
			seen[e] = true
			errs = append(errs, e)
		}
	}
	return errs
}

func warningTexts(ws []offer.Problem) []string {
	var out []string
	for _, w := range ws {
		out = append(out, problemText(w.Message))
	}
	return out
}

// fillFields are the form's plain inputs, with their errors.
func (f *offerForm) fillFields(v view) {
	fs := []offerField{
		{ID: "buyer-company", Name: "buyer-company", Label: "Buyer company", Value: f.BuyerCompany, Autocomplete: "organization"},
		{ID: "buyer-account", Name: "buyer-account", Label: "Buyer AWS account", Hint: "The 12-digit AWS account that will accept the offer. Only that account can see it.", Value: f.BuyerAccount},
		{ID: "name", Name: "name", Label: "Offer name (optional)", Hint: "The buyer sees this name. At most 150 characters; use purchase order numbers, not people's names or emails.", Value: f.Name},
		{ID: "partner-account", Name: "partner-account", Label: "Partner AWS account", Hint: "The 12-digit AWS account of the channel partner who resells the offer.", Value: f.PartnerAccount},
		{ID: "cppo-opportunity", Name: "cppo-opportunity", Label: "CPPO Opportunity ID", Hint: "Needed when the product tracks CPPO opportunities.", Value: f.CPPOID},
		{ID: "currency", Name: "currency", Label: "Currency", Hint: "An ISO 4217 code, such as USD or EUR.", Value: f.Currency},
		{ID: "duration", Name: "duration", Label: "Duration", Hint: "How long the contract runs from acceptance, such as P12M (12 months), P1Y or P30D. Or give an end date instead.", Value: f.Duration},
		{ID: "end-date", Name: "end-date", Label: "Or end date", Hint: "The day the contract ends (UTC). Leave empty when you give a duration.", Value: f.EndDate, Type: "date"},
		{ID: "start-date", Name: "start-date", Label: "Start date (optional)", Hint: "A future-dated agreement starts on this day (UTC), not at acceptance; a duration counts from it. For a partner offer, the latest day the partner's offer may start it.", Value: f.StartDate, Type: "date"},
		{ID: "renews", Name: "renews", Label: "Renews agreement (optional)", Hint: "For a renewal of an agreement in AWS Marketplace: its id (agmt-…). The renewal starts the day after it ends, and follows it in its chain once accepted.", Value: f.Renews},
		{ID: "expires-on", Name: "expires-on", Label: "Offer expires on", Hint: "The last day (UTC) the buyer can accept. For a partner offer, the last day the partner can extend it.", Value: f.ExpiresOn, Type: "date"},
	}
	f.Fields = map[string]offerField{}
	for _, x := range fs {
		if x.Type == "" {
			x.Type = "text"
		}
		x.Error = v.ErrorFor(x.ID)
		f.Fields[x.ID] = x
	}
}

// showOfferForm renders the offer form.
func (s *Service) showOfferForm(w http.ResponseWriter, r *http.Request, status int, title string, f offerForm, errs []fieldError, msg string) {
	products, err := s.Ledger.ListProducts(r.Context(), inbox.Page{Limit: 500})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Products = products
	v := view{Title: title, Nav: "offers", Errors: errs, Status: msg}
	f.fillFields(v)
	v.Data = f
	s.render(w, r, status, "offer_form", v)
}

// formProduct is the product of the form, or an empty one when it is not known.
func (s *Service) formProduct(ctx context.Context, id string) (marketplace.Product, error) {
	if id == "" || !safeID(id) {
		return marketplace.Product{}, nil
	}
	p, err := s.Ledger.GetProduct(ctx, id)
	if marketplace.ErrorCode(err) == marketplace.ENotFound {
		return marketplace.Product{}, nil
	}
	return p, err
}

// newOfferForm shows an empty form, or one prefilled from an agreement: a
// concurrent offer (?concurrent=agreement) or a renewal (?renew=agreement),
// or from an offer (?clone=offer).
func (s *Service) newOfferForm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	if q.Has("clone") {
		s.cloneForm(w, r, q.Get("clone"))
		return
	}
	f := offerForm{Type: offer.TypeDirect, Currency: "USD", EULA: "standard"}
	msg := ""
	kind, id := "renew", q.Get("renew")
	if c := q.Get("concurrent"); c != "" {
		kind, id = "concurrent", c
	}
	if safeID(id) {
		o, err := s.prefilledOffer(ctx, kind, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if kind == "concurrent" {
			msg = "This new offer is for the same buyer and product as agreement " + id + " and ends on the same day. Set the additional quantities only."
		} else {
			msg = "This renewal of agreement " + id + " is prefilled from it: it starts the day after " + id + " ends (a future-dated agreement), and follows it in its chain once accepted. Check the duration, prices and expiry date."
		}
		p, err := s.formProduct(ctx, o.ProductID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		f = formOfOffer(o, p)
		f.keepLegal(o)
		f.FromAgreement, f.FromKind = id, kind
	} else {
		products, err := s.Ledger.ListProducts(ctx, inbox.Page{Limit: 1})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var p marketplace.Product
		if len(products) > 0 {
			p = products[0]
		}
		f.ProductID, f.RowsProduct = p.ProductID, p.ProductID
		f.Dims, f.Meta, f.Schedule = priceRows(p, nil, false), offerMetaFields(p, nil), numberInstallments(nil)
	}
	f.Mode, f.Action, f.Back, f.BackLabel = offerFormNew, Prefix+"/offers/new", Prefix+"/offers", "All offers"
	s.showOfferForm(w, r, http.StatusOK, "New private offer", f, nil, msg)
}

// cloneForm shows a new offer's form prefilled from offer id. Nothing is
// stored: the clone exists once the form is saved (createOffer), and
// leaving the page leaves no draft behind.
func (s *Service) cloneForm(w http.ResponseWriter, r *http.Request, id string) {
	src, ok := s.offerByID(w, r, id, "there is no offer to clone: offer not found")
	if !ok {
		return
	}
	p, err := s.formProduct(r.Context(), src.ProductID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := formOfOffer(src.Offer, p)
	f.cloneFrom(src.Offer)
	f.EULA = "standard"
	f.forClone(src.Offer)
	msg := "This new offer is prefilled from offer " + src.ID + ". Nothing is saved until you save it: change what you need (check the dates), then save it, or cancel to make no copy."
	if src.Amends != nil {
		msg += " Like that offer, it amends agreement " + src.Amends.AgreementID + "."
	}
	s.showOfferForm(w, r, http.StatusOK, "Clone: "+offerTitle(src.Offer), f, nil, msg)
}

// forClone sets the form's mode and links for a clone of src.
func (f *offerForm) forClone(src offer.Offer) {
	f.Mode, f.Action = offerFormNew, Prefix+"/offers/new"
	f.Back, f.BackLabel = Prefix+"/offers/"+src.ID, "Back to the offer"
}

// prefilledOffer is a new offer prefilled from an agreement: a renewal, or a
// concurrent offer alongside it (kind concurrent).
func (s *Service) prefilledOffer(ctx context.Context, kind, id string) (offer.Offer, error) {
	if kind != "concurrent" {
		r, err := s.Offers.RenewalDraft(ctx, id)
		return r.Form, err
	}
	d, err := s.Offers.AmendmentDraft(ctx, id)
	if err != nil {
		return offer.Offer{}, err
	}
	o := d.Form
	o.Amends = nil
	if d.Alternative != nil {
		o = d.Alternative.Form
	}
	return o, nil
}

func (s *Service) createOffer(w http.ResponseWriter, r *http.Request) {
	f, changed, err := s.offerFormOfPost(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Mode, f.Action, f.Back, f.BackLabel = offerFormNew, Prefix+"/offers/new", Prefix+"/offers", "All offers"
	if id := r.PostForm.Get("clone-of"); id != "" {
		// A clone: stored now, for the first time, with the source's custom
		// contracts only if the user ticked them.
		src, ok := s.offerByID(w, r, id, "there is no offer to clone: offer not found")
		if !ok {
			return
		}
		f.cloneFrom(src.Offer)
		f.forClone(src.Offer)
		f.CopyEULA, f.CopyReseller = r.PostForm.Get("copy-eula") == "on", r.PostForm.Get("copy-reseller") == "on"
		base := f.cloneBase(src.Offer)
		s.saveOfferForm(w, r, "Clone: "+offerTitle(src.Offer), f, changed, base, func(ctx context.Context, o offer.Offer) (offer.Detail, error) {
			return s.Offers.CreateFrom(ctx, o, src.ID)
		}, "cloned")
		return
	}
	// A form prefilled from an agreement keeps what it does not show: the
	// registration answers and the custom contracts of the agreement's offer.
	var base offer.Offer
	if id, kind := r.PostForm.Get("from-agreement"), r.PostForm.Get("from-kind"); safeID(id) && (kind == "renew" || kind == "concurrent") {
		base, err = s.prefilledOffer(r.Context(), kind, id)
		switch marketplace.ErrorCode(err) {
		case "":
			f.FromAgreement, f.FromKind = id, kind
			f.keepLegal(base)
		case marketplace.ENotFound, marketplace.EConflict:
			base = offer.Offer{} // the agreement ended since: nothing to keep
		default:
			s.fail(w, r, err)
			return
		}
	}
	s.saveOfferForm(w, r, "New private offer", f, changed, base, func(ctx context.Context, o offer.Offer) (offer.Detail, error) {
		return s.Offers.Create(ctx, o)
	}, "created")
}

// loadOffer reads the offer of the path, answering not found itself.
func (s *Service) loadOffer(w http.ResponseWriter, r *http.Request) (offer.Detail, bool) {
	return s.offerByID(w, r, r.PathValue("id"), "offer not found")
}

// offerByID reads offer id, answering notFound itself when there is none.
func (s *Service) offerByID(w http.ResponseWriter, r *http.Request, id, notFound string) (offer.Detail, bool) {
	if !safeID(id) {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "%s", notFound))
		return offer.Detail{}, false
	}
	d, err := s.Offers.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return d, false
	}
	return d, true
}

func offerTitle(o offer.Offer) string {
	if o.Name != "" {
		return o.Name
	}
	return "Offer for " + o.BuyerCompany
}

// offerEditable reports whether an offer's form can still change (offer.Service.Update).
func offerEditable(state string) bool {
	return state != offer.StateAccepted && state != offer.StateExpired && state != offer.StateCancelled
}

func (f *offerForm) forEdit(d offer.Detail) {
	f.Mode, f.Action = offerFormEdit, Prefix+"/offers/"+d.ID+"/edit"
	f.Back, f.BackLabel = Prefix+"/offers/"+d.ID, "Back to the offer"
	f.OfferID, f.State, f.StateText = d.ID, d.State, strings.ReplaceAll(d.State, "_", " ")
	f.Locked = d.State != offer.StateDraft && d.State != offer.StateFailed
	f.keepLegal(d.Offer)
}

func (s *Service) editOfferForm(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	if !offerEditable(d.State) {
		s.fail(w, r, marketplace.Errorf(marketplace.EConflict, "offer %s is %s and can no longer change; clone it for a new offer", d.ID, d.State))
		return
	}
	p, err := s.formProduct(r.Context(), d.ProductID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := formOfOffer(d.Offer, p)
	f.forEdit(d)
	s.showOfferForm(w, r, http.StatusOK, "Edit: "+offerTitle(d.Offer), f, nil, "")
}

func (s *Service) updateOffer(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	f, changed, err := s.offerFormOfPost(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.forEdit(d)
	s.saveOfferForm(w, r, "Edit: "+offerTitle(d.Offer), f, changed, d.Offer, func(ctx context.Context, o offer.Offer) (offer.Detail, error) {
		return s.Offers.Update(ctx, d.ID, o)
	}, "edited")
}

// saveOfferForm handles a posted offer form: draws it again for another product,
// checks it (the check button), or saves it with save and goes to the offer.
// Nothing is saved when the console or the service finds a problem: the
// form comes back with each problem next to its field.
func (s *Service) saveOfferForm(w http.ResponseWriter, r *http.Request, title string, f offerForm, changed bool, base offer.Offer,
	save func(context.Context, offer.Offer) (offer.Detail, error), done string) {
	ctx := r.Context()
	v := r.PostForm
	if v.Has("refresh") {
		msg := "The form now shows the dimensions and contract fields of product " + f.ProductID + "."
		if f.ProductID == "" {
			msg = "Choose a product to see its dimensions and contract fields."
		}
		s.showOfferForm(w, r, http.StatusOK, title, f, nil, msg)
		return
	}
	if changed {
		s.showOfferForm(w, r, http.StatusUnprocessableEntity, title, f, []fieldError{{ID: "product",
			Message: "You chose another product, so the dimensions and contract fields below changed. Check them, then save again."}}, "")
		return
	}
	b := f.build(base)
	for _, vals := range v {
		for _, x := range vals {
			if !marketplace.Storable(x) {
				s.showOfferForm(w, r, http.StatusBadRequest, title, f, []fieldError{{ID: offerFirstField,
					Message: "The form holds characters that cannot be stored (not UTF-8 text, or a NUL character). Retype the values you pasted."}}, "")
				return
			}
		}
	}
	recheck := func() ([]fieldError, bool) {
		chk, err := s.Offers.Check(ctx, b.offer)
		if err != nil {
			s.fail(w, r, err)
			return nil, false
		}
		f.Warnings = warningTexts(chk.Warnings)
		if chk.Preview != nil {
			f.Preview = chk.Preview
		}
		return f.problemErrors(chk.Problems, b), true
	}
	if v.Has("check") || len(b.errs) > 0 {
		errs, ok := recheck()
		if !ok {
			return
		}
		switch {
		case len(errs) > 0 && v.Has("check"):
			s.showOfferForm(w, r, http.StatusUnprocessableEntity, title, f, errs, "")
		case len(errs) > 0:
			s.showOfferForm(w, r, http.StatusBadRequest, title, f, errs, "")
		default:
			msg := "No problems found. Nothing is saved yet: save the offer when it is ready."
			if len(f.Warnings) > 0 {
				msg = "No problems found, but read the warnings. Nothing is saved yet: save the offer when it is ready."
			}
			s.showOfferForm(w, r, http.StatusOK, title, f, nil, msg)
		}
		return
	}
	d, err := save(ctx, b.offer)
	switch marketplace.ErrorCode(err) {
	case "":
	case marketplace.EInvalid:
		errs, ok := recheck()
		if !ok {
			return
		}
		if len(errs) == 0 {
			errs = []fieldError{{ID: offerFirstField, Message: problemText(marketplace.ErrorMessage(err))}}
		}
		s.showOfferForm(w, r, http.StatusBadRequest, title, f, errs, "")
		return
	case marketplace.EConflict:
		s.showOfferForm(w, r, http.StatusConflict, title, f, []fieldError{{ID: offerFirstField, Message: problemText(marketplace.ErrorMessage(err))}}, "")
		return
	default:
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: offer saved", "offer", d.ID, "how", done, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/offers/"+d.ID+"?done="+done, http.StatusSeeOther)
}

// amendForm shows an amendment of an accepted agreement, prefilled by
// offer.Service.AmendmentDraft, with what it changes for the buyer's bill.
func (s *Service) amendForm(w http.ResponseWriter, r *http.Request) {
	d, f, ok := s.amendDraft(w, r)
	if !ok {
		return
	}
	p, err := s.formProduct(r.Context(), d.Form.ProductID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := formOfOffer(d.Form, p)
	form.keepLegal(d.Form)
	copyAmend(&form, f)
	form.Preview = d.Preview
	s.showOfferForm(w, r, http.StatusOK, "Amend agreement "+f.AmendsAgreement, form, nil, "")
}

// amendDraft reads the agreement's draft and the parts of the amendment
// form that come from it.
func (s *Service) amendDraft(w http.ResponseWriter, r *http.Request) (offer.Draft, offerForm, bool) {
	id := r.PathValue("id")
	if !safeID(id) {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "agreement not found"))
		return offer.Draft{}, offerForm{}, false
	}
	d, err := s.Offers.AmendmentDraft(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return d, offerForm{}, false
	}
	f := offerForm{Mode: offerFormAmend, Action: Prefix + "/agreements/" + url.PathEscape(id) + "/amend",
		Back: Prefix + "/agreements/" + url.PathEscape(id), BackLabel: "Back to the agreement", AmendsAgreement: id,
		Notes: d.Notes, NoTerms: len(d.Form.Pricing.Dimensions) == 0 && d.Form.Pricing.Currency == "", RenewalURL: Prefix + "/offers/new?renew=" + url.QueryEscape(id), AgreementAccount: d.Form.Metadata[offer.MetaBuyerAccount]}
	if d.Form.Amends != nil {
		f.AmendsSource = d.Form.Amends.SourceOfferID
	}
	if d.Alternative != nil {
		f.Alternative = d.Alternative.Explanation
		f.AlternativeURL = Prefix + "/offers/new?concurrent=" + url.QueryEscape(id)
	}
	for i, n := range f.Notes {
		f.Notes[i] = problemText(n)
	}
	return d, f, true
}

// copyAmend puts what the agreement says about the amendment into f.
func copyAmend(f *offerForm, from offerForm) {
	f.Mode, f.Action, f.Back, f.BackLabel = from.Mode, from.Action, from.Back, from.BackLabel
	f.AmendsAgreement, f.AmendsSource, f.Notes, f.NoTerms = from.AmendsAgreement, from.AmendsSource, from.Notes, from.NoTerms
	f.Alternative, f.AlternativeURL, f.RenewalURL, f.AgreementAccount = from.Alternative, from.AlternativeURL, from.RenewalURL, from.AgreementAccount
}

func (s *Service) createAmendment(w http.ResponseWriter, r *http.Request) {
	d, from, ok := s.amendDraft(w, r)
	if !ok {
		return
	}
	f, changed, err := s.offerFormOfPost(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	source := f.AmendsSource
	copyAmend(&f, from)
	f.AmendsSource = source
	f.keepLegal(d.Form)
	f.Preview = d.Preview
	s.saveOfferForm(w, r, "Amend agreement "+from.AmendsAgreement, f, changed, d.Form, func(ctx context.Context, o offer.Offer) (offer.Detail, error) {
		return s.Offers.Create(ctx, o)
	}, "amendment")
}

// showOffer renders the offer page; errs and the refilled fields come from
// an action the service refused.
func (s *Service) showOffer(w http.ResponseWriter, r *http.Request, status int, d offer.Detail, v view, data offerData) {
	ctx := r.Context()
	data.Detail = d
	data.BuyerAccount = d.Metadata[offer.MetaBuyerAccount]
	data.PartnerAccount = d.Metadata[offer.MetaPartnerAccount]
	data.CPPOID = d.Metadata[offer.MetaCPPOOpportunityID]
	for k, val := range d.Metadata {
		if !offerOwnMeta[k] {
			data.Metadata = append(data.Metadata, offerMeta{Key: k, Label: k, Value: val})
		}
	}
	sort.Slice(data.Metadata, func(i, j int) bool { return data.Metadata[i].Key < data.Metadata[j].Key })
	if d.OfferID != "" {
		data.OfferPage = offer.OfferPageURL(d.ProductID, d.OfferID)
	}
	switch d.State {
	case offer.StateDraft, offer.StateFailed:
		data.CanSubmit, data.CanCancel, data.CanDocuments = true, true, true
		data.CanAssociate = d.OfferID == ""
	case offer.StatePublished, offer.StateInstructionsSent, offer.StateViewed:
		data.CanCancel = true
	case offer.StateCancelled:
		data.CanAssociate = d.OfferID == ""
	}
	data.CanEdit = offerEditable(d.State)
	data.CanInstruct = d.Type == offer.TypeDirect &&
		(d.State == offer.StatePublished || d.State == offer.StateInstructionsSent || d.State == offer.StateViewed)
	if d.AgreementID != "" {
		// Only an agreement in force can be amended or renewed from here: one
		// replaced, renewed, cancelled or expired since is named as such.
		var a, prev marketplace.Agreement
		var found, prevFound bool
		err := s.DB.Read(ctx, func(tx *store.Tx) error {
			var err error
			if a, found, err = inbox.LoadAgreement(ctx, tx, d.AgreementID); err != nil || !found || a.PreviousAgreementID == "" {
				return err
			}
			prev, prevFound, err = inbox.LoadAgreement(ctx, tx, a.PreviousAgreementID)
			return err
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if found {
			data.AgreementStatus = awsWords{}.Word(a.Status)
			data.Outcome = outcome(a, prev, prevFound)
		}
		data.CanAmend = d.State == offer.StateAccepted && found && !marketplace.IsTerminalStatus(a.Status)
	}
	if d.State == offer.StateInstructionsSent || d.State == offer.StateViewed || d.State == offer.StateAccepted {
		var token *string
		err := s.DB.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT track_token FROM offers WHERE id = ?`, d.ID).Scan(&token)
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if token != nil && *token != "" {
			base := ""
			if s.Offers.PublicURL != nil {
				base = s.Offers.PublicURL()
			}
			data.TrackedLink = base + offer.TrackPath + *token
		}
	}
	v.Title, v.Nav, v.Data = offerTitle(d.Offer), "offers", data
	s.render(w, r, status, "offer", v)
}

// offerRefused shows the offer again after the service refused an action, with
// its message linked to the field (or button) of that action.
func (s *Service) offerRefused(w http.ResponseWriter, r *http.Request, d offer.Detail, id, prefix string, err error, data offerData) {
	status, ok := refusal(err)
	if !ok {
		s.fail(w, r, err)
		return
	}
	s.showOffer(w, r, status, d, view{Errors: []fieldError{{ID: id, Message: prefix + problemText(marketplace.ErrorMessage(err))}}}, data)
}

func (s *Service) submitOffer(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	if _, err := s.Offers.Submit(r.Context(), d.ID); err != nil {
		s.offerRefused(w, r, d, "submit-offer", "The offer was not submitted: ", err, offerData{})
		return
	}
	s.logger().Info("console: offer submitted", "offer", d.ID, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/offers/"+d.ID+"?done=submitted", http.StatusSeeOther)
}

// maxCancelReason is how long a cancellation reason may be.
const maxCancelReason = 500

func (s *Service) cancelOffer(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	data := offerData{Reason: reason}
	var problem string
	switch {
	case reason == "":
		problem = "Say why the offer is cancelled: the reason goes into its history."
	case utf8.RuneCountInString(reason) > maxCancelReason || !marketplace.Storable(reason):
		problem = "Keep the reason to at most 500 characters of plain text."
	}
	if problem != "" {
		s.showOffer(w, r, http.StatusBadRequest, d, view{Errors: []fieldError{{ID: "cancel-reason", Message: problem}}}, data)
		return
	}
	c, err := s.Offers.Cancel(r.Context(), d.ID, reason)
	if err != nil {
		s.offerRefused(w, r, d, "cancel-reason", "The offer was not cancelled: ", err, data)
		return
	}
	s.logger().Info("console: offer cancelled", "offer", d.ID, "state", c.State, "user", sessionOf(r).User.Email)
	done := "cancelled"
	if c.State == offer.StateCancelling {
		done = "cancelling"
	}
	http.Redirect(w, r, Prefix+"/offers/"+d.ID+"?done="+done, http.StatusSeeOther)
}

func (s *Service) sendInstructions(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	to, note := strings.TrimSpace(r.PostForm.Get("to")), strings.TrimSpace(r.PostForm.Get("note"))
	data := offerData{InstructionsTo: to, Note: note}
	var errs []fieldError
	if to == "" {
		errs = append(errs, fieldError{ID: "instructions-to", Message: "Enter the email address of at least one person at the buyer."})
	}
	if utf8.RuneCountInString(note) > 2000 || !marketplace.Storable(note) {
		errs = append(errs, fieldError{ID: "instructions-note", Message: "Keep the note to at most 2000 characters of plain text."})
	}
	if len(errs) > 0 {
		s.showOffer(w, r, http.StatusBadRequest, d, view{Errors: errs}, data)
		return
	}
	if _, err := s.Offers.SendInstructions(r.Context(), d.ID, offer.InstructionsRequest{To: emailList(to), Note: note}); err != nil {
		s.offerRefused(w, r, d, "instructions-to", "The purchase instructions were not recorded: ", err, data)
		return
	}
	s.logger().Info("console: purchase instructions sent", "offer", d.ID, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/offers/"+d.ID+"?done=instructions", http.StatusSeeOther)
}

// associateData is the page that tracks an offer made outside Concord with
// the form of a Concord offer.
type associateData struct {
	Source          offer.Detail
	Partner         bool
	AWSOfferID      string
	CPPOID          string
	SourceAccount   string
	PartnerAccount  string
	SourceTitle     string
	DimensionsCount int
	// CancelSource cancels the draft the details came from once the AWS
	// offer is tracked (it was a draft of the same deal).
	CancelSource bool
	// SourceDraft: the source is a draft (or failed), which can be cancelled.
	SourceDraft bool
}

func (s *Service) showAssociate(w http.ResponseWriter, r *http.Request, status int, d offer.Detail, a associateData, errs []fieldError) {
	a.Source, a.Partner = d, d.Type == offer.TypePartner
	a.SourceAccount, a.PartnerAccount, a.SourceTitle = d.Metadata[offer.MetaBuyerAccount], d.Metadata[offer.MetaPartnerAccount], offerTitle(d.Offer)
	a.DimensionsCount = len(d.Pricing.Dimensions)
	a.SourceDraft = d.State == offer.StateDraft || d.State == offer.StateFailed
	s.render(w, r, status, "offer_associate", view{Title: "Associate an AWS offer", Nav: "offers", Errors: errs, Data: a})
}

func (s *Service) associateForm(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	s.showAssociate(w, r, http.StatusOK, d, associateData{CPPOID: d.Metadata[offer.MetaCPPOOpportunityID], CancelSource: true}, nil)
}

// associateOffer tracks an AWS offer (or a partner's CPPO) with the form of
// this offer: offer.Service.Associate makes a new offer, accepted at once if
// the buyer already accepted the AWS offer.
func (s *Service) associateOffer(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	a := associateData{AWSOfferID: strings.TrimSpace(r.PostForm.Get("aws-offer-id")), CPPOID: strings.TrimSpace(r.PostForm.Get("cppo-opportunity")),
		CancelSource: r.PostForm.Get("cancel-source") == "on"}
	form := d.Offer
	form.Metadata = map[string]string{}
	for k, v := range d.Metadata {
		form.Metadata[k] = v
	}
	if d.Type == offer.TypePartner {
		delete(form.Metadata, offer.MetaCPPOOpportunityID)
		if a.CPPOID != "" {
			form.Metadata[offer.MetaCPPOOpportunityID] = a.CPPOID
		}
	}
	if len(a.AWSOfferID) > 128 || len(a.CPPOID) > 255 || !marketplace.Storable(a.AWSOfferID+a.CPPOID) {
		s.showAssociate(w, r, http.StatusBadRequest, d, a, []fieldError{{ID: "aws-offer-id", Message: "Enter an AWS offer id such as offer-abc123."}})
		return
	}
	n, err := s.Offers.Associate(r.Context(), offer.Association{Form: form, OfferID: a.AWSOfferID})
	if err != nil {
		status, ok := refusal(err)
		if !ok {
			s.fail(w, r, err)
			return
		}
		id := "aws-offer-id"
		if a.AWSOfferID == "" && d.Type == offer.TypePartner {
			id = "cppo-opportunity"
		}
		s.showAssociate(w, r, status, d, a, []fieldError{{ID: id, Message: problemText(marketplace.ErrorMessage(err))}})
		return
	}
	s.logger().Info("console: offer associated", "offer", n.ID, "from", d.ID, "awsOffer", a.AWSOfferID, "user", sessionOf(r).User.Email)
	done := "associated"
	if a.CancelSource && (d.State == offer.StateDraft || d.State == offer.StateFailed) {
		// The draft was this deal's: cancel it, so the deal is tracked once.
		// The AWS offer is tracked already; should cancelling fail, the new
		// offer's page says so and the draft stays for the user to cancel.
		done = "associated-cancelled"
		if _, err := s.Offers.Cancel(r.Context(), d.ID, "tracked as "+n.ID+" (an offer made outside Concord)"); err != nil {
			s.logger().Warn("console: could not cancel the draft an association came from", "offer", d.ID, "err", err)
			done = "associated"
		}
	}
	http.Redirect(w, r, Prefix+"/offers/"+n.ID+"?done="+done, http.StatusSeeOther)
}

// partnerRow is one partner offer with the last step of its history.
type partnerRow struct {
	offer.Offer
	BuyerAccount, PartnerAccount, CPPOID string
	Last                                 *offer.Step
}

// partnerStates are the states a partner offer can be in: every offer state
// but those of purchase instructions and their tracked link, which only a
// direct offer has (a partner offer reaches the buyer through the partner).
var partnerStates = slices.DeleteFunc(slices.Clone(offerStates), func(st string) bool {
	return st == offer.StateInstructionsSent || st == offer.StateViewed
})

type partnersData struct {
	States   []string
	State, Q string
	Sort     string
	Offers   []partnerRow
	Headers  []sortHeader
	Pager    pager
	CSV      string
	Filtered bool
}

var partnerColumns = []column{
	{Label: "Offer", Key: "offer"}, {Label: "Buyer", Key: "buyer"}, {Label: "Partner", Key: "partner"}, {Label: "In AWS"},
	{Label: "State", Key: "state"}, {Label: "Agreement", Key: "agreement"}, {Label: "Last step", Key: "updated"},
}

// partners tracks partner offers from the resale authorization to the
// partner's offer and the buyer's agreement.
func (s *Service) partners(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	f, errs := offerListFilter(q, offer.TypePartner, partnerStates)
	d := partnersData{States: partnerStates, State: f.State, Q: q.Get("q"), Sort: f.Order.String()}
	d.Filtered = f.State != "" || f.Query != ""
	list, err := report.Offers(ctx, s.DB, s.Offers, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := Prefix + "/partners"
	d.Headers, d.Pager, d.CSV = sortHeaders(base, q, f.Order, partnerColumns), pagerOf(base, q, list), csvHref(base, q)
	offers := make([]offer.Offer, len(list.Items))
	for i, o := range list.Items {
		offers[i] = o.Offer
	}
	last, err := s.offerLastSteps(ctx, offers)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, o := range offers {
		row := partnerRow{Offer: o, BuyerAccount: o.Metadata[offer.MetaBuyerAccount], PartnerAccount: o.Metadata[offer.MetaPartnerAccount],
			CPPOID: o.Metadata[offer.MetaCPPOOpportunityID]}
		if st, ok := last[o.ID]; ok {
			row.Last = &st
		}
		d.Offers = append(d.Offers, row)
	}
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "partners", view{Title: "Partner offers", Nav: "partners", Errors: errs, Data: d})
}

// offerLastSteps reads the latest history step of each offer.
func (s *Service) offerLastSteps(ctx context.Context, list []offer.Offer) (map[string]offer.Step, error) {
	out := map[string]offer.Step{}
	if len(list) == 0 {
		return out, nil
	}
	args := make([]any, len(list))
	for i, o := range list {
		args[i] = o.ID
	}
	type row struct {
		id string
		st offer.Step
	}
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		rows, err := store.QueryAll(ctx, tx, func(r store.Scanner) (row, error) {
			var x row
			var at int64
			err := r.Scan(&x.id, &at, &x.st.State, &x.st.Step, &x.st.Message)
			x.st.At = store.FromMillis(at)
			return x, err
		}, `SELECT offer_id, at, state, step, message FROM offer_history WHERE offer_id IN (?`+strings.Repeat(", ?", len(list)-1)+`) ORDER BY at, id`, args...)
		for _, x := range rows {
			out[x.id] = x.st
		}
		return err
	})
	return out, err
}

// outcome says what the buyer's acceptance did, as the ledger records it:
// the agreement's intent, the agreement it follows and what became of that
// one. It promises nothing AWS has not reported.
func outcome(a, prev marketplace.Agreement, prevFound bool) string {
	out := "The buyer's acceptance made agreement " + a.AgreementID
	if a.Intent != "" {
		out += " (intent " + a.Intent + ")"
	}
	switch {
	case a.PreviousAgreementID == "":
		return out + ", the first of its chain."
	case !prevFound:
		return out + ", which follows agreement " + a.PreviousAgreementID + " (not in the ledger)."
	}
	out += ", which follows agreement " + prev.AgreementID + "; that agreement is " + awsWords{}.Word(prev.Status)
	if prev.EndedAt != nil {
		out += " since " + prev.EndedAt.UTC().Format("2006-01-02")
	} else if prev.EndTime != nil {
		out += " until " + prev.EndTime.UTC().Format("2006-01-02")
	}
	return out + "."
}
