package entitlement

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unicode"
)

// cursor is the position after the last entitlement a page returned: after
// (arn, dim), or after every entitlement of arn when wholeLicense is set.
type cursor struct {
	arn, dim     string
	wholeLicense bool
}

const (
	tokenVersion = 1
	tokenMACLen  = 16
)

func randomKey(p []byte) { _, _ = rand.Read(p) }

// fingerprint binds a token to the query that produced it: the product code
// and the filters, each as a sorted set of values. The page size is not part
// of it.
func fingerprint(q query) [32]byte {
	h := sha256.New()
	putN := func(n int) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(n))
		h.Write(b[:])
	}
	put := func(s string) {
		putN(len(s))
		h.Write([]byte(s))
	}
	put(q.productCode)
	for _, f := range []struct {
		key string
		set map[string]bool
	}{
		{FilterCustomerIdentifier, q.customers}, {FilterDimension, q.dims},
		{FilterCustomerAWSAccountID, q.accounts}, {FilterLicenseArn, q.arns},
	} {
		if f.set == nil {
			continue
		}
		put(f.key)
		vals := sortedSet(f.set)
		putN(len(vals))
		for _, v := range vals {
			put(v)
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func (srv *Server) tokenMAC(fp [32]byte, payload []byte) []byte {
	m := hmac.New(sha256.New, srv.tokenKey[:])
	m.Write(fp[:])
	m.Write(payload)
	return m.Sum(nil)[:tokenMACLen]
}

// encodeToken renders a cursor as an opaque NextToken: version, MAC, then the
// cursor (kind byte, ARN, NUL, dimension), in unpadded base64url.
func (srv *Server) encodeToken(fp [32]byte, c cursor) string {
	payload := []byte{0}
	if c.wholeLicense {
		payload[0] = 1
	}
	payload = append(payload, c.arn...)
	payload = append(payload, 0)
	payload = append(payload, c.dim...)
	raw := append([]byte{tokenVersion}, srv.tokenMAC(fp, payload)...)
	raw = append(raw, payload...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeToken checks that a NextToken was issued by this server for a query
// with this fingerprint and returns its cursor.
func (srv *Server) decodeToken(tok string, fp [32]byte) (*cursor, *apiError) {
	if tok == "" || strings.IndexFunc(tok, unicode.IsSpace) >= 0 {
		return nil, invalidParameter("NextToken must be a non-empty string without whitespace")
	}
	bad := invalidParameter("NextToken is invalid or was issued for a different ProductCode or Filter")
	if len(tok) > maxTokenLen {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 1+tokenMACLen+2 || raw[0] != tokenVersion {
		return nil, bad
	}
	mac, payload := raw[1:1+tokenMACLen], raw[1+tokenMACLen:]
	if !hmac.Equal(mac, srv.tokenMAC(fp, payload)) {
		return nil, bad
	}
	arn, dim, ok := bytes.Cut(payload[1:], []byte{0})
	if !ok || payload[0] > 1 {
		return nil, bad
	}
	return &cursor{arn: string(arn), dim: string(dim), wholeLicense: payload[0] == 1}, nil
}
