package registration

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// cookieName holds the registration session secret. It is scoped to the
// registration path, HttpOnly and SameSite=Lax.
const cookieName = "concord_registration"

// sessionRetention is how long registration sessions are kept.
const sessionRetention = 7 * 24 * time.Hour

// TokenField is the form field AWS Marketplace posts.
const TokenField = "x-amzn-marketplace-token"

// session is a buyer's registration in progress, keyed by the SHA-256 of the
// cookie secret.
type session struct {
	hash, licenseID, licenseArn, accountID, productCode, customerIdentifier string
	expiresAt                                                               time.Time
	completed                                                               bool
	tenantID                                                                string
}

// Mount adds the registration routes to mux: POST {path} is where AWS
// Marketplace sends the buyer; GET {path} shows the page; POST {path}/submit
// receives it.
func (s *Service) Mount(mux *http.ServeMux) {
	p := s.path()
	mux.HandleFunc("POST "+p, s.land)
	mux.HandleFunc("GET "+p, s.show)
	mux.HandleFunc("POST "+p+"/submit", s.submit)
}

// land handles the buyer's arrival from AWS Marketplace: it resolves the token
// at once, server-side, opens a session and redirects to the page (so reloading
// the page never re-posts the token).
func (s *Service) land(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, pageBadForm)
		return
	}
	token := r.PostForm.Get(TokenField)
	if token == "" {
		s.renderError(w, http.StatusBadRequest, pageNoToken)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	tokenHash := sha(token)
	c, err := s.Resolver.ResolveCustomer(ctx, token)
	switch {
	case errors.Is(err, awsmp.ErrInvalidToken):
		s.Logger.Info("registration: invalid token")
		s.renderError(w, http.StatusBadRequest, pageInvalidToken)
		return
	case errors.Is(err, awsmp.ErrExpiredToken):
		if used, _ := s.tokenUsed(r.Context(), tokenHash); used {
			s.renderError(w, http.StatusConflict, pageReplayed)
			return
		}
		s.Logger.Info("registration: expired token")
		s.renderError(w, http.StatusBadRequest, pageExpiredToken)
		return
	case err != nil:
		s.Logger.Warn("registration: ResolveCustomer failed", "err", err)
		s.renderError(w, http.StatusServiceUnavailable, pageUnavailable)
		return
	}
	if c.LicenseArn == "" || !marketplace.ValidAccountID(c.AccountID) || !marketplace.Storable(c.LicenseArn+c.ProductCode+c.CustomerIdentifier) {
		s.Logger.Error("registration: ResolveCustomer returned no usable license", "account", c.AccountID, "productCode", c.ProductCode, "licenseArn", c.LicenseArn)
		s.renderError(w, http.StatusBadGateway, pageNoLicense)
		return
	}
	secret := newSecret()
	var replayed bool
	err = s.write(r.Context(), func(tx *store.Tx) error {
		var err error
		if replayed, err = tokenUsedIn(r.Context(), tx, tokenHash); err != nil || replayed {
			return err
		}
		now := s.Now()
		// Sessions are kept a week (the pending list shows when a buyer started),
		// then pruned as new buyers arrive.
		if _, err := tx.Exec(r.Context(), `DELETE FROM registration_sessions WHERE created_at < ?`, store.Millis(now.Add(-sessionRetention))); err != nil {
			return err
		}
		ref := licenseRef{ID: marketplace.LicenseID(c.LicenseArn), Arn: c.LicenseArn, AccountID: c.AccountID, ProductCode: c.ProductCode}
		sess := session{hash: sha(secret), licenseID: ref.ID, licenseArn: ref.Arn, accountID: ref.AccountID, productCode: ref.ProductCode,
			customerIdentifier: c.CustomerIdentifier, expiresAt: now.Add(s.sessionTTL())}
		// Already registered (the buyer came back), or a unified product whose
		// buyer already has a tenant: done without asking anything.
		owner, _, err := tenantOfLicense(r.Context(), tx, ref.ID)
		if err != nil {
			return err
		}
		if owner == "" {
			p, err := productFor(r.Context(), tx, "", c.ProductCode)
			if err != nil {
				return err
			}
			if p.Registration.Normalized().Strategy == marketplace.StrategyUnified {
				ts, err := tenantsOf(r.Context(), tx, c.AccountID, c.ProductCode)
				if err != nil {
					return err
				}
				if len(ts) > 0 {
					owner = ts[0].TenantID
					if err := s.attach(r.Context(), tx, now, owner, ref, marketplace.SourceRegistration); err != nil {
						return err
					}
				}
			}
		}
		var completed sql.NullInt64
		if owner != "" {
			completed = sql.NullInt64{Int64: store.Millis(now), Valid: true}
		}
		_, err = tx.Exec(r.Context(), `INSERT INTO registration_sessions (session_hash, token_hash, license_id, license_arn, account_id, product_code,
			customer_identifier, created_at, expires_at, completed_at, tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sess.hash, tokenHash, sess.licenseID, sess.licenseArn, sess.accountID, sess.productCode, sess.customerIdentifier,
			store.Millis(now), store.Millis(sess.expiresAt), completed, store.NullString(owner))
		return err
	})
	if err != nil {
		s.Logger.Error("registration: open session", "err", err)
		s.renderError(w, http.StatusInternalServerError, pageInternal)
		return
	}
	if replayed {
		s.renderError(w, http.StatusConflict, pageReplayed)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: secret, Path: s.path(), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.SecureCookies || r.TLS != nil, MaxAge: int(s.sessionTTL().Seconds())})
	http.Redirect(w, r, s.path(), http.StatusSeeOther)
}

// tokenUsed reports whether a registration was completed with this token.
func (s *Service) tokenUsed(ctx context.Context, tokenHash string) (used bool, err error) {
	err = s.DB.Read(ctx, func(tx *store.Tx) error {
		used, err = tokenUsedIn(ctx, tx, tokenHash)
		return err
	})
	return used, err
}

func tokenUsedIn(ctx context.Context, tx *store.Tx, tokenHash string) (bool, error) {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM registration_sessions WHERE token_hash = ? AND completed_at IS NOT NULL LIMIT 1`, tokenHash).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// loadSession reads the session named by the request's cookie; ok is false
// when there is none or it has expired.
func (s *Service) loadSession(ctx context.Context, tx *store.Tx, r *http.Request) (sess session, secret string, ok bool, err error) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return sess, "", false, nil
	}
	var completed sql.NullInt64
	var tenant sql.NullString
	var expires int64
	err = tx.QueryRow(ctx, `SELECT session_hash, license_id, license_arn, account_id, product_code, customer_identifier, expires_at, completed_at, tenant_id
		FROM registration_sessions WHERE session_hash = ?`, sha(c.Value)).
		Scan(&sess.hash, &sess.licenseID, &sess.licenseArn, &sess.accountID, &sess.productCode, &sess.customerIdentifier, &expires, &completed, &tenant)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, "", false, nil
	} else if err != nil {
		return sess, "", false, fmt.Errorf("load registration session: %w", err)
	}
	sess.expiresAt, sess.completed, sess.tenantID = store.FromMillis(expires), completed.Valid, tenant.String
	if !sess.completed && s.Now().After(sess.expiresAt) {
		return sess, "", false, nil
	}
	return sess, c.Value, true, nil
}

