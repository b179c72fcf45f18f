-- +goose Up
-- Exactly-once usage metering (issue 5).

-- Send a zero-quantity record every hour for this usage dimension to each
-- license in force that reported no usage in that hour ('' = off).
ALTER TABLE products ADD COLUMN zero_usage_dimension TEXT NOT NULL DEFAULT '';

-- Every usage record the vendor's app reported, once per idempotency key.
-- late: it arrived after its (license, dimension, hour) bucket was frozen for
-- sending, so it is kept and reported but never sent.
CREATE TABLE usage_records (
    idempotency_key TEXT PRIMARY KEY,
    license_id      TEXT NOT NULL,
    tenant_id       TEXT NOT NULL DEFAULT '',
    dimension       TEXT NOT NULL,
    quantity        BIGINT NOT NULL,
    ts              BIGINT NOT NULL,
    hour            BIGINT NOT NULL,
    late            BOOLEAN NOT NULL DEFAULT FALSE,
    received_at     BIGINT NOT NULL
);
CREATE INDEX usage_records_bucket ON usage_records (license_id, dimension, hour);

-- Usage summed per (license, dimension, hour). An open bucket grows until
-- close_at (the end of its hour plus the grace for late usage; at once in the
-- final window); then it is frozen into a metering record and never changes:
-- what arrives later adds to late_quantity.
CREATE TABLE usage_buckets (
    license_id    TEXT NOT NULL,
    dimension     TEXT NOT NULL,
    hour          BIGINT NOT NULL,
    product_id    TEXT NOT NULL,
    quantity      BIGINT NOT NULL DEFAULT 0,
    records       BIGINT NOT NULL DEFAULT 0,
    late_quantity BIGINT NOT NULL DEFAULT 0,
    late_records  BIGINT NOT NULL DEFAULT 0,
    state         TEXT NOT NULL,
    close_at      BIGINT NOT NULL,
    record_id     TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (license_id, dimension, hour)
);
CREATE INDEX usage_buckets_due ON usage_buckets (state, close_at);
CREATE INDEX usage_buckets_record ON usage_buckets (record_id);
CREATE INDEX usage_buckets_hour ON usage_buckets (hour);

-- The outcome ledger: one row per record Concord sends to BatchMeterUsage.
-- Its fields never change after it is created, so every send of it is
-- identical and AWS bills it once (an identical record is idempotent).
-- send_key is what AWS deduplicates on: the license (or, on the legacy path,
-- the product and customer), dimension and hour.
CREATE TABLE metering_records (
    record_id           TEXT PRIMARY KEY,
    send_key            TEXT NOT NULL UNIQUE,
    product_id          TEXT NOT NULL,
    product_code        TEXT NOT NULL DEFAULT '',
    path                TEXT NOT NULL,
    license_arn         TEXT NOT NULL DEFAULT '',
    account_id          TEXT NOT NULL,
    customer_identifier TEXT NOT NULL DEFAULT '',
    dimension           TEXT NOT NULL,
    hour                BIGINT NOT NULL,
    quantity            BIGINT NOT NULL,
    status              TEXT NOT NULL,
    metering_record_id  TEXT NOT NULL DEFAULT '',
    reason              TEXT NOT NULL DEFAULT '',
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT NOT NULL,
    lease_owner         TEXT,
    lease_until         BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    first_sent_at       BIGINT,
    finished_at         BIGINT
);
CREATE INDEX metering_records_due ON metering_records (status, hour);
CREATE INDEX metering_records_finished ON metering_records (status, finished_at);

-- The path (license: LicenseArn + CustomerAWSAccountId; legacy: ProductCode +
-- customer) the first record of a customer's hour went by. Every later record
-- of that customer, product and hour goes the same way: metering one
-- customer-hour by both paths bills it twice.
CREATE TABLE metering_customer_hours (
    product_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    hour       BIGINT NOT NULL,
    path       TEXT NOT NULL,
    PRIMARY KEY (product_id, account_id, hour)
);

-- Up to which hour zero-quantity records were made for a product.
CREATE TABLE metering_zero_marks (
    product_id TEXT PRIMARY KEY,
    hour       BIGINT NOT NULL
);

-- +goose Down
DROP TABLE metering_zero_marks;
DROP TABLE metering_customer_hours;
DROP TABLE metering_records;
DROP TABLE usage_buckets;
DROP TABLE usage_records;
ALTER TABLE products DROP COLUMN zero_usage_dimension;
