package entitlement

import (
	"encoding/json"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/concordmp/concord/internal/emulator/smithyio"
)

// An empty result omits Entitlements, as AWS was observed to answer "{}"
// (boto/boto3#1258); clients must treat a missing list as empty.

// cbor renders the result for RPC v2 CBOR. Timestamps are tag 1 (epoch
// seconds, whole seconds here).
func (o *output) cbor() cbor.Value {
	m := cbor.Map{}
	if len(o.entitlements) > 0 {
		l := make(cbor.List, 0, len(o.entitlements))
		for _, e := range o.entitlements {
			em := cbor.Map{
				"ProductCode":          cbor.String(e.productCode),
				"Dimension":            cbor.String(e.dimension),
				"CustomerAWSAccountId": cbor.String(e.account),
				"LicenseArn":           cbor.String(e.licenseArn),
				"Value":                cbor.Map{"IntegerValue": smithyio.CBORInt(int64(e.value))},
			}
			if e.customerIdentifier != "" {
				em["CustomerIdentifier"] = cbor.String(e.customerIdentifier)
			}
			if e.expiration != nil {
				em["ExpirationDate"] = &cbor.Tag{ID: 1, Value: smithyio.CBORInt(e.expiration.Unix())}
			}
			l = append(l, em)
		}
		m["Entitlements"] = l
	}
	if o.nextToken != "" {
		m["NextToken"] = cbor.String(o.nextToken)
	}
	return m
}

type jsonValue struct {
	IntegerValue int32 `json:"IntegerValue"`
}

type jsonEntitlement struct {
	CustomerAWSAccountID string    `json:"CustomerAWSAccountId"`
	CustomerIdentifier   string    `json:"CustomerIdentifier,omitempty"`
	Dimension            string    `json:"Dimension"`
	ExpirationDate       *int64    `json:"ExpirationDate,omitempty"`
	LicenseArn           string    `json:"LicenseArn"`
	ProductCode          string    `json:"ProductCode"`
	Value                jsonValue `json:"Value"`
}

type jsonOutput struct {
	Entitlements []jsonEntitlement `json:"Entitlements,omitempty"`
	NextToken    string            `json:"NextToken,omitempty"`
}

// json renders the result for AWS JSON 1.1. Timestamps are epoch seconds.
func (o *output) json() []byte {
	var j jsonOutput
	j.NextToken = o.nextToken
	for _, e := range o.entitlements {
		je := jsonEntitlement{CustomerAWSAccountID: e.account, CustomerIdentifier: e.customerIdentifier, Dimension: e.dimension,
			LicenseArn: e.licenseArn, ProductCode: e.productCode, Value: jsonValue{e.value}}
		if e.expiration != nil {
			secs := e.expiration.Unix()
			je.ExpirationDate = &secs
		}
		j.Entitlements = append(j.Entitlements, je)
	}
	b, _ := json.Marshal(j) // only strings and integers: cannot fail
	return b
}
