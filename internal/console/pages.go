package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/agreement"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/registration"
	"github.com/concordmp/concord/internal/report"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/webhook"
)

type loginData struct {
	Email, Next, LoginCSRF string
}

// loginPage shows the sign-in form with a fresh login CSRF token.
func (s *Service) loginPage(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if _, ok, _ := s.loadSession(r.Context(), c.Value); ok {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	s.showLogin(w, r, http.StatusOK, loginData{Next: r.URL.Query().Get("next")}, nil)
}

func (s *Service) showLogin(w http.ResponseWriter, r *http.Request, status int, d loginData, errs []fieldError) {
	d.LoginCSRF = randomToken()
	d.Next = safeNext(d.Next)
	s.setCookie(w, r, loginCookie, d.LoginCSRF, 3600)
	s.render(w, r, status, "login", view{Title: "Sign in", Errors: errs, Data: d})
}

// login checks the form and opens a session.
func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.showLogin(w, r, http.StatusBadRequest, loginData{}, []fieldError{{ID: "email", Message: "We could not read that form. Try again."}})
		return
	}
	d := loginData{Email: strings.TrimSpace(r.PostForm.Get("email")), Next: r.PostForm.Get("next")}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		s.showLogin(w, r, http.StatusForbidden, d, []fieldError{{ID: "email", Message: "This sign-in form expired or did not come from this page. Sign in again."}})
		return
	}
	password := r.PostForm.Get("password")
	var errs []fieldError
	if d.Email == "" {
		errs = append(errs, fieldError{ID: "email", Message: "Enter your email address."})
	}
	if password == "" {
		errs = append(errs, fieldError{ID: "password", Message: "Enter your password."})
	}
	if len(errs) > 0 {
		s.showLogin(w, r, http.StatusBadRequest, d, errs)
		return
	}
	email, addr := normEmail(d.Email), clientAddr(r)
	if wait := s.logins.admit(email, addr, s.wallNow()); wait > 0 {
		s.logger().Warn("console: sign-in refused after repeated failures", "email", email, "remote", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.showLogin(w, r, http.StatusTooManyRequests, d, []fieldError{{ID: "email",
			Message: "Too many failed sign-ins. Try again in " + minutes(wait) + ", or ask an admin to check your account."}})
		return
	}
	u, err := s.authenticate(r.Context(), d.Email, password)
	if errors.Is(err, errBadLogin) {
		s.logger().Info("console: failed sign-in", "email", email, "remote", addr)
		s.showLogin(w, r, http.StatusUnauthorized, d, []fieldError{{ID: "email", Message: "The email or password is incorrect."}})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logins.succeed(email, addr)
	// A new sign-in in the same browser ends the session it had.
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.closeSession(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	token, err := s.openSession(r.Context(), u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: signed in", "user", u.Email, "role", u.Role)
	s.setCookie(w, r, loginCookie, "", -1)
	s.setCookie(w, r, sessionCookie, token, int(SessionTTL.Seconds()))
	http.Redirect(w, r, safeNext(d.Next), http.StatusSeeOther)
}

// logout ends the session.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.closeSession(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

// count is a label and how many.
type count struct {
	Key   string
	Count int
}

type endingAgreement struct {
	AgreementID, AccountID, ProductID, Company string
	EndTime                                    time.Time
	// EndsIn says when, in words that are right: "ends in 1 day", "ends in 20 hours".
	EndsIn string
}

type dashboardData struct {
	Offers           []count
	OffersTotal      int
	Ending           []endingAgreement
	EndingTotal      int
	Pending          []registration.Pending
	PendingTotal     int
	PendingOverdue   int
	Metering         []count
	MeteringProblems int
	MeteringPending  int
	FailedDeliveries int
	// Lifecycle counts requests waiting for the buyer or AWS, and open advisories.
	Lifecycle agreement.Counts
	// FailedWebhooks counts webhook deliveries that gave up.
	FailedWebhooks int
}

// offerStates orders the dashboard's offer counts along the lifecycle.
var offerStates = []string{offer.StateDraft, offer.StateSubmitted, offer.StatePublished, offer.StateInstructionsSent, offer.StateViewed,
	offer.StateExtended, offer.StateAccepted, offer.StateExpired, offer.StateCancelling, offer.StateCancelled, offer.StateFailed}

// EndingWindow is how far ahead the dashboard looks for agreements ending.
const EndingWindow = 90 * 24 * time.Hour

func (s *Service) dashboard(w http.ResponseWriter, r *http.Request) {
	d, err := s.dashboardData(r.Context())
	if err == nil && s.Agreements != nil {
		d.Lifecycle, err = s.Agreements.Count(r.Context())
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", view{Title: "Dashboard", Nav: "dashboard", Data: d})
}

func (s *Service) dashboardData(ctx context.Context) (dashboardData, error) {
	var d dashboardData
	now := s.now()
	scanCount := func(r store.Scanner) (count, error) {
		var c count
		err := r.Scan(&c.Key, &c.Count)
		return c, err
	}
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		byState, err := store.QueryAll(ctx, tx, scanCount, `SELECT state, COUNT(*) FROM offers GROUP BY state`)
		if err != nil {
			return err
		}
		m := map[string]int{}
		for _, c := range byState {
			m[c.Key] = c.Count
			d.OffersTotal += c.Count
		}
		for _, st := range offerStates {
			d.Offers = append(d.Offers, count{Key: st, Count: m[st]})
		}
		from, to := store.Millis(now), store.Millis(now.Add(EndingWindow))
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM agreements WHERE status = ? AND end_time >= ? AND end_time < ?`,
			marketplace.StatusActive, from, to).Scan(&d.EndingTotal); err != nil {
			return err
		}
		d.Ending, err = store.QueryAll(ctx, tx, func(r store.Scanner) (endingAgreement, error) {
			var a endingAgreement
			var end int64
			err := r.Scan(&a.AgreementID, &a.AccountID, &a.ProductID, &end)
			a.EndTime = store.FromMillis(end)
			a.EndsIn = endsIn(now, a.EndTime)
			return a, err
		}, `SELECT agreement_id, acceptor_account_id, product_id, end_time FROM agreements WHERE status = ? AND end_time >= ? AND end_time < ?
			ORDER BY end_time, agreement_id LIMIT 10`, marketplace.StatusActive, from, to)
		if err != nil {
			return err
		}
		companies, err := report.Companies(ctx, tx)
		if err != nil {
			return err
		}
		for i := range d.Ending {
			d.Ending[i].Company = companies[d.Ending[i].AccountID].Name
		}
		d.Metering, err = store.QueryAll(ctx, tx, scanCount, `SELECT status, COUNT(*) FROM metering_records GROUP BY status ORDER BY status`)
		if err != nil {
			return err
		}
		for _, c := range d.Metering {
			switch c.Key {
			case "rejected", "not_subscribed", "expired":
				d.MeteringProblems += c.Count
			case "pending":
				d.MeteringPending += c.Count
			}
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(DISTINCT notification_id) FROM notification_deliveries WHERE status = ?`, notify.StatusFailed).Scan(&d.FailedDeliveries); err != nil {
			return err
		}
		// Webhook deliveries that gave up fail the vendor's app as surely as
		// an email that never went: the dashboard counts them too.
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE state = ?`, webhook.StateFailed).Scan(&d.FailedWebhooks)
	})
	if err != nil {
		return d, err
	}
	if s.Registration != nil {
		pending, err := s.Registration.ListPending(ctx)
		if err != nil {
			return d, err
		}
		d.PendingTotal = len(pending)
		for _, p := range pending {
			if p.Overdue {
				d.PendingOverdue++
			}
		}
		d.Pending = pending[:min(len(pending), 10)]
	}
	return d, nil
}

type offersData struct {
	States      []string
	State, Q    string
	Sort        string
	Offers      []report.OfferRow
	Headers     []sortHeader
	Pager       pager
	CSV         string
	Filtered    bool
	Description string
}

var offerListColumns = []column{
	{Label: "Offer", Key: "offer"}, {Label: "Buyer", Key: "buyer"}, {Label: "Product", Key: "product"}, {Label: "Type", Key: "type"},
	{Label: "State", Key: "state"}, {Label: "Expires", Key: "expires"}, {Label: "Created", Key: "created"}, {Label: "Updated", Key: "updated"},
}

// offerListFilter reads an offer list's filters from a query (states are
// those of the list); errs name the fields that were not valid (those
// filters are then left out).
func offerListFilter(q url.Values, typ string, states []string) (report.OfferFilter, []fieldError) {
	f := report.OfferFilter{Type: typ, State: q.Get("state"), Query: strings.TrimSpace(q.Get("q"))}
	var errs []fieldError
	if f.State != "" && !slices.Contains(states, f.State) {
		errs, f.State = append(errs, fieldError{ID: "state", Message: "Choose a state from the list."}), ""
	}
	if len(f.Query) > 200 || !marketplace.Storable(f.Query) {
		errs, f.Query = append(errs, fieldError{ID: "q", Message: "Search for at most 200 characters of plain text."}), ""
	}
	o, err := report.ParseOrder(q.Get("sort"), report.OfferSortKeys, report.DefaultOfferOrder)
	if err != nil {
		errs = append(errs, fieldError{ID: "offers-table", Message: "That list cannot be sorted that way; it is sorted newest first."})
	}
	f.Order, f.Offset = o, offsetOf(q)
	return f, errs
}

func (s *Service) offers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, errs := offerListFilter(q, "", offerStates)
	d := offersData{States: offerStates, State: f.State, Q: q.Get("q"), Sort: f.Order.String()}
	d.Filtered = f.State != "" || f.Query != ""
	list, err := report.Offers(r.Context(), s.DB, s.Offers, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := Prefix + "/offers"
	d.Offers, d.Headers, d.Pager, d.CSV = list.Items, sortHeaders(base, q, f.Order, offerListColumns), pagerOf(base, q, list), csvHref(base, q)
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "offers", view{Title: "Offers", Nav: "offers", Errors: errs, Data: d})
}

// offerData is the offer page: the offer, what it links to, the actions
// its state allows (offer_forms.go), and what was typed into an action the
// service refused.
type offerData struct {
	offer.Detail
	BuyerAccount, PartnerAccount, CPPOID string
	// Metadata are the contract metadata fields other than the accounts and
	// the CPPO opportunity, by key.
	Metadata []offerMeta
	// OfferPage is the AWS Marketplace page of the offer, once AWS assigned it.
	OfferPage string
	// TrackedLink is the link the purchase instructions carry.
	TrackedLink string
	// AgreementStatus is the status of the offer's agreement in words, once
	// the ledger holds it.
	AgreementStatus string
	// Outcome says what the acceptance did, from the ledger: the agreement
	// made, the agreement it follows and that one's status.
	Outcome                                                            string
	CanSubmit, CanEdit, CanCancel, CanInstruct, CanAssociate, CanAmend bool
	// CanDocuments: the contract documents can change (a draft or failed offer).
	CanDocuments                 bool
	Reason, InstructionsTo, Note string
}

func (s *Service) offerDetail(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	s.showOffer(w, r, http.StatusOK, d, view{Status: offerDone[r.URL.Query().Get("done")]}, offerData{})
}

type notificationsData struct {
	Statuses      []string
	Status        string
	Kinds         []string
	Kind          string
	Sort          string
	Notifications []notify.NotificationSummary
	Headers       []sortHeader
	Pager         pager
	Filtered      bool
}

var notificationStatuses = []string{notify.StatusFailed, notify.StatusPending, notify.StatusSkipped, notify.StatusSent, notify.StatusNone}

var notificationColumns = []column{{Label: "Subject", Key: "subject"}, {Label: "Kind", Key: "kind"}, {Label: "Status", Key: "status"},
	{Label: "Created", Key: "created"}, {Label: "Actions"}}

// defaultNotificationOrder lists the newest notifications first.
var defaultNotificationOrder = report.Order{Key: "created", Desc: true}

// notificationsView is a page of the list at the query's filters, order and
// offset; a filter or order that is not valid is named in errs and left out.
func (s *Service) notificationsView(ctx context.Context, q url.Values) (notificationsData, []fieldError, error) {
	q = clone(q)
	q.Del("resent") // a confirmation is not part of the list's links
	status, kind := q.Get("status"), q.Get("kind")
	var errs []fieldError
	if status != "" && !slices.Contains(notificationStatuses, status) {
		errs, status = append(errs, fieldError{ID: "status", Message: "Choose a delivery status from the list."}), ""
	}
	if kind != "" && !notify.KnownKind(kind) {
		errs, kind = append(errs, fieldError{ID: "kind", Message: "Choose a kind from the list."}), ""
	}
	o, err := report.ParseOrder(q.Get("sort"), notify.SortKeys, defaultNotificationOrder)
	if err != nil {
		errs = append(errs, fieldError{ID: "notifications-table", Message: "That list cannot be sorted that way; it is sorted newest first."})
	}
	d := notificationsData{Statuses: notificationStatuses, Status: status, Kinds: notify.Kinds, Kind: kind, Sort: o.String(), Filtered: status != "" || kind != ""}
	offset := offsetOf(q)
	list, err := s.Notify.ListSorted(ctx, notify.Filter{Status: status, Kind: kind}, o.Key, o.Desc, offset, report.DefaultLimit)
	if err != nil {
		return d, errs, err
	}
	paged := report.Paged[notify.NotificationSummary]{Items: list.Items, Total: list.Total, Offset: offset, Limit: report.DefaultLimit}
	if offset+len(list.Items) < list.Total {
		paged.NextOffset = offset + len(list.Items)
	}
	base := Prefix + "/notifications"
	d.Notifications, d.Headers, d.Pager = list.Items, sortHeaders(base, q, o, notificationColumns), pagerOf(base, q, paged)
	return d, errs, nil
}

func (s *Service) notifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d, errs, err := s.notificationsView(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := view{Title: "Notifications", Nav: "notifications", Errors: errs, Data: d}
	// The confirmation names only a notification that exists: a link cannot
	// make the page say anything else.
	if id := q.Get("resent"); id != "" && marketplace.Storable(id) && len(id) <= 100 {
		if n, err := s.Notify.Get(r.Context(), id); err == nil {
			v.Status = "Resending notification " + n.ID + " (" + n.Subject + "): its failed and skipped deliveries are queued again."
		}
	}
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "notifications", v)
}

// resend queues a notification's failed and skipped deliveries again.
func (s *Service) resend(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.Notify.Resend(r.Context(), id, ""); err != nil {
		code := marketplace.ErrorCode(err)
		if code != marketplace.EConflict && code != marketplace.ENotFound && code != marketplace.EInvalid {
			s.fail(w, r, err)
			return
		}
		d, _, lerr := s.notificationsView(r.Context(), url.Values{})
		if lerr != nil {
			s.fail(w, r, lerr)
			return
		}
		status := http.StatusConflict
		if code == marketplace.ENotFound {
			status = http.StatusNotFound
		}
		s.render(w, r, status, "notifications", view{Title: "Notifications", Nav: "notifications", Data: d,
			Errors: []fieldError{{ID: "resend-" + id, Message: "Could not resend: " + marketplace.ErrorMessage(err)}}})
		return
	}
	user := sessionOf(r).User
	s.logger().Info("console: notification resent", "notification", id, "user", user.Email)
	http.Redirect(w, r, Prefix+"/notifications?resent="+url.QueryEscape(id), http.StatusSeeOther)
}
