package emulator

import (
	"net/http"
	"strings"

	"github.com/concordmp/concord/internal/emulator/catalog"
	"github.com/concordmp/concord/internal/emulator/entitlement"
	"github.com/concordmp/concord/internal/emulator/metering"
)

// buildServices lists the AWS services the emulator answers, each matched on
// what its protocol puts on the wire, so one base URL serves every SDK client.
func (e *Emulator) buildServices() []service {
	cat := catalog.New(e.World)
	catalogPaths := map[string]bool{"/StartChangeSet": true, "/DescribeChangeSet": true, "/ListChangeSets": true,
		"/CancelChangeSet": true, "/DescribeEntity": true, "/ListEntities": true, "/BatchDescribeEntities": true}
	return []service{
		// S3 first: its object keys could end like a Catalog operation.
		{"s3", func(r *http.Request) bool {
			return r.URL.Path == S3Prefix || strings.HasPrefix(r.URL.Path, S3Prefix+"/")
		}, http.StripPrefix(S3Prefix, e.S3)},
		{"metering", target("AWSMPMeteringService."), metering.New(e.World)},
		{"entitlement", func(r *http.Request) bool {
			return target("AWSMPEntitlementService.")(r) || cborService("AWSMPEntitlementService")(r)
		}, entitlement.New(e.World)},
		{"agreement", func(r *http.Request) bool {
			return target("AWSMPCommerceService_v20200301.")(r) || cborService("AWSMPCommerceService_v20200301")(r)
		}, e.Agreements},
		{"sqs", target("AmazonSQS."), e.SQS},
		{"catalog", func(r *http.Request) bool {
			i := strings.LastIndex(r.URL.Path, "/")
			return i >= 0 && catalogPaths[r.URL.Path[i:]]
		}, cat},
	}
}
