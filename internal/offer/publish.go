package offer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// CatalogAPI is the part of the AWS Marketplace Catalog API publishing needs
// (awsmp.Catalog over the official client).
type CatalogAPI interface {
	StartChangeSet(ctx context.Context, name, clientToken string, changes []Change) (changeSetID string, err error)
	DescribeChangeSet(ctx context.Context, id string) (ChangeSetStatus, error)
	// DescribeOffer tells whether an offer is private (an amendment of an
	// agreement made from a public offer makes it private).
	DescribeOffer(ctx context.Context, offerID string) (OfferInfo, error)
}

// OfferInfo is what DescribeOffer says about an offer.
type OfferInfo struct {
	OfferID string
	// Private: the offer targets buyer accounts.
	Private bool
}

// Jobs of the publishing flow.
const (
	JobPublish = "offer.publish"
	JobTrack   = "offer.track"
	JobExpire  = "offer.expire"
	// JobWithdraw withdraws a published offer in AWS (Cancel).
	JobWithdraw = "offer.withdraw"
)

// TrackEvery is how often a running change set is polled.
var TrackEvery = 2 * time.Second

type jobArgs struct {
	OfferID string `json:"offerId"`
}

// Handlers registers the publishing jobs.
func (s *Service) Handlers(r *job.Runner) {
	r.Handle(JobPublish, func(ctx context.Context, j *job.Job) error { return s.withArgs(ctx, j, s.publish) })
	r.Handle(JobTrack, func(ctx context.Context, j *job.Job) error { return s.withArgs(ctx, j, s.track) })
	r.Handle(JobExpire, func(ctx context.Context, j *job.Job) error { return s.withArgs(ctx, j, s.expire) })
	r.Handle(JobWithdraw, func(ctx context.Context, j *job.Job) error { return s.withArgs(ctx, j, s.withdraw) })
}

func (s *Service) withArgs(ctx context.Context, j *job.Job, fn func(context.Context, string) error) error {
	var a jobArgs
	if err := json.Unmarshal(j.Args, &a); err != nil || a.OfferID == "" {
		return job.Permanent(fmt.Errorf("bad %s job arguments %s", j.Kind, j.Args))
	}
	return fn(ctx, a.OfferID)
}

