-- +goose Up
-- A buyer's company name set by hand (console or PUT /v1/buyers/{id}/company,
-- issue 17). Empty means "not set": Concord then names the buyer from its
-- newest offer's buyer company, else from its newest registered tenant
-- (internal/report, Companies). Searching by name folds case in Go, so
-- non-ASCII names match on SQLite too, whose LOWER is ASCII-only.
ALTER TABLE buyers ADD COLUMN company TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE buyers DROP COLUMN company;
