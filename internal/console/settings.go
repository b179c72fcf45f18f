package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/webhook"
)

// mountSettings adds the admin's pages: products and listings, notification
// routes, API keys, webhooks and users. Every page can be read by every
// role; every change needs AreaSettings (admins).
func (s *Service) mountSettings(m Mux) {
	get := func(path string, h http.HandlerFunc) { m.HandleFunc("GET "+Prefix+"/settings"+path, s.signedIn(h)) }
	post := func(path string, h http.HandlerFunc) {
		m.HandleFunc("POST "+Prefix+"/settings"+path, s.signedIn(s.may(AreaSettings, h)))
	}
	get("", s.settings)

	get("/products", s.products)
	get("/products/new", s.may(AreaSettings, s.newProduct))
	post("/products/new", s.createProduct)
	get("/products/{id}", s.product)
	post("/products/{id}", s.saveProduct)
	post("/products/{id}/sync", s.syncProduct)

	get("/routes", s.routes)
	post("/routes", s.addRoute)
	post("/routes/{id}/delete", s.deleteRoute)

	get("/api-keys", s.apiKeys)
	post("/api-keys", s.createAPIKey)
	post("/api-keys/{id}/revoke", s.revokeAPIKey)

	get("/webhooks", s.webhooks)
	post("/webhooks", s.addWebhook)
	get("/webhooks/{id}", s.webhookPage)
	post("/webhooks/{id}/enable", s.enableWebhook)
	post("/webhooks/{id}/disable", s.disableWebhook)
	post("/webhooks/{id}/ping", s.pingWebhook)
	post("/webhooks/{id}/rotate", s.rotateWebhook)
	post("/webhooks/{id}/delete", s.deleteWebhook)

	get("/users", s.usersPage)
	post("/users", s.addUser)
	post("/users/{id}/role", s.changeRole)
	post("/users/{id}/disable", s.disableUser)
	post("/users/{id}/enable", s.enableUser)
}

// settingsList bounds the lists of the settings pages (products, routes,
// endpoints): far more than a vendor configures.
const settingsList = 500

type settingsData struct {
	Products, Routes, ActiveKeys, Endpoints, Users int
}

