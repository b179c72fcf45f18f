package s3_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/emulator/s3"
)

// FuzzDecodeChunked: any body decodes or is refused, without panicking, and
// a well-formed encoding gives back its payload.
func FuzzDecodeChunked(f *testing.F) {
	f.Add([]byte("5;chunk-signature=00\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"), []byte("hello"))
	f.Add([]byte("0\r\n\r\n"), []byte(""))
	f.Add([]byte("ffffffff\r\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, raw, payload []byte) {
		s3.DecodeChunked(raw)
		var b bytes.Buffer
		if len(payload) > 0 {
			b.WriteString(strings.ToLower(strings.TrimLeft(strings.ToUpper(hex(len(payload))), "0")))
			b.WriteString("\r\n")
			b.Write(payload)
			b.WriteString("\r\n")
		}
		b.WriteString("0\r\n\r\n")
		got, _, err := s3.DecodeChunked(b.Bytes())
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("decode of a well-formed body: %q %v, want %q", got, err, payload)
		}
	})
}

func hex(n int) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var s []byte
	for ; n > 0; n /= 16 {
		s = append([]byte{digits[n%16]}, s...)
	}
	return string(s)
}

// FuzzServe: any method, path, query and host gets an S3 answer (never a
// panic), and only a signed PUT stores anything.
func FuzzServe(f *testing.F) {
	f.Add("PUT", "/docs-bucket/k.pdf", "x-id=PutObject", "localhost", true, []byte("%PDF-"))
	f.Add("GET", "/docs-bucket/k.pdf", "", "docs-bucket.localhost", false, []byte(nil))
	f.Add("HEAD", "/", "acl", "10.0.0.1", false, []byte(nil))
	f.Add("PUT", "/k.pdf", "", "docs-bucket.s3.amazonaws.com", false, []byte("x"))
	f.Fuzz(func(t *testing.T, method, path, query, host string, sign bool, body []byte) {
		srv := s3.New(s3.Options{MaxObjectBytes: 1 << 10})
		srv.CreateBucket("docs-bucket")
		req, err := http.NewRequest(method, "http://localhost/", bytes.NewReader(body))
		if err != nil {
			return
		}
		req.URL.Path, req.URL.RawQuery, req.Host = path, query, host
		if sign {
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code == 200 && method == "PUT" && !sign {
			t.Fatalf("an unsigned PUT %s succeeded", path)
		}
		if rec.Code >= 400 && method != "HEAD" && !strings.Contains(rec.Body.String(), "<Error><Code>") {
			t.Fatalf("%s %s: %d without an S3 error body: %s", method, path, rec.Code, rec.Body)
		}
	})
}
