package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"path"
	"strings"
	"time"
	"unicode"
)

// Mailer sends one email. SMTPMailer is the real one; tests may stand in.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Message is one email: a subject, a plain-text and an HTML body, and files.
type Message struct {
	To          []string
	Subject     string
	Text        string
	HTML        string
	Attachments []Attachment
	// MessageID is the Message-ID header without angle brackets; the same on
	// every retry of a delivery, so a receiving system can spot a repeat.
	MessageID string
	Date      time.Time
}

// SMTP security modes.
const (
	// SMTPNone: plain SMTP. Credentials are only sent to localhost over it.
	SMTPNone = "none"
	// SMTPStartTLS: plain connection upgraded with STARTTLS, which the server
	// must offer (port 587).
	SMTPStartTLS = "starttls"
	// SMTPTLS: TLS from the first byte, "implicit TLS" (port 465).
	SMTPTLS = "tls"
)

// SMTPMailer sends email through an SMTP server with net/smtp: optionally
// STARTTLS or implicit TLS, PLAIN authentication when Username is set.
type SMTPMailer struct {
	// Addr is host:port; without a port, 587 (starttls), 465 (tls) or 25.
	Addr string
	// Mode is none, starttls (the default when empty) or tls.
	Mode     string
	Username string
	Password string
	// From is the sender, e.g. "Concord <concord@example.com>".
	From string
	// TLSConfig verifies the server; nil means the system roots and the host
	// of Addr.
	TLSConfig *tls.Config
	// LocalName is sent in EHLO (default "localhost").
	LocalName string
	// Timeout bounds one whole conversation (default Timeout, 10 s, plus the
	// time to send the message's bytes at no less than 1 MB/s).
	Timeout time.Duration
}

func (m *SMTPMailer) mode() string {
	if m.Mode == "" {
		return SMTPStartTLS
	}
	return m.Mode
}

// address returns Addr with its default port.
func (m *SMTPMailer) address() string {
	if _, _, err := net.SplitHostPort(m.Addr); err == nil {
		return m.Addr
	}
	port := "25"
	switch m.mode() {
	case SMTPStartTLS:
		port = "587"
	case SMTPTLS:
		port = "465"
	}
	return net.JoinHostPort(strings.Trim(m.Addr, "[]"), port)
}

// Check validates the configuration, so serve refuses to start with a mailer
// that could never send.
func (m *SMTPMailer) Check() error {
	switch m.mode() {
	case SMTPNone, SMTPStartTLS, SMTPTLS:
	default:
		return fmt.Errorf("--smtp-tls must be none, starttls or tls, not %q", m.Mode)
	}
	host, _, err := net.SplitHostPort(m.address())
	if err != nil || host == "" {
		return fmt.Errorf("--smtp-addr %q must be host:port, e.g. smtp.example.com:587", m.Addr)
	}
	if m.From == "" {
		return errors.New("--smtp-from is required with --smtp-addr: the sender address, e.g. \"Concord <concord@example.com>\"")
	}
	if _, err := mail.ParseAddress(m.From); err != nil || strings.ContainsAny(m.From, "\r\n") {
		return fmt.Errorf("--smtp-from %q is not an email address such as \"Concord <concord@example.com>\"", m.From)
	}
	if m.Password != "" && m.Username == "" {
		return errors.New("--smtp-password is set but --smtp-user is not")
	}
	return nil
}

func (m *SMTPMailer) tlsConfig(host string) *tls.Config {
	c := &tls.Config{}
	if m.TLSConfig != nil {
		c = m.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// Send delivers m in one SMTP conversation. Errors say which step failed
// (connect, STARTTLS, AUTH, MAIL, RCPT, DATA) with the server's answer.
func (m *SMTPMailer) Send(ctx context.Context, msg Message) (err error) {
	if err := m.Check(); err != nil {
		return err
	}
	from, _ := mail.ParseAddress(m.From)
	raw, err := compose(from, msg)
	if err != nil {
		return err
	}
	addr := m.address()
	host, _, _ := net.SplitHostPort(addr)
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = Timeout + time.Duration(len(raw)/(1<<20))*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dialer := &net.Dialer{}
	var conn net.Conn
	if m.mode() == SMTPTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: m.tlsConfig(host)}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connect to SMTP server %s (%s): %w", addr, m.mode(), err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // cancellation ends a stuck conversation
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("SMTP server %s greeting: %w", addr, err)
	}
	defer c.Close()
	local := m.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return fmt.Errorf("SMTP EHLO to %s: %w", addr, err)
	}
	if m.mode() == SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("SMTP server %s does not offer STARTTLS, which --smtp-tls starttls requires (use tls for implicit TLS, or none for a trusted local relay)", addr)
		}
		if err := c.StartTLS(m.tlsConfig(host)); err != nil {
			return fmt.Errorf("SMTP STARTTLS with %s: %w", addr, err)
		}
	}
	if m.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("SMTP server %s does not offer AUTH, but --smtp-user is set", addr)
		}
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return fmt.Errorf("SMTP authentication as %q at %s failed: %w", m.Username, addr, err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("SMTP MAIL FROM:<%s> refused by %s: %w", from.Address, addr, err)
	}
	for _, to := range msg.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("SMTP RCPT TO:<%s> refused by %s: %w", to, addr, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("SMTP DATA refused by %s: %w", addr, err)
	}
	if _, err := w.Write(raw); err != nil {
		w.Close()
		return fmt.Errorf("SMTP send message to %s: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP server %s refused the message: %w", addr, err)
	}
	// The server took the message at the end of DATA; a failed QUIT loses nothing.
	c.Quit()
	return nil
}