func csrfFor(secret string) string { return sha("csrf:" + secret)[:32] }

// show renders the registration page, or the outcome of a finished one.
func (s *Service) show(w http.ResponseWriter, r *http.Request) {
	var d pageData
	status := http.StatusOK
	err := s.DB.Read(r.Context(), func(tx *store.Tx) error {
		sess, secret, ok, err := s.loadSession(r.Context(), tx, r)
		if err != nil {
			return err
		}
		if !ok {
			d, status = errorPage(pageNoSession), http.StatusBadRequest
			return nil
		}
		p, err := productFor(r.Context(), tx, "", sess.productCode)
		if err != nil {
			return err
		}
		if sess.completed {
			d, err = s.donePage(r.Context(), tx, p, sess.tenantID, sess.licenseArn)
			return err
		}
		if owner, _, err := tenantOfLicense(r.Context(), tx, sess.licenseID); err != nil {
			return err
		} else if owner != "" {
			// Registered meanwhile (another tab, or auto-registration).
			d, err = s.donePage(r.Context(), tx, p, owner, sess.licenseArn)
			return err
		}
		answers, err := prefill(r.Context(), tx, sess.licenseID)
		if err != nil {
			return err
		}
		d, err = s.formPage(r.Context(), tx, p, sess, secret, answers, nil, "")
		return err
	})
	if err != nil {
		s.Logger.Error("registration page", "err", err)
		s.renderError(w, http.StatusInternalServerError, pageInternal)
		return
	}
	s.render(w, status, d)
}

