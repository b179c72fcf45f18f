-- +goose Up
-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are epoch
-- milliseconds (BIGINT), ids are generated in Go, JSON is TEXT.

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    args         TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    unique_key   TEXT UNIQUE,
    done_key     TEXT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finalized_at BIGINT
);
CREATE INDEX jobs_ready ON jobs (state, run_at);
CREATE INDEX jobs_kind ON jobs (kind, state);

CREATE TABLE inbox_events (
    id                    TEXT PRIMARY KEY,
    request_id            TEXT UNIQUE,
    door                  TEXT NOT NULL,
    source                TEXT NOT NULL,
    detail_type           TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    event_time            BIGINT NOT NULL,
    received_at           BIGINT NOT NULL,
    agreement_id          TEXT,
    previous_agreement_id TEXT,
    license_id            TEXT,
    customer_key          TEXT,
    fact                  TEXT NOT NULL,
    body                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    note                  TEXT,
    applied_at            BIGINT
);
CREATE INDEX inbox_agreement ON inbox_events (agreement_id);
CREATE INDEX inbox_previous ON inbox_events (previous_agreement_id);
CREATE INDEX inbox_license ON inbox_events (license_id);
CREATE INDEX inbox_customer ON inbox_events (customer_key);
CREATE INDEX inbox_status ON inbox_events (status, received_at);
CREATE INDEX inbox_received ON inbox_events (received_at);

CREATE TABLE buyers (
    account_id    TEXT PRIMARY KEY,
    first_seen_at BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE products (
    product_id            TEXT PRIMARY KEY,
    product_code          TEXT,
    title                 TEXT NOT NULL DEFAULT '',
    type                  TEXT NOT NULL DEFAULT '',
    concurrent_agreements BOOLEAN NOT NULL DEFAULT TRUE,
    dimensions            TEXT NOT NULL DEFAULT '[]',
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE UNIQUE INDEX products_code ON products (product_code);

CREATE TABLE agreements (
    agreement_id            TEXT PRIMARY KEY,
    initial_agreement_id    TEXT NOT NULL,
    previous_agreement_id   TEXT,
    next_agreement_id       TEXT,
    intent                  TEXT NOT NULL DEFAULT '',
    status                  TEXT NOT NULL,
    acceptance_time         BIGINT,
    start_time              BIGINT,
    end_time                BIGINT,
    ended_at                BIGINT,
    acceptor_account_id     TEXT NOT NULL DEFAULT '',
    proposer_account_id     TEXT NOT NULL DEFAULT '',
    manufacturer_account_id TEXT NOT NULL DEFAULT '',
    resale_authorization_id TEXT NOT NULL DEFAULT '',
    offer_id                TEXT NOT NULL DEFAULT '',
    product_id              TEXT NOT NULL DEFAULT '',
    auto_renewal            BOOLEAN,
    terms                   TEXT,
    terms_fetched_at        BIGINT,
    last_event_time         BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX agreements_acceptor ON agreements (acceptor_account_id, product_id);
CREATE INDEX agreements_product ON agreements (product_id, status);
CREATE INDEX agreements_initial ON agreements (initial_agreement_id);
CREATE INDEX agreements_previous ON agreements (previous_agreement_id);

CREATE TABLE licenses (
    license_id       TEXT PRIMARY KEY,
    license_arn      TEXT NOT NULL,
    agreement_id     TEXT NOT NULL,
    product_id       TEXT NOT NULL DEFAULT '',
    product_code     TEXT NOT NULL DEFAULT '',
    account_id       TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,
    activated_at     BIGINT,
    starts_at        BIGINT,
    ending_at        BIGINT,
    deprovisioned_at BIGINT,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX licenses_agreement ON licenses (agreement_id);
CREATE INDEX licenses_account ON licenses (account_id, product_id);
CREATE INDEX licenses_state ON licenses (state);

CREATE TABLE subscriptions (
    customer_key            TEXT PRIMARY KEY,
    customer_identifier     TEXT NOT NULL,
    product_code            TEXT NOT NULL,
    state                   TEXT NOT NULL,
    offer_id                TEXT NOT NULL DEFAULT '',
    free_trial              BOOLEAN NOT NULL DEFAULT FALSE,
    entitlement_updated_at  BIGINT,
    last_event_time         BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

-- +goose Down
DROP TABLE subscriptions;
DROP TABLE licenses;
DROP TABLE agreements;
DROP TABLE products;
DROP TABLE buyers;
DROP TABLE inbox_events;
DROP TABLE jobs;
DROP TABLE api_keys;