// Submit sends a draft (or a failed offer) to AWS: its form is checked once
// more, and a job starts the Catalog API change set that publishes it.
func (s *Service) Submit(ctx context.Context, id string) (Detail, error) {
	var vis visibility
	if d, err := s.Get(ctx, id); err == nil {
		vis = s.visibilityOf(ctx, d.Offer)
		// Custom documents go to S3 first: a failed upload leaves the draft
		// as it was, saying why, and starts no change set.
		if (d.State == StateDraft || d.State == StateFailed) && !s.DeferDocuments {
			// The form's own refusals come first, as they always did.
			err := s.DB.Read(ctx, func(tx *store.Tx) error { o := d.Offer; return s.check(ctx, tx, &o, true, vis) })
			if err != nil {
				return Detail{}, err
			}
			if _, err := s.publishDocuments(ctx, d.Offer); err != nil {
				return Detail{}, s.refuseSubmit(ctx, id, err)
			}
		}
	}
	var out Detail
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.State != StateDraft && cur.State != StateFailed {
			return marketplace.Errorf(marketplace.EConflict, "offer %s is %s: only a draft (or a failed offer) can be submitted", id, cur.State)
		}
		if err := s.check(ctx, tx, &cur.Offer, true, vis); err != nil {
			return err
		}
		now := s.now()
		if cur.Failure != "" {
			// A resubmitted offer drops AWS's last refusal; its history keeps it.
			cur.Failure, cur.UpdatedAt = "", now
			if err := save(ctx, tx, cur.Offer); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE offers SET state = 'submitted', change_set_id = NULL, updated_at = ? WHERE id = ?`, store.Millis(now), id); err != nil {
			return err
		}
		if err := history(ctx, tx, id, now, StateSubmitted, "submitted", ""); err != nil {
			return err
		}
		if _, _, err := job.Enqueue(ctx, tx, now, JobPublish, jobArgs{id}, job.Options{UniqueKey: "offer-publish:" + id}); err != nil {
			return err
		}
		out, err = load(ctx, tx, id)
		return err
	})
	return out, err
}

// publish starts the change set of a submitted offer.
func (s *Service) publish(ctx context.Context, id string) error {
	if s.Catalog == nil {
		return job.Permanent(fmt.Errorf("no Catalog API client"))
	}
	var o Detail
	var p marketplace.Product
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		if o, err = load(ctx, tx, id); err != nil {
			return err
		}
		p, _, err = inbox.LoadProduct(ctx, tx, o.ProductID)
		return err
	})
	if err != nil {
		return err
	}
	if o.State != StateSubmitted || o.ChangeSetID != "" {
		return nil // already started, or withdrawn meanwhile
	}
	opts, err := s.changeSetOptions(ctx, o.Offer)
	if err != nil {
		return err
	}
	name, changes, err := ChangeSet(o.Offer, p, append(opts, WithNow(s.now()))...)
	if err != nil {
		return s.fail(ctx, id, "Concord could not build the change set: "+err.Error())
	}
	// The same submission always sends the same token, so a retried job does
	// not start a second change set.
	csID, err := s.Catalog.StartChangeSet(ctx, name, clientToken(id, o.UpdatedAt), changes)
	if marketplace.ErrorCode(err) == marketplace.EInvalid {
		// AWS refused the change set as it stands: retrying would not help.
		return s.fail(ctx, id, "AWS refused the change set: "+marketplace.ErrorMessage(err))
	} else if err != nil {
		return fmt.Errorf("start change set for offer %s: %w", id, err)
	}
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE offers SET change_set_id = ?, updated_at = ? WHERE id = ? AND state = 'submitted'`, csID, store.Millis(now), id); err != nil {
			return err
		}
		if err := history(ctx, tx, id, now, StateSubmitted, "change set started", "change set "+csID+" (PREPARING)"); err != nil {
			return err
		}
		return s.trackLater(ctx, tx, id, now)
	})
}

// clientToken is the change set's client request token for one request
// about an offer as it was at updated: a retried job sends the same token and
// starts no second change set. AWS allows 64 characters; the tail is kept.
func clientToken(what string, updated time.Time) string {
	token := what + "-" + strconv.FormatInt(updated.UnixMilli(), 36)
	if len(token) > 64 {
		token = token[len(token)-64:]
	}
	return token
}

// track polls the change set of a submitted (or cancelling) offer until it
// ends.
func (s *Service) track(ctx context.Context, id string) error {
	var o Detail
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		o, err = load(ctx, tx, id)
		return err
	})
	if err != nil || (o.State != StateSubmitted && o.State != StateCancelling) || o.ChangeSetID == "" {
		return err
	}
	st, err := s.Catalog.DescribeChangeSet(ctx, o.ChangeSetID)
	if err != nil {
		return fmt.Errorf("describe change set %s: %w", o.ChangeSetID, err)
	}
	failure := "change set " + o.ChangeSetID + " " + st.Status
	if st.Failure != "" {
		failure += ": " + st.Failure
	}
	switch {
	case st.Status == ChangeSetSucceeded && o.State == StateCancelling:
		return s.withdrawn(ctx, o.Offer)
	case st.Status == ChangeSetSucceeded:
		return s.published(ctx, o.Offer, st)
	case st.Done() && o.State == StateCancelling:
		return s.withdrawFailed(ctx, id, failure)
	case st.Done():
		return s.fail(ctx, id, failure)
	default:
		return s.DB.Write(ctx, func(tx *store.Tx) error { return s.trackLater(ctx, tx, id, s.now()) })
	}
}

func (s *Service) trackLater(ctx context.Context, tx *store.Tx, id string, now time.Time) error {
	_, _, err := job.Enqueue(ctx, tx, now, JobTrack, jobArgs{id}, job.Options{UniqueKey: "offer-track:" + id, RunAt: now.Add(TrackEvery)})
	return err
}

