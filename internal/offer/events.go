package offer

// This file follows offers through the marketplace's own events: a
// channel partner's offer released from a partner offer (Offer Released),
// and the end of a change set (Change Set Succeeded/Failed/Cancelled), which
// saves waiting for the next poll.

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// offerReleased is the part of an Offer Released event Concord reads.
type offerReleased struct {
	Detail struct {
		Offer struct {
			ID string `json:"id"`
		} `json:"offer"`
		Product struct {
			ID string `json:"id"`
		} `json:"product"`
		Manufacturer struct {
			AccountID string `json:"accountId"`
		} `json:"manufacturer"`
		SellerOfRecord struct {
			AccountID string `json:"accountId"`
		} `json:"sellerOfRecord"`
		TargetedBuyerAccountIDs []string `json:"targetedBuyerAccountIds"`
		// ResaleAuthorization is not in AWS's documented schema; used when
		// present.
		ResaleAuthorization struct {
			ID string `json:"id"`
		} `json:"resaleAuthorization"`
	} `json:"detail"`
}

type changeSetEvent struct {
	Detail struct {
		ChangeSetID string `json:"ChangeSetId"`
	} `json:"detail"`
}

// EventHook is an inbox.EventHook.
func (s *Service) EventHook(ctx context.Context, tx *store.Tx, ev marketplace.Event, now time.Time) error {
	if ev.Source != marketplace.SourceCatalog {
		return nil
	}
	switch ev.DetailType {
	case "Offer Released":
		var e offerReleased
		if json.Unmarshal(ev.Body, &e) != nil {
			return nil
		}
		d := e.Detail
		// A partner's offer: the seller of record is not the manufacturer.
		if d.Offer.ID == "" || d.SellerOfRecord.AccountID == "" || d.SellerOfRecord.AccountID == d.Manufacturer.AccountID {
			return nil
		}
		return s.partnerOfferSeen(ctx, tx, partnerMatch{productID: d.Product.ID, buyers: d.TargetedBuyerAccountIDs,
			partner: d.SellerOfRecord.AccountID, resaleAuthorizationID: d.ResaleAuthorization.ID}, d.Offer.ID, now,
			"offer "+d.Offer.ID+" (from the Offer Released event)")
	case "Change Set Succeeded", "Change Set Failed", "Change Set Cancelled":
		var e changeSetEvent
		if json.Unmarshal(ev.Body, &e) != nil || e.Detail.ChangeSetID == "" {
			return nil
		}
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM offers WHERE change_set_id = ? AND state IN ('submitted', 'cancelling')`, e.Detail.ChangeSetID).Scan(&id)
		if err != nil {
			return nil // not one of ours, or already tracked to its end
		}
		_, _, err = job.Enqueue(ctx, tx, now, JobTrack, jobArgs{id}, job.Options{UniqueKey: "offer-track:" + id, RunAt: now})
		return err
	}
	return nil
}

// partnerMatch describes a channel partner's offer to find the partner
// offer it came from.
type partnerMatch struct {
	productID, partner, resaleAuthorizationID string
	buyers                                    []string
}

// findPartnerOffer finds the one partner offer whose partner's offer id is
// not known yet and that m matches: by resale authorization, else by
// product, buyer and partner account (which also finds a partner offer
// associated by its CPPO opportunity id alone). Zero or several matches find
// nothing.
func findPartnerOffer(ctx context.Context, tx *store.Tx, m partnerMatch) (Offer, bool, error) {
	q := `SELECT ` + offerColumns + ` FROM offers
		WHERE type = 'partner' AND offer_id IS NULL AND state IN ('published', 'cancelling', 'expired') AND product_id = ?`
	if tx.Dialect() == store.Postgres {
		// The ledger's hooks call this READ COMMITTED (inbox's projector):
		// the row locks make the caller's update of the offer found here
		// wait for, and see, a concurrent change of it (a cancel), and make
		// a SERIALIZABLE caller retry if one committed since its snapshot.
		q += ` FOR UPDATE`
	}
	cands, err := store.QueryAll(ctx, tx, scanOffer, q, m.productID)
	if err != nil {
		return Offer{}, false, err
	}
	var found []Offer
	for _, o := range cands {
		if m.resaleAuthorizationID != "" && o.ResaleAuthorizationID == m.resaleAuthorizationID {
			return o, true, nil
		}
		if o.Metadata[MetaPartnerAccount] == m.partner && slices.Contains(m.buyers, o.Metadata[MetaBuyerAccount]) &&
			(m.resaleAuthorizationID == "" || o.ResaleAuthorizationID == "") {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		return Offer{}, false, nil
	}
	return found[0], true, nil
}

// partnerOfferSeen attaches a partner's offer id to the partner offer it
// came from: the offer is extended, and accepted at once if the buyer
// already accepted it.
func (s *Service) partnerOfferSeen(ctx context.Context, tx *store.Tx, m partnerMatch, offerID string, now time.Time, msg string) error {
	var other string
	if err := tx.QueryRow(ctx, `SELECT id FROM offers WHERE offer_id = ?`, offerID).Scan(&other); err == nil {
		return nil // tracked already
	}
	o, ok, err := findPartnerOffer(ctx, tx, m)
	if err != nil || !ok {
		return err
	}
	if err := s.partnerOfferID(ctx, tx, o.ID, offerID, StateExtended, "partner offer extended", msg, now); err != nil {
		return err
	}
	return s.matchAccepted(ctx, tx, o.ID, offerID, now)
}

// partnerOfferID gives partner offer id the offer id of the partner's own
// offer, leaving it in state with a history step, and passes the news on:
// its registration details, and the extended event.
func (s *Service) partnerOfferID(ctx context.Context, tx *store.Tx, id, offerID, state, step, msg string, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE offers SET state = ?, offer_id = ?, updated_at = ? WHERE id = ?`, state, offerID, store.Millis(now), id); err != nil {
		if store.IsUniqueViolation(err) {
			return marketplace.Errorf(marketplace.EConflict, "offer %s is already tracked by another offer", offerID)
		}
		return err
	}
	if err := history(ctx, tx, id, now, state, step, msg); err != nil {
		return err
	}
	if err := s.registrationDetails(ctx, tx, id, now); err != nil {
		return err
	}
	return s.tell(ctx, tx, EventExtended, id, now)
}
