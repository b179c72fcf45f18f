// Package console is the seller console: server-rendered pages (html/template,
// no scripts) for RevOps, finance and admins, behind a sign-in with roles.
//
// Every page is rendered on the server from the same services the /v1 API
// uses; every POST carries the session's CSRF token and is refused for the
// read-only role; responses are never cached and may not be framed.
package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/agreement"
	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/metering"
	"github.com/concordmp/concord/internal/money"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/registration"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/webhook"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console"

// Cookie names. Both are scoped to Prefix, HttpOnly and SameSite=Lax.
const (
	sessionCookie = "concord_console"
	loginCookie   = "concord_console_login" // the login form's CSRF token, before a session exists
)

// contentSecurityPolicy allows the console's own stylesheet and nothing else:
// no scripts at all, no inline styles, no framing.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Service serves the console. DB holds users and sessions; the other services
// are the app's, read (and, for resends, written) through their own methods.
type Service struct {
	DB *store.DB
	// Products reads a product from the Catalog API for the product page's
	// "Sync from AWS" button; nil hides nothing but answers that it cannot.
	Products inbox.ProductAPI
	// Now is the marketplace's clock (the emulator's in sandbox mode): what
	// pages compare dates with. Clock is the wall clock that sessions and
	// sign-in limits run on, so moving the sandbox's clock forward signs no
	// one out. Nil is time.Now for both.
	Now          func() time.Time
	Clock        func() time.Time
	Logger       *slog.Logger
	Offers       *offer.Service
	Registration *registration.Service
	Notify       *notify.Service
	Ledger       *inbox.Ledger
	Metering     *metering.Service
	Webhooks     *webhook.Service
	// Agreements acts on agreements (cancellation requests, refunds,
	// payment requests); nil leaves the lifecycle page out.
	Agreements *agreement.Service
	// Emulator is the built-in marketplace in sandbox mode (nil otherwise):
	// the sandbox page plays the buyer, the partner and AWS's clock with it.
	Emulator *emulator.Emulator
	// FulfillmentURL is where the sandbox sends a buyer to register (the
	// registration page's full URL).
	FulfillmentURL func() string
	// SecureCookies marks the cookies Secure (Concord behind HTTPS).
	SecureCookies bool
	// Sandbox shows the sandbox banner.
	Sandbox bool
	// Iterations is the PBKDF2 work factor for new passwords (0: DefaultIterations).
	// Tests lower it; stored hashes carry their own count.
	Iterations int

	dummyOnce sync.Once
	dummyHash string
	tmplOnce  sync.Once
	pages     map[string]*template.Template
	tmplErr   error
	cssOnce   sync.Once
	css       []byte
	logins    loginLimiter
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) wallNow() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Mux is what the console mounts its routes on: an *http.ServeMux, or a
// wrapper that also records the patterns (the tests enumerate the real
// routes that way rather than reading the source).
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Mount adds the console's routes under /console to m.
func (s *Service) Mount(m Mux) {
	m.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
	})
	m.HandleFunc("GET "+Prefix+"/static/{file}", s.static)
	m.HandleFunc("GET "+Prefix+"/login", s.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", s.login)
	m.HandleFunc("POST "+Prefix+"/logout", s.signedIn(s.logout))
	m.HandleFunc("GET "+Prefix+"/{$}", s.signedIn(s.dashboard))
	m.HandleFunc("GET "+Prefix+"/offers", s.signedIn(s.offers))
	m.HandleFunc("GET "+Prefix+"/offers/{id}", s.signedIn(s.offerDetail))
	m.HandleFunc("GET "+Prefix+"/notifications", s.signedIn(s.notifications))
	m.HandleFunc("POST "+Prefix+"/notifications/{id}/resend", s.signedIn(s.writer(s.resend)))
	s.mountOfferForms(m)
	s.mountLedger(m)
	s.mountAgreementLifecycle(m)
	s.mountSettings(m)
	s.mountSandbox(m)
	s.mountAgreements(m)
	s.mountMoney(m)
	s.mountExports(m)
	s.mountCompanies(m)
	s.mountAudit(m)
	s.mountNotification(m)
}

// ctxKey carries the session in a request's context.
type ctxKey struct{}

func sessionOf(r *http.Request) session {
	s, _ := r.Context().Value(ctxKey{}).(session)
	return s
}

// Body limits of a POST: a form, and a form with files (the documents of
// a contract, 6 MB, and room for the multipart framing).
const (
	maxFormBytes   = 64 << 10
	maxUploadBytes = offer.MaxEULABytes + 1<<20
)

