package console

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/readiness"
)

type readinessData struct {
	awsWords
	Products  []marketplace.Product
	ProductID string
	Accounts  string
	Report    *readiness.Readiness
	Failing   int
	CSVHref   string
}

// readinessInput reads and checks the product and test accounts of a
// readiness request; with no product it picks the first one.
func (s *Service) readinessInput(r *http.Request) (readinessData, []string, []fieldError, error) {
	q := r.URL.Query()
	d := readinessData{ProductID: strings.TrimSpace(q.Get("product")), Accounts: strings.TrimSpace(q.Get("accounts"))}
	_, products, err := s.productTitles(r.Context())
	if err != nil {
		return d, nil, nil, err
	}
	d.Products = products
	var errs []fieldError
	if d.ProductID == "" && len(products) > 0 {
		d.ProductID = products[0].ProductID
	}
	if d.ProductID != "" && !slices.ContainsFunc(products, func(p marketplace.Product) bool { return p.ProductID == d.ProductID }) {
		errs = append(errs, fieldError{ID: "product", Message: "Choose a product from the list."})
	}
	var accounts []string
	if len(d.Accounts) > 2000 {
		errs = append(errs, fieldError{ID: "accounts", Message: "Give at most " + strconv.Itoa(readiness.MaxAccounts) + " test accounts."})
	} else if accounts, err = readiness.ParseAccounts(d.Accounts); err != nil {
		errs = append(errs, fieldError{ID: "accounts", Message: "Give AWS account ids of 12 digits, separated by commas: " + marketplace.ErrorMessage(err) + "."})
	} else if len(accounts) > readiness.MaxAccounts {
		errs = append(errs, fieldError{ID: "accounts", Message: "Give at most " + strconv.Itoa(readiness.MaxAccounts) + " test accounts."})
	}
	return d, accounts, errs, nil
}

// readinessPage shows the Concurrent Agreements opt-in readiness of a
// product as a checklist.
func (s *Service) readinessPage(w http.ResponseWriter, r *http.Request) {
	d, accounts, errs, err := s.readinessInput(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := view{Title: "Concurrent Agreements readiness", Nav: "readiness", Errors: errs, Data: &d}
	if len(errs) > 0 {
		s.render(w, r, http.StatusBadRequest, "readiness", v)
		return
	}
	if d.ProductID != "" {
		rep, err := readiness.Report(r.Context(), s.DB, d.ProductID, accounts, s.now())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Report = &rep
		for _, c := range rep.Checks {
			if c.Status == readiness.Fail {
				d.Failing++
			}
		}
		csv := url.Values{"product": {d.ProductID}}
		if d.Accounts != "" {
			csv.Set("accounts", d.Accounts)
		}
		d.CSVHref = Prefix + "/readiness.csv?" + csv.Encode()
	}
	s.render(w, r, http.StatusOK, "readiness", v)
}

var readinessFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// readinessCSV downloads the test transactions as the CSV to attach to the
// opt-in support case (readiness.WriteCSV).
func (s *Service) readinessCSV(w http.ResponseWriter, r *http.Request) {
	d, accounts, errs, err := s.readinessInput(r)
	if err == nil && len(errs) > 0 {
		err = marketplace.Errorf(marketplace.EInvalid, "%s", errs[0].Message)
	}
	if err == nil && d.ProductID == "" {
		err = marketplace.Errorf(marketplace.EInvalid, "choose a product: no product is configured yet")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := readiness.Report(r.Context(), s.DB, d.ProductID, accounts, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var b bytes.Buffer
	if err := readiness.WriteCSV(&b, rep); err != nil {
		s.fail(w, r, err)
		return
	}
	sendFile(w, "text/csv; charset=utf-8", "readiness-"+readinessFileChars.ReplaceAllString(d.ProductID, "_")+".csv", b.Bytes())
}
