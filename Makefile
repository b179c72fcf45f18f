# Concord's everyday commands. `make help` lists them.
.PHONY: help run build test chaos bench bench-mixed bench-memory fuzz tidy

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

run: ## run Concord on SQLite with the built-in marketplace emulator
	go run ./cmd/concord serve

build: ## build ./concord
	CGO_ENABLED=0 go build -o concord ./cmd/concord

test: ## gofmt, vet and every test (SQLite always, PostgreSQL when reachable)
	./scripts/test.sh

chaos: ## the long crash tests: kill -9 concord serve 20+ times per variant (CONCORD_CHAOS_KILLS, _DURATION, _SEED)
	CONCORD_CHAOS_KILLS=$${CONCORD_CHAOS_KILLS:-20} CONCORD_CHAOS_DURATION=$${CONCORD_CHAOS_DURATION:-60s} \
		go test -count=1 -v -timeout 30m -run '^TestCrash' ./internal/chaos

bench: ## the benchmarks quoted in the issues' closing notes
	go test -run '^$$' -bench '^BenchmarkIngestHTTP$$' -benchtime 3000x ./internal/app
	go test -run '^$$' -bench '^BenchmarkIngestHTTPSQLite$$' -benchtime 3000x ./internal/app
	go test -run '^$$' -bench BenchmarkUsageIngestHTTP -benchtime 50x ./internal/app
	go test -run '^$$' -bench '^BenchmarkIngestHTTPPostgres$$' -benchtime 3000x ./internal/app
	go test -run '^$$' -bench '^BenchmarkUsageIngestPostgres$$' -benchtime 30x ./internal/app
	go test -run '^$$' -bench '^BenchmarkReplay$$' -benchtime 1x -timeout 20m ./internal/app
	go test -run '^$$' -bench BenchmarkMeteringSubmit -benchtime 1x ./internal/app
	go test -run '^$$' -bench . ./internal/job
	go test -run '^$$' -bench . -benchtime 3s ./internal/emulator/metering
	go test -run '^$$' -bench EntitlementCheckHTTP -benchtime 10s ./internal/httpapi
	$(MAKE) bench-mixed bench-memory

BENCH_PG ?= $(or $(CONCORD_TEST_DATABASE_URL),postgres://postgres@127.0.0.1:5432/test?sslmode=disable)

bench-mixed: ## 30 s of events, 50-record usage batches and entitlement checks at once (200 writes/s), on SQLite and PostgreSQL (BENCH_PG)
	go build -o /tmp/concord-bench ./cmd/concord
	/tmp/concord-bench bench mixed --duration 30s --events 100 --usage 100 --checks 200
	/tmp/concord-bench bench mixed --duration 30s --events 100 --usage 100 --checks 200 --database '$(BENCH_PG)'

bench-memory: ## peak memory of concord serve with 100,000 licenses and 1,000,000 usage rows under a flood of 10,000-record usage batches
	go build -o /tmp/concord-bench ./cmd/concord
	/tmp/concord-bench bench memory --licenses 100000 --usage-rows 1000000 --records 10000 --clients 16 --flood 20s

fuzz: ## fuzz every parser of outside input for 30 s each
	for f in FuzzParseEventBridge FuzzParseSNSAction FuzzLicenseID FuzzRegistrationCheck FuzzDecodeEnvelope; do go test -run '^$$' -fuzz $$f -fuzztime 30s ./internal/marketplace || exit 1; done
	go test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/snsverify
	go test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./internal/snsverify
	go test -run '^$$' -fuzz FuzzRebind -fuzztime 30s ./internal/store
	go test -run '^$$' -fuzz FuzzAPIBodies -fuzztime 30s ./internal/httpapi
	go test -run '^$$' -fuzz FuzzWebhookBodies -fuzztime 30s ./internal/httpapi
	go test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./internal/webhook
	go test -run '^$$' -fuzz FuzzParseCSV -fuzztime 30s ./internal/backfill
	go test -run '^$$' -fuzz FuzzWriter -fuzztime 30s ./internal/csvexport
	go test -run '^$$' -fuzz FuzzFormat -fuzztime 30s ./internal/money
	go test -run '^$$' -fuzz FuzzParseAccounts -fuzztime 30s ./internal/backfill
	go test -run '^$$' -fuzz FuzzServeHTTP -fuzztime 30s ./internal/emulator/sqs
	go test -run '^$$' -fuzz FuzzLoadWorld -fuzztime 30s ./internal/emulator
	for p in agreementapi metering entitlement catalog; do go test -run '^$$' -fuzz FuzzServeHTTP -fuzztime 30s ./internal/emulator/$$p || exit 1; done
	go test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./internal/emulator/smithyio
	go test -run '^$$' -fuzz FuzzParseUsage -fuzztime 30s ./internal/metering
	go test -run '^$$' -fuzz '^FuzzParseBatch$$' -fuzztime 30s ./internal/metering
	go test -run '^$$' -fuzz '^FuzzParseBatchFast$$' -fuzztime 30s ./internal/metering
	go test -run '^$$' -fuzz FuzzNotificationRoute -fuzztime 30s ./internal/notify
	go test -run '^$$' -fuzz FuzzTidyHTML -fuzztime 30s ./internal/notify
	go test -run '^$$' -fuzz FuzzDocumentUpload -fuzztime 30s ./internal/offer
	go test -run '^$$' -fuzz FuzzArtifactExportParams -fuzztime 30s ./internal/artifact
	go test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/docscheck
	go test -run '^$$' -fuzz FuzzDiffAndRedact -fuzztime 30s ./internal/audit