func (s *Service) formPage(ctx context.Context, tx *store.Tx, p marketplace.Product, sess session, secret string, answers marketplace.Answers, problems map[string]string, mode string) (pageData, error) {
	reg := p.Registration.Normalized()
	d := basePage(p)
	d.Kind, d.Action, d.CSRF, d.Strategy, d.Account, d.LicenseArn = "form", s.path()+"/submit", csrfFor(secret), reg.Strategy, sess.accountID, sess.licenseArn
	d.Mode = mode
	if d.Mode == "" {
		d.Mode = "new"
	}
	if reg.Strategy == marketplace.StrategyChoice {
		ts, err := tenantsOf(ctx, tx, sess.accountID, sess.productCode)
		if err != nil {
			return d, err
		}
		for _, t := range ts {
			d.Tenants = append(d.Tenants, tenantView{ID: t.TenantID, Company: t.Company, Created: t.CreatedAt.Format("2 Jan 2006"), Licenses: len(t.Licenses)})
		}
	}
	for _, f := range reg.Fields {
		fv := fieldView{RegistrationField: f, ID: "f-" + f.Key, Value: answers[f.Key], Error: problems[f.Key]}
		if fv.Error != "" {
			d.Errors = append(d.Errors, fieldError{ID: fv.ID, Message: fv.Error})
		}
		d.Fields = append(d.Fields, fv)
	}
	d.Title = "Set up your " + d.Product.Name + " account"
	return d, nil
}

func (s *Service) donePage(ctx context.Context, tx *store.Tx, p marketplace.Product, tenantID, licenseArn string) (pageData, error) {
	d := basePage(p)
	t, err := loadTenant(ctx, tx, tenantID)
	if err != nil {
		return d, err
	}
	d.Kind, d.Title, d.TenantName, d.LicenseArn = "done", "You're all set", t.Company, licenseArn
	for _, l := range t.Licenses {
		if l.LicenseArn == licenseArn && (l.State == marketplace.LicensePending || l.State == marketplace.LicenseUnknown) {
			d.NotYetActive = true
		}
	}
	return d, nil
}

