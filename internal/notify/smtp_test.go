package notify_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/concordmp/concord/internal/notify"
)

// received is one message the in-process SMTP server took.
type received struct {
	from string
	to   []string
	data []byte
	tls  bool
}

// smtpServer is a real SMTP server (go-smtp) in the test process: AUTH PLAIN
// against one user, STARTTLS or implicit TLS with a self-signed certificate.
type smtpServer struct {
	addr   string
	client *tls.Config // trusts the server's certificate
	mu     sync.Mutex
	got    []received
	user   string
	pass   string
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// smtpModes: starttls (STARTTLS offered; AUTH only after it), tls (implicit
// TLS), plain (no TLS at all, AUTH allowed: what a local relay looks like).
func startSMTP(t *testing.T, mode string) *smtpServer {
	t.Helper()
	serverTLS, clientTLS := selfSigned(t)
	s := &smtpServer{client: clientTLS, user: "concord", pass: "s3cret"}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &smtpSession{srv: s, tls: isTLS}, nil
	}))
	srv.Domain = "mail.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 10 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "starttls":
		srv.TLSConfig = serverTLS
	case "tls":
		srv.TLSConfig = serverTLS
		l = tls.NewListener(l, serverTLS)
	case "plain":
		srv.AllowInsecureAuth = true
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

type smtpSession struct {
	srv  *smtpServer
	tls  bool
	auth bool
	msg  received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.srv.mu.Lock()
		ok := username == s.srv.user && password == s.srv.pass
		s.srv.mu.Unlock()
		if !ok {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth {
		return smtp.ErrAuthRequired
	}
	s.msg = received{from: from, tls: s.tls}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = b
	s.srv.mu.Lock()
	s.srv.got = append(s.srv.got, s.msg)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.msg = received{} }
func (s *smtpSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a client config that
// trusts it (and nothing else).
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// parsed is a received message taken apart with net/mail and mime/multipart.
type parsed struct {
	header      mail.Header
	subject     string
	text, html  string
	attachments map[string][]byte
	types       map[string]string
}

func parseMessage(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	p := parsed{header: m.Header, attachments: map[string][]byte{}, types: map[string]string{}}
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mixed := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mixed.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("next part: %v", err)
		}
		pt, pparams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if pt == "multipart/alternative" {
			alt := multipart.NewReader(part, pparams["boundary"])
			for {
				ap, err := alt.NextPart()
				if errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatalf("alternative part: %v", err)
				}
				b, err := io.ReadAll(ap) // quoted-printable is decoded by the reader
				if err != nil {
					t.Fatal(err)
				}
				b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) // mail lines end in CRLF
				switch ct, _, _ := mime.ParseMediaType(ap.Header.Get("Content-Type")); ct {
				case "text/plain":
					p.text = string(b)
				case "text/html":
					p.html = string(b)
				default:
					t.Fatalf("unexpected alternative %s", ct)
				}
			}
			continue
		}
		if part.Header.Get("Content-Transfer-Encoding") != "base64" {
			t.Fatalf("attachment not in base64: %v", part.Header)
		}
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
		if err != nil {
			t.Fatalf("decode attachment: %v", err)
		}
		p.attachments[part.FileName()] = b
		p.types[part.FileName()] = pt
	}
	return p
}

