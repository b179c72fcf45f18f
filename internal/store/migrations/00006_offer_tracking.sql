-- +goose Up
-- Private offers, buyer engagement (issue 6): the token of an offer's
-- tracked purchase-instructions link, and the state an offer goes back to
-- when AWS refuses to withdraw it.
ALTER TABLE offers ADD COLUMN track_token TEXT;
ALTER TABLE offers ADD COLUMN offer_page TEXT NOT NULL DEFAULT '';
ALTER TABLE offers ADD COLUMN prior_state TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX offers_track_token ON offers (track_token);
CREATE INDEX offers_partner_match ON offers (product_id, buyer_account_id, type, state);

-- +goose Down
DROP INDEX offers_partner_match;
DROP INDEX offers_track_token;
ALTER TABLE offers DROP COLUMN prior_state;
ALTER TABLE offers DROP COLUMN offer_page;
ALTER TABLE offers DROP COLUMN track_token;
