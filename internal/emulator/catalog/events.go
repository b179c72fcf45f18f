package catalog

import (
	"encoding/json"

	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/emulator/world"
)

// withResources sets the envelope's resources, which eventbridge.Custom
// leaves empty.
func withResources(body []byte, resources ...string) []byte {
	var env map[string]json.RawMessage
	if json.Unmarshal(body, &env) != nil {
		return body
	}
	env["resources"], _ = json.Marshal(resources)
	out, err := json.Marshal(env)
	if err != nil {
		return body
	}
	return out
}

// emitChangeSetEvent emits "Change Set Succeeded", "Change Set Failed" or
// "Change Set Cancelled" for a change set in a terminal state. As AWS
// documents, the detail uses PascalCase keys besides requestId.
func emitChangeSetEvent(s *world.State, cs *world.ChangeSet) {
	var detailType string
	switch cs.Status {
	case StatusSucceeded:
		detailType = "Change Set Succeeded"
	case StatusFailed:
		detailType = "Change Set Failed"
	case StatusCancelled:
		detailType = "Change Set Cancelled"
	default:
		return
	}
	detail := map[string]any{"Catalog": CatalogName, "ChangeSetId": cs.ID, "ChangeSetName": cs.Name, "StartTime": isoTime(cs.StartTime)}
	if cs.EndTime != nil {
		detail["EndTime"] = isoTime(*cs.EndTime)
	}
	if cs.Status == StatusFailed {
		detail["FailureCode"] = cs.FailureCode
	}
	body := eventbridge.Custom(detailType, Source, s.Config.SellerAccountID, s.Now(), detail)
	s.Emit(withResources(body, changeSetArn(s, cs.ID)))
}

// emitOfferReleased emits "Offer Released" to the seller (the manufacturer).
func emitOfferReleased(s *world.State, o *world.Offer) {
	if o == nil {
		return
	}
	product := map[string]any{"id": o.ProductID, "arn": nil, "title": nil}
	if p := s.Products[o.ProductID]; p != nil {
		product["arn"], product["title"] = productArn(s, p), p.Title
	}
	var expiration any
	if o.ExpirationDate != nil {
		expiration = o.ExpirationDate.UTC().Format(isoSeconds)
	}
	buyers := o.BuyerAccounts
	if buyers == nil {
		buyers = []string{}
	}
	arn := offerArn(s, o)
	detail := map[string]any{
		"catalog":                 CatalogName,
		"offer":                   map[string]any{"id": o.OfferID, "arn": arn, "name": o.Name, "expirationDate": expiration},
		"product":                 product,
		"manufacturer":            map[string]any{"accountId": s.Config.SellerAccountID, "name": nil},
		"sellerOfRecord":          map[string]any{"accountId": o.ProposerAccountID, "name": nil},
		"targetedBuyerAccountIds": buyers,
	}
	if o.ResaleAuthorizationID != "" {
		detail["resaleAuthorization"] = map[string]any{"id": o.ResaleAuthorizationID}
	}
	body := eventbridge.Custom("Offer Released", Source, s.Config.SellerAccountID, s.Now(), detail)
	s.Emit(withResources(body, arn))
}
