package console

import (
	"context"
	"net/http"
	"net/url"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/report"
)

// mountCompanies adds the form that names a buyer by hand.
func (s *Service) mountCompanies(m Mux) {
	m.HandleFunc("POST "+Prefix+"/buyers/{account}/company", s.signedIn(s.may(AreaOffers, s.setBuyerCompany)))
}

// buyerMoney is what the buyer page adds to the ledger's view of a buyer:
// its company and each agreement's contract value.
type buyerMoney struct {
	Company report.Company
	// Values are the agreements' contract values, written for people, by id.
	Values map[string]string
}

// Value is the contract value of agreement id, or "".
func (b buyerMoney) Value(id string) string { return b.Values[id] }

func (s *Service) buyerMoneyOf(ctx context.Context, account string) (buyerMoney, error) {
	b := buyerMoney{Values: map[string]string{}}
	companies, err := report.LoadCompanies(ctx, s.DB)
	if err != nil {
		return b, err
	}
	b.Company = companies[account]
	list, err := report.Agreements(ctx, s.DB, report.AgreementFilter{Account: account, Page: report.AllRows}, s.now())
	if err != nil {
		return b, err
	}
	for _, a := range list.Items {
		if a.ContractValue != "" {
			b.Values[a.AgreementID] = moneyOf(a.ContractValue, a.Currency)
		}
	}
	return b, nil
}

// setBuyerCompany names a buyer by hand (an empty name clears it).
func (s *Service) setBuyerCompany(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	name := r.PostForm.Get("company")
	err := report.SetCompany(r.Context(), s.DB, account, name, s.wallNow())
	if marketplace.ErrorCode(err) == marketplace.EInvalid {
		s.showBuyer(w, r, http.StatusBadRequest, account, []fieldError{{ID: "company", Message: marketplace.ErrorMessage(err) + "."}}, name)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.logger().Info("console: buyer company set", "account", account, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/buyers/"+url.PathEscape(account)+"?named=1", http.StatusSeeOther)
}
