package snsverify

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// Signer signs SNS messages the way SNS does, using a freshly generated key
// and self-signed certificate. Concord's built-in AWS emulator uses it to
// deliver messages that pass the production Verifier (serving CertPEM at
// CertURL), and tests use it to build valid and tampered messages. It is
// never used against real AWS. A Signer is safe for concurrent use.
type Signer struct {
	certURL string
	key     *rsa.PrivateKey
	certPEM []byte
}

// NewSigner generates an RSA 2048 key and a self-signed certificate for it,
// to be published at certURL (an absolute http or https URL). The
// certificate is valid from a day ago for ten years, so verifiers with a
// slightly skewed clock, or a long-running emulator, accept it.
func NewSigner(certURL string) (*Signer, error) {
	u, err := url.Parse(certURL)
	if err != nil {
		return nil, fmt.Errorf("snsverify: signer certificate URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("snsverify: signer certificate URL %q must be an absolute http(s) URL", certURL)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("snsverify: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("snsverify: generating serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   u.Hostname(),
			Organization: []string{"Concord SNS emulator"},
		},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("snsverify: creating certificate: %w", err)
	}
	return &Signer{
		certURL: certURL,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// CertPEM returns the PEM-encoded certificate the emulator must serve at
// CertURL. A copy is returned so callers cannot alter the signer's state.
func (s *Signer) CertPEM() []byte {
	return append([]byte(nil), s.certPEM...)
}

// CertURL returns the URL this signer puts in SigningCertURL, so the
// emulator can route requests for it to CertPEM.
func (s *Signer) CertURL() string {
	return s.certURL
}

// Sign sets SignatureVersion, Signature and SigningCertURL on m, signing
// StringToSign with SHA1withRSA (version "1") or SHA256withRSA (version
// "2"). All signed fields must already be set. On error m is unchanged.
func (s *Signer) Sign(m *Message, version string) error {
	hash, ok := hashFor(version)
	if !ok {
		return fmt.Errorf("snsverify: unsupported signature version %q", version)
	}
	if m == nil {
		return errors.New("snsverify: nil message")
	}
	sts, err := m.StringToSign()
	if err != nil {
		return err
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, hash, digest(hash, sts))
	if err != nil {
		return fmt.Errorf("snsverify: signing: %w", err)
	}
	m.SignatureVersion = version
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	m.SigningCertURL = s.certURL
	return nil
}
