package artifact

import "testing"

func TestDecimal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		ok    bool
		str   string
		times int64
		prod  string
	}{
		{"40", true, "40.00", 10, "400.00"},
		{"1200.00", true, "1200.00", 10, "12000.00"},
		{"0.002", true, "0.002", 3, "0.006"},
		{"0.0005", true, "0.0005", 7, "0.0035"},
		{"-1.5", true, "-1.50", 2, "-3.00"},
		{"0", true, "0.00", 5, "0.00"},
		{"000.10", true, "0.10", 1, "0.10"},
		{"99999999999999999999.99", true, "99999999999999999999.99", 1000000, "99999999999999999999990000.00"},
		{"", false, "", 0, ""},
		{"1e3", false, "", 0, ""},
		{"1,000.00", false, "", 0, ""},
		{" 1.00", false, "", 0, ""},
		{"1.", false, "", 0, ""},
		{".5", false, "", 0, ""},
		{"NaN", false, "", 0, ""},
	} {
		d, ok := parseDecimal(tc.in)
		if ok != tc.ok {
			t.Errorf("parse %q: ok %v", tc.in, ok)
			continue
		}
		if !ok {
			continue
		}
		if d.String() != tc.str || d.mulInt(tc.times).String() != tc.prod {
			t.Errorf("%q: %s, ×%d = %s", tc.in, d, tc.times, d.mulInt(tc.times))
		}
	}
	sum := zero()
	for _, s := range []string{"0.10", "0.20", "1", "0.005"} {
		d, _ := parseDecimal(s)
		sum = sum.add(d)
	}
	if sum.String() != "1.305" {
		t.Errorf("sum %s, want exactly 1.305", sum)
	}
}
