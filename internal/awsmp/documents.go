package awsmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/concordmp/concord/internal/marketplace"
)

// S3EmulatorPath is where the emulator serves S3 below its base URL
// (emulator.S3Prefix): with an endpoint override, the S3 client goes there.
const S3EmulatorPath = "/s3"

// Documents keeps Concord's consolidated contract documents (custom EULAs,
// reseller agreements) in an S3 bucket, because AWS Marketplace takes a
// custom EULA only as a URL into an accessible Amazon S3 bucket (the
// Agreement API's DocumentItem). It implements offer.DocumentStore.
type Documents struct {
	Client *s3.Client
	Bucket string
}

// NewDocuments builds the adapter over the official S3 client. With an
// endpoint override (the emulator) the client goes to its /s3 path,
// path-style; unsigned (anonymous) configurations sign with placeholder
// credentials there, since S3, like the emulator, refuses unsigned writes.
func NewDocuments(cfg aws.Config, bucket string) *Documents {
	return &Documents{Bucket: bucket, Client: s3.NewFromConfig(cfg, func(o *s3.Options) {
		if cfg.BaseEndpoint != nil {
			o.BaseEndpoint = aws.String(strings.TrimRight(*cfg.BaseEndpoint, "/") + S3EmulatorPath)
			o.UsePathStyle = true
			if cfg.Credentials == nil || aws.IsCredentialsProvider(cfg.Credentials, aws.AnonymousCredentials{}) {
				o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{AccessKeyID: "CONCORDSANDBOX", SecretAccessKey: "sandbox", Source: "concord sandbox"}, nil
				})
			}
		}
	})}
}

// URL is the https URL of an object of the bucket, in the path-style form
// AWS's sample change sets give a custom EULA
// (aws-samples/aws-marketplace-reference-code
// java/resources/changeSets/offers/UpdateEula.json:
// "https://s3.amazonaws.com/sample-bucket/custom-eula.pdf").
func (d *Documents) URL(key string) string {
	return "https://s3.amazonaws.com/" + d.Bucket + "/" + key
}

// Publish stores content under key unless the bucket holds it already, and
// returns its URL. Keys are content-addressed, so an object found under the
// key with the same size is the same document: uploading it again is a no-op
// and a published document never changes. S3's refusals come back coded
// EConflict with S3's code and message.
func (d *Documents) Publish(ctx context.Context, key, contentType string, content []byte) (string, error) {
	head, err := d.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(d.Bucket), Key: aws.String(key)})
	if err == nil && aws.ToInt64(head.ContentLength) == int64(len(content)) {
		return d.URL(key), nil
	}
	if _, missing := errors.AsType[*types.NotFound](err); err != nil && !missing {
		return "", d.s3Error("HeadObject", key, err)
	}
	_, err = d.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(d.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(content), ContentType: aws.String(contentType), ContentLength: aws.Int64(int64(len(content)))})
	if err != nil {
		return "", d.s3Error("PutObject", key, err)
	}
	return d.URL(key), nil
}

// s3Error codes S3's answers (the seller must fix the bucket or its access)
// and wraps transport failures.
func (d *Documents) s3Error(op, key string, err error) error {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return marketplace.Errorf(marketplace.EConflict, "S3 %s s3://%s/%s: %s: %s", op, d.Bucket, key, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("S3 %s s3://%s/%s: %w", op, d.Bucket, key, err)
}