// signedIn runs h for a signed-in user: GETs without a session go to the
// login page; POSTs must come from this origin and carry the session's CSRF
// token. A POST body is a URL-encoded form of at most maxFormBytes.
func (s *Service) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return s.signedInWith(maxFormBytes, h)
}

// signedInUpload is signedIn for a form with files (multipart/form-data) of
// up to maxUploadBytes; the CSRF token is read from the form's fields before
// h runs, so h reads the files from r.MultipartForm.
func (s *Service) signedInUpload(h http.HandlerFunc) http.HandlerFunc {
	return s.signedInWith(maxUploadBytes, h)
}

func (s *Service) signedInWith(limit int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(sessionCookie); err == nil {
			token = c.Value
		}
		sess, ok, err := s.loadSession(r.Context(), token)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok {
			next := ""
			if r.Method == http.MethodGet {
				next = r.URL.RequestURI()
			}
			http.Redirect(w, r, loginURL(next), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			err := parseBody(r, limit)
			if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) && sameOrigin(r) {
				s.errorPage(w, r, &sess, http.StatusRequestEntityTooLarge, "That is too much to send at once",
					fmt.Sprintf("The form came to more than %d KB, so nothing was changed. Contract documents come to at most 6 MB in all; other forms are small.", limit>>10))
				return
			}
			if !sameOrigin(r) || err != nil ||
				subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.CSRF)) != 1 {
				s.logger().Warn("console: refused a POST without a valid CSRF token or from another origin", "path", r.URL.Path, "user", sess.User.Email)
				s.errorPage(w, r, &sess, http.StatusForbidden, "That request could not be accepted",
					"The form did not come from this console session, so nothing was changed. Reload the page and try again.")
				return
			}
		}
		// Every change made under this request names the user in the audit trail.
		ctx := audit.WithActor(r.Context(), audit.Actor{Kind: audit.KindUser, ID: sess.User.ID, Name: sess.User.Email})
		h(w, r.WithContext(context.WithValue(ctx, ctxKey{}, sess)))
	}
}

// parseBody reads a POST's form: multipart/form-data (files) only where the
// limit allows uploads, else a URL-encoded form.
func parseBody(r *http.Request, limit int64) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		if limit <= maxFormBytes {
			return errors.New("console: this form takes no files")
		}
		// Files stay in memory: the body is bounded by limit.
		return r.ParseMultipartForm(limit)
	}
	return r.ParseForm()
}

// writer refuses the read-only role.
func (s *Service) writer(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := sessionOf(r)
		if !sess.User.CanWrite() {
			s.errorPage(w, r, &sess, http.StatusForbidden, "Your role cannot make changes",
				"You are signed in as "+sess.User.Email+" with the read-only role, which can see every page but change nothing. Ask an admin for another role.")
			return
		}
		h(w, r)
	}
}

// may refuses users whose role cannot change area (User.Can).
func (s *Service) may(area string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := sessionOf(r)
		if !sess.User.Can(area) {
			s.errorPage(w, r, &sess, http.StatusForbidden, "Your role cannot do that",
				"You are signed in as "+sess.User.Email+" with the "+sess.User.Role+" role, which cannot change "+area+". Nothing was changed. Ask an admin for another role.")
			return
		}
		h(w, r)
	}
}

// sameOrigin accepts a request whose Origin (when the browser sends one) is
// this host; Sec-Fetch-Site cross-site or same-site is refused. It is a
// second line behind the CSRF token: under Referrer-Policy no-referrer,
// browsers send "Origin: null" with form posts, which is let through to the
// token check.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// safeNext keeps a post-login redirect inside the console: a path only (no
// scheme or host), under /console/ once its dot segments are resolved (a
// browser resolves /console/../../x to /x), else the console's home.
func safeNext(next string) string {
	home := Prefix + "/"
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
		return home
	}
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	if !strings.HasPrefix(clean, home) {
		return home
	}
	return (&url.URL{Path: clean, RawQuery: u.RawQuery}).String()
}

func loginURL(next string) string {
	u := Prefix + "/login"
	if next != "" && safeNext(next) == next && next != Prefix+"/" {
		u += "?next=" + url.QueryEscape(next)
	}
	return u
}

func (s *Service) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.SecureCookies || r.TLS != nil, MaxAge: maxAge})
}

// fieldError is one entry of a form's error summary, linking to its field.
type fieldError struct {
	ID, Message string
}

// view is what the layout needs, with the page's own data.
type view struct {
	Title   string
	Nav     string
	User    *User
	CSRF    string
	Sandbox bool
	Errors  []fieldError
	Status  string // a confirmation shown in a status region
	Data    any
}

