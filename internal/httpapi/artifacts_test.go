package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/artifact"
	"github.com/concordmp/concord/internal/emulator/eventbridge"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/pdfdoc"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// artifactTerms describes every agreement with 3 seats at 40.00.
type artifactTerms struct{}

func (artifactTerms) DescribeAgreement(_ context.Context, id string) (marketplace.AgreementDetails, error) {
	q := int64(3)
	return marketplace.AgreementDetails{Fact: marketplace.Fact{AgreementID: id, Status: marketplace.StatusActive},
		Terms: marketplace.Terms{Currency: "USD", Pricing: []marketplace.PriceItem{
			{Term: "ConfigurableUpfrontPricingTerm", Dimension: "seats", Price: "40.00", Quantity: &q}}}}, nil
}

type artifactAPI struct {
	t   *testing.T
	h   http.Handler
	key string
}

func (a *artifactAPI) get(path string, key ...string) *httptest.ResponseRecorder {
	return a.call(http.MethodGet, path, key...)
}

func (a *artifactAPI) call(method, path string, key ...string) *httptest.ResponseRecorder {
	a.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	k := a.key
	if len(key) > 0 {
		k = key[0]
	}
	if k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

func decodeArtifact(t *testing.T, rec *httptest.ResponseRecorder) artifact.BookableArtifact {
	t.Helper()
	var a artifact.BookableArtifact
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	return a
}

func TestArtifactsAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		l := &inbox.Ledger{DB: db, Now: clock}
		s := &httpapi.Server{DB: db, Ledger: l, Logger: slog.New(slog.DiscardHandler), Now: clock, Version: "test"}
		key, _, err := apikey.Create(ctx, db, "finance", now)
		if err != nil {
			t.Fatal(err)
		}
		api := &artifactAPI{t: t, h: s.Handler(), key: key}

		a := eventbridge.Agreement{ID: "agmt-api1", Intent: "NEW", AcceptanceTime: now, StartTime: now, EndTime: now.AddDate(1, 0, 0),
			AcceptorAccountID: "444455556666", ProposerAccountID: "111122223333", OfferID: "offer-api1", ProductID: "prod-api", ProductCode: "apicode"}
		for _, body := range [][]byte{eventbridge.Created("111122223333", a, now), eventbridge.LicenseUpdated("111122223333", a, eventbridge.LicenseArn("444455556666", "l-api1"), now)} {
			ev, err := marketplace.ParseEventBridge(body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Ingest(ctx, inbox.DoorHTTP, ev); err != nil {
				t.Fatal(err)
			}
		}

		if rec := api.get("/v1/agreements/agmt-api1/artifacts"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"items":[]`) {
			t.Fatalf("list before recording: %d %s", rec.Code, rec.Body)
		}

		rec := api.call(http.MethodPost, "/v1/agreements/agmt-api1/artifacts")
		v1 := decodeArtifact(t, rec)
		if rec.Code != http.StatusCreated || v1.Version != 1 || v1.TermsKnown || rec.Header().Get("Location") != "/v1/artifacts/"+v1.ID {
			t.Fatalf("record: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
		now = now.Add(time.Minute)
		rec = api.call(http.MethodPost, "/v1/agreements/agmt-api1/artifacts")
		if again := decodeArtifact(t, rec); rec.Code != http.StatusOK || again.ID != v1.ID {
			t.Fatalf("record unchanged: %d %s", rec.Code, rec.Body)
		}
		if err := l.Enrich(ctx, artifactTerms{}, "agmt-api1"); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		rec = api.call(http.MethodPost, "/v1/agreements/agmt-api1/artifacts")
		v2 := decodeArtifact(t, rec)
		if rec.Code != http.StatusCreated || v2.Version != 2 || !v2.TermsKnown || v2.TotalContractValue != "120.00" {
			t.Fatalf("record with terms: %d %s", rec.Code, rec.Body)
		}

		t.Run("list and get", func(t *testing.T) {
			var list struct{ Items []artifact.BookableArtifact }
			rec := api.get("/v1/agreements/agmt-api1/artifacts")
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != 200 || len(list.Items) != 2 || list.Items[1].ID != v2.ID {
				t.Fatalf("list: %d %s", rec.Code, rec.Body)
			}
			rec = api.get("/v1/artifacts/" + v2.ID)
			if got := decodeArtifact(t, rec); rec.Code != 200 || got.ContentHash != v2.ContentHash || got.Lines[0].LineTotal != "120.00" {
				t.Fatalf("get: %d %s", rec.Code, rec.Body)
			}
		})

		t.Run("PDF and CSV downloads", func(t *testing.T) {
			rec := api.get("/v1/artifacts/" + v2.ID + "/pdf")
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/pdf" ||
				rec.Header().Get("Content-Disposition") != "attachment; filename=artifact-agmt-api1-v2.pdf" {
				t.Fatalf("pdf: %d %v", rec.Code, rec.Header())
			}
			if n, err := pdfdoc.PageCount(rec.Body.Bytes()); err != nil || n != 1 {
				t.Fatalf("pdf pages %d %v", n, err)
			}
			rec = api.get("/v1/artifacts/" + v2.ID + "/csv")
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
				rec.Header().Get("Content-Disposition") != "attachment; filename=artifact-agmt-api1-v2.csv" {
				t.Fatalf("csv: %d %v", rec.Code, rec.Header())
			}
			lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "artifact_id,agreement_id,version,") || !strings.HasSuffix(lines[1], ",1,seats,,contract,ConfigurableUpfrontPricingTerm,3,40.00,120.00") {
				t.Fatalf("csv body:\n%s", rec.Body)
			}
		})

		t.Run("export", func(t *testing.T) {
			rec := api.get("/v1/artifacts/export?from=2026-11-01&to=2026-12-01")
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
				rec.Header().Get("Content-Disposition") != "attachment; filename=artifacts-2026-11-01-2026-12-01.csv" {
				t.Fatalf("export: %d %v %s", rec.Code, rec.Header(), rec.Body)
			}
			var want bytes.Buffer
			if err := artifact.CSV(&want, []artifact.BookableArtifact{v1, v2}); err != nil {
				t.Fatal(err)
			}
			if rec.Body.String() != want.String() {
				t.Fatalf("export body\n%s\nwant\n%s", rec.Body, want.String())
			}
			rec = api.get("/v1/artifacts/export?from=2026-12-01&to=2027-01-01&kind=new")
			if rec.Code != 200 || rec.Header().Get("Content-Disposition") != "attachment; filename=artifacts-2026-12-01-2027-01-01-new.csv" ||
				rec.Body.String() != strings.Join(artifact.Columns, ",")+"\n" {
				t.Fatalf("empty export: %d %v %q", rec.Code, rec.Header(), rec.Body)
			}
		})

		t.Run("bad input is a clear 4xx", func(t *testing.T) {
			for _, tc := range []struct {
				method, path string
				status       int
				message      string
			}{
				{"GET", "/v1/artifacts/export?from=2026-13-01&to=2026-12-01", 400, `from \"2026-13-01\" is not a date: use YYYY-MM-DD (UTC)`},
				{"GET", "/v1/artifacts/export?to=2026-12-01", 400, "from is required"},
				{"GET", "/v1/artifacts/export?from=2026-12-01&to=2026-11-01", 400, "to (2026-11-01) must be after from (2026-12-01)"},
				{"GET", "/v1/artifacts/export?from=2026-01-01&to=2027-06-01", 400, "longer than a year"},
				{"GET", "/v1/artifacts/export?from=2026-11-01&to=2026-12-01&kind=gift", 400, `kind \"gift\" is invalid`},
				{"GET", "/v1/artifacts/art_nope", 404, "artifact art_nope not found"},
				{"GET", "/v1/artifacts/art_nope/pdf", 404, "artifact art_nope not found"},
				{"GET", "/v1/agreements/agmt-nope/artifacts", 404, "agreement agmt-nope not found"},
				{"POST", "/v1/agreements/agmt-nope/artifacts", 404, "agreement agmt-nope not found"},
				{"GET", "/v1/artifacts/%00/csv", 0, ""},
			} {
				rec := api.call(tc.method, tc.path)
				if tc.status == 0 {
					if rec.Code < 400 || rec.Code >= 500 {
						t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
					}
					continue
				}
				if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.message) {
					t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.message)
				}
			}
			if rec := api.get("/v1/artifacts/export?from=2026-11-01&to=2026-12-01", "ck_wrong"); rec.Code != 401 {
				t.Errorf("a wrong key: %d", rec.Code)
			}
		})
	})
}