func TestSMTPDelivery(t *testing.T) {
	t.Parallel()

	for _, mode := range []string{notify.SMTPStartTLS, notify.SMTPTLS} {
		run(t, "real email over "+mode+" with text, HTML and an attachment", func(t *testing.T, f *fixture) {
			srv := startSMTP(t, mode)
			f.svc.Mailer = &notify.SMTPMailer{Addr: srv.addr, Mode: mode, Username: "concord", Password: "s3cret",
				From: "Concord Notifications <concord@seller.example>", TLSConfig: srv.client}
			f.route("*", notify.ChannelEmail, "finance@seller.example", "")
			n := order()
			d := n.Data.(notify.OrderData)
			d.ProductTitle = "Acme Analytik für Zürich" // a non-ASCII subject is RFC 2047 encoded
			n.Data = d
			n.Attachments = append(n.Attachments, notify.Attachment{Name: "booking.csv", ContentType: "text/csv", Data: []byte("agreement,tcv\nagmt-1,12000\n")})
			id, _ := f.emit(n)
			f.drain()
			if d := delivery(t, f.get(id), notify.ChannelEmail, "finance@seller.example"); d.Status != notify.StatusSent || d.Attempts != 1 {
				t.Fatalf("delivery %+v", d)
			}
			got := srv.messages()
			if len(got) != 1 {
				t.Fatalf("the server got %d messages", len(got))
			}
			if !got[0].tls || got[0].from != "concord@seller.example" || len(got[0].to) != 1 || got[0].to[0] != "finance@seller.example" {
				t.Fatalf("envelope %+v", got[0])
			}
			p := parseMessage(t, got[0].data)
			from, err := mail.ParseAddress(p.header.Get("From"))
			if err != nil || from.Address != "concord@seller.example" || from.Name != "Concord Notifications" {
				t.Errorf("From %q: %v", p.header.Get("From"), err)
			}
			if to := p.header.Get("To"); to != "<finance@seller.example>" && to != "finance@seller.example" {
				t.Errorf("To %q", to)
			}
			if !strings.HasPrefix(p.header.Get("Subject"), "=?utf-8?") {
				t.Errorf("a non-ASCII subject is not encoded: %q", p.header.Get("Subject"))
			}
			stored := f.get(id)
			if p.subject != stored.Subject || !strings.Contains(p.subject, "Acme Analytik für Zürich") {
				t.Errorf("subject %q, want %q", p.subject, stored.Subject)
			}
			if date, err := p.header.Date(); err != nil || !date.Equal(t0) {
				t.Errorf("Date %q: %v", p.header.Get("Date"), err)
			}
			if mid := p.header.Get("Message-ID"); !strings.HasPrefix(mid, "<ntd_") || !strings.HasSuffix(mid, "@seller.example>") {
				t.Errorf("Message-ID %q", mid)
			}
			if p.text != stored.Text || !strings.Contains(p.text, "agmt-1") || !strings.Contains(p.text, "USD 12,000.00") {
				t.Errorf("text body:\n%s\nwant:\n%s", p.text, stored.Text)
			}
			if p.html != stored.HTML || !strings.Contains(p.html, "&lt;script&gt;") || strings.Contains(p.html, "<script") {
				t.Errorf("HTML body:\n%s", p.html)
			}
			if string(p.attachments["booking.pdf"]) != string(order().Attachments[0].Data) || p.types["booking.pdf"] != "application/pdf" {
				t.Errorf("PDF attachment %q (%s)", p.attachments["booking.pdf"], p.types["booking.pdf"])
			}
			if string(p.attachments["booking.csv"]) != "agreement,tcv\nagmt-1,12000\n" || p.types["booking.csv"] != "text/csv" {
				t.Errorf("CSV attachment %q", p.attachments["booking.csv"])
			}
		})
	}

	run(t, "a wrong password fails clearly, is retried, and a resend after the fix delivers", func(t *testing.T, f *fixture) {
		srv := startSMTP(t, notify.SMTPStartTLS)
		f.svc.MaxAttempts = 2
		f.svc.Mailer = &notify.SMTPMailer{Addr: srv.addr, Mode: notify.SMTPStartTLS, Username: "concord", Password: "wrong",
			From: "concord@seller.example", TLSConfig: srv.client}
		f.route(notify.KindNewOrder, notify.ChannelEmail, "finance@seller.example", "")
		id, _ := f.emit(order())
		f.drain()
		d := delivery(t, f.get(id), notify.ChannelEmail, "finance@seller.example")
		if d.Status != notify.StatusPending || d.Attempts != 1 || !strings.Contains(d.LastError, `SMTP authentication as "concord"`) ||
			!strings.Contains(d.LastError, "535") {
			t.Fatalf("after a refused login: %+v", d)
		}
		f.clock.Advance(time.Hour) // the retry is due
		f.drain()
		if d := delivery(t, f.get(id), notify.ChannelEmail, "finance@seller.example"); d.Status != notify.StatusFailed || d.Attempts != 2 {
			t.Fatalf("after the last attempt: %+v", d)
		}
		if len(srv.messages()) != 0 {
			t.Fatal("a message went through without a login")
		}

		f.svc.Mailer = &notify.SMTPMailer{Addr: srv.addr, Mode: notify.SMTPStartTLS, Username: "concord", Password: "s3cret",
			From: "concord@seller.example", TLSConfig: srv.client}
		if _, err := f.svc.Resend(f.ctx, id, ""); err != nil {
			t.Fatal(err)
		}
		f.drain()
		if d := delivery(t, f.get(id), notify.ChannelEmail, "finance@seller.example"); d.Status != notify.StatusSent || d.Attempts != 3 {
			t.Fatalf("after the resend: %+v", d)
		}
		if got := srv.messages(); len(got) != 1 || len(parseMessage(t, got[0].data).attachments["booking.pdf"]) == 0 {
			t.Fatalf("the server got %d messages", len(got))
		}
	})

	t.Run("STARTTLS is required when asked for", func(t *testing.T) {
		t.Parallel()
		srv := startSMTP(t, "plain")
		m := &notify.SMTPMailer{Addr: srv.addr, Mode: notify.SMTPStartTLS, Username: "concord", Password: "s3cret", From: "concord@seller.example"}
		err := m.Send(t.Context(), notify.Message{To: []string{"a@b.example"}, Subject: "s", Text: "t", HTML: "<p>h</p>"})
		if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
			t.Fatalf("send without STARTTLS: %v", err)
		}
		if len(srv.messages()) != 0 {
			t.Fatal("sent in the clear")
		}
	})

	t.Run("an untrusted certificate is refused", func(t *testing.T) {
		t.Parallel()
		srv := startSMTP(t, notify.SMTPTLS)
		m := &notify.SMTPMailer{Addr: srv.addr, Mode: notify.SMTPTLS, From: "concord@seller.example"}
		err := m.Send(t.Context(), notify.Message{To: []string{"a@b.example"}, Subject: "s"})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("send to an untrusted server: %v", err)
		}
	})

	t.Run("plain SMTP to a local relay", func(t *testing.T) {
		t.Parallel()
		srv := startSMTP(t, "plain")
		m := &notify.SMTPMailer{Addr: srv.addr, Mode: notify.SMTPNone, Username: "concord", Password: "s3cret", From: "concord@seller.example"}
		if err := m.Send(t.Context(), notify.Message{To: []string{"a@b.example"}, Subject: "Hello", Text: "t", HTML: "<p>h</p>"}); err != nil {
			t.Fatal(err)
		}
		if got := srv.messages(); len(got) != 1 || got[0].tls || parseMessage(t, got[0].data).subject != "Hello" {
			t.Fatalf("got %+v", got)
		}
	})

	t.Run("configuration is checked", func(t *testing.T) {
		t.Parallel()
		for _, m := range []notify.SMTPMailer{
			{Addr: "smtp.example.com:587", Mode: "ssl", From: "a@b.example"},
			{Addr: "smtp.example.com:587"},
			{Addr: "smtp.example.com:587", From: "not an address"},
			{Addr: "smtp.example.com:587", From: "a@b.example\r\nBcc: x@y.example"},
			{Addr: "smtp.example.com:587", From: "a@b.example", Password: "p"},
		} {
			if err := m.Check(); err == nil {
				t.Errorf("Check(%+v) passed", m)
			}
		}
		if err := (&notify.SMTPMailer{Addr: "smtp.example.com", From: "Concord <a@b.example>"}).Check(); err != nil {
			t.Errorf("a host without a port: %v", err)
		}
	})
}
