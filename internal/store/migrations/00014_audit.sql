-- +goose Up
-- The audit trail (issue 17): one row for every change a console user or an
-- API key made, written in the transaction of the change (internal/audit), so
-- a change that rolls back leaves no row. Rows are never changed or removed:
-- migration 00018 (internal/store/audit_migration.go, per dialect) adds the
-- triggers that refuse UPDATE and DELETE.
--
-- id sorts by time (audit.newID), so pages run newest first on id alone.
-- before_json/after_json hold the settings as they were and became, with
-- secrets redacted; NULL when the change has no such state (an action).
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    object      TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    action      TEXT NOT NULL,
    summary     TEXT NOT NULL DEFAULT '',
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX audit_log_object ON audit_log (object, object_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor_name, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- Who took each step of an offer (a user's or API key's name; empty for the
-- steps Concord took itself on an event or a job).
ALTER TABLE offer_history ADD COLUMN actor TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE offer_history DROP COLUMN actor;
DROP TABLE audit_log;
