package registration

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/concordmp/concord/internal/marketplace"
)

// productView is the branding the page shows.
type productView struct {
	Name, LogoURL, SupportURL, AppURL string
}

type fieldView struct {
	marketplace.RegistrationField
	ID, Value, Error string
}

type fieldError struct {
	ID, Message string
}

type tenantView struct {
	ID, Company, Created string
	Licenses             int
}

// pageData is everything the one page template needs.
type pageData struct {
	Kind         string // form, done or error
	Title        string
	Product      productView
	Message      string
	Next         string
	Errors       []fieldError
	Fields       []fieldView
	Strategy     string
	Mode         string
	Tenants      []tenantView
	Action       string
	CSRF         string
	Account      string
	LicenseArn   string
	TenantName   string
	NotYetActive bool
}

func basePage(p marketplace.Product) pageData {
	name := p.Title
	if name == "" {
		name = p.ProductCode
	}
	if name == "" {
		name = "your subscription"
	}
	r := p.Registration
	return pageData{Product: productView{Name: name, LogoURL: r.LogoURL, SupportURL: r.SupportURL, AppURL: r.AppURL}}
}

// errorKind names a friendly error page.
type errorKind int

const (
	pageBadForm errorKind = iota
	pageNoToken
	pageInvalidToken
	pageExpiredToken
	pageReplayed
	pageUnavailable
	pageNoLicense
	pageNoSession
	pageForged
	pageOtherAccount
	pageInternal
)

const reopen = "Go to the AWS Marketplace console, open Manage subscriptions, choose this product and select Set up your account to get a fresh link."

var errorPages = map[errorKind][2]string{
	pageBadForm:      {"We could not read that form", "Go back and try again. " + reopen},
	pageNoToken:      {"This page needs a sign-up link from AWS Marketplace", "You reached the registration page without the sign-up information AWS Marketplace sends. " + reopen},
	pageInvalidToken: {"This sign-up link is not valid", "AWS Marketplace did not recognise the sign-up information. Nothing was set up. " + reopen},
	pageExpiredToken: {"This sign-up link has expired", "Sign-up links from AWS Marketplace are valid for a limited time. Nothing was set up. " + reopen},
	pageReplayed:     {"This sign-up link was already used", "Your subscription is already set up; nothing new was created. Sign in to the product, or contact support if you cannot."},
	pageUnavailable:  {"We could not reach AWS Marketplace", "Nothing was set up. Wait a minute, then go back and submit again. If it keeps failing: " + reopen},
	pageNoLicense:    {"We could not set up this subscription", "AWS Marketplace did not tell us which license you bought. Nothing was set up. Please contact support."},
	pageNoSession:    {"Your sign-up session has ended", "For your security, sign-up sessions last a limited time. Nothing was set up. " + reopen},
	pageForged:       {"That request could not be accepted", "The form did not come from this sign-up session. Nothing was changed. " + reopen},
	pageOtherAccount: {"That account belongs to another AWS account", "A subscription can only be added to an account owned by the AWS account that bought it. Nothing was changed. Go back and choose one of your accounts, or create a new one."},
	pageInternal:     {"Something went wrong on our side", "Nothing was set up. Please try again in a few minutes, or contact support."},
}

func errorPage(k errorKind) pageData {
	e := errorPages[k]
	return pageData{Kind: "error", Title: e[0], Message: e[1], Product: productView{Name: "AWS Marketplace subscription"}}
}

func (s *Service) renderError(w http.ResponseWriter, status int, k errorKind) {
	s.render(w, status, errorPage(k))
}

