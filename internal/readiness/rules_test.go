package readiness

import (
	"testing"
	"time"
)

func TestZeroDollarForm(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		form string
		zero bool
		why  string
	}{
		"every price zero": {`{"zeroDollar":true,"pricing":{"currency":"USD","dimensions":[{"key":"seats","price":"0"},{"key":"api","price":"0.00"}]}}`, true, "priced at $0"},
		"a price above zero": {`{"zeroDollar":true,"pricing":{"currency":"USD","dimensions":[{"key":"seats","price":"0"},{"key":"api","price":"0.0001"}]}}`,
			false, "dimension api is priced at 0.0001 USD"},
		"an installment":     {`{"zeroDollar":true,"pricing":{"currency":"EUR","dimensions":[{"key":"seats","price":"0"}],"schedule":[{"amount":"10"}]}}`, false, "an installment of 10 EUR"},
		"not ticked":         {`{"pricing":{"dimensions":[{"key":"seats","price":"0"}]}}`, false, "zero-dollar pricing is not ticked"},
		"priced, not ticked": {`{"pricing":{"currency":"USD","dimensions":[{"key":"seats","price":"12.50"}]}}`, false, "dimension seats is priced at 12.50 USD"},
		"unreadable price":   {`{"zeroDollar":true,"pricing":{"currency":"USD","dimensions":[{"key":"seats","price":"free"}]}}`, false, "dimension seats is priced at free USD"},
		"not JSON":           {`{`, false, "its form could not be read"},
		"ticked, no pricing": {`{"zeroDollar":true}`, true, "priced at $0"},
		"an empty price is not zero": {`{"zeroDollar":true,"pricing":{"currency":"USD","dimensions":[{"key":"seats","price":""}]}}`, false,
			"dimension seats is priced at  USD"},
	} {
		zero, why := zeroDollarForm(tc.form)
		if zero != tc.zero || why != tc.why {
			t.Errorf("%s: got %v %q, want %v %q", name, zero, why, tc.zero, tc.why)
		}
	}
}

func TestTermsTotal(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		terms       string
		zero, known bool
		what        string
	}{
		"estimated zero":    {`{"currency":"USD","estimatedValue":"0.00"}`, true, true, "AWS's terms total 0.00 USD"},
		"estimated value":   {`{"currency":"USD","estimatedValue":"1200.00","pricing":[{"dimension":"seats","price":"0"}]}`, false, true, "AWS's terms total 1200.00 USD"},
		"prices all zero":   {`{"currency":"USD","pricing":[{"dimension":"seats","price":"0"},{"dimension":"api","price":"0.000"}]}`, true, true, "every price in AWS's terms is zero"},
		"a price":           {`{"currency":"USD","pricing":[{"dimension":"seats","price":"0"},{"dimension":"api","price":"0.01"}]}`, false, true, "AWS's terms price api at 0.01 USD"},
		"a payment":         {`{"currency":"USD","pricing":[{"dimension":"seats","price":"0"}],"paymentSchedule":[{"amount":"5"}]}`, false, true, "AWS's terms schedule a payment of 5 USD"},
		"no price at all":   {`{"pricing":[{"dimension":"seats"}],"types":["FreeTrialPricingTerm"]}`, false, false, "AWS's terms carry no price"},
		"unreadable":        {`[]`, false, false, "its terms could not be read"},
		"schedule of zeros": {`{"currency":"USD","paymentSchedule":[{"amount":"0"}]}`, true, true, "every price in AWS's terms is zero"},
	} {
		zero, known, what := termsTotal(tc.terms)
		if zero != tc.zero || known != tc.known || what != tc.what {
			t.Errorf("%s: got %v %v %q, want %v %v %q", name, zero, known, what, tc.zero, tc.known, tc.what)
		}
	}
}

func TestSpansOverlap(t *testing.T) {
	t.Parallel()
	at := func(h int) time.Time { return time.Date(2026, 11, 2, h, 0, 0, 0, time.UTC) }
	for name, tc := range map[string]struct {
		a, b span
		want bool
	}{
		"both in force":            {span{From: at(1)}, span{From: at(2)}, true},
		"second after first ends":  {span{From: at(1), To: at(2)}, span{From: at(2)}, false},
		"second before first ends": {span{From: at(1), To: at(3)}, span{From: at(2)}, true},
		"disjoint, reversed":       {span{From: at(5)}, span{From: at(1), To: at(4)}, false},
		"nested":                   {span{From: at(1), To: at(9)}, span{From: at(2), To: at(3)}, true},
		"unknown start":            {span{}, span{From: at(1)}, false},
	} {
		if got := tc.a.overlaps(tc.b); got != tc.want {
			t.Errorf("%s: %v.overlaps(%v) = %v", name, tc.a, tc.b, got)
		}
		if got := tc.b.overlaps(tc.a); got != tc.want {
			t.Errorf("%s (reversed): %v", name, got)
		}
	}
}

func TestSpanOf(t *testing.T) {
	t.Parallel()
	acc, start, end, ended := time.Unix(100, 0), time.Unix(200, 0), time.Unix(900, 0), time.Unix(500, 0)
	for name, tc := range map[string]struct {
		row  agreementRow
		want span
	}{
		"accepted, in force":         {agreementRow{status: "ACTIVE", accepted: &acc, start: &start, end: &end}, span{From: acc}},
		"only a start":               {agreementRow{status: "ACTIVE", start: &start}, span{From: start}},
		"ended":                      {agreementRow{status: "CANCELLED", accepted: &acc, end: &end, ended: &ended}, span{From: acc, To: ended}},
		"terminal without ended_at":  {agreementRow{status: "EXPIRED", accepted: &acc, end: &end}, span{From: acc, To: end}},
		"active past its end (open)": {agreementRow{status: "ACTIVE", accepted: &acc, end: &end}, span{From: acc}},
	} {
		if got := spanOf(tc.row); got != tc.want {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}
