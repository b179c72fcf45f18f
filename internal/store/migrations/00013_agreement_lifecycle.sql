-- +goose Up
-- The agreement lifecycle AWS added in 2026 (issue 16): cancellation
-- requests, billing adjustments (refunds), payment requests, and what the
-- Ending, Renewal and Advisory events say about an agreement. Every table
-- except agreement_billing is a projection of the inbox (events from AWS and
-- Concord's own observations of the Agreement API, stored as facts), refolded
-- whole for an agreement, so delivery order and replays do not matter.

-- What the Ending, Renewal Upcoming, Renewal Terms Finalized and Advisory
-- events say about one agreement.
CREATE TABLE agreement_lifecycle (
    agreement_id               TEXT PRIMARY KEY,
    days_before_end            INTEGER,
    auto_renewal               BOOLEAN,
    lockout_start_time         BIGINT,
    renewal_disabled_by        TEXT NOT NULL DEFAULT '',
    renewal_value              TEXT NOT NULL DEFAULT '',
    renewal_currency           TEXT NOT NULL DEFAULT '',
    renewal_terms_finalized_at BIGINT,
    lockout_reached            BOOLEAN NOT NULL DEFAULT FALSE,
    advisory_open              BOOLEAN NOT NULL DEFAULT FALSE,
    advisory_issued_at         BIGINT,
    advisory_resolved_at       BIGINT,
    updated_at                 BIGINT NOT NULL
);
CREATE INDEX agreement_lifecycle_advisory ON agreement_lifecycle (advisory_open);

-- Seller cancellation requests (acr-…), as AWS last said.
CREATE TABLE cancellation_requests (
    id             TEXT PRIMARY KEY,
    agreement_id   TEXT NOT NULL,
    reason_code    TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    created_at     BIGINT,
    updated_at     BIGINT,
    folded_at      BIGINT NOT NULL
);
CREATE INDEX cancellation_requests_agreement ON cancellation_requests (agreement_id);
CREATE INDEX cancellation_requests_status ON cancellation_requests (status);

-- Billing adjustment requests (ba-…): refunds against an invoice.
CREATE TABLE billing_adjustments (
    id             TEXT PRIMARY KEY,
    agreement_id   TEXT NOT NULL,
    invoice_id     TEXT NOT NULL DEFAULT '',
    amount         TEXT NOT NULL DEFAULT '',
    currency       TEXT NOT NULL DEFAULT '',
    reason_code    TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    client_token   TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    created_at     BIGINT,
    updated_at     BIGINT,
    folded_at      BIGINT NOT NULL
);
CREATE INDEX billing_adjustments_agreement ON billing_adjustments (agreement_id, invoice_id);
CREATE INDEX billing_adjustments_token ON billing_adjustments (client_token);
CREATE INDEX billing_adjustments_status ON billing_adjustments (status);

-- Payment requests against a variable payment term.
CREATE TABLE payment_requests (
    id             TEXT PRIMARY KEY,
    agreement_id   TEXT NOT NULL,
    term_id        TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    charge_amount  TEXT NOT NULL DEFAULT '',
    currency       TEXT NOT NULL DEFAULT '',
    charge_id      TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    created_at     BIGINT,
    updated_at     BIGINT,
    folded_at      BIGINT NOT NULL
);
CREATE INDEX payment_requests_agreement ON payment_requests (agreement_id);
CREATE INDEX payment_requests_status ON payment_requests (status);

-- A cache of what ListAgreementInvoiceLineItems and ListAgreementCharges
-- answered for an agreement (JSON arrays), refreshed by a job on billing
-- events and on demand. Not a projection: AWS is the source.
CREATE TABLE agreement_billing (
    agreement_id TEXT PRIMARY KEY,
    invoices     TEXT NOT NULL,
    charges      TEXT NOT NULL,
    refreshed_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE agreement_billing;
DROP TABLE payment_requests;
DROP TABLE billing_adjustments;
DROP TABLE cancellation_requests;
DROP TABLE agreement_lifecycle;
