package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/schemas"
	agtypes "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/concordmp/concord/internal/emulator/world"
)

// agreementProtocols are the two protocols the official SDKs speak to the
// Agreement API: the pinned Go client's RPC v2 CBOR, and AWS JSON 1.0
// (botocore and the other SDKs).
var agreementProtocols = []struct {
	name string
	opt  func(*marketplaceagreement.Options)
}{
	{"rpcv2Cbor", func(*marketplaceagreement.Options) {}},
	{"awsJson1_0", func(o *marketplaceagreement.Options) {
		o.Protocol = awsjson.New10(schemas.AWSMPCommerceService_v20200301)
	}},
}

// rawEvent is an emitted EventBridge event as JSON.
type rawEvent struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// eventsSince returns the EventBridge events emitted after the first n.
func (b *bundle) eventsSince(t *testing.T, n int) []rawEvent {
	t.Helper()
	var evs []world.EmittedEvent
	b.control(t, "GET", "/control/events", nil, &evs)
	var out []rawEvent
	for _, ev := range evs[min(n, len(evs)):] {
		if ev.Kind != "eventbridge" {
			continue
		}
		var r rawEvent
		if err := json.Unmarshal(ev.Body, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (b *bundle) eventCount(t *testing.T) int {
	var evs []world.EmittedEvent
	b.control(t, "GET", "/control/events", nil, &evs)
	return len(evs)
}

// rawAgreementCall posts an AWS JSON 1.0 request as any SDK would, for
// input the Go SDK refuses to send (missing required members).
func (b *bundle) rawAgreementCall(t *testing.T, op string, in map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest("POST", b.srv.URL+"/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "AWSMPCommerceService_v20200301."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func detailTypes(evs []rawEvent) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.DetailType)
	}
	return strings.Join(out, ",")
}

func apiErrorOf[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T), want %T", err, err, target)
	}
	return target
}

func TestCancellationRequestApprovedByTheBuyer(t *testing.T) {
	t.Parallel()
	for _, proto := range agreementProtocols {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			c := marketplaceagreement.NewFromConfig(b.cfg, proto.opt)
			p := b.product(t, false)
			a := b.accept(t, "444455556666", p.ProductID, nil)
			n := b.eventCount(t)

			sent, err := c.SendAgreementCancellationRequest(ctx, &marketplaceagreement.SendAgreementCancellationRequestInput{
				AgreementId: &a.AgreementID, ReasonCode: agtypes.AgreementCancellationRequestReasonCodeTestAgreement,
				Description: aws.String("a test purchase"), ClientToken: aws.String("tok-1")})
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(sent.AgreementCancellationRequestId)
			if !strings.HasPrefix(id, "acr-") || sent.Status != agtypes.AgreementCancellationRequestStatusPendingApproval ||
				aws.ToString(sent.AgreementId) != a.AgreementID || aws.ToString(sent.Description) != "a test purchase" || sent.CreatedAt == nil {
				t.Fatalf("sent %+v", sent)
			}
			// The same client token is the same request, not a second one.
			again, err := c.SendAgreementCancellationRequest(ctx, &marketplaceagreement.SendAgreementCancellationRequestInput{
				AgreementId: &a.AgreementID, ReasonCode: agtypes.AgreementCancellationRequestReasonCodeTestAgreement,
				Description: aws.String("a test purchase"), ClientToken: aws.String("tok-1")})
			if err != nil || aws.ToString(again.AgreementCancellationRequestId) != id {
				t.Fatalf("resend with the same client token: %v %+v", err, again)
			}
			// Another request while one is pending is a conflict.
			_, err = c.SendAgreementCancellationRequest(ctx, &marketplaceagreement.SendAgreementCancellationRequestInput{
				AgreementId: &a.AgreementID, ReasonCode: agtypes.AgreementCancellationRequestReasonCodeOther})
			if ce := apiErrorOf[*agtypes.ConflictException](t, err); aws.ToString(ce.ResourceId) != id || ce.ResourceType != agtypes.ResourceTypeAgreementCancellationRequest {
				t.Fatalf("conflict %+v", ce)
			}

			got, err := c.GetAgreementCancellationRequest(ctx, &marketplaceagreement.GetAgreementCancellationRequestInput{
				AgreementId: &a.AgreementID, AgreementCancellationRequestId: &id})
			if err != nil || got.Status != agtypes.AgreementCancellationRequestStatusPendingApproval || got.ReasonCode != agtypes.AgreementCancellationRequestReasonCodeTestAgreement {
				t.Fatalf("get: %v %+v", err, got)
			}
			list, err := c.ListAgreementCancellationRequests(ctx, &marketplaceagreement.ListAgreementCancellationRequestsInput{
				PartyType: aws.String("Proposer"), AgreementId: &a.AgreementID})
			if err != nil || len(list.Items) != 1 || aws.ToString(list.Items[0].AgreementCancellationRequestId) != id ||
				aws.ToString(list.Items[0].Catalog) != "AWSMarketplace" || aws.ToString(list.Items[0].AgreementType) != "PurchaseAgreement" {
				t.Fatalf("list: %v %+v", err, list)
			}

			// The buyer approves: the agreement ends as CANCELLED.
			acc, err := c.AcceptAgreementCancellationRequest(ctx, &marketplaceagreement.AcceptAgreementCancellationRequestInput{
				AgreementId: &a.AgreementID, AgreementCancellationRequestId: &id})
			if err != nil || acc.Status != agtypes.AgreementCancellationRequestStatusApproved || !acc.UpdatedAt.After(*acc.CreatedAt) && !acc.UpdatedAt.Equal(*acc.CreatedAt) {
				t.Fatalf("accept: %v %+v", err, acc)
			}
			if st := b.describe(t, a.AgreementID).Status; st != agtypes.AgreementStatusCancelled {
				t.Fatalf("agreement after approval: %s", st)
			}
			_, err = c.AcceptAgreementCancellationRequest(ctx, &marketplaceagreement.AcceptAgreementCancellationRequestInput{
				AgreementId: &a.AgreementID, AgreementCancellationRequestId: &id})
			apiErrorOf[*agtypes.ConflictException](t, err)

			evs := b.eventsSince(t, n)
			if got := detailTypes(evs); got != "Agreement Cancellation Request Pending Approval - Proposer,Agreement Cancellation Request Approved - Proposer,Purchase Agreement Ended - Proposer" {
				t.Fatalf("events: %s", got)
			}
			var d struct {
				Agreement                    struct{ ID, AcceptorID, ProductID, OfferID string }
				AgreementCancellationRequest struct {
					ID, ReasonCode, ReasonMessage, StatusCode string
					CreatedAt, UpdatedAt                      string
				}
			}
			if err := json.Unmarshal(evs[1].Detail, &d); err != nil {
				t.Fatal(err)
			}
			if evs[1].Resources == nil || len(evs[1].Resources) != 0 || evs[1].Source != "aws.agreement-marketplace" ||
				d.Agreement.ID != a.AgreementID || d.Agreement.AcceptorID != "444455556666" || d.Agreement.ProductID != p.ProductID || d.Agreement.OfferID != p.PublicOfferID ||
				d.AgreementCancellationRequest.ID != id || d.AgreementCancellationRequest.StatusCode != "APPROVED" ||
				d.AgreementCancellationRequest.ReasonCode != "TEST_AGREEMENT" || d.AgreementCancellationRequest.ReasonMessage != "a test purchase" {
				t.Fatalf("approved event: %+v %s", evs[1], evs[1].Detail)
			}
			if !strings.Contains(string(evs[2].Detail), `"CANCELLED"`) {
				t.Fatalf("ended event: %s", evs[2].Detail)
			}

			// The entitlement stays through the final metering window, then is revoked.
			ents, err := c.GetAgreementEntitlements(ctx, &marketplaceagreement.GetAgreementEntitlementsInput{AgreementId: &a.AgreementID})
			if err != nil || len(ents.AgreementEntitlements) != 1 || ents.AgreementEntitlements[0].Status != agtypes.AgreementEntitlementStatusProvisioned ||
				ents.AgreementEntitlements[0].StatusReasonCode != agtypes.AgreementEntitlementStatusReasonCodeAgreementInactive ||
				aws.ToString(ents.AgreementEntitlements[0].LicenseArn) != a.LicenseArn {
				t.Fatalf("entitlements in the final window: %v %+v", err, ents)
			}
			b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "2h"}, &struct{}{})
			if got := detailTypes(b.eventsSince(t, n)); !strings.HasSuffix(got, "License Deprovisioned - Manufacturer") {
				t.Fatalf("after the final window: %s", got)
			}
			ents, err = c.GetAgreementEntitlements(ctx, &marketplaceagreement.GetAgreementEntitlementsInput{AgreementId: &a.AgreementID})
			if err != nil || ents.AgreementEntitlements[0].Status != agtypes.AgreementEntitlementStatusDeprovisioned {
				t.Fatalf("entitlements after the window: %v %+v", err, ents)
			}
			// An agreement that is not active cannot be cancelled again.
			_, err = c.SendAgreementCancellationRequest(ctx, &marketplaceagreement.SendAgreementCancellationRequestInput{
				AgreementId: &a.AgreementID, ReasonCode: agtypes.AgreementCancellationRequestReasonCodeOther})
			if ve := apiErrorOf[*agtypes.ValidationException](t, err); ve.Reason != agtypes.ValidationExceptionReasonInactiveAgreement {
				t.Fatalf("inactive agreement: %+v", ve)
			}
		})
	}
}