// compose builds the RFC 5322 message: multipart/mixed holding a
// multipart/alternative (text, then HTML, both quoted-printable UTF-8) and
// the attachments in base64. Header values are encoded (RFC 2047) when they
// are not ASCII.
func compose(from *mail.Address, m Message) ([]byte, error) {
	var b bytes.Buffer
	to := make([]string, len(m.To))
	for i, t := range m.To {
		if strings.ContainsAny(t, "\r\n") {
			return nil, fmt.Errorf("recipient %q contains a line break", t)
		}
		to[i] = (&mail.Address{Address: t}).String()
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	id := m.MessageID
	if id == "" {
		var r [12]byte
		rand.Read(r[:])
		id = hex.EncodeToString(r[:])
	}
	if !strings.Contains(id, "@") {
		domain := from.Address[strings.LastIndex(from.Address, "@")+1:]
		id += "@" + domain
	}
	mixed := multipart.NewWriter(&b)
	altBoundary := multipart.NewWriter(io.Discard).Boundary()
	header := []struct{ k, v string }{
		{"From", from.String()},
		{"To", strings.Join(to, ", ")},
		{"Subject", foldWords(mime.BEncoding.Encode("utf-8", cleanSubject(m.Subject)))},
		{"Date", date.UTC().Format(time.RFC1123Z)},
		{"Message-ID", "<" + strings.Trim(id, "<>") + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mixed.Boundary()})},
		{"Auto-Submitted", "auto-generated"},
	}
	for _, h := range header {
		b.WriteString(h.k + ": " + h.v + "\r\n")
	}
	b.WriteString("\r\n")

	altPart, err := mixed.CreatePart(textproto.MIMEHeader{
		"Content-Type": {mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": altBoundary})}})
	if err != nil {
		return nil, err
	}
	alt := multipart.NewWriter(altPart)
	if err := alt.SetBoundary(altBoundary); err != nil {
		return nil, err
	}
	for _, body := range []struct{ typ, s string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		p, err := alt.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {body.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(p)
		if _, err := qp.Write([]byte(body.s)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := alt.Close(); err != nil {
		return nil, err
	}
	for _, a := range m.Attachments {
		name := attachmentName(a.Name)
		p, err := mixed.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(attachmentType(a.ContentType), map[string]string{"name": name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			p.Write([]byte(enc[:76] + "\r\n"))
			enc = enc[76:]
		}
		p.Write([]byte(enc + "\r\n"))
	}
	if err := mixed.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// attachmentName keeps the base name of a file, without control characters,
// path separators or quotes, so it is safe in a MIME header.
// foldWords puts each RFC 2047 encoded-word of a header on its own line (a
// folded header), so a long non-ASCII subject keeps every line well within
// RFC 5322's 998 characters; an encoded-word is at most 75.
func foldWords(v string) string {
	return strings.ReplaceAll(v, "?= =?", "?=\r\n =?")
}

func attachmentName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '\\' || r == '/' {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	name = strings.TrimSpace(path.Base(name))
	if name == "" || name == "." || name == "_" {
		return "attachment"
	}
	if r := []rune(name); len(r) > 150 {
		name = string(r[:150])
	}
	return name
}

// attachmentType returns a media type that parses, application/octet-stream
// when t does not.
func attachmentType(t string) string {
	mt, _, err := mime.ParseMediaType(t)
	if err != nil || !strings.Contains(mt, "/") || strings.HasPrefix(mt, "multipart/") {
		return "application/octet-stream"
	}
	return mt
}
