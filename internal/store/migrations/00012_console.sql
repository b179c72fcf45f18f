-- +goose Up
-- The seller console (issue 8): people who sign in, with a role, and their
-- sessions. Passwords are stored only as PBKDF2-SHA256 hashes with their salt
-- and iteration count; sessions only as the SHA-256 of the cookie token, so a
-- leaked database opens no session. email is stored lower-cased.
CREATE TABLE console_users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX console_users_email ON console_users (email);

-- One row per signed-in browser; csrf is the token every POST form carries.
CREATE TABLE console_sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
DROP TABLE console_users;
