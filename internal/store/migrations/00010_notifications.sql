-- +goose Up
-- Notifications (issue 7): an outbox of what Concord told people, written in
-- the transaction of the change that caused it, and one delivery per
-- (channel, target), sent by jobs with retries.
--
-- dedupe_key makes a notification once-only: a replayed event or a repeated
-- sweep finds the key taken and notifies nobody again. subject, text_body and
-- html_body are rendered once, so a resend sends exactly what was sent first.
CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    product_id   TEXT NOT NULL DEFAULT '',
    offer_id     TEXT NOT NULL DEFAULT '',
    agreement_id TEXT NOT NULL DEFAULT '',
    buyer_facing BOOLEAN NOT NULL DEFAULT FALSE,
    subject      TEXT NOT NULL,
    text_body    TEXT NOT NULL,
    html_body    TEXT NOT NULL,
    data         TEXT NOT NULL,
    recipients   TEXT NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX notifications_dedupe_key ON notifications (dedupe_key);
CREATE INDEX notifications_kind ON notifications (kind, id);

-- The files an email carries (the bookable artifact of an order), kept so a
-- resend sends the same bytes. BYTEA is PostgreSQL's binary type; SQLite
-- stores the bytes as a BLOB.
CREATE TABLE notification_attachments (
    notification_id TEXT NOT NULL,
    position        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    content         BYTEA NOT NULL,
    PRIMARY KEY (notification_id, position)
);

-- One message to one target: an email address or a Slack-compatible
-- incoming-webhook URL. status is pending, sent, failed (gave up) or skipped
-- (not sent on purpose, e.g. no SMTP server configured; resend to try again).
CREATE TABLE notification_deliveries (
    id              TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    target          TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX notification_deliveries_notification ON notification_deliveries (notification_id);
CREATE INDEX notification_deliveries_status ON notification_deliveries (status, notification_id);

-- Who hears about what: a kind (or * for every kind), a channel and its
-- target, optionally only for one product.
CREATE TABLE notification_routes (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    channel    TEXT NOT NULL,
    target     TEXT NOT NULL,
    product_id TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX notification_routes_unique ON notification_routes (kind, channel, target, product_id);

-- +goose Down
DROP TABLE notification_routes;
DROP TABLE notification_deliveries;
DROP TABLE notification_attachments;
DROP TABLE notifications;
