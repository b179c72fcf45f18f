package artifact

import (
	"math/big"
	"regexp"
	"strings"
)

// Money is exact: amounts are decimal strings as AWS sends them, summed and
// multiplied as scaled integers, never as floats.

var decimalPattern = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// decimal is an exact decimal number: v × 10^-scale.
type decimal struct {
	v     *big.Int
	scale int
}

// maxDecimalLength bounds what parseDecimal accepts, so a hostile value
// cannot make the arithmetic expensive.
const maxDecimalLength = 64

// parseDecimal reads a plain decimal ("40", "0.002", "-1.50"); ok is false
// for anything else (exponents, spaces, separators, empty).
func parseDecimal(s string) (decimal, bool) {
	if len(s) > maxDecimalLength || !decimalPattern.MatchString(s) {
		return decimal{}, false
	}
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
		s = s[:i] + s[i+1:]
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return decimal{}, false
	}
	return decimal{v: v, scale: scale}, true
}

func zero() decimal { return decimal{v: new(big.Int)} }

// rescale returns d with at least scale digits after the point.
func (d decimal) rescale(scale int) decimal {
	if scale <= d.scale {
		return d
	}
	m := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-d.scale)), nil)
	return decimal{v: new(big.Int).Mul(d.v, m), scale: scale}
}

func (d decimal) add(e decimal) decimal {
	s := max(d.scale, e.scale)
	a, b := d.rescale(s), e.rescale(s)
	return decimal{v: new(big.Int).Add(a.v, b.v), scale: s}
}

func (d decimal) mulInt(n int64) decimal {
	return decimal{v: new(big.Int).Mul(d.v, big.NewInt(n)), scale: d.scale}
}

// String writes d exactly, with at least two digits after the point (the
// way amounts are written), more when d has them.
func (d decimal) String() string {
	d = d.rescale(2)
	neg := d.v.Sign() < 0
	digits := new(big.Int).Abs(d.v).String()
	if len(digits) <= d.scale {
		digits = strings.Repeat("0", d.scale-len(digits)+1) + digits
	}
	cut := len(digits) - d.scale
	out := digits[:cut] + "." + digits[cut:]
	if neg {
		out = "-" + out
	}
	return out
}
