-- +goose Up
-- Listings (issue 6): the contract metadata fields a product's offers carry
-- (JSON list of {key, label, required}); a "CPPO Opportunity ID" field turns
-- on CPPO tracking for its partner offers.
ALTER TABLE products ADD COLUMN contract_metadata TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE products DROP COLUMN contract_metadata;
