// Package awsmp is the only package that imports AWS service clients. It adapts
// the official AWS SDK for Go v2 clients (Agreement API, SQS, and later Metering,
// Entitlement and Catalog) to the small interfaces the rest of Concord defines, and
// points them at real AWS or at the built-in emulator.
package awsmp

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Config says how to reach AWS.
type Config struct {
	// Region defaults to us-east-1, where AWS Marketplace events are delivered.
	Region string
	// Endpoint, when set, sends every client to this base URL (the emulator).
	Endpoint string
	// Anonymous skips credentials and signing (the emulator needs neither).
	Anonymous bool
}

// Load builds an aws.Config from the environment (credentials chain, region) and cfg.
func Load(ctx context.Context, cfg Config) (aws.Config, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	if cfg.Endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(cfg.Endpoint))
	}
	if cfg.Anonymous {
		opts = append(opts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	}
	c, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return c, nil
}
