package snsverify

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestSigner(t *testing.T) {
	t.Parallel()
	s := testSigner(t)

	t.Run("certificate is RSA 2048 and currently valid", func(t *testing.T) {
		t.Parallel()
		block, rest := pem.Decode(s.CertPEM())
		if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
			t.Fatalf("CertPEM is not a single PEM certificate")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() != 2048 {
			t.Fatalf("public key %T, want RSA 2048", cert.PublicKey)
		}
		if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			t.Fatalf("certificate not valid now: %v..%v", cert.NotBefore, cert.NotAfter)
		}
		if cert.Subject.CommonName != "sns.us-east-1.amazonaws.com" {
			t.Fatalf("CommonName = %q", cert.Subject.CommonName)
		}
	})
	t.Run("CertPEM returns a copy", func(t *testing.T) {
		t.Parallel()
		b := s.CertPEM()
		b[0] = 'X'
		if s.CertPEM()[0] == 'X' {
			t.Fatal("CertPEM exposed internal buffer")
		}
	})
	t.Run("CertURL is what Sign stamps", func(t *testing.T) {
		t.Parallel()
		m := mustSign(t, s, newNotification(time.Now(), nil), SignatureVersion1)
		if s.CertURL() != testCertURL || m.SigningCertURL != testCertURL {
			t.Fatalf("CertURL() = %q, SigningCertURL = %q", s.CertURL(), m.SigningCertURL)
		}
	})
	for _, version := range []string{"", "0", "3", "v2", "SHA256"} {
		t.Run("rejects signature version "+version, func(t *testing.T) {
			t.Parallel()
			m := newNotification(time.Now(), nil)
			if err := s.Sign(m, version); err == nil {
				t.Fatal("Sign accepted unsupported version")
			}
			if m.Signature != "" || m.SignatureVersion != "" || m.SigningCertURL != "" {
				t.Fatal("failed Sign modified the message")
			}
		})
	}
	t.Run("rejects unsignable message", func(t *testing.T) {
		t.Parallel()
		m := newNotification(time.Now(), nil)
		m.MessageID = ""
		if err := s.Sign(m, SignatureVersion2); err == nil || m.Signature != "" {
			t.Fatalf("Sign = %v, signature %q", err, m.Signature)
		}
		if err := s.Sign(nil, SignatureVersion2); err == nil {
			t.Fatal("Sign(nil) succeeded")
		}
	})
}

func TestNewSignerRejectsBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "sns.us-east-1.amazonaws.com/x.pem", "ftp://host/x.pem", "https://", "://bad"} {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			if _, err := NewSigner(u); err == nil {
				t.Fatalf("NewSigner(%q) succeeded", u)
			}
		})
	}
}
