package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/concordmp/concord/internal/emulator/s3"
)

type bundle struct {
	srv    *s3.Server
	url    string
	client *awss3.Client // signed, path-style
}

func setup(t *testing.T, o s3.Options) *bundle {
	t.Helper()
	srv := s3.New(o)
	if err := srv.CreateBucket("docs-bucket"); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &bundle{srv: srv, url: ts.URL, client: client(ts.URL, true, true)}
}

// client is the official S3 client pointed at the emulator; virtual-hosted
// requests (bucket.127.0.0.1.nip) are dialled to the test server.
func client(endpoint string, pathStyle, sign bool) *awss3.Client {
	addr := strings.TrimPrefix(endpoint, "http://")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	cfg := aws.Config{Region: "us-east-1", HTTPClient: hc, Credentials: aws.AnonymousCredentials{}}
	if sign {
		cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		})
	}
	base := endpoint
	if !pathStyle {
		// A host name, so the SDK puts the bucket in front of it.
		base = "http://emulator.test:" + addr[strings.LastIndex(addr, ":")+1:]
	}
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.BaseEndpoint = aws.String(base)
		o.UsePathStyle = pathStyle
	})
}

func put(t *testing.T, c *awss3.Client, bucket, key string, body []byte) error {
	t.Helper()
	_, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/pdf")})
	return err
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestObjects(t *testing.T) {
	t.Parallel()
	pdf := []byte("%PDF-1.7\n" + strings.Repeat("terms ", 5000))

	t.Run("PutGetHead", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{})
		if err := put(t, b.client, "docs-bucket", "concord/documents/abc/eula.pdf", pdf); err != nil {
			t.Fatal(err)
		}
		out, err := b.client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("docs-bucket"), Key: aws.String("concord/documents/abc/eula.pdf")})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, pdf) || aws.ToString(out.ContentType) != "application/pdf" {
			t.Fatalf("GetObject: %d bytes of %s", len(got), aws.ToString(out.ContentType))
		}
		head, err := b.client.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String("docs-bucket"), Key: aws.String("concord/documents/abc/eula.pdf")})
		if err != nil {
			t.Fatal(err)
		}
		stored, ok := b.srv.Object("docs-bucket", "concord/documents/abc/eula.pdf")
		if !ok || aws.ToInt64(head.ContentLength) != int64(len(pdf)) || aws.ToString(head.ETag) != stored.ETag || !bytes.Equal(stored.Content, pdf) {
			t.Fatalf("HeadObject: %d %s; stored %v %s", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), ok, stored.ETag)
		}
	})

	t.Run("VirtualHosted", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{})
		vc := client(b.url, false, true)
		if err := put(t, vc, "docs-bucket", "a/b.pdf", pdf); err != nil {
			t.Fatal(err)
		}
		if _, ok := b.srv.Object("docs-bucket", "a/b.pdf"); !ok {
			t.Fatal("the virtual-hosted PutObject stored nothing under docs-bucket/a/b.pdf")
		}
		if _, err := vc.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String("docs-bucket"), Key: aws.String("a/b.pdf")}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrNoSuchKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{})
		_, err := b.client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("docs-bucket"), Key: aws.String("missing.pdf")})
		if _, ok := errors.AsType[*types.NoSuchKey](err); !ok {
			t.Fatalf("GetObject of a missing key: %v", err)
		}
		_, err = b.client.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String("docs-bucket"), Key: aws.String("missing.pdf")})
		if _, ok := errors.AsType[*types.NotFound](err); !ok {
			t.Fatalf("HeadObject of a missing key: %v", err)
		}
	})

	t.Run("ErrNoSuchBucket", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{})
		if err := put(t, b.client, "other-bucket", "k.pdf", pdf); code(err) != "NoSuchBucket" {
			t.Fatalf("PutObject into an unknown bucket: %v", err)
		}
		_, err := b.client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("other-bucket"), Key: aws.String("k.pdf")})
		if code(err) != "NoSuchBucket" {
			t.Fatalf("GetObject from an unknown bucket: %v", err)
		}
	})

	t.Run("ErrUnsignedWrite", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{})
		if err := put(t, client(b.url, true, false), "docs-bucket", "k.pdf", pdf); code(err) != "AccessDenied" {
			t.Fatalf("an unsigned PutObject: %v", err)
		}
		if _, ok := b.srv.Object("docs-bucket", "k.pdf"); ok {
			t.Fatal("the unsigned PutObject stored the object")
		}
		// Reads need no signature: AWS Marketplace fetches the document.
		put(t, b.client, "docs-bucket", "k.pdf", pdf)
		if _, err := client(b.url, true, false).GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("docs-bucket"), Key: aws.String("k.pdf")}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrTooLarge", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{MaxObjectBytes: 1000, MaxTotalBytes: 1500})
		if err := put(t, b.client, "docs-bucket", "big.pdf", pdf); code(err) != "EntityTooLarge" {
			t.Fatalf("an object over the cap: %v", err)
		}
		if err := put(t, b.client, "docs-bucket", "a.pdf", pdf[:900]); err != nil {
			t.Fatal(err)
		}
		if err := put(t, b.client, "docs-bucket", "b.pdf", pdf[:900]); code(err) != "EntityTooLarge" {
			t.Fatalf("an object over the total cap: %v", err)
		}
		if err := put(t, b.client, "docs-bucket", "a.pdf", pdf[:950]); err != nil {
			t.Fatalf("replacing an object counts its old size out: %v", err)
		}
	})

	t.Run("ErrFault", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{Fault: func(op string) *s3.Error {
			if op == "PutObject" {
				return s3.ErrInternal
			}
			return nil
		}})
		if err := put(t, b.client, "docs-bucket", "k.pdf", pdf); code(err) != "InternalError" {
			t.Fatalf("an injected fault: %v", err)
		}
	})

	t.Run("ErrBadDigest", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{})
		req, _ := http.NewRequest("PUT", b.url+"/docs-bucket/k.pdf", strings.NewReader("content"))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
		req.Header.Set("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==") // the MD5 of nothing
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>BadDigest</Code>") {
			t.Fatalf("a wrong Content-MD5: %d %s", resp.StatusCode, body)
		}
		if _, ok := b.srv.Object("docs-bucket", "k.pdf"); ok {
			t.Fatal("the object was stored")
		}
	})

	t.Run("ErrNotImplemented", func(t *testing.T) {
		t.Parallel()
		b := setup(t, s3.Options{})
		_, err := b.client.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: aws.String("docs-bucket")})
		if code(err) != "NotImplemented" {
			t.Fatalf("ListObjectsV2: %v", err)
		}
	})
}