// withdraw starts the change set that takes a cancelling offer off the
// market: the direct offer's availability ends yesterday (AWS expires an
// offer whose availability end date has passed), or the partner offer's
// resale authorization is restricted (irreversibly) so the partner can no
// longer extend it.
func (s *Service) withdraw(ctx context.Context, id string) error {
	if s.Catalog == nil {
		return job.Permanent(fmt.Errorf("no Catalog API client"))
	}
	o, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if o.State != StateCancelling || o.ChangeSetID != "" {
		return nil
	}
	var changes []Change
	if o.Type == TypePartner {
		changes = []Change{{ChangeType: "RestrictResaleAuthorization", EntityType: EntityTypeResaleAuthorization, Identifier: o.ResaleAuthorizationID,
			Details: map[string]any{}}}
	} else {
		yesterday := s.now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
		changes = []Change{{ChangeType: "UpdateAvailability", EntityType: EntityTypeOffer, Identifier: o.OfferID,
			Details: map[string]any{"AvailabilityEndDate": yesterday}}}
	}
	csID, err := s.Catalog.StartChangeSet(ctx, "concord-cancel-"+id, clientToken("withdraw-"+id, o.UpdatedAt), changes)
	if code := marketplace.ErrorCode(err); code == marketplace.EInvalid || code == marketplace.ENotFound {
		return s.withdrawFailed(ctx, id, "AWS refused to withdraw the offer: "+marketplace.ErrorMessage(err))
	} else if err != nil {
		return fmt.Errorf("start withdrawal change set for offer %s: %w", id, err)
	}
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE offers SET change_set_id = ?, updated_at = ? WHERE id = ? AND state = 'cancelling'`, csID, store.Millis(now), id); err != nil {
			return err
		}
		if err := history(ctx, tx, id, now, StateCancelling, "change set started", "change set "+csID+" (PREPARING)"); err != nil {
			return err
		}
		return s.trackLater(ctx, tx, id, now)
	})
}

// withdrawn records that AWS took the offer off the market.
func (s *Service) withdrawn(ctx context.Context, o Offer) error {
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		now := s.now()
		res, err := tx.Exec(ctx, `UPDATE offers SET state = 'cancelled', updated_at = ? WHERE id = ? AND state = 'cancelling'`, store.Millis(now), o.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // accepted meanwhile
		}
		msg := "offer " + o.OfferID + " is no longer available to the buyer"
		if o.Type == TypePartner {
			msg = "resale authorization " + o.ResaleAuthorizationID + " is restricted: the partner can no longer extend it"
		}
		return history(ctx, tx, o.ID, now, StateCancelled, "cancelled", msg)
	})
}

// withdrawFailed puts a cancelling offer back where it was, with AWS's error.
func (s *Service) withdrawFailed(ctx context.Context, id, msg string) error {
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		now := s.now()
		var prior string
		if err := tx.QueryRow(ctx, `SELECT prior_state FROM offers WHERE id = ?`, id).Scan(&prior); err != nil {
			return err
		}
		if prior == "" {
			prior = StatePublished
		}
		res, err := tx.Exec(ctx, `UPDATE offers SET state = ?, updated_at = ? WHERE id = ? AND state = 'cancelling'`, prior, store.Millis(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return history(ctx, tx, id, now, prior, "cancellation failed", msg+"; the offer is still out")
	})
}

// published records what the change set created.
func (s *Service) published(ctx context.Context, o Offer, st ChangeSetStatus) error {
	entity := createdEntity(o, st)
	if entity == "" {
		return s.fail(ctx, o.ID, "change set "+o.ChangeSetID+" succeeded but named no created entity")
	}
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		now := s.now()
		col, what := "offer_id", "offer "+entity
		if o.Type == TypePartner {
			col, what = "resale_authorization_id", "resale authorization "+entity+" (the partner can now extend an offer to the buyer)"
		}
		if _, err := tx.Exec(ctx, `UPDATE offers SET state = 'published', `+col+` = ?, updated_at = ? WHERE id = ? AND state = 'submitted'`,
			entity, store.Millis(now), o.ID); err != nil {
			return err
		}
		if err := history(ctx, tx, o.ID, now, StatePublished, "published", what); err != nil {
			return err
		}
		if end, err := time.Parse(time.DateOnly, o.ExpiresOn); err == nil {
			if _, _, err := job.Enqueue(ctx, tx, now, JobExpire, jobArgs{o.ID}, job.Options{UniqueKey: "offer-expire:" + o.ID, RunAt: end.Add(24 * time.Hour)}); err != nil {
				return err
			}
		}
		if o.Type == TypeDirect {
			if err := s.registrationDetails(ctx, tx, o.ID, now); err != nil {
				return err
			}
			// The buyer may have accepted before this poll saw the change set end.
			return s.matchAccepted(ctx, tx, o.ID, entity, now)
		}
		// So may the partner have extended it, and the buyer accepted that
		// (events folded while Concord could not see the change set end):
		// the agreement on the resale authorization reconciles it, as
		// AgreementHook would have.
		var agreementID string
		err := tx.QueryRow(ctx, `SELECT agreement_id FROM agreements WHERE resale_authorization_id = ? ORDER BY acceptance_time, agreement_id LIMIT 1`,
			entity).Scan(&agreementID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		a, ok, err := inbox.LoadAgreement(ctx, tx, agreementID)
		if err != nil || !ok {
			return err
		}
		return s.AgreementHook(ctx, tx, a, now)
	})
}

// createdEntity picks the id of what the change set created: the offer, or
// the resale authorization of a partner offer.
func createdEntity(o Offer, st ChangeSetStatus) string {
	if o.Type == TypePartner {
		return st.EntityIDs[ChangeNameResaleAuthorization]
	}
	return st.EntityIDs[ChangeNameOffer]
}

func (s *Service) fail(ctx context.Context, id, msg string) error {
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		var form string
		if err := tx.QueryRow(ctx, `SELECT form FROM offers WHERE id = ?`, id).Scan(&form); err != nil {
			return err
		}
		var f Offer
		json.Unmarshal([]byte(form), &f)
		f.Failure = msg
		b, _ := json.Marshal(f)
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE offers SET state = 'failed', form = ?, updated_at = ? WHERE id = ?`, string(b), store.Millis(now), id); err != nil {
			return err
		}
		return history(ctx, tx, id, now, StateFailed, "failed", msg)
	})
}

