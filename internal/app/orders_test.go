package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/emulator/world"
	"github.com/concordmp/concord/internal/inbox/inboxtest"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/store/storetest"
)

// mailbox is a real SMTP server (go-smtp) in the test process, on loopback
// without TLS, as a local relay would be.
type mailbox struct {
	addr string
	mu   sync.Mutex
	msgs []*mail.Message
	to   [][]string
}

func newMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain, srv.ReadTimeout, srv.WriteTimeout, srv.MaxMessageBytes = "mail.test", 10*time.Second, 10*time.Second, 20<<20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return mb
}

type mailSession struct {
	mb *mailbox
	to []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *mailSession) Reset()                                    { s.to = nil }
func (s *mailSession) Logout() error                             { return nil }
func (s *mailSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(m.Body)
	m.Body = bytes.NewReader(body)
	s.mb.mu.Lock()
	s.mb.msgs, s.mb.to = append(s.mb.msgs, &mail.Message{Header: m.Header, Body: bytes.NewReader(body)}), append(s.mb.to, s.to)
	s.mb.mu.Unlock()
	return nil
}

// email is one received message, decoded.
type email struct {
	subject, text, html string
	to                  []string
	files               map[string][]byte
}

// find waits for a message whose subject contains sub.
func (mb *mailbox) find(t *testing.T, sub string) email {
	t.Helper()
	var out email
	eventually(t, "an email "+sub, func() bool {
		mb.mu.Lock()
		defer mb.mu.Unlock()
		for i, m := range mb.msgs {
			subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if !strings.Contains(subject, sub) {
				continue
			}
			raw, _ := io.ReadAll(m.Body)
			m.Body = bytes.NewReader(raw)
			out = email{subject: subject, to: mb.to[i], files: map[string][]byte{}}
			walk(t, m.Header.Get("Content-Type"), raw, &out)
			return true
		}
		return false
	})
	return out
}

// recipients are everyone a message whose subject contains sub went to.
func (mb *mailbox) recipients(sub string) map[string]bool {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	out := map[string]bool{}
	for i, m := range mb.msgs {
		subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if strings.Contains(subject, sub) {
			for _, to := range mb.to[i] {
				out[to] = true
			}
		}
	}
	return out
}

// walk decodes a MIME tree into the email's bodies and attachments.
func walk(t *testing.T, contentType string, body []byte, e *email) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("content type %q: %v", contentType, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return
		} else if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(p)
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			data = decodeBase64(t, data)
		} else if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			data, _ = io.ReadAll(newQP(data))
		}
		ct := p.Header.Get("Content-Type")
		_, dp, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		switch {
		case strings.HasPrefix(ct, "multipart/"):
			walk(t, ct, data, e)
		case dp["filename"] != "":
			e.files[dp["filename"]] = data
		case strings.HasPrefix(ct, "text/plain"):
			e.text = string(data)
		case strings.HasPrefix(ct, "text/html"):
			e.html = string(data)
		}
	}
}