func (b *bundle) sendCancellation(t *testing.T, agreementID string) string {
	t.Helper()
	out, err := marketplaceagreement.NewFromConfig(b.cfg).SendAgreementCancellationRequest(context.Background(),
		&marketplaceagreement.SendAgreementCancellationRequestInput{AgreementId: &agreementID, ReasonCode: agtypes.AgreementCancellationRequestReasonCodeBuyerDissatisfaction})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.AgreementCancellationRequestId)
}

func (b *bundle) getCancellation(t *testing.T, agreementID, id string) *marketplaceagreement.GetAgreementCancellationRequestOutput {
	t.Helper()
	out, err := marketplaceagreement.NewFromConfig(b.cfg).GetAgreementCancellationRequest(context.Background(),
		&marketplaceagreement.GetAgreementCancellationRequestInput{AgreementId: &agreementID, AgreementCancellationRequestId: &id})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCancellationRequestRejectedWithdrawnAutoApprovedFailed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	c := marketplaceagreement.NewFromConfig(b.cfg)
	ctx := context.Background()

	t.Run("the buyer rejects it through the control API", func(t *testing.T) {
		a := b.accept(t, "444455556661", p.ProductID, nil)
		id := b.sendCancellation(t, a.AgreementID)
		n := b.eventCount(t)
		if code := b.control(t, "POST", "/control/cancellation-requests/"+id+"/reject", map[string]any{}, nil); code != 400 {
			t.Fatalf("reject without a reason: %d", code)
		}
		b.control(t, "POST", "/control/cancellation-requests/"+id+"/reject", map[string]any{"reason": "we still use it"}, &struct{}{})
		got := b.getCancellation(t, a.AgreementID, id)
		if got.Status != agtypes.AgreementCancellationRequestStatusRejected || aws.ToString(got.StatusMessage) != "we still use it" {
			t.Fatalf("rejected: %+v", got)
		}
		if st := b.describe(t, a.AgreementID).Status; st != agtypes.AgreementStatusActive {
			t.Fatalf("a rejected request ended the agreement: %s", st)
		}
		if got := detailTypes(b.eventsSince(t, n)); got != "Agreement Cancellation Request Rejected - Proposer" {
			t.Fatalf("events: %s", got)
		}
		// Once answered, a new request may be sent.
		b.sendCancellation(t, a.AgreementID)
	})

	t.Run("the seller withdraws it", func(t *testing.T) {
		a := b.accept(t, "444455556662", p.ProductID, nil)
		id := b.sendCancellation(t, a.AgreementID)
		// The SDK refuses a missing reason before sending; the service does too.
		status, body := b.rawAgreementCall(t, "CancelAgreementCancellationRequest", map[string]any{"agreementId": a.AgreementID, "agreementCancellationRequestId": id})
		if status != 400 || body["__type"] != "ValidationException" || body["reason"] != "MISSING_REASON" {
			t.Fatalf("withdraw without a reason: %d %v", status, body)
		}
		out, err := c.CancelAgreementCancellationRequest(ctx, &marketplaceagreement.CancelAgreementCancellationRequestInput{
			AgreementId: &a.AgreementID, AgreementCancellationRequestId: &id, CancellationReason: aws.String("sent by mistake")})
		if err != nil || out.Status != agtypes.AgreementCancellationRequestStatusCancelled || aws.ToString(out.StatusMessage) != "sent by mistake" {
			t.Fatalf("withdraw: %v %+v", err, out)
		}
		if code := b.control(t, "POST", "/control/cancellation-requests/"+id+"/approve", nil, nil); code != 409 {
			t.Fatalf("approving a withdrawn request: %d", code)
		}
	})

	t.Run("the buyer does not answer within 7 days", func(t *testing.T) {
		// A product of its own on a world of its own: the clock moves.
		b := setup(t)
		p := b.product(t, false)
		a := b.accept(t, "444455556663", p.ProductID, nil)
		id := b.sendCancellation(t, a.AgreementID)
		b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": (7*24*time.Hour - time.Minute).String()}, &struct{}{})
		if st := b.getCancellation(t, a.AgreementID, id).Status; st != agtypes.AgreementCancellationRequestStatusPendingApproval {
			t.Fatalf("before the deadline: %s", st)
		}
		n := b.eventCount(t)
		b.control(t, "POST", "/control/clock/advance", map[string]any{"duration": "2m"}, &struct{}{})
		if st := b.getCancellation(t, a.AgreementID, id).Status; st != agtypes.AgreementCancellationRequestStatusApproved {
			t.Fatalf("after the deadline: %s", st)
		}
		if st := b.describe(t, a.AgreementID).Status; st != agtypes.AgreementStatusCancelled {
			t.Fatalf("agreement after auto-approval: %s", st)
		}
		if got := detailTypes(b.eventsSince(t, n)); got != "Agreement Cancellation Request Approved - Proposer,Purchase Agreement Ended - Proposer" {
			t.Fatalf("events: %s", got)
		}
	})

	t.Run("a forced validation failure", func(t *testing.T) {
		a := b.accept(t, "444455556664", p.ProductID, nil)
		if code := b.control(t, "POST", "/control/fail-next", map[string]any{"kind": "nonsense"}, nil); code != 400 {
			t.Fatalf("unknown kind: %d", code)
		}
		b.control(t, "POST", "/control/fail-next", map[string]any{"kind": "cancellationRequest", "message": "agreement is not cancellable"}, &struct{}{})
		n := b.eventCount(t)
		id := b.sendCancellation(t, a.AgreementID)
		got := b.getCancellation(t, a.AgreementID, id)
		if got.Status != agtypes.AgreementCancellationRequestStatusValidationFailed || aws.ToString(got.StatusMessage) != "agreement is not cancellable" {
			t.Fatalf("forced failure: %+v", got)
		}
		if got := detailTypes(b.eventsSince(t, n)); got != "Agreement Cancellation Request Pending Approval - Proposer,Agreement Cancellation Request Validation Failed - Proposer" {
			t.Fatalf("events: %s", got)
		}
		// Only the next request fails.
		id2 := b.sendCancellation(t, a.AgreementID)
		if st := b.getCancellation(t, a.AgreementID, id2).Status; st != agtypes.AgreementCancellationRequestStatusPendingApproval {
			t.Fatalf("the request after: %s", st)
		}
	})
}

func TestCancellationRequestBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a := b.accept(t, "444455556666", p.ProductID, nil)
	id := b.sendCancellation(t, a.AgreementID)
	other := b.accept(t, "444455556667", p.ProductID, nil)
	ctx := context.Background()
	for _, proto := range agreementProtocols {
		c := marketplaceagreement.NewFromConfig(b.cfg, proto.opt)
		validation := func(name string, err error, reason agtypes.ValidationExceptionReason) {
			t.Helper()
			var ve *agtypes.ValidationException
			if !errors.As(err, &ve) || ve.Reason != reason {
				t.Errorf("%s %s: %v, want ValidationException %s", proto.name, name, err, reason)
			}
		}
		notFound := func(name string, err error, rt agtypes.ResourceType) {
			t.Helper()
			var nf *agtypes.ResourceNotFoundException
			if !errors.As(err, &nf) || nf.ResourceType != rt {
				t.Errorf("%s %s: %v, want ResourceNotFoundException %s", proto.name, name, err, rt)
			}
		}
		send := func(in marketplaceagreement.SendAgreementCancellationRequestInput) error {
			_, err := c.SendAgreementCancellationRequest(ctx, &in)
			return err
		}
		validation("unknown reason code", send(marketplaceagreement.SendAgreementCancellationRequestInput{AgreementId: &other.AgreementID, ReasonCode: "BORED"}),
			agtypes.ValidationExceptionReasonInvalidReasonCode)
		validation("description too long", send(marketplaceagreement.SendAgreementCancellationRequestInput{AgreementId: &other.AgreementID,
			ReasonCode: "OTHER", Description: aws.String(strings.Repeat("x", 2001))}), agtypes.ValidationExceptionReasonInvalidDescription)
		validation("bad client token", send(marketplaceagreement.SendAgreementCancellationRequestInput{AgreementId: &other.AgreementID,
			ReasonCode: "OTHER", ClientToken: aws.String("no spaces")}), agtypes.ValidationExceptionReasonInvalidClientToken)
		validation("bad agreement id", send(marketplaceagreement.SendAgreementCancellationRequestInput{AgreementId: aws.String("agmt bad"), ReasonCode: "OTHER"}),
			agtypes.ValidationExceptionReasonInvalidAgreementId)
		notFound("unknown agreement", send(marketplaceagreement.SendAgreementCancellationRequestInput{AgreementId: aws.String("agmt-nope"), ReasonCode: "OTHER"}),
			agtypes.ResourceTypeAgreement)

		_, err := c.GetAgreementCancellationRequest(ctx, &marketplaceagreement.GetAgreementCancellationRequestInput{AgreementId: &a.AgreementID, AgreementCancellationRequestId: aws.String("nope")})
		validation("bad request id", err, agtypes.ValidationExceptionReasonInvalidAgreementCancellationRequestId)
		_, err = c.GetAgreementCancellationRequest(ctx, &marketplaceagreement.GetAgreementCancellationRequestInput{AgreementId: &other.AgreementID, AgreementCancellationRequestId: &id})
		notFound("another agreement's request", err, agtypes.ResourceTypeAgreementCancellationRequest)
		_, err = c.RejectAgreementCancellationRequest(ctx, &marketplaceagreement.RejectAgreementCancellationRequestInput{AgreementId: &a.AgreementID,
			AgreementCancellationRequestId: &id, RejectionReason: aws.String(strings.Repeat("y", 2001))})
		validation("rejection reason too long", err, agtypes.ValidationExceptionReasonInvalidRejectionReason)
		if status, body := b.rawAgreementCall(t, "ListAgreementCancellationRequests", map[string]any{}); status != 400 || body["reason"] != "MISSING_PARTY_TYPE" {
			t.Errorf("no party type: %d %v", status, body)
		}
		_, err = c.ListAgreementCancellationRequests(ctx, &marketplaceagreement.ListAgreementCancellationRequestsInput{PartyType: aws.String("Proposer"), Status: "DONE"})
		validation("unknown status", err, agtypes.ValidationExceptionReasonInvalidStatus)
		_, err = c.GetAgreementEntitlements(ctx, &marketplaceagreement.GetAgreementEntitlementsInput{AgreementId: aws.String("agmt-nope")})
		notFound("entitlements of an unknown agreement", err, agtypes.ResourceTypeAgreement)
	}
	// Nothing changed: the one request is still pending, the other agreement has none.
	if st := b.getCancellation(t, a.AgreementID, id).Status; st != agtypes.AgreementCancellationRequestStatusPendingApproval {
		t.Fatalf("after bad input: %s", st)
	}
	list, err := marketplaceagreement.NewFromConfig(b.cfg).ListAgreementCancellationRequests(ctx, &marketplaceagreement.ListAgreementCancellationRequestsInput{
		PartyType: aws.String("Proposer"), AgreementId: &other.AgreementID})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("bad input made a request: %v %+v", err, list)
	}
}

func TestListCancellationRequestsPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	var want []string
	for i := range 5 {
		a := b.accept(t, "44445555666"+string(rune('0'+i)), p.ProductID, nil)
		want = append(want, b.sendCancellation(t, a.AgreementID))
	}
	pages := marketplaceagreement.NewListAgreementCancellationRequestsPaginator(marketplaceagreement.NewFromConfig(b.cfg),
		&marketplaceagreement.ListAgreementCancellationRequestsInput{PartyType: aws.String("Proposer"), MaxResults: aws.Int32(2),
			Status: agtypes.AgreementCancellationRequestStatusPendingApproval})
	var got []string
	n := 0
	for pages.HasMorePages() {
		out, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, it := range out.Items {
			got = append(got, aws.ToString(it.AgreementCancellationRequestId))
		}
	}
	if n != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d pages %v, want 3 pages %v (oldest first)", n, got, want)
	}
}

func TestCancellationRequestsSurviveRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.product(t, false)
	a := b.accept(t, "444455556666", p.ProductID, nil)
	id := b.sendCancellation(t, a.AgreementID)
	snap, err := b.emu.World.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restore := func(body []byte) int {
		other := setup(t)
		req, _ := http.NewRequest("PUT", other.srv.URL+"/control/state", bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			if st := other.getCancellation(t, a.AgreementID, id).Status; st != agtypes.AgreementCancellationRequestStatusPendingApproval {
				t.Fatalf("restored request: %s", st)
			}
		}
		return resp.StatusCode
	}
	if code := restore(snap); code != 200 {
		t.Fatalf("restore: %d", code)
	}
	var m map[string]any
	json.Unmarshal(snap, &m)
	crs := m["cancellationRequests"].(map[string]any)
	cr := crs[id].(map[string]any)
	for name, change := range map[string]func(){
		"unknown agreement": func() { cr["agreementId"] = "agmt-gone" },
		"unknown status":    func() { cr["status"] = "MAYBE" },
		"unknown reason":    func() { cr["reasonCode"] = "BORED" },
		"failNext kind":     func() { m["failNext"] = map[string]any{"everything": "x"} },
	} {
		saved, _ := json.Marshal(m)
		change()
		bad, _ := json.Marshal(m)
		if code := restore(bad); code != 400 {
			t.Errorf("%s: restore %d, want 400", name, code)
		}
		m = nil
		json.Unmarshal(saved, &m)
		cr = m["cancellationRequests"].(map[string]any)[id].(map[string]any)
	}
	// A state file written before cancellation requests existed still loads.
	delete(m, "cancellationRequests")
	old, _ := json.Marshal(m)
	other := setup(t)
	req, _ := http.NewRequest("PUT", other.srv.URL+"/control/state", bytes.NewReader(old))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("an older snapshot: %v %v", err, resp.Status)
	}
}