func (v view) ErrorFor(id string) string {
	for _, e := range v.Errors {
		if e.ID == id {
			return e.Message
		}
	}
	return ""
}

var funcs = template.FuncMap{
	"contract": contractOf,
	"money":    money.Format,
	"duration": money.Duration,
	"when": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2 Jan 2006 15:04 UTC")
		case *time.Time:
			if t == nil {
				return ""
			}
			return t.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		return ""
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"inc": func(i int) int { return i + 1 },
	"day": func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"label": func(s string) string {
		s = strings.ReplaceAll(s, "_", " ")
		if s == "" {
			return "—"
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

// page returns the template set of one page: the layout and the page.
func (s *Service) page(name string) (*template.Template, error) {
	s.tmplOnce.Do(func() {
		s.pages = map[string]*template.Template{}
		names, err := fs.Glob(templateFS, "templates/*.html")
		if err != nil {
			s.tmplErr = err
			return
		}
		for _, n := range names {
			base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
			if base == "layout" {
				continue
			}
			t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
			if err != nil {
				s.tmplErr = err
				return
			}
			s.pages[base] = t
		}
	})
	if s.tmplErr != nil {
		return nil, s.tmplErr
	}
	t, ok := s.pages[name]
	if !ok {
		return nil, errors.New("console: no template " + name)
	}
	return t, nil
}

// setHeaders sets the security headers of every console response.
func setHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
}

// sendFile sends a download with the console's headers.
func sendFile(w http.ResponseWriter, contentType, name string, content []byte) {
	h := w.Header()
	setHeaders(h)
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.Itoa(len(content)))
	w.Write(content)
}

// render writes page name with v, filling in the signed-in user.
func (s *Service) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	if sess, ok := r.Context().Value(ctxKey{}).(session); ok && v.User == nil {
		u := sess.User
		v.User, v.CSRF = &u, sess.CSRF
	}
	v.Sandbox = s.Sandbox
	t, err := s.page(name)
	var buf bytes.Buffer
	if err == nil {
		err = t.ExecuteTemplate(&buf, "layout", v)
	}
	setHeaders(w.Header())
	if err != nil {
		s.logger().Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorData struct{ Message string }

func (s *Service) errorPage(w http.ResponseWriter, r *http.Request, sess *session, status int, title, msg string) {
	v := view{Title: title, Data: errorData{Message: msg}}
	if sess != nil && sess.User.ID != "" {
		u := sess.User
		v.User, v.CSRF = &u, sess.CSRF
	}
	s.render(w, r, status, "error", v)
}

// refusal is the status of an error the user can act on: 400 when the
// input was invalid, 409 when it conflicts with the state; ok is false for
// any other error, which fail answers.
func refusal(err error) (status int, ok bool) {
	switch marketplace.ErrorCode(err) {
	case marketplace.EInvalid:
		return http.StatusBadRequest, true
	case marketplace.EConflict:
		return http.StatusConflict, true
	}
	return 0, false
}

// fail answers an application error with its status and message; anything
// else is logged and answered with a generic page.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	var sess *session
	if x, ok := r.Context().Value(ctxKey{}).(session); ok {
		sess = &x
	}
	switch marketplace.ErrorCode(err) {
	case marketplace.ENotFound:
		s.errorPage(w, r, sess, http.StatusNotFound, "Not found", marketplace.ErrorMessage(err))
	case marketplace.EInvalid:
		s.errorPage(w, r, sess, http.StatusBadRequest, "That request is not valid", marketplace.ErrorMessage(err))
	case marketplace.EConflict:
		s.errorPage(w, r, sess, http.StatusConflict, "That cannot be done now", marketplace.ErrorMessage(err))
	default:
		s.logger().Error("console", "path", r.URL.Path, "err", err)
		s.errorPage(w, r, sess, http.StatusInternalServerError, "Something went wrong on our side", "Nothing was changed. Try again in a minute; if it keeps failing, the server's log says why.")
	}
}

// stylesheet is console.css: every static/*.css file, in name order, so each
// part of the console keeps its styles in its own file and the browser still
// loads one stylesheet.
func (s *Service) stylesheet() []byte {
	s.cssOnce.Do(func() {
		names, _ := fs.Glob(staticFS, "static/*.css")
		for _, n := range names {
			b, _ := staticFS.ReadFile(n)
			s.css = append(append(s.css, b...), '\n')
		}
	})
	return s.css
}

// static serves the embedded stylesheet.
func (s *Service) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name != "console.css" {
		http.NotFound(w, r)
		return
	}
	b := s.stylesheet()
	h := w.Header()
	setHeaders(h)
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "text/css; charset=utf-8")
	w.Write(b)
}
