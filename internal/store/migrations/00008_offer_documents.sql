-- +goose Up
-- Custom contract documents of private offers (issue 6): the TXT and PDF
-- documents uploaded for an offer's custom EULA or (partner offers) custom
-- reseller agreement, and the one PDF each set is consolidated into, which
-- AWS fetches from Concord's public URL.
--
-- Content columns are BYTEA: PostgreSQL's binary type. SQLite accepts the
-- name and stores the bytes as a BLOB (a BLOB value keeps its storage class
-- whatever the column's affinity).

-- offer_id is the offer the document was uploaded to; kind is eula or
-- reseller; position its place in that offer's list. An offer's form lists
-- the documents of its contract by id (a clone lists its source's), and a
-- document is deleted once no form lists it.
CREATE TABLE offer_documents (
    id           TEXT PRIMARY KEY,
    offer_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    position     INTEGER NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    pages        INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    content      BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX offer_documents_offer ON offer_documents (offer_id, kind, position);

-- The consolidated PDF of an offer's contract, served at
-- /documents/<token>/eula.pdf (or reseller-agreement.pdf). token is random
-- (256 bits); inputs_sha256 digests the documents it was made from, in
-- order, so it is rebuilt only when they change, under a new token.
CREATE TABLE offer_consolidations (
    token         TEXT PRIMARY KEY,
    offer_id      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    inputs_sha256 TEXT NOT NULL,
    size          BIGINT NOT NULL,
    pages         INTEGER NOT NULL,
    content       BYTEA NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX offer_consolidations_offer ON offer_consolidations (offer_id, kind);

-- +goose Down
DROP TABLE offer_consolidations;
DROP TABLE offer_documents;
