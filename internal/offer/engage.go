package offer

// This file holds the buyer-engagement steps of a direct offer: purchase
// instructions with a tracked link, and the buyer opening that link.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// TrackPath is where tracked purchase-instruction links point: TrackPath +
// token, served without an API key.
const TrackPath = "/o/"

// InstructionsRequest says who the purchase instructions went to.
type InstructionsRequest struct {
	// To are the buyer's people the instructions go to (at least one).
	To []string `json:"to"`
	// OfferURL overrides the AWS offer page the tracked link leads to (the
	// URL the AWS Marketplace Management Portal shows for the offer).
	OfferURL string `json:"offerUrl,omitempty" required:"false"`
	// Note is a personal line added to the instructions.
	Note string `json:"note,omitempty" required:"false" maxLength:"2000"`
}

// Instructions are the purchase instructions of a direct offer: the text to
// send to the buyer and the tracked link in it.
type Instructions struct {
	Offer Detail `json:"offer"`
	// Link is the tracked link: opening it marks the offer viewed and leads
	// to the offer in AWS Marketplace.
	Link     string   `json:"link"`
	OfferURL string   `json:"offerUrl"`
	To       []string `json:"to"`
	Subject  string   `json:"subject"`
	Text     string   `json:"text"`
}

// OfferPageURL is the AWS Marketplace page where the buyer reviews and
// accepts a private offer.
func OfferPageURL(productID, offerID string) string {
	return "https://aws.amazon.com/marketplace/procurement?productId=" + url.QueryEscape(productID) + "&offerId=" + url.QueryEscape(offerID)
}

// SendInstructions records that purchase instructions go to the buyer of a
// published direct offer and returns them, with a tracked link; with
// OnInstructions set (serve), they are emailed through the notification
// outbox in the same transaction. Sending them
// again (to more people, or after the buyer viewed them) keeps the link and
// adds a history step.
func (s *Service) SendInstructions(ctx context.Context, id string, req InstructionsRequest) (Instructions, error) {
	var out Instructions
	if len(req.To) == 0 {
		return out, marketplace.Errorf(marketplace.EInvalid, "to: name at least one person at the buyer the purchase instructions go to")
	}
	var c Check
	checkEmails(&c, "to", req.To, "at most %d recipients")
	if err := c.Err(); err != nil {
		return out, err
	}
	if req.OfferURL != "" {
		if u, err := url.Parse(req.OfferURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return out, marketplace.Errorf(marketplace.EInvalid, "offerUrl: %q is not an https URL", marketplace.Clip(req.OfferURL, 120))
		}
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Type != TypeDirect {
			return marketplace.Errorf(marketplace.EInvalid, "offer %s is a partner offer: the partner engages the buyer with its own offer, so Concord sends no purchase instructions for it", id)
		}
		switch cur.State {
		case StatePublished, StateInstructionsSent, StateViewed:
		default:
			return marketplace.Errorf(marketplace.EConflict, "offer %s is %s: purchase instructions go out once the offer is published and until the buyer accepts it", id, cur.State)
		}
		var token sql.NullString
		var page string
		if err := tx.QueryRow(ctx, `SELECT track_token, offer_page FROM offers WHERE id = ?`, id).Scan(&token, &page); err != nil {
			return err
		}
		if req.OfferURL != "" {
			page = req.OfferURL
		}
		if page == "" {
			page = OfferPageURL(cur.ProductID, cur.OfferID)
		}
		if !token.Valid {
			token.String = trackToken()
		}
		now := s.now()
		state := cur.State
		if state == StatePublished {
			state = StateInstructionsSent
		}
		// The tracked link leads to the latest page RevOps gave, else AWS's standard one.
		if _, err := tx.Exec(ctx, `UPDATE offers SET state = ?, track_token = ?, offer_page = ?, updated_at = ? WHERE id = ?`,
			state, token.String, page, store.Millis(now), id); err != nil {
			return err
		}
		if err := history(ctx, tx, id, now, state, "purchase instructions sent", "to "+strings.Join(req.To, ", ")); err != nil {
			return err
		}
		d, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		p, _, err := inbox.LoadProduct(ctx, tx, cur.ProductID)
		if err != nil {
			return err
		}
		link := s.publicURL() + TrackPath + token.String
		out = Instructions{Offer: d, Link: link, OfferURL: page, To: req.To}
		out.Subject, out.Text = instructionsText(d.Offer, p, link, req.Note)
		if s.OnInstructions != nil {
			return s.OnInstructions(ctx, tx, out, req.Note, now)
		}
		return nil
	})
	return out, err
}

func trackToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// instructionsText is the subject and plain text of the purchase
// instructions.
func instructionsText(o Offer, p marketplace.Product, link, note string) (string, string) {
	product := p.Title
	if product == "" {
		product = o.ProductID
	}
	subject := fmt.Sprintf("Your private offer for %s on AWS Marketplace", product)
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s team,\n\n", o.BuyerCompany)
	if note = strings.TrimSpace(note); note != "" {
		b.WriteString(note + "\n\n")
	}
	fmt.Fprintf(&b, "A private offer for %s is ready for you in AWS Marketplace", product)
	if o.Name != "" {
		fmt.Fprintf(&b, " (%q)", o.Name)
	}
	b.WriteString(".\n\nTo accept it:\n")
	fmt.Fprintf(&b, "1. Sign in to the AWS account %s (the offer is visible to that account only) with permission to subscribe in AWS Marketplace (aws-marketplace:Subscribe, aws-marketplace:ViewSubscriptions).\n", o.Metadata[MetaBuyerAccount])
	fmt.Fprintf(&b, "2. Open the offer: %s\n", link)
	b.WriteString("3. Review the pricing, the payment schedule and the terms, then choose \"Create contract\" (or \"Subscribe\").\n")
	b.WriteString("4. Choose \"Set up your account\" to register with us, so we can give you access.\n\n")
	if o.ExpiresOn != "" {
		fmt.Fprintf(&b, "The offer can be accepted until the end of %s (UTC).\n", o.ExpiresOn)
	}
	fmt.Fprintf(&b, "AWS offer id: %s\n", o.OfferID)
	return subject, b.String()
}

// Viewed records that the buyer opened an offer's tracked link, the first
// time, and returns the AWS offer page to send the buyer to.
func (s *Service) Viewed(ctx context.Context, token string) (string, error) {
	var page string
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		var id, state, productID string
		var offerID sql.NullString
		err := tx.QueryRow(ctx, `SELECT id, state, product_id, offer_id, offer_page FROM offers WHERE track_token = ?`, token).Scan(&id, &state, &productID, &offerID, &page)
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "no offer has this link")
		} else if err != nil {
			return err
		}
		if page == "" {
			page = OfferPageURL(productID, offerID.String)
		}
		if state != StateInstructionsSent && state != StatePublished {
			return nil // viewed already, accepted, or over: the link still leads to AWS
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE offers SET state = 'viewed', updated_at = ? WHERE id = ?`, store.Millis(now), id); err != nil {
			return err
		}
		return history(ctx, tx, id, now, StateViewed, "viewed", "the buyer opened the tracked link")
	})
	return page, err
}

// Mount serves the tracked links (no API key: buyers open them).
func (s *Service) Mount(m *http.ServeMux) {
	m.HandleFunc("GET "+TrackPath+"{token}", func(w http.ResponseWriter, r *http.Request) {
		token := r.PathValue("token")
		if len(token) != 32 {
			http.NotFound(w, r)
			return
		}
		page, err := s.Viewed(r.Context(), token)
		if marketplace.ErrorCode(err) == marketplace.ENotFound {
			http.NotFound(w, r)
			return
		} else if err != nil {
			s.Logger.Error("tracked offer link", "err", err)
			http.Error(w, "Something went wrong; please try the link again.", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, page, http.StatusFound)
	})
}