func (s *Service) render(w http.ResponseWriter, status int, d pageData) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		s.Logger.Error("render registration page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · {{.Product.Name}}</title>
<style>
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; background: #f4f5f7; }
header { background: #fff; border-bottom: 1px solid #d0d4da; padding: 1rem; }
header .brand { max-width: 40rem; margin: 0 auto; display: flex; align-items: center; gap: .75rem; font-weight: 600; }
header img { max-height: 40px; max-width: 160px; }
main { max-width: 40rem; margin: 1.5rem auto; background: #fff; padding: 1.5rem; border: 1px solid #d0d4da; border-radius: 8px; }
h1 { font-size: 1.5rem; margin-top: 0; }
label, legend { display: block; font-weight: 600; margin-bottom: .25rem; }
.field { margin-bottom: 1.1rem; }
.hint { color: #4a4f57; font-size: .9rem; margin: 0 0 .25rem; }
input[type=text], input[type=email], input[type=tel], input[type=url], input[type=number], select, textarea {
  width: 100%; padding: .6rem; font: inherit; border: 2px solid #5c6370; border-radius: 4px; background: #fff; color: #1a1a1a; }
input[aria-invalid=true], select[aria-invalid=true], textarea[aria-invalid=true] { border-color: #b3261e; }
:focus-visible { outline: 3px solid #0b5cad; outline-offset: 2px; }
.error { color: #b3261e; font-weight: 600; margin: .25rem 0; }
.summary { border: 2px solid #b3261e; border-radius: 6px; padding: .75rem 1rem; margin-bottom: 1rem; }
.summary a { color: #b3261e; }
button { font: inherit; font-weight: 600; background: #0b5cad; color: #fff; border: 0; border-radius: 4px; padding: .7rem 1.2rem; cursor: pointer; }
button:hover { background: #084a8c; }
fieldset { border: 1px solid #d0d4da; border-radius: 6px; margin: 0 0 1.25rem; padding: .75rem 1rem; }
.choice { display: flex; gap: .5rem; align-items: baseline; margin: .35rem 0; font-weight: 400; }
.meta { color: #4a4f57; font-size: .85rem; word-break: break-all; }
a { color: #0b5cad; }
.button-link { display: inline-block; background: #0b5cad; color: #fff; padding: .7rem 1.2rem; border-radius: 4px; text-decoration: none; font-weight: 600; }
footer { max-width: 40rem; margin: 0 auto 2rem; padding: 0 1rem; color: #4a4f57; font-size: .9rem; }
</style>
</head>
<body>
<header><div class="brand">{{if .Product.LogoURL}}<img src="{{.Product.LogoURL}}" alt="{{.Product.Name}} logo">{{end}}<span>{{.Product.Name}}</span></div></header>
<main id="main">
<h1>{{.Title}}</h1>
{{if eq .Kind "error"}}
<p role="alert">{{.Message}}</p>
{{else if eq .Kind "done"}}
<p role="status">Your subscription to {{.Product.Name}} is set up for <strong>{{.TenantName}}</strong>.</p>
{{if .NotYetActive}}<p>Your license starts on the date in your agreement; you will be able to use it from then.</p>{{end}}
{{if .Product.AppURL}}<p><a class="button-link" href="{{.Product.AppURL}}">Continue to {{.Product.Name}}</a></p>{{end}}
<p class="meta">License: {{.LicenseArn}}</p>
{{else}}
<p>Thank you for subscribing through AWS Marketplace. Tell us a little about your organisation to finish setting up.</p>
<p class="meta">AWS account {{.Account}} · License {{.LicenseArn}}</p>
{{if .Errors}}<div class="summary" role="alert" aria-labelledby="summary-title" tabindex="-1">
<p id="summary-title" class="error">Please fix the following:</p>
<ul>{{range .Errors}}<li><a href="#{{.ID}}">{{.Message}}</a></li>{{end}}</ul>
</div>{{end}}
<form method="post" action="{{.Action}}" novalidate>
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{if and (eq .Strategy "choice") .Tenants}}
<fieldset id="choice">
<legend>Where should this subscription go?</legend>
{{$mode := .Mode}}
<label class="choice"><input type="radio" name="choice" value="new" {{if or (eq $mode "new") (eq $mode "")}}checked{{end}}> Create a new account (fill in the details below)</label>
{{range .Tenants}}<label class="choice"><input type="radio" name="choice" value="{{.ID}}" {{if eq $mode .ID}}checked{{end}}> Add to <strong>{{.Company}}</strong>&nbsp;<span class="meta">(created {{.Created}}, {{.Licenses}} subscription{{if ne .Licenses 1}}s{{end}})</span></label>{{end}}
<p class="hint">Only accounts owned by your AWS account are listed. When you add to an existing account, the details below are not needed.</p>
</fieldset>
{{end}}
{{range .Fields}}
<div class="field">
{{if eq .Type "checkbox"}}
<label class="choice" for="{{.ID}}"><input type="checkbox" id="{{.ID}}" name="{{.Key}}" value="true" {{if .Value}}checked{{end}} {{if .Required}}required aria-required="true"{{end}}{{if .Error}} aria-invalid="true" aria-describedby="{{.ID}}-error"{{end}}> {{.Label}}{{if .Required}} (required){{end}}</label>
{{else}}
<label for="{{.ID}}">{{.Label}}{{if .Required}} <span aria-hidden="true">*</span><span class="visually-hidden" style="position:absolute;left:-9999px">(required)</span>{{end}}</label>
{{if .Help}}<p class="hint" id="{{.ID}}-hint">{{.Help}}</p>{{end}}
{{if .Error}}<p class="error" id="{{.ID}}-error">{{.Error}}</p>{{end}}
{{if eq .Type "select"}}
<select id="{{.ID}}" name="{{.Key}}" {{if .Required}}required aria-required="true"{{end}}{{if .Error}} aria-invalid="true"{{end}} aria-describedby="{{if .Help}}{{.ID}}-hint {{end}}{{if .Error}}{{.ID}}-error{{end}}">
<option value="">Choose…</option>{{$v := .Value}}{{range .Options}}<option {{if eq . $v}}selected{{end}}>{{.}}</option>{{end}}
</select>
{{else if eq .Type "textarea"}}
<textarea id="{{.ID}}" name="{{.Key}}" rows="4" {{if .Required}}required aria-required="true"{{end}}{{if .Error}} aria-invalid="true"{{end}} aria-describedby="{{if .Help}}{{.ID}}-hint {{end}}{{if .Error}}{{.ID}}-error{{end}}">{{.Value}}</textarea>
{{else}}
<input type="{{.Type}}" id="{{.ID}}" name="{{.Key}}" value="{{.Value}}" {{if .Required}}required aria-required="true"{{end}}{{if .Error}} aria-invalid="true"{{end}} aria-describedby="{{if .Help}}{{.ID}}-hint {{end}}{{if .Error}}{{.ID}}-error{{end}}"{{if eq .Type "email"}} autocomplete="email"{{else if eq .Key "company"}} autocomplete="organization"{{else if eq .Key "contactName"}} autocomplete="name"{{end}}>
{{end}}
{{end}}
</div>
{{end}}
<button type="submit">Complete setup</button>
</form>
{{end}}
</main>
<footer>{{if .Product.SupportURL}}Need help? <a href="{{.Product.SupportURL}}">Contact {{.Product.Name}} support</a>.{{else}}Need help? Contact the seller through AWS Marketplace.{{end}}</footer>
</body>
</html>
`))
