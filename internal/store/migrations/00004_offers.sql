-- +goose Up
-- Private offers (issue 6): the form as RevOps filled it in (JSON), the
-- state, what AWS assigned, and a history of every step.
CREATE TABLE offers (
    id                      TEXT PRIMARY KEY,
    type                    TEXT NOT NULL,
    state                   TEXT NOT NULL,
    product_id              TEXT NOT NULL,
    buyer_account_id        TEXT NOT NULL DEFAULT '',
    buyer_company           TEXT NOT NULL DEFAULT '',
    cppo_opportunity_id     TEXT NOT NULL DEFAULT '',
    offer_id                TEXT,
    resale_authorization_id TEXT,
    agreement_id            TEXT,
    change_set_id           TEXT,
    expires_on              TEXT NOT NULL DEFAULT '',
    form                    TEXT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE UNIQUE INDEX offers_offer_id ON offers (offer_id);
CREATE UNIQUE INDEX offers_resale_authorization ON offers (resale_authorization_id);
CREATE INDEX offers_state ON offers (state, updated_at);
CREATE INDEX offers_buyer ON offers (buyer_account_id);
CREATE INDEX offers_agreement ON offers (agreement_id);
CREATE INDEX offers_opportunity ON offers (cppo_opportunity_id);

CREATE TABLE offer_history (
    id       TEXT PRIMARY KEY,
    offer_id TEXT NOT NULL,
    at       BIGINT NOT NULL,
    state    TEXT NOT NULL,
    step     TEXT NOT NULL,
    message  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX offer_history_offer ON offer_history (offer_id, at);

-- +goose Down
DROP TABLE offer_history;
DROP TABLE offers;
