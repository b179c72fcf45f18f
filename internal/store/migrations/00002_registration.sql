-- +goose Up
-- Registration, tenants, entitlements and webhooks (issue 4).

-- A unique job asked for again while it runs runs once more when it finishes
-- (the input it read may be older than the request).
ALTER TABLE jobs ADD COLUMN rerun_at BIGINT;

-- The vendor's registration settings per product: tenant strategy, branding,
-- registration fields, auto-registration delay (JSON, see marketplace.Registration).
ALTER TABLE products ADD COLUMN registration TEXT NOT NULL DEFAULT '{}';

-- The legacy CustomerIdentifier mapped to a license (backfill, ResolveCustomer).
ALTER TABLE licenses ADD COLUMN customer_identifier TEXT NOT NULL DEFAULT '';
CREATE INDEX licenses_customer ON licenses (customer_identifier);

-- A tenant of the vendor's SaaS app: owned by one AWS account (the one
-- ResolveCustomer proved), created for one product.
CREATE TABLE tenants (
    tenant_id          TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL,
    product_id         TEXT NOT NULL,
    product_code       TEXT NOT NULL DEFAULT '',
    company            TEXT NOT NULL,
    contact_name       TEXT NOT NULL DEFAULT '',
    email              TEXT NOT NULL DEFAULT '',
    fields             TEXT NOT NULL DEFAULT '{}',
    billing_license_id TEXT,
    source             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX tenants_account ON tenants (account_id, product_code);

-- Which tenant each license belongs to. Independent of the ledger projection, so
-- registration may come before or after the license's events.
CREATE TABLE tenant_licenses (
    license_id      TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (tenant_id),
    license_arn     TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    product_code    TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL,
    announced_state TEXT NOT NULL DEFAULT '',
    attached_at     BIGINT NOT NULL
);
CREATE INDEX tenant_licenses_tenant ON tenant_licenses (tenant_id);

-- A buyer's browser session after ResolveCustomer: the cookie holds a random
-- secret whose SHA-256 is the key. The registration token itself is never
-- stored; its SHA-256 is, to recognise a token posted again.
CREATE TABLE registration_sessions (
    session_hash        TEXT PRIMARY KEY,
    token_hash          TEXT NOT NULL,
    license_id          TEXT NOT NULL,
    license_arn         TEXT NOT NULL,
    account_id          TEXT NOT NULL,
    product_code        TEXT NOT NULL,
    customer_identifier TEXT NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    completed_at        BIGINT,
    tenant_id           TEXT
);
CREATE INDEX registration_sessions_license ON registration_sessions (license_id);
CREATE INDEX registration_sessions_token ON registration_sessions (token_hash);
CREATE INDEX registration_sessions_created ON registration_sessions (created_at);

-- Registration details a private offer carried, used to register the buyer
-- automatically if they have not registered in time.
CREATE TABLE offer_registrations (
    offer_id   TEXT PRIMARY KEY,
    details    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The last GetEntitlements answer per license and dimension.
CREATE TABLE entitlements (
    license_id TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (license_id, dimension)
);

-- When each license's entitlements were last fetched (or failed to be).
CREATE TABLE entitlement_syncs (
    license_id   TEXT PRIMARY KEY,
    fetched_at   BIGINT,
    attempted_at BIGINT NOT NULL,
    last_error   TEXT
);

-- Webhook endpoints of the vendor's SaaS app and every delivery to them.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '[]',
    description TEXT NOT NULL DEFAULT '',
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,
    endpoint_id  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_status  INTEGER,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, created_at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE entitlement_syncs;
DROP TABLE entitlements;
DROP TABLE offer_registrations;
DROP TABLE registration_sessions;
DROP TABLE tenant_licenses;
DROP TABLE tenants;
DROP INDEX licenses_customer;
ALTER TABLE licenses DROP COLUMN customer_identifier;
ALTER TABLE products DROP COLUMN registration;
ALTER TABLE jobs DROP COLUMN rerun_at;