func TestObjectAtURL(t *testing.T) {
	t.Parallel()
	srv := s3.New(s3.Options{})
	srv.CreateBucket("docs-bucket")
	req := httptest.NewRequest("PUT", "/docs-bucket/concord/documents/x/eula.pdf", strings.NewReader("%PDF-"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("put: %d %s", rec.Code, rec.Body)
	}
	for _, u := range []string{
		s3.URL("docs-bucket", "concord/documents/x/eula.pdf"),
		"https://docs-bucket.s3.amazonaws.com/concord/documents/x/eula.pdf",
		"https://docs-bucket.s3.us-west-2.amazonaws.com/concord/documents/x/eula.pdf",
		"https://s3.eu-west-1.amazonaws.com/docs-bucket/concord/documents/x/eula.pdf",
	} {
		if o, ok := srv.ObjectAtURL(u); !ok || string(o.Content) != "%PDF-" {
			t.Errorf("ObjectAtURL(%s): %v", u, ok)
		}
	}
	for _, u := range []string{
		"https://s3.amazonaws.com/docs-bucket/concord/documents/x/other.pdf",
		"https://example.com/docs-bucket/concord/documents/x/eula.pdf",
		"https://s3.amazonaws.com/docs-bucket/",
		"ftp://s3.amazonaws.com/docs-bucket/concord/documents/x/eula.pdf",
		"https://s3.amazonaws.com/docs-bucket/concord/documents/x/eula.pdf?versionId=1",
	} {
		if _, ok := srv.ObjectAtURL(u); ok {
			t.Errorf("ObjectAtURL(%s) found an object", u)
		}
	}
}