// settings is the overview: what each settings page holds, with counts.
func (s *Service) settings(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var d settingsData
	products, err := s.Ledger.ListProducts(ctx, inbox.Page{Limit: settingsList})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	routes, err := s.Notify.ListRoutes(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	keys, err := apikey.List(ctx, s.DB)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	endpoints, err := s.Webhooks.List(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Products, d.Routes, d.Endpoints, d.Users = len(products), len(routes), len(endpoints), len(users)
	for _, k := range keys {
		if k.RevokedAt == nil {
			d.ActiveKeys++
		}
	}
	s.render(w, r, http.StatusOK, "settings", view{Title: "Settings", Nav: "settings", Data: d})
}

// storable reports whether every value of a form can be stored (valid
// UTF-8, no NUL): the databases refuse the rest.
func storable(f url.Values) bool {
	for _, vs := range f {
		for _, v := range vs {
			if !marketplace.Storable(v) {
				return false
			}
		}
	}
	return true
}

// errorWords ties a service's error message, by how it starts, to the form
// field it is about, and says the start in the form's words ("" keeps it).
type errorWords struct{ prefix, field, words string }

// explain picks the field an error message is about (fallback when none
// matches) and rewords the message for the form.
func explain(msg string, table []errorWords, fallback string) fieldError {
	for _, x := range table {
		if rest, ok := strings.CutPrefix(msg, x.prefix); ok {
			if x.words != "" {
				msg = x.words + rest
			}
			return fieldError{ID: x.field, Message: upperFirst(msg)}
		}
	}
	return fieldError{ID: fallback, Message: upperFirst(msg)}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ---- Products and listings ----

type productRow struct {
	marketplace.Product
	TypeLabel, StrategyLabel string
	TracksCPPO               bool
}

type productsData struct {
	Products   []productRow
	NextCursor string
}

var productTypeLabels = map[string]string{
	marketplace.ProductSaaSContract:            "SaaS contract",
	marketplace.ProductSaaSContractConsumption: "SaaS contract with consumption",
	marketplace.ProductSaaSUsage:               "SaaS usage (subscription)",
	marketplace.ProductProfessionalServices:    "Professional services",
	"":                                         "Not set",
}

var productTypes = []string{"", marketplace.ProductSaaSContract, marketplace.ProductSaaSContractConsumption,
	marketplace.ProductSaaSUsage, marketplace.ProductProfessionalServices}

var strategies = []option{
	{Value: marketplace.StrategySeparate, Label: "Separate tenant per license",
		Hint: "Every purchase gets a new tenant: departments buying on their own."},
	{Value: marketplace.StrategyUnified, Label: "One tenant per buyer",
		Hint: "Every license of one AWS account joins one tenant; from the second purchase on the buyer lands straight on “You're all set”."},
	{Value: marketplace.StrategyChoice, Label: "Buyer's choice",
		Hint: "The buyer picks a new tenant or one their AWS account already owns for this product."},
}

func strategyLabel(st string) string {
	if st == "" {
		st = marketplace.StrategySeparate
	}
	for _, o := range strategies {
		if o.Value == st {
			return o.Label
		}
	}
	return st
}

func productRowOf(p marketplace.Product) productRow {
	return productRow{Product: p, TypeLabel: productTypeLabels[p.Type], StrategyLabel: strategyLabel(p.Registration.Strategy), TracksCPPO: p.TracksCPPO()}
}

const productsPage = 100

func (s *Service) products(w http.ResponseWriter, r *http.Request) {
	cursor := r.URL.Query().Get("cursor")
	if !marketplace.Storable(cursor) || len(cursor) > 255 {
		cursor = ""
	}
	list, err := s.Ledger.ListProducts(r.Context(), inbox.Page{Limit: productsPage, Cursor: cursor})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var d productsData
	for _, p := range list {
		d.Products = append(d.Products, productRowOf(p))
	}
	if len(list) == productsPage {
		d.NextCursor = list[len(list)-1].ProductID
	}
	s.render(w, r, http.StatusOK, "settings_products", view{Title: "Products and listings", Nav: "settings", Data: d})
}

// Rows of the product form; N numbers them for screen readers.
type dimRow struct {
	Key, Name, Unit, Kind string
	N                     int
}

type metaRow struct {
	Key, Label string
	Required   bool
	N          int
}

type regFieldRow struct {
	Key, Label, Type, Help string
	Options                string // one per line
	Required               bool
	N                      int
}

// productForm is the product page: the product as stored or as typed, with
// a few blank rows to add dimensions, metadata fields and questions.
type productForm struct {
	New                                            bool
	ProductID, Title, ProductCode, Type            string
	Concurrent                                     bool
	Dimensions                                     []dimRow
	ZeroUsage                                      string
	Metadata                                       []metaRow
	Strategy, LogoURL, SupportURL, AppURL, AutoReg string
	Fields                                         []regFieldRow
	// For the read-only view.
	Product productRow

	Types      []option
	Strategies []option
	DimKinds   []option
	FieldTypes []string
	CPPOKey    string
}

// Blank rows offered for adding.
const (
	blankDimensions = 3
	blankMetadata   = 3
	blankFields     = 2
)

func formOf(p marketplace.Product) productForm {
	f := productForm{ProductID: p.ProductID, Title: p.Title, ProductCode: p.ProductCode, Type: p.Type, Concurrent: p.ConcurrentAgreements,
		ZeroUsage: p.ZeroUsageDimension, Strategy: p.Registration.Strategy, LogoURL: p.Registration.LogoURL,
		SupportURL: p.Registration.SupportURL, AppURL: p.Registration.AppURL, AutoReg: p.Registration.AutoRegisterAfter, Product: productRowOf(p)}
	for _, d := range p.Dimensions {
		f.Dimensions = append(f.Dimensions, dimRow{Key: d.Key, Name: d.Name, Unit: d.Unit, Kind: d.Kind})
	}
	for _, m := range p.ContractMetadata {
		f.Metadata = append(f.Metadata, metaRow{Key: m.Key, Label: m.Label, Required: m.Required})
	}
	fields := p.Registration.Fields
	if len(fields) == 0 {
		// What the registration page asks when none are configured: shown
		// so that adding a question keeps them.
		fields = marketplace.DefaultFields()
	}
	for _, x := range fields {
		f.Fields = append(f.Fields, regFieldRow{Key: x.Key, Label: x.Label, Type: x.Type, Help: x.Help, Required: x.Required,
			Options: strings.Join(x.Options, "\n")})
	}
	return f
}

// withChoices adds the blank rows and the choices of the selects.
func (f productForm) withChoices() productForm {
	for range blankDimensions {
		f.Dimensions = append(f.Dimensions, dimRow{})
	}
	for range blankMetadata {
		f.Metadata = append(f.Metadata, metaRow{})
	}
	for range blankFields {
		f.Fields = append(f.Fields, regFieldRow{Type: "text"})
	}
	for i := range f.Dimensions {
		f.Dimensions[i].N = i + 1
	}
	for i := range f.Metadata {
		f.Metadata[i].N = i + 1
	}
	for i := range f.Fields {
		f.Fields[i].N = i + 1
	}
	f.Types = nil
	for _, t := range productTypes {
		f.Types = append(f.Types, option{Value: t, Label: productTypeLabels[t], Checked: t == f.Type})
	}
	st := f.Strategy
	if st == "" {
		st = marketplace.StrategySeparate
	}
	f.Strategies = nil
	for _, o := range strategies {
		o.Checked = o.Value == st
		f.Strategies = append(f.Strategies, o)
	}
	f.DimKinds = []option{{Value: "", Label: "Not set"}, {Value: "contract", Label: "Contract"}, {Value: "usage", Label: "Usage"}}
	f.FieldTypes = []string{"text", "textarea", "email", "tel", "url", "number", "select", "checkbox"}
	f.CPPOKey = marketplace.CPPOOpportunityField
	return f
}

// rows counts the rows of a repeated group in a posted form (prefix-0-key,
// prefix-1-key, …), at most limit.
func rows(f url.Values, prefix string, limit int) int {
	n := 0
	for n < limit {
		if _, ok := f[fmt.Sprintf("%s-%d-key", prefix, n)]; !ok {
			break
		}
		n++
	}
	return n
}

// parseProduct reads the product form. Rows left blank are dropped; a row
// with content but no key is a problem of the form itself. Everything else
// is for Product.Validate (through PutProduct) to judge.
func parseProduct(f url.Values, id string) (productForm, marketplace.Product, []fieldError) {
	v := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	form := productForm{ProductID: id, Title: v("title"), ProductCode: v("product-code"), Type: v("type"), Concurrent: f.Get("concurrent") != "",
		ZeroUsage: v("zero-usage"), Strategy: v("strategy"), LogoURL: v("logo-url"), SupportURL: v("support-url"), AppURL: v("app-url"),
		AutoReg: v("auto-register")}
	p := marketplace.Product{ProductID: id, Title: form.Title, ProductCode: form.ProductCode, Type: form.Type, ConcurrentAgreements: form.Concurrent,
		ZeroUsageDimension: form.ZeroUsage, Dimensions: []marketplace.Dimension{}, ContractMetadata: []marketplace.MetadataField{},
		Registration: marketplace.Registration{Strategy: form.Strategy, LogoURL: form.LogoURL, SupportURL: form.SupportURL, AppURL: form.AppURL,
			AutoRegisterAfter: form.AutoReg}}
	var errs []fieldError
	for i := range rows(f, "dim", 250) {
		k := fmt.Sprintf("dim-%d-", i)
		d := dimRow{Key: v(k + "key"), Name: v(k + "name"), Unit: v(k + "unit"), Kind: v(k + "kind")}
		if d == (dimRow{}) {
			continue
		}
		form.Dimensions = append(form.Dimensions, d)
		if d.Key == "" {
			errs = append(errs, fieldError{ID: k + "key", Message: fmt.Sprintf("Dimension row %d: enter its API name (key), or clear the row.", i+1)})
		}
		p.Dimensions = append(p.Dimensions, marketplace.Dimension{Key: d.Key, Name: d.Name, Unit: d.Unit, Kind: d.Kind})
	}
	for i := range rows(f, "meta", 100) {
		k := fmt.Sprintf("meta-%d-", i)
		m := metaRow{Key: v(k + "key"), Label: v(k + "label"), Required: f.Get(k+"required") != ""}
		if m == (metaRow{}) {
			continue
		}
		form.Metadata = append(form.Metadata, m)
		if m.Key == "" {
			errs = append(errs, fieldError{ID: k + "key", Message: fmt.Sprintf("Contract metadata row %d: enter its key, or clear the row.", i+1)})
		}
		p.ContractMetadata = append(p.ContractMetadata, marketplace.MetadataField{Key: m.Key, Label: m.Label, Required: m.Required})
	}
	for i := range rows(f, "field", 60) {
		k := fmt.Sprintf("field-%d-", i)
		x := regFieldRow{Key: v(k + "key"), Label: v(k + "label"), Type: v(k + "type"), Help: v(k + "help"), Options: v(k + "options"),
			Required: f.Get(k+"required") != ""}
		if x.Key == "" && x.Label == "" && x.Help == "" && x.Options == "" {
			continue
		}
		form.Fields = append(form.Fields, x)
		if x.Key == "" {
			errs = append(errs, fieldError{ID: k + "key", Message: fmt.Sprintf("Registration question %d: enter its key, or clear the row.", i+1)})
		}
		rf := marketplace.RegistrationField{Key: x.Key, Label: x.Label, Type: x.Type, Required: x.Required, Help: x.Help}
		for _, o := range strings.Split(x.Options, "\n") {
			if o = strings.TrimSpace(o); o != "" {
				rf.Options = append(rf.Options, o)
			}
		}
		p.Registration.Fields = append(p.Registration.Fields, rf)
	}
	return form, p, errs
}

// productErrors maps Product.Validate's messages to the form's fields and words.
var productErrors = []errorWords{
	{"productId", "product-id", "The product id"}, {"productCode", "product-code", "The product code"},
	{"product code", "product-code", "The product code"}, {"type", "type", "The type"}, {"title", "title", "The title"},
	{"dimension key", "dimensions", "The dimension key"}, {"dimension", "dimensions", "Dimension"},
	{"zeroUsageDimension", "zero-usage", "The zero-usage dimension"},
	{"at most 50 contract", "metadata", ""}, {"contract metadata field", "metadata", "The contract metadata field"},
	{"registration strategy", "strategy", "The tenant strategy"}, {"registration logoUrl", "logo-url", "The logo URL"},
	{"registration supportUrl", "support-url", "The support URL"}, {"registration appUrl", "app-url", "The app URL"},
	{"autoRegisterAfter", "auto-register", "The auto-registration delay"}, {"at most 30 registration", "fields", ""},
	{"registration field", "fields", "The registration question"}, {"the company field", "fields", "The company question"},
}

func (s *Service) showProduct(w http.ResponseWriter, r *http.Request, status int, f productForm, errs []fieldError, notice string) {
	title := "New product"
	if !f.New {
		title = f.ProductID
		if f.Title != "" {
			title = f.Title
		}
	}
	s.render(w, r, status, "settings_product", view{Title: title, Nav: "settings", Data: f.withChoices(), Errors: errs, Status: notice})
}

func (s *Service) newProduct(w http.ResponseWriter, r *http.Request) {
	f := formOf(marketplace.Product{ConcurrentAgreements: true})
	f.New = true
	s.showProduct(w, r, http.StatusOK, f, nil, "")
}

func (s *Service) product(w http.ResponseWriter, r *http.Request) {
	p, err := s.Ledger.GetProduct(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	notice := ""
	switch {
	case r.URL.Query().Get("saved") != "":
		notice = "Saved. The registration page, metering and offers use these settings from now on."
	case r.URL.Query().Get("synced") != "":
		notice = "Synced from AWS: the title, type and dimensions are the listing's; the settings below stay as they were."
	}
	s.showProduct(w, r, http.StatusOK, formOf(p), nil, notice)
}

// syncProduct reads the product's title, type and dimensions from the
// Catalog API, keeping Concord's own settings, and shows the page again; a
// refusal (AWS does not know the product, say) is shown on the page.
func (s *Service) syncProduct(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, err := s.Ledger.GetProduct(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Products == nil {
		s.showProduct(w, r, http.StatusServiceUnavailable, formOf(p), []fieldError{{ID: "sync", Message: "Concord has no Catalog API client to read the product with."}}, "")
		return
	}
	synced, err := s.Ledger.SyncProduct(r.Context(), s.Products, id)
	switch code := marketplace.ErrorCode(err); code {
	case "":
	case marketplace.EInvalid, marketplace.ENotFound, marketplace.EConflict:
		status := http.StatusConflict
		if code == marketplace.ENotFound {
			status = http.StatusNotFound
		}
		s.showProduct(w, r, status, formOf(p), []fieldError{{ID: "sync", Message: "AWS did not give the product: " + marketplace.ErrorMessage(err)}}, "")
		return
	default:
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: product synced from AWS", "product", synced.ProductID, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/products/"+url.PathEscape(id)+"?synced=1", http.StatusSeeOther)
}

func (s *Service) createProduct(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.PostForm.Get("product-id"))
	s.putProduct(w, r, id, true)
}

func (s *Service) saveProduct(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.Ledger.GetProduct(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.putProduct(w, r, id, false)
}

// putProduct saves the posted form through Ledger.PutProduct, or shows the
// form again with what is wrong (and saves nothing).
func (s *Service) putProduct(w http.ResponseWriter, r *http.Request, id string, isNew bool) {
	if !storable(r.PostForm) {
		s.fail(w, r, marketplace.Errorf(marketplace.EInvalid, "the form contains characters that cannot be stored"))
		return
	}
	f, p, errs := parseProduct(r.PostForm, id)
	f.New = isNew
	status := http.StatusBadRequest
	if isNew && len(errs) == 0 {
		if id == "" {
			errs = append(errs, fieldError{ID: "product-id", Message: "Enter the product id AWS Marketplace gave the listing (prod-…)."})
		} else if _, err := s.Ledger.GetProduct(r.Context(), id); err == nil {
			status, errs = http.StatusConflict, append(errs, fieldError{ID: "product-id", Message: "A product with the id " + id + " exists already: edit it from the product list."})
		} else if marketplace.ErrorCode(err) != marketplace.ENotFound {
			s.fail(w, r, err)
			return
		}
	}
	if len(errs) == 0 {
		_, err := s.Ledger.PutProduct(r.Context(), p)
		switch code := marketplace.ErrorCode(err); code {
		case "":
		case marketplace.EInvalid, marketplace.EConflict:
			if code == marketplace.EConflict {
				status = http.StatusConflict
			}
			errs = append(errs, explain(marketplace.ErrorMessage(err), productErrors, "title"))
		default:
			s.fail(w, r, err)
			return
		}
	}
	if len(errs) > 0 {
		s.showProduct(w, r, status, f, errs, "")
		return
	}
	s.logger().Info("console: product saved", "product", p.ProductID, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/products/"+url.PathEscape(p.ProductID)+"?saved=1", http.StatusSeeOther)
}

// ---- Notification routes ----

// kindWords says what each notification kind is about, for the route form.
var kindWords = map[string]string{
	notify.KindNewOrder:             "New order: a buyer accepted an offer",
	notify.KindPartnerOfferExtended: "Partner offer extended: a channel partner extended a CPPO offer",
	notify.KindOrderModification:    "Order modification: a buyer accepted an amended offer",
	notify.KindRenewal:              "Renewal: a buyer renewed",
	notify.KindAgreementEnded:       "Agreement ended: ended, expired or cancelled",
	notify.KindRegistrationPending:  "Registration pending: a buyer has not registered yet",
	notify.KindRegistrationReminder: "Registration reminder: still not registered after 48 hours",
	notify.KindOfferExpiring:        "Offer expiring: a published offer expires within 7 days",
	notify.KindAgreementEnding:      "Agreement ending: ends in 90, 60 or 30 days",
	notify.KindMeteringFailed:       "Metering failed: AWS refused usage, so it is not billed",
	notify.KindMeteringExpired:      "Metering expired: usage missed AWS's window, so it is not billed",
	notify.KindBuyerWelcome:         "Buyer welcome: the welcome email to a buyer who registered",
	notify.KindPurchaseInstructions: "Purchase instructions: a direct offer's instructions to the buyer",
}

func kindLabel(k string) string {
	if k == "*" {
		return "Every kind"
	}
	if w, ok := kindWords[k]; ok {
		w, _, _ = strings.Cut(w, ":")
		return w
	}
	return k
}

type routeRow struct {
	notify.NotificationRoute
	KindLabel string
}

type routesData struct {
	Routes                           []routeRow
	Kinds, Channels, Products        []option
	Kind, Channel, Target, ProductID string
}

func (s *Service) routesView(ctx context.Context, in notify.NotificationRouteInput) (routesData, error) {
	d := routesData{Kind: in.Kind, Channel: in.Channel, Target: in.Target, ProductID: in.ProductID}
	list, err := s.Notify.ListRoutes(ctx)
	if err != nil {
		return d, err
	}
	for _, rt := range list {
		d.Routes = append(d.Routes, routeRow{NotificationRoute: rt, KindLabel: kindLabel(rt.Kind)})
	}
	d.Kinds = []option{{Value: "*", Label: "Every kind", Checked: in.Kind == "*"}}
	for _, k := range notify.Kinds {
		if k == notify.KindBuyerWelcome || k == notify.KindPurchaseInstructions {
			continue // buyer-facing: routes do not apply
		}
		d.Kinds = append(d.Kinds, option{Value: k, Label: kindWords[k], Checked: in.Kind == k})
	}
	d.Channels = []option{
		{Value: notify.ChannelEmail, Label: "Email", Checked: in.Channel != notify.ChannelSlack},
		{Value: notify.ChannelSlack, Label: "Slack (or a Slack-compatible incoming webhook)", Checked: in.Channel == notify.ChannelSlack},
	}
	products, err := s.Ledger.ListProducts(ctx, inbox.Page{Limit: settingsList})
	if err != nil {
		return d, err
	}
	d.Products = []option{{Value: "", Label: "Every product", Checked: in.ProductID == ""}}
	for _, p := range products {
		label := p.ProductID
		if p.Title != "" {
			label = p.Title + " (" + p.ProductID + ")"
		}
		d.Products = append(d.Products, option{Value: p.ProductID, Label: label, Checked: in.ProductID == p.ProductID})
	}
	return d, nil
}

func (s *Service) showRoutes(w http.ResponseWriter, r *http.Request, status int, in notify.NotificationRouteInput, errs []fieldError, notice string) {
	d, err := s.routesView(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "settings_routes", view{Title: "Notification routes", Nav: "settings", Data: d, Errors: errs, Status: notice})
}

func (s *Service) routes(w http.ResponseWriter, r *http.Request) {
	notice := ""
	switch {
	case r.URL.Query().Get("added") != "":
		notice = "Route added. Notifications of that kind go there from now on."
	case r.URL.Query().Get("deleted") != "":
		notice = "Route deleted. Notifications already recorded keep their deliveries."
	}
	s.showRoutes(w, r, http.StatusOK, notify.NotificationRouteInput{Kind: notify.KindNewOrder}, nil, notice)
}

var routeErrors = []errorWords{{"kind", "route-kind", "The kind"}, {"unknown kind", "route-kind", ""}, {"channel", "route-channel", "The channel"},
	{"unknown channel", "route-channel", ""}, {"productId", "route-product", "The product"}}

func (s *Service) addRoute(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	in := notify.NotificationRouteInput{Kind: f.Get("kind"), Channel: f.Get("channel"), Target: f.Get("target"), ProductID: f.Get("product")}
	rt, err := s.Notify.CreateRoute(r.Context(), in)
	if err != nil {
		code := marketplace.ErrorCode(err)
		if code != marketplace.EInvalid && code != marketplace.EConflict {
			s.fail(w, r, err)
			return
		}
		status := http.StatusBadRequest
		if code == marketplace.EConflict {
			status = http.StatusConflict
		}
		if in.Channel == notify.ChannelSlack || !marketplace.Storable(in.Target) {
			in.Target = "" // a Slack URL is a credential: never shown back
		}
		s.showRoutes(w, r, status, in, []fieldError{explain(marketplace.ErrorMessage(err), routeErrors, "route-target")}, "")
		return
	}
	s.logger().Info("console: notification route added", "route", rt.ID, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/routes?added="+url.QueryEscape(rt.ID), http.StatusSeeOther)
}

func (s *Service) deleteRoute(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Notify.DeleteRoute(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: notification route deleted", "route", id, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/routes?deleted=1", http.StatusSeeOther)
}

// ---- API keys ----

type apiKeysData struct {
	Keys []apikey.Key
	Name string
	// Secret is a key just created: shown in this response only.
	Secret string
	New    apikey.Key
}

func (s *Service) showAPIKeys(w http.ResponseWriter, r *http.Request, status int, d apiKeysData, errs []fieldError, notice string) {
	keys, err := apikey.List(r.Context(), s.DB)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Keys = keys
	s.render(w, r, status, "settings_keys", view{Title: "API keys", Nav: "settings", Data: d, Errors: errs, Status: notice})
}

func (s *Service) apiKeys(w http.ResponseWriter, r *http.Request) {
	notice := ""
	if r.URL.Query().Get("revoked") != "" {
		notice = "The key is revoked: requests that use it are refused from now on."
	}
	s.showAPIKeys(w, r, http.StatusOK, apiKeysData{}, nil, notice)
}

// createAPIKey makes a key and shows its secret in this response, once: it
// is never stored, so it cannot be shown again.
func (s *Service) createAPIKey(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if !marketplace.Storable(name) {
		s.showAPIKeys(w, r, http.StatusBadRequest, apiKeysData{}, []fieldError{{ID: "key-name", Message: "The name contains characters that cannot be stored."}}, "")
		return
	}
	secret, k, err := apikey.Create(r.Context(), s.DB, name, s.now())
	if marketplace.ErrorCode(err) == marketplace.EInvalid {
		s.showAPIKeys(w, r, http.StatusBadRequest, apiKeysData{Name: name}, []fieldError{{ID: "key-name", Message: "Enter a name of 1 to 100 characters, such as the app that will use the key."}}, "")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: API key created", "key", k.Prefix, "name", k.Name, "user", sessionOf(r).User.Email)
	s.showAPIKeys(w, r, http.StatusOK, apiKeysData{Secret: secret, New: k}, nil, "")
}

func (s *Service) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !marketplace.Storable(id) {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "no active API key with that id"))
		return
	}
	if err := apikey.Revoke(r.Context(), s.DB, id, s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: API key revoked", "key", id, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/api-keys?revoked=1", http.StatusSeeOther)
}

// ---- Webhooks ----

// eventWords says what each webhook event type is about.
var eventWords = map[string]string{
	webhook.TenantCreated:        "A buyer registered and their tenant was created.",
	webhook.LicenseActivated:     "A license became active: provision access.",
	webhook.LicenseUpdated:       "An active license changed (amendment, upgrade, dates).",
	webhook.LicenseEnding:        "The agreement ended; the final metering window runs.",
	webhook.LicenseDeprovisioned: "The license is gone: remove access.",
	webhook.MeteringFailed:       "AWS refused a metering record, so that usage is not billed.",
	webhook.MeteringExpired:      "A metering record missed AWS's window, so that usage is not billed.",
	webhook.Ping:                 "A test event; the Send a test button sends it whatever is ticked.",
}

func eventHint(t string) string {
	if w, ok := eventWords[t]; ok {
		return w
	}
	if k, ok := strings.CutPrefix(t, "notification."); ok {
		return "The " + strings.ToLower(kindLabel(k)) + " notification, as people are told it."
	}
	return ""
}

type endpointRow struct {
	webhook.Endpoint
	// ShownURL is the URL with its path hidden: it may carry a token.
	ShownURL   string
	EventsText string
}

func endpointRowOf(e webhook.Endpoint) endpointRow {
	row := endpointRow{Endpoint: e, ShownURL: notify.RedactURL(e.URL), EventsText: "Every event"}
	row.Secret = ""
	if len(e.Events) > 0 {
		row.EventsText = strings.Join(e.Events, ", ")
	}
	return row
}

type webhooksData struct {
	Endpoints        []endpointRow
	URL, Description string
	Events           []option
}

func eventOptions(ticked []string) []option {
	var out []option
	for _, t := range webhook.EventTypes {
		o := option{Value: t, Label: t, Hint: eventHint(t)}
		for _, x := range ticked {
			o.Checked = o.Checked || x == t
		}
		out = append(out, o)
	}
	return out
}

func (s *Service) showWebhooks(w http.ResponseWriter, r *http.Request, status int, d webhooksData, errs []fieldError, notice string) {
	list, err := s.Webhooks.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, e := range list {
		d.Endpoints = append(d.Endpoints, endpointRowOf(e))
	}
	s.render(w, r, status, "settings_webhooks", view{Title: "Webhooks", Nav: "settings", Data: d, Errors: errs, Status: notice})
}

func (s *Service) webhooks(w http.ResponseWriter, r *http.Request) {
	notice := ""
	if r.URL.Query().Get("deleted") != "" {
		notice = "Endpoint deleted. Its pending deliveries are cancelled."
	}
	s.showWebhooks(w, r, http.StatusOK, webhooksData{Events: eventOptions(nil)}, nil, notice)
}

var webhookErrors = []errorWords{{"url ", "webhook-url", "The URL "}, {"unknown event", "webhook-events", ""},
	{"description", "webhook-description", "The description"}}

// addWebhook creates an endpoint and shows it with its signing secret, once.
func (s *Service) addWebhook(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	in := webhook.EndpointInput{URL: f.Get("url"), Events: f["events"], Description: f.Get("description")}
	e, err := s.Webhooks.Create(r.Context(), in)
	if marketplace.ErrorCode(err) == marketplace.EInvalid {
		d := webhooksData{URL: in.URL, Description: in.Description, Events: eventOptions(in.Events)}
		if !marketplace.Storable(d.URL) || !marketplace.Storable(d.Description) {
			d.URL, d.Description = "", ""
		}
		s.showWebhooks(w, r, http.StatusBadRequest, d, []fieldError{explain(marketplace.ErrorMessage(err), webhookErrors, "webhook-url")}, "")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: webhook endpoint added", "endpoint", e.ID, "user", sessionOf(r).User.Email)
	s.showWebhook(w, r, e.ID, e.Secret, "Endpoint added.")
}

type deliveryRow struct {
	webhook.Delivery
	Error string
}

type webhookData struct {
	Endpoint   endpointRow
	Deliveries []deliveryRow
	// Secret is a signing secret just made: shown in this response only.
	Secret string
}

// recentDeliveries is how many deliveries an endpoint's page shows.
const recentDeliveries = 50

func (s *Service) showWebhook(w http.ResponseWriter, r *http.Request, id, secret, notice string) {
	e, err := s.Webhooks.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ds, err := s.Webhooks.ListDeliveries(r.Context(), id, "", webhook.Page{Limit: recentDeliveries})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := webhookData{Endpoint: endpointRowOf(e), Secret: secret}
	for _, x := range ds {
		// An error may quote the URL (a failed connection does).
		d.Deliveries = append(d.Deliveries, deliveryRow{Delivery: x, Error: strings.ReplaceAll(x.LastError, e.URL, d.Endpoint.ShownURL)})
	}
	s.render(w, r, http.StatusOK, "settings_webhook", view{Title: "Webhook endpoint", Nav: "settings", Data: d, Status: notice})
}

func (s *Service) webhookPage(w http.ResponseWriter, r *http.Request) {
	notice := ""
	switch q := r.URL.Query(); {
	case q.Get("enabled") != "":
		notice = "Endpoint enabled: new events are sent to it. Events cancelled while it was disabled are not sent again."
	case q.Get("disabled") != "":
		notice = "Endpoint disabled: nothing is sent to it, and its pending deliveries are cancelled."
	case q.Get("pinged") != "":
		notice = "A webhook.ping event is queued for this endpoint. Reload this page in a few seconds to see how it went."
	}
	s.showWebhook(w, r, r.PathValue("id"), "", notice)
}

func (s *Service) enableWebhook(w http.ResponseWriter, r *http.Request) {
	s.setWebhookEnabled(w, r, true)
}
func (s *Service) disableWebhook(w http.ResponseWriter, r *http.Request) {
	s.setWebhookEnabled(w, r, false)
}

func (s *Service) setWebhookEnabled(w http.ResponseWriter, r *http.Request, enabled bool) {
	id := r.PathValue("id")
	e, err := s.Webhooks.Update(r.Context(), id, webhook.EndpointPatch{Enabled: &enabled})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	what := "disabled"
	if enabled {
		what = "enabled"
	}
	s.logger().Info("console: webhook endpoint "+what, "endpoint", e.ID, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/webhooks/"+url.PathEscape(e.ID)+"?"+what+"=1", http.StatusSeeOther)
}

func (s *Service) pingWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.Webhooks.Ping(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"/settings/webhooks/"+url.PathEscape(id)+"?pinged=1", http.StatusSeeOther)
}

// rotateWebhook makes a new signing secret and shows it, once.
func (s *Service) rotateWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	secret, err := s.Webhooks.RotateSecret(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: webhook secret rotated", "endpoint", id, "user", sessionOf(r).User.Email)
	s.showWebhook(w, r, id, secret, "New signing secret made. The old one no longer signs anything.")
}

func (s *Service) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Webhooks.Delete(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: webhook endpoint deleted", "endpoint", id, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/webhooks?deleted=1", http.StatusSeeOther)
}