// submit receives the registration form.
func (s *Service) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, pageBadForm)
		return
	}
	var d pageData
	status := http.StatusSeeOther
	err := s.write(r.Context(), func(tx *store.Tx) error {
		ctx := r.Context()
		now := s.Now()
		sess, secret, ok, err := s.loadSession(ctx, tx, r)
		if err != nil {
			return err
		}
		if !ok {
			d, status = errorPage(pageNoSession), http.StatusBadRequest
			return nil
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(csrfFor(secret))) != 1 {
			d, status = errorPage(pageForged), http.StatusForbidden
			return nil
		}
		if sess.completed {
			status = http.StatusSeeOther
			return nil
		}
		p, err := productFor(ctx, tx, "", sess.productCode)
		if err != nil {
			return err
		}
		reg := p.Registration.Normalized()
		ref := licenseRef{ID: sess.licenseID, Arn: sess.licenseArn, AccountID: sess.accountID, ProductCode: sess.productCode}
		complete := func(tenantID string) error {
			_, err := tx.Exec(ctx, `UPDATE registration_sessions SET completed_at = ?, tenant_id = ? WHERE session_hash = ?`, store.Millis(now), tenantID, sess.hash)
			status = http.StatusSeeOther
			return err
		}
		owner, _, err := tenantOfLicense(ctx, tx, sess.licenseID)
		if err != nil {
			return err
		}
		if owner != "" {
			return complete(owner)
		}
		choice := r.PostForm.Get("choice")
		if choice != "" && choice != "new" {
			if reg.Strategy != marketplace.StrategyChoice {
				d, status = errorPage(pageForged), http.StatusForbidden
				return nil
			}
			t, err := loadTenant(ctx, tx, choice)
			if err != nil && marketplace.ErrorCode(err) != marketplace.ENotFound {
				return err
			}
			// The account is the one ResolveCustomer proved, never one the form names.
			if err != nil || t.AccountID != sess.accountID || t.ProductCode != sess.productCode {
				s.Logger.Warn("registration: refused to attach a license to a tenant of another account", "license", sess.licenseArn, "tenant", choice)
				d, status = errorPage(pageOtherAccount), http.StatusForbidden
				return nil
			}
			if err := s.attach(ctx, tx, now, t.TenantID, ref, marketplace.SourceRegistration); err != nil {
				return err
			}
			return complete(t.TenantID)
		}
		in := marketplace.Answers{}
		for _, f := range reg.Fields {
			in[f.Key] = r.PostForm.Get(f.Key)
		}
		answers, problems := reg.Check(in)
		if len(problems) > 0 {
			d, err = s.formPage(ctx, tx, p, sess, secret, in, problems, "new")
			status = http.StatusBadRequest
			return err
		}
		if reg.Strategy == marketplace.StrategyUnified {
			ts, err := tenantsOf(ctx, tx, sess.accountID, sess.productCode)
			if err != nil {
				return err
			}
			if len(ts) > 0 {
				if err := s.attach(ctx, tx, now, ts[0].TenantID, ref, marketplace.SourceRegistration); err != nil {
					return err
				}
				return complete(ts[0].TenantID)
			}
		}
		id, err := s.newTenant(ctx, tx, now, p, ref, answers, marketplace.SourceRegistration)
		if err != nil {
			return err
		}
		s.Logger.Info("buyer registered", "tenant", id, "account", sess.accountID, "license", sess.licenseArn)
		return complete(id)
	})
	if err != nil {
		if store.IsInvalidText(err) {
			s.renderError(w, http.StatusBadRequest, pageBadForm)
			return
		}
		s.Logger.Error("registration submit", "err", err)
		s.renderError(w, http.StatusInternalServerError, pageInternal)
		return
	}
	if status == http.StatusSeeOther {
		http.Redirect(w, r, s.path(), http.StatusSeeOther)
		return
	}
	s.render(w, status, d)
}

// prefill answers the registration page's questions with what the seller
// already knows of the buyer: the private offer's registration details, else
// the offer's buyer company. The buyer can change every answer. Nothing is
// known before the license's events arrive.
func prefill(ctx context.Context, tx *store.Tx, licenseID string) (marketplace.Answers, error) {
	answers := marketplace.Answers{}
	l, ok, err := inbox.LoadLicense(ctx, tx, licenseID)
	if err != nil || !ok || l.AgreementID == "" {
		return answers, err
	}
	a, err := loadAgreementInfo(ctx, tx, l.AgreementID)
	if err != nil || a.offerID == "" {
		return answers, err
	}
	if d, ok, err := offerDetails(ctx, tx, a.offerID); err != nil {
		return answers, err
	} else if ok {
		answers = d.answers()
	}
	if answers[marketplace.FieldCompany] == "" {
		var company string
		err := tx.QueryRow(ctx, `SELECT buyer_company FROM offers WHERE offer_id = ? ORDER BY created_at DESC LIMIT 1`, a.offerID).Scan(&company)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return answers, fmt.Errorf("read the offer's buyer company: %w", err)
		}
		if company != "" {
			answers[marketplace.FieldCompany] = company
		}
	}
	return answers, nil
}
