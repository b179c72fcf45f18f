-- +goose Up
-- Bookable artifacts (issue 7): finance's record of every agreement event
-- (new, amendment, renewal, partner order, cancellation). Each row is one
-- version of an agreement's artifact; a version is added only when the
-- content differs from the latest one (content_hash, a SHA-256 of the
-- content without id, version and time), so replays and repeated folds add
-- nothing. content is the whole artifact as JSON (artifact.BookableArtifact).
CREATE TABLE artifacts (
    id           TEXT PRIMARY KEY,
    agreement_id TEXT NOT NULL,
    version      INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    content      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX artifacts_agreement_version ON artifacts (agreement_id, version);
CREATE INDEX artifacts_created ON artifacts (created_at, agreement_id, version);

-- +goose Down
DROP TABLE artifacts;
