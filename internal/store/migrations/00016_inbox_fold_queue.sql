-- +goose Up
-- Events the doors (EventBridge over HTTP or SQS, SNS) have stored but the
-- folder has not taken up yet (issue 19). A door answers once the event and
-- its row here have committed; the folder (internal/inbox, fold.go) runs the
-- event's hooks and folds it into the ledger, a batch at a time, and deletes
-- its row in the same transaction, so an event is taken up exactly once,
-- across crashes and replicas. An event whose fold fails is retried later
-- (not_before, attempts, last_error), never dropped.
CREATE TABLE inbox_fold_queue (
    event_id   TEXT PRIMARY KEY,
    queued_at  BIGINT NOT NULL,
    not_before BIGINT NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX inbox_fold_queue_order ON inbox_fold_queue (not_before, queued_at, event_id);

-- Storing an event is now the whole of a door's write: index only the
-- events that name an agreement, a predecessor, a license or a legacy
-- customer. Every query on these columns compares them to a value or asks
-- for IS NOT NULL, which both databases take to imply the indexes' WHERE.
DROP INDEX inbox_agreement;
DROP INDEX inbox_previous;
DROP INDEX inbox_license;
DROP INDEX inbox_customer;
CREATE INDEX inbox_agreement ON inbox_events (agreement_id) WHERE agreement_id IS NOT NULL;
CREATE INDEX inbox_previous ON inbox_events (previous_agreement_id) WHERE previous_agreement_id IS NOT NULL;
CREATE INDEX inbox_license ON inbox_events (license_id) WHERE license_id IS NOT NULL;
CREATE INDEX inbox_customer ON inbox_events (customer_key) WHERE customer_key IS NOT NULL;

-- +goose Down
DROP INDEX inbox_agreement;
DROP INDEX inbox_previous;
DROP INDEX inbox_license;
DROP INDEX inbox_customer;
CREATE INDEX inbox_agreement ON inbox_events (agreement_id);
CREATE INDEX inbox_previous ON inbox_events (previous_agreement_id);
CREATE INDEX inbox_license ON inbox_events (license_id);
CREATE INDEX inbox_customer ON inbox_events (customer_key);
DROP TABLE inbox_fold_queue;