// expire ends an offer its buyer (or partner) did not take up in time.
func (s *Service) expire(ctx context.Context, id string) error {
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		now := s.now()
		// An extended partner offer is left alone: the resale authorization's
		// date bounds when the partner may extend, not the partner's own offer.
		res, err := tx.Exec(ctx, `UPDATE offers SET state = 'expired', updated_at = ? WHERE id = ? AND state IN ('published', 'instructions_sent', 'viewed', 'cancelling')`,
			store.Millis(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return history(ctx, tx, id, now, StateExpired, "expired", "not accepted by its expiration date")
		}
		return nil
	})
}

// Extended records the offer a channel partner extended to the buyer from a
// partner offer's resale authorization, entered by hand (AWS's CPPO Published
// email) when no event brought it.
func (s *Service) Extended(ctx context.Context, id, partnerOfferID string) (Detail, error) {
	var out Detail
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Type != TypePartner {
			return marketplace.Errorf(marketplace.EInvalid, "offer %s is a direct offer: only a partner offer is extended by a partner", id)
		}
		if cur.State != StatePublished && cur.State != StateExtended {
			return marketplace.Errorf(marketplace.EConflict, "offer %s is %s: the partner extends a published partner offer", id, cur.State)
		}
		now := s.now()
		if err := s.partnerOfferID(ctx, tx, id, partnerOfferID, StateExtended, "partner offer extended", "offer "+partnerOfferID, now); err != nil {
			return err
		}
		if err := s.matchAccepted(ctx, tx, id, partnerOfferID, now); err != nil {
			return err
		}
		out, err = load(ctx, tx, id)
		return err
	})
	return out, err
}