// TestOrdersNotifiedAndBooked: every agreement event becomes a bookable
// artifact and a notification, delivered as real email: a public order with
// its artifact attached, the registration pending, the buyer's welcome, a
// direct private order to the offer's users, a partner offer extended, and
// a cancellation.
func TestOrdersNotifiedAndBooked(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			mb := newMailbox(t)
			b := offersSetup(t, dialect, app.Config{SMTP: notify.SMTPMailer{Addr: mb.addr, Mode: "none", From: "Concord <concord@acme.example>"}})
			route := `{"kind":"*","channel":"email","target":"finance@acme.example"}`
			if code, out := b.do(t, "POST", "/v1/notification-routes", b.key, []byte(route)); code != 201 && code != 200 {
				t.Fatalf("route: %d %s", code, out)
			}

			// A direct private offer, accepted: New order (direct) to finance
			// and the offer's users, the artifact attached as PDF, CSV and JSON.
			raw, _ := json.Marshal(offerForm("123456789012"))
			code, out := b.do(t, "POST", "/v1/offers", b.key, raw)
			var d offer.Detail
			if json.Unmarshal(out, &d); code != 201 {
				t.Fatalf("create: %d %s", code, out)
			}
			b.do(t, "POST", "/v1/offers/"+d.ID+"/submit", b.key, nil)
			var offerID string
			eventually(t, "the offer to be published", func() bool { offerID = getOffer(t, b, d.ID).OfferID; return offerID != "" })
			// Purchase instructions go to the buyer's people by email, with the tracked link.
			code, out = b.do(t, "POST", "/v1/offers/"+d.ID+"/instructions", b.key, []byte(`{"to":["procurement@initech.example"],"note":"As discussed."}`))
			var in offer.Instructions
			if json.Unmarshal(out, &in); code != 200 || in.Link == "" {
				t.Fatalf("instructions: %d %s", code, out)
			}
			ins := mb.find(t, "Your private offer for")
			if len(ins.to) != 1 || ins.to[0] != "procurement@initech.example" || !strings.Contains(ins.text, in.Link) ||
				!strings.Contains(ins.html, in.Link) || !strings.Contains(ins.text, "As discussed.") {
				t.Errorf("instructions email to %v:\n%s", ins.to, ins.text)
			}
			if got := mb.recipients("Your private offer for"); got["finance@acme.example"] {
				t.Errorf("buyer-facing instructions went to an internal route: %v", got)
			}
			// The seller's registration details of the offer travel with the
			// New Order notification (shared/seeds/002).
			if code, out := b.do(t, "PUT", "/v1/offers/"+offerID+"/registration-details", b.key,
				[]byte(`{"company":"Initech","contactName":"Peter Gibbons","email":"peter@initech.example"}`)); code != 200 {
				t.Fatalf("registration details: %d %s", code, out)
			}
			var agreementID string
			err := b.app.Emulator.World.Do(func(s *world.State) error {
				a, err := s.Accept("123456789012", offerID, world.AcceptOptions{})
				if err == nil {
					agreementID = a.ID
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			order := mb.find(t, "New order (private offer)")
			if !strings.Contains(order.subject, "Initech") || !strings.Contains(order.subject, "1,200.00") {
				t.Errorf("order subject %q", order.subject)
			}
			// To the route's address and the offer's user to notify.
			eventually(t, "the order to reach finance and the account executive", func() bool {
				got := mb.recipients("New order (private offer)")
				return got["finance@acme.example"] && got["ae@acme.example"]
			})
			if !strings.Contains(order.text, agreementID) || !strings.Contains(order.html, agreementID) {
				t.Errorf("order body lacks the agreement id:\n%s", order.text)
			}
			for _, want := range []string{"Registered company:   Initech", "Registered contact:   Peter Gibbons", "Registered email:     peter@initech.example"} {
				if !strings.Contains(order.text, want) {
					t.Errorf("order text lacks %q:\n%s", want, order.text)
				}
			}
			if !strings.Contains(order.html, "Peter Gibbons") || !strings.Contains(order.html, "peter@initech.example") {
				t.Errorf("order HTML lacks the registration details:\n%s", order.html)
			}
			var pdf, csv, js []byte
			for name, data := range order.files {
				switch {
				case strings.HasSuffix(name, ".pdf"):
					pdf = data
				case strings.HasSuffix(name, ".csv"):
					csv = data
				case strings.HasSuffix(name, ".json"):
					js = data
				}
			}
			if !bytes.HasPrefix(pdf, []byte("%PDF-")) || !strings.Contains(string(csv), agreementID) || !strings.Contains(string(js), `"totalContractValue": "1200.00"`) {
				t.Fatalf("attachments: %v\ncsv %s\njson %s", keys(order.files), csv, js)
			}
			code, out = b.do(t, "GET", "/v1/agreements/"+agreementID+"/artifacts", b.key, nil)
			if code != 200 || !strings.Contains(string(out), `"kind":"new"`) || !strings.Contains(string(out), `"concordOfferId":"`+d.ID+`"`) {
				t.Fatalf("artifacts: %d %s", code, out)
			}
			// The license waits for its buyer: registration pending.
			mb.find(t, "Registration pending: Initech")

			// The buyer cancels: Agreement cancelled, with the cancellation artifact.
			if err := b.app.Emulator.World.Do(func(s *world.State) error { _, err := s.Cancel(agreementID); return err }); err != nil {
				t.Fatal(err)
			}
			ended := mb.find(t, "Agreement cancelled: Initech")
			if len(ended.files) != 3 {
				t.Errorf("cancellation attachments %v", keys(ended.files))
			}
			eventually(t, "a cancellation artifact", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/"+agreementID+"/artifacts", b.key, nil)
				return strings.Contains(string(out), `"kind":"cancellation"`)
			})

			// A partner offer extended by the partner.
			form := offerForm("123456789012")
			form["type"] = "partner"
			form["resellerAgreement"] = map[string]any{"kind": "standard"}
			form["metadata"] = map[string]any{"AWS Account Number": "123456789012", "Partner AWS Account Number": "999988887777"}
			raw, _ = json.Marshal(form)
			code, out = b.do(t, "POST", "/v1/offers", b.key, raw)
			var p offer.Detail
			if json.Unmarshal(out, &p); code != 201 {
				t.Fatalf("partner offer: %d %s", code, out)
			}
			b.do(t, "POST", "/v1/offers/"+p.ID+"/submit", b.key, nil)
			var ra string
			eventually(t, "the partner offer to be published", func() bool { ra = getOffer(t, b, p.ID).ResaleAuthorizationID; return ra != "" })
			if err := b.app.Emulator.World.Do(func(s *world.State) error {
				_, err := s.CreatePartnerOffer(ra, world.Offer{BuyerAccounts: []string{"123456789012"}, Quantities: map[string]int64{"seats": 10}})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			ext := mb.find(t, "Partner offer extended")
			if !strings.Contains(ext.text, "999988887777") || !strings.Contains(ext.text, "Initech") {
				t.Errorf("partner offer extended:\n%s", ext.text)
			}

			// Every notification is listed with its delivery status.
			code, out = b.do(t, "GET", "/v1/notifications?kind=new_order", b.key, nil)
			if code != 200 || !strings.Contains(string(out), agreementID) {
				t.Fatalf("notifications: %d %s", code, out)
			}
		})
	}
}

// TestBuyerWelcomedAfterRegistration: a buyer who registers gets a welcome
// email with the product's support page; a public order is announced as one.
func TestBuyerWelcomedAfterRegistration(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			mb := newMailbox(t)
			b := setup(t, dialect, app.Config{SMTP: notify.SMTPMailer{Addr: mb.addr, Mode: "none", From: "concord@acme.example"}})
			if code, out := b.do(t, "POST", "/v1/notification-routes", b.key, []byte(`{"kind":"new_order","channel":"email","target":"sales@acme.example"}`)); code != 201 && code != 200 {
				t.Fatalf("route: %d %s", code, out)
			}
			m := newMarket(t, b, "prod-wel", "welcode", "separate", "333300003333")
			ag, _ := m.accept("333300003333", 4)
			public := mb.find(t, "New order (public offer)")
			if !strings.Contains(public.text, ag) {
				t.Errorf("public order:\n%s", public.text)
			}
			by := newBuyer()
			page := by.arrive(t, b, ag)
			if status, body := by.submit(t, b, page.Body, goodForm("Initrode")); status != 200 {
				t.Fatalf("register: %d %s", status, body)
			}
			w := mb.find(t, "Welcome to Acme separate")
			if len(w.to) != 1 || w.to[0] != "ada@initrode.example" || !strings.Contains(w.text, "https://support.example.com") ||
				!strings.Contains(w.html, "https://support.example.com") {
				t.Errorf("welcome to %v:\n%s", w.to, w.text)
			}
		})
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func decodeBase64(t *testing.T, data []byte) []byte {
	t.Helper()
	clean := strings.NewReplacer("\r", "", "\n", "").Replace(string(data))
	out, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		t.Fatalf("base64 part: %v", err)
	}
	return out
}

