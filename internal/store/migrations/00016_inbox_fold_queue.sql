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

-- +goose Down
DROP TABLE inbox_fold_queue;
