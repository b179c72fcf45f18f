package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/inbox"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
	"github.com/concordmp/concord/internal/pdfdoc"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

type docAPI struct {
	t   *testing.T
	h   http.Handler
	key string
	db  *store.DB
}

func (a *docAPI) call(method, path, contentType string, body []byte, key string) *httptest.ResponseRecorder {
	a.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// token is the public token of the offer's consolidated contract of a kind.
func (a *docAPI) token(offerID, kind string) string {
	a.t.Helper()
	var tok string
	a.db.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT token FROM offer_consolidations WHERE offer_id = ? AND kind = ?`, offerID, kind).Scan(&tok)
	})
	return tok
}

func multipartBody(t *testing.T, files ...[3]string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+f[0]+`"`)
		if f[1] != "" {
			h.Set("Content-Type", f[1])
		}
		p, _ := w.CreatePart(h)
		io.WriteString(p, f[2])
	}
	w.WriteField("note", "ignored")
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// TestOfferDocumentsAPI uploads documents as a raw body and as multipart,
// lists, downloads and removes them, and fetches the consolidated PDF from
// its public URL without an API key.
func TestOfferDocumentsAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }
		l := &inbox.Ledger{DB: db, Now: now}
		if _, err := l.PutProduct(ctx, marketplace.Product{ProductID: "prod-d", ProductCode: "code-d", Type: marketplace.ProductSaaSContract,
			Dimensions: []marketplace.Dimension{{Key: "seats", Kind: "contract"}}}); err != nil {
			t.Fatal(err)
		}
		svc := &offer.Service{DB: db, Now: now, PublicURL: func() string { return "https://concord.example" }}
		s := &httpapi.Server{DB: db, Ledger: l, Logger: slog.New(slog.DiscardHandler), Now: now, Version: "test", Offers: svc}
		key, _, err := apikey.Create(ctx, db, "test", now())
		if err != nil {
			t.Fatal(err)
		}
		a := &docAPI{t: t, h: s.Handler(), key: key, db: db}
		form := offer.Offer{Type: offer.TypeDirect, BuyerCompany: "Initech", ProductID: "prod-d", EULA: offer.Legal{Kind: "standard"},
			Pricing:  offer.Pricing{Currency: "USD", Duration: "P12M", Dimensions: []offer.PricedDimension{{Key: "seats", Kind: "contract", Quantity: 5, Price: "10"}}},
			Metadata: map[string]string{offer.MetaBuyerAccount: "123456789012"}, ExpiresOn: "2099-12-31"}
		d, err := svc.Create(ctx, form)
		if err != nil {
			t.Fatal(err)
		}
		base := "/v1/offers/" + d.ID + "/documents"
		pdf, _ := pdfdoc.TextToPDF("order form", strings.Repeat("line\n", 80)) // 2 pages

		// An API key is required; a raw body needs its file name.
		if rec := a.call("POST", base+"?name=terms.txt", "text/plain", []byte("terms"), ""); rec.Code != 401 {
			t.Fatalf("no API key: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("POST", base, "text/plain", []byte("terms"), key); rec.Code != 400 || !strings.Contains(rec.Body.String(), "give the file name") {
			t.Fatalf("no name: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("POST", base+"?name=terms.txt&kind=addendum", "text/plain", []byte("terms"), key); rec.Code != 422 && rec.Code != 400 {
			t.Fatalf("unknown kind: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("POST", base+"?name=fake.pdf", "application/pdf", []byte("no PDF"), key); rec.Code != 400 || !strings.Contains(rec.Body.String(), `\"fake.pdf\" is not a PDF`) {
			t.Fatalf("fake PDF: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("POST", base+"?name=big.txt", "text/plain", bytes.Repeat([]byte("x"), 8<<20), key); rec.Code != 413 {
			t.Fatalf("8 MB body: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("POST", base+"?name=terms.txt&kind=reseller", "text/plain", []byte("terms"), key); rec.Code != 400 || !strings.Contains(rec.Body.String(), "only a partner offer") {
			t.Fatalf("reseller agreement of a direct offer: %d %s", rec.Code, rec.Body)
		}

		// A raw TXT (its type guessed from the name, as curl --data-binary
		// sends it), then two files in one multipart body.
		rec := a.call("POST", base+"?name=terms.txt", "application/x-www-form-urlencoded", []byte("These terms apply.\n"), key)
		if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"kind":"custom"`) {
			t.Fatalf("raw upload: %d %s", rec.Code, rec.Body)
		}
		ct, body := multipartBody(t, [3]string{"order-form.pdf", "", string(pdf)}, [3]string{"annex.txt", "text/plain", "Annex A\n"})
		rec = a.call("POST", base, ct, body, key)
		var got offer.Detail
		if json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 201 || len(got.EULA.Documents) != 3 {
			t.Fatalf("multipart upload: %d %s", rec.Code, rec.Body)
		}
		ct, body = multipartBody(t)
		if rec := a.call("POST", base, ct, body, key); rec.Code != 400 || !strings.Contains(rec.Body.String(), "no part named file") {
			t.Fatalf("multipart without files: %d %s", rec.Code, rec.Body)
		}

		rec = a.call("GET", base, "", nil, key)
		var list struct{ Items []offer.StoredDocument }
		if json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || len(list.Items) != 3 || list.Items[1].Name != "order-form.pdf" || list.Items[1].Pages != 2 {
			t.Fatalf("list: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("GET", base+"/"+list.Items[1].ID, "", nil, key); rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), pdf) ||
			rec.Header().Get("Content-Type") != "application/pdf" || !strings.Contains(rec.Header().Get("Content-Disposition"), "order-form.pdf") {
			t.Fatalf("download a document: %d %v", rec.Code, rec.Header())
		}
		rec = a.call("GET", base+"/eula.pdf", "", nil, key)
		if n, err := pdfdoc.PageCount(rec.Body.Bytes()); rec.Code != 200 || err != nil || n != 4 || rec.Header().Get("Content-Type") != "application/pdf" {
			t.Fatalf("consolidated EULA: %d, %d pages, %v", rec.Code, n, err)
		}
		consolidated := rec.Body.Bytes()
		if rec := a.call("GET", base+"/reseller.pdf", "", nil, key); rec.Code != 404 {
			t.Fatalf("reseller agreement of a direct offer: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("GET", base+"/eula.pdf", "", nil, ""); rec.Code != 401 {
			t.Fatalf("consolidated EULA without an API key: %d", rec.Code)
		}

		// The public URL: no API key; only the token and the right file name.
		tok := a.token(d.ID, offer.KindEULA)
		rec = a.call("GET", "/documents/"+tok+"/eula.pdf", "", nil, "")
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), consolidated) || rec.Header().Get("Content-Type") != "application/pdf" {
			t.Fatalf("public EULA: %d %v", rec.Code, rec.Header())
		}
		if rec := a.call("HEAD", "/documents/"+tok+"/eula.pdf", "", nil, ""); rec.Code != 200 || rec.Header().Get("Content-Length") == "" {
			t.Fatalf("HEAD: %d %v", rec.Code, rec.Header())
		}
		for _, p := range []string{"/documents/" + tok + "/reseller-agreement.pdf", "/documents/" + tok + "/other.pdf",
			"/documents/" + strings.Repeat("A", 43) + "/eula.pdf", "/documents/short/eula.pdf"} {
			if rec := a.call("GET", p, "", nil, ""); rec.Code != 404 {
				t.Errorf("GET %s: %d", p, rec.Code)
			}
		}

		// Remove one: the history says so, and the public URL of the old
		// consolidation is gone.
		rec = a.call("DELETE", base+"/"+list.Items[0].ID, "", nil, key)
		if json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || len(got.EULA.Documents) != 2 || got.History[len(got.History)-1].Step != "document removed" {
			t.Fatalf("remove: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("DELETE", base+"/"+list.Items[0].ID, "", nil, key); rec.Code != 404 {
			t.Fatalf("remove twice: %d %s", rec.Code, rec.Body)
		}
		if rec := a.call("GET", "/documents/"+tok+"/eula.pdf", "", nil, ""); rec.Code != 404 {
			t.Fatalf("outdated public URL: %d", rec.Code)
		}

		// The OpenAPI document describes the upload's body.
		rec = a.call("GET", "/openapi.json", "", nil, "")
		if !strings.Contains(rec.Body.String(), `"/v1/offers/{id}/documents"`) || !strings.Contains(rec.Body.String(), `"multipart/form-data"`) {
			t.Errorf("openapi.json lacks the documents operations")
		}
	})
}
