package marketplace

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRegistrationValidate(t *testing.T) {
	t.Parallel()
	ok := []Registration{
		{},
		{Strategy: StrategyUnified, AppURL: "https://app.example.com", AutoRegisterAfter: "30m"},
		{Strategy: StrategyChoice, AutoRegisterAfter: "off", Fields: []RegistrationField{{Key: "company", Label: "Company", Type: "text", Required: true},
			{Key: "tier", Label: "Tier", Type: "select", Options: []string{"a", "b"}}}},
	}
	for _, r := range ok {
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
	bad := map[string]Registration{
		"strategy":         {Strategy: "shared"},
		"logo URL":         {LogoURL: "javascript:alert(1)"},
		"delay":            {AutoRegisterAfter: "soon"},
		"negative delay":   {AutoRegisterAfter: "-1h"},
		"field key":        {Fields: []RegistrationField{{Key: "1x", Label: "x", Type: "text"}}},
		"duplicate":        {Fields: []RegistrationField{{Key: "a", Label: "a", Type: "text"}, {Key: "a", Label: "a", Type: "text"}}},
		"type":             {Fields: []RegistrationField{{Key: "a", Label: "a", Type: "password"}}},
		"select options":   {Fields: []RegistrationField{{Key: "a", Label: "a", Type: "select"}}},
		"options on text":  {Fields: []RegistrationField{{Key: "a", Label: "a", Type: "text", Options: []string{"x"}}}},
		"optional company": {Fields: []RegistrationField{{Key: "company", Label: "Company", Type: "text"}}},
		"no label":         {Fields: []RegistrationField{{Key: "a", Type: "text"}}},
	}
	for name, r := range bad {
		if err := r.Validate(); ErrorCode(err) != EInvalid {
			t.Errorf("%s: want invalid, got %v", name, err)
		}
	}
}

func TestRegistrationCheck(t *testing.T) {
	t.Parallel()
	r := Registration{Fields: []RegistrationField{
		{Key: "company", Label: "Company", Type: "text", Required: true},
		{Key: "email", Label: "Email", Type: "email", Required: true},
		{Key: "size", Label: "Size", Type: "number"},
		{Key: "site", Label: "Site", Type: "url"},
		{Key: "tier", Label: "Tier", Type: "select", Options: []string{"gold"}},
		{Key: "terms", Label: "Terms", Type: "checkbox", Required: true},
	}}
	out, problems := r.Check(Answers{"company": "  Acme  ", "email": "a@b.example", "size": "12", "site": "https://acme.example", "tier": "gold", "terms": "on", "extra": "dropped"})
	if len(problems) != 0 || out["company"] != "Acme" || out["terms"] != "true" || out["extra"] != "" {
		t.Fatalf("good answers: %v %v", out, problems)
	}
	_, problems = r.Check(Answers{"email": "Ada <a@b.example>", "size": "many", "site": "ftp://x", "tier": "tin"})
	for _, k := range []string{"company", "email", "size", "site", "tier", "terms"} {
		if problems[k] == "" {
			t.Errorf("%s: no problem reported in %v", k, problems)
		}
	}
}

func FuzzRegistrationCheck(f *testing.F) {
	f.Add("Acme", "a@b.example", "12", "https://x.example", "gold")
	f.Add("", "\x00", "1e400", "http://", "\xff")
	r := Registration{Fields: []RegistrationField{
		{Key: "company", Label: "Company", Type: "text", Required: true},
		{Key: "email", Label: "Email", Type: "email"},
		{Key: "size", Label: "Size", Type: "number"},
		{Key: "site", Label: "Site", Type: "url"},
		{Key: "tier", Label: "Tier", Type: "select", Options: []string{"gold"}},
	}}
	f.Fuzz(func(t *testing.T, company, email, size, site, tier string) {
		out, problems := r.Check(Answers{"company": company, "email": email, "size": size, "site": site, "tier": tier})
		for k, v := range out {
			if problems[k] == "" && (!utf8.ValidString(v) || strings.ContainsRune(v, 0)) {
				t.Fatalf("accepted unstorable %s=%q", k, v)
			}
		}
		if len(problems) == 0 && out["company"] == "" {
			t.Fatal("accepted a registration without a company")
		}
	})
}
