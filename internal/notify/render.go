package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/concordmp/concord/internal/marketplace"
	moneyfmt "github.com/concordmp/concord/internal/money"
)

//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

// Content is a rendered notification: what every email, Slack message and
// webhook event of it says.
type Content struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

// view is what the templates see.
type view struct {
	Kind        string
	D           any
	Subject     string
	PublicURL   string
	BuyerFacing bool
	// Attachments are the names of the attached files.
	Attachments []string
}

// templates are parsed once: a template error is a bug found by the rendering
// tests, not at run time.
var textTemplates, htmlTemplates = parseTemplates()

var funcs = map[string]any{
	"buyer":     buyerName,
	"product":   productName,
	"partner":   partnerName,
	"ordertype": orderTypeName,
	"money":     money,
	"date":      func(t any) string { return formatTime(t, "2006-01-02") },
	"datetime":  func(t any) string { return formatTime(t, "2006-01-02 15:04 UTC") },
	"yesno": func(b any) string {
		if yes(b) {
			return "yes"
		}
		return "no"
	},
	"yes":    yes,
	"pair":   func(a, b any) []any { return []any{a, b} },
	"join":   strings.Join,
	"plural": plural,
}

func parseTemplates() (map[string]*texttemplate.Template, map[string]*htmltemplate.Template) {
	txt, html := map[string]*texttemplate.Template{}, map[string]*htmltemplate.Template{}
	for _, k := range Kinds {
		txt[k] = texttemplate.Must(texttemplate.New(k).Funcs(funcs).Option("missingkey=error").
			ParseFS(templateFS, "templates/_*.txt", "templates/"+k+".txt"))
		html[k] = htmltemplate.Must(htmltemplate.New(k).Funcs(funcs).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/_*.html", "templates/"+k+".html"))
	}
	return txt, html
}

// Render renders a notice as Emit would, without storing anything: the
// subject, the plain text and the HTML (contextually escaped by html/template,
// so data such as a buyer's company name cannot inject markup). publicURL is
// Concord's address for the footer ("" leaves it out).
func Render(n Notice, publicURL string) (Content, error) {
	if !KnownKind(n.Kind) {
		return Content{}, marketplace.Errorf(marketplace.EInvalid, "unknown notification kind %q: use one of %s",
			marketplace.Clip(n.Kind, 64), strings.Join(Kinds, ", "))
	}
	if !dataMatches(n.Kind, n.Data) {
		return Content{}, marketplace.Errorf(marketplace.EInvalid, "notification kind %s cannot carry data of type %T", n.Kind, n.Data)
	}
	v := view{Kind: n.Kind, D: n.Data, PublicURL: publicURL, BuyerFacing: n.BuyerFacing}
	for _, a := range n.Attachments {
		v.Attachments = append(v.Attachments, attachmentName(a.Name))
	}
	var c Content
	var b bytes.Buffer
	if err := textTemplates[n.Kind].ExecuteTemplate(&b, "subject", v); err != nil {
		return c, fmt.Errorf("render %s subject: %w", n.Kind, err)
	}
	c.Subject = cleanSubject(b.String())
	v.Subject = c.Subject
	b.Reset()
	if err := textTemplates[n.Kind].ExecuteTemplate(&b, "text", v); err != nil {
		return c, fmt.Errorf("render %s text: %w", n.Kind, err)
	}
	c.Text = tidyText(b.String())
	if publicURL != "" && !n.BuyerFacing {
		c.Text += "\n-- \nSent by Concord at " + publicURL + "\n"
	}
	b.Reset()
	if err := htmlTemplates[n.Kind].ExecuteTemplate(&b, "layout", v); err != nil {
		return c, fmt.Errorf("render %s html: %w", n.Kind, err)
	}
	c.HTML = tidyHTML(b.String())
	return c, nil
}

// cleanSubject makes a subject one line of at most 200 characters: a company
// name with a line break must not start a new mail header.
func cleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// tidyText trims trailing spaces and runs of blank lines the templates leave.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	s = blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.TrimSpace(s) + "\n"
}

// tidyHTML drops the blank lines the templates leave: each line break
// followed by whitespace and more line breaks becomes one line break (what
// replacing the regular expression \n(\s*\n)+ with "\n" does, without its
// cost on every notification a replay renders).
func tidyHTML(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	from := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '\n' {
			continue
		}
		last := -1 // the last line break in the whitespace after this one
		for j := i + 1; j < len(s) && isSpace(s[j]); j++ {
			if s[j] == '\n' {
				last = j
			}
		}
		if last < 0 {
			continue
		}
		b.WriteString(s[from : i+1])
		from, i = last+1, last
	}
	b.WriteString(s[from:])
	return strings.TrimSpace(b.String()) + "\n"
}

// isSpace is \s in a Go regular expression: [\t\n\f\r ].
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func buyerName(company, account string) string {
	switch {
	case company != "" && account != "":
		return company + " (AWS account " + account + ")"
	case company != "":
		return company
	case account != "":
		return "AWS account " + account
	}
	return "the buyer"
}

func productName(title, id string) string {
	switch {
	case title != "" && id != "" && title != id:
		return title + " (" + id + ")"
	case title != "":
		return title
	case id != "":
		return id
	}
	return "the product"
}

func partnerName(name, account string) string {
	switch {
	case name != "" && account != "":
		return name + " (AWS account " + account + ")"
	case name != "":
		return name
	case account != "":
		return "AWS account " + account
	}
	return "the channel partner"
}

func orderTypeName(t string) string {
	switch t {
	case OrderPublic:
		return "public offer"
	case OrderDirect:
		return "private offer"
	case OrderPartner:
		return "channel partner offer"
	case OrderAmended:
		return "amended offer"
	case "":
		return "order"
	}
	return t
}

// money writes an amount the way the console and the artifact's PDF do
// (money.Format): "12000.5", "USD" is "USD 12,000.50".
func money(amount, currency string) string { return moneyfmt.Format(amount, currency) }

func formatTime(t any, layout string) string {
	switch v := t.(type) {
	case time.Time:
		if v.IsZero() {
			return ""
		}
		return v.UTC().Format(layout)
	case *time.Time:
		if v == nil || v.IsZero() {
			return ""
		}
		return v.UTC().Format(layout)
	}
	return fmt.Sprint(t)
}

func yes(b any) bool {
	switch v := b.(type) {
	case bool:
		return v
	case *bool:
		return v != nil && *v
	}
	return false
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
