#!/usr/bin/env bash
# The project's test command (`make test`), run the same way locally and in CI.
# It checks formatting and vet, then runs every test on SQLite and, when it is
# reachable, on PostgreSQL (CONCORD_TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/test). With CONCORD_TEST_REQUIRE_POSTGRES=1
# (CI) an unreachable PostgreSQL fails the run instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"

echo "== gofmt"
unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
  echo "these files need gofmt:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

url="${CONCORD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
if go run ./internal/store/storetest/pgprobe 2>/tmp/concord-pgprobe.err; then
  echo "== PostgreSQL reachable: every store test runs on SQLite and PostgreSQL"
  pg=yes
else
  if [ "${CONCORD_TEST_REQUIRE_POSTGRES:-}" = "1" ]; then
    echo "PostgreSQL is required (CONCORD_TEST_REQUIRE_POSTGRES=1) but unreachable:"; cat /tmp/concord-pgprobe.err; exit 1
  fi
  echo "== PostgreSQL NOT reachable ($(cat /tmp/concord-pgprobe.err | head -1)): its tests are SKIPPED, running on SQLite only"
  pg=no
fi

echo "== go test"
go test -race -count=1 -timeout 20m ./...

if ! command -v chromium >/dev/null && [ "${CONCORD_TEST_REQUIRE_BROWSER:-}" != "1" ]; then
  echo "NOTE: Chromium is not installed, so the browser tests were skipped (apt-get install chromium to run them)."
fi
if [ "$pg" = no ]; then
  echo "NOTE: PostgreSQL tests were skipped. Set CONCORD_TEST_DATABASE_URL to a PostgreSQL you can write to (tests use throw-away schemas) to run them."
fi