func newQP(data []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(data)) }

// TestOldOrdersBookedNotAnnounced: an agreement whose events are weeks old
// (an inbox replay, a late redelivery) gets its artifact but no order email.
func TestOldOrdersBookedNotAnnounced(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dialect, app.Config{})
			start := time.Now().UTC().AddDate(0, -2, 0).Truncate(time.Second)
			end := start.AddDate(1, 0, 0)
			b.app.Emulator.Agreements.Put(agreementapi.Agreement{AgreementID: "agmt-old", AcceptorAccountID: "444455556666", ProposerAccountID: inboxtest.Seller,
				AcceptanceTime: &start, StartTime: &start, EndTime: &end, OfferID: "offer-old", ProductID: "prod-old", Currency: "USD",
				Terms: []agreementapi.Term{{Type: agreementapi.TermConfigurableUpfrontPricing, ID: "term-1", CurrencyCode: "USD",
					RateCards:     []agreementapi.RateCard{{Selector: &agreementapi.Selector{Type: "Duration", Value: "P12M"}, Items: []agreementapi.RateCardItem{{DimensionKey: "seats", Price: "10.00"}}}},
					Configuration: &agreementapi.UpfrontConfiguration{SelectorValue: "P12M", Dimensions: []agreementapi.Dimension{{DimensionKey: "seats", DimensionValue: 3}}}}}})
			a := eventbridge.Agreement{ID: "agmt-old", Intent: "NEW", AcceptanceTime: start, StartTime: start, EndTime: end,
				AcceptorAccountID: "444455556666", ProposerAccountID: inboxtest.Seller, OfferID: "offer-old"}
			b.send(t, eventbridge.Created(inboxtest.Seller, a, start))
			eventually(t, "the old order's artifact with its terms", func() bool {
				_, out := b.do(t, "GET", "/v1/agreements/agmt-old/artifacts", b.key, nil)
				return strings.Contains(string(out), `"termsKnown":true`)
			})
			if _, out := b.do(t, "GET", "/v1/notifications?kind=new_order", b.key, nil); strings.Contains(string(out), "agmt-old") {
				t.Fatalf("an order two months old was announced: %s", out)
			}
		})
	}
}
