package report

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/marketplace"
)

// Order is how a list is sorted: one of its whitelisted keys, ascending or
// descending. Keys name columns; they are never put into SQL.
type Order struct {
	Key  string
	Desc bool
}

// String writes the order as the sort parameter takes it: "end" or "-end".
func (o Order) String() string {
	if o.Desc {
		return "-" + o.Key
	}
	return o.Key
}

// ParseOrder reads a sort parameter ("end" ascending, "-end" descending);
// empty is def. A key not in keys is an invalid error that lists them.
func ParseOrder(s string, keys []string, def Order) (Order, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	o := Order{Key: strings.TrimPrefix(s, "-"), Desc: strings.HasPrefix(s, "-")}
	if !slices.Contains(keys, o.Key) {
		return def, marketplace.Errorf(marketplace.EInvalid, "sort %q is not a column of this list: use one of %s, with a leading - for descending",
			marketplace.Clip(s, 40), strings.Join(keys, ", "))
	}
	return o, nil
}

// Page is a slice of a sorted list: Offset rows skipped, at most Limit shown.
type Page struct {
	Offset, Limit int
}

// DefaultLimit and MaxLimit bound a page.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// AllRows is every row on one page, for downloads.
var AllRows = Page{Limit: -1}

func (p Page) clean() Page {
	if p.Limit < 0 {
		p.Limit = math.MaxInt32
		p.Offset = 0
		return p
	}
	if p.Limit == 0 {
		p.Limit = DefaultLimit
	}
	p.Limit = min(p.Limit, MaxLimit)
	p.Offset = max(p.Offset, 0)
	return p
}

// Paged is one page of a list, with the number of rows the whole list has
// and the offset of the next page (0 on the last page).
type Paged[T any] struct {
	Items      []T `json:"items"`
	Total      int `json:"total"`
	Offset     int `json:"offset"`
	Limit      int `json:"limit"`
	NextOffset int `json:"nextOffset,omitempty"`
}

// sortPage sorts items by o with the comparator its key names (ties broken
// by tie, so pages never overlap), and cuts page p.
func sortPage[T any](items []T, o Order, by map[string]func(a, b T) int, tie func(a, b T) int, p Page) Paged[T] {
	p = p.clean()
	f := by[o.Key]
	slices.SortStableFunc(items, func(a, b T) int {
		c := 0
		if f != nil {
			c = f(a, b)
		}
		if o.Desc {
			c = -c
		}
		if c == 0 {
			c = tie(a, b)
		}
		return c
	})
	out := Paged[T]{Total: len(items), Offset: p.Offset, Limit: p.Limit, Items: []T{}}
	if p.Offset < len(items) {
		end := len(items)
		if p.Limit < end-p.Offset {
			end = p.Offset + p.Limit
		}
		out.Items = items[p.Offset:end]
		if end < len(items) {
			out.NextOffset = end
		}
	}
	return out
}

// textCompare orders names as people read them: folded, then exactly.
// Empty names sort last.
func textCompare(a, b string) int {
	if (a == "") != (b == "") {
		if a == "" {
			return 1
		}
		return -1
	}
	return cmp.Or(foldCompare(a, b), strings.Compare(a, b))
}

// foldCompare is strings.Compare(Fold(a), Fold(b)) without building the
// folded strings: lists sort thousands of names, comparing each many times.
// UTF-8's byte order is its code points' order, so comparing folded runes
// gives the same answer.
func foldCompare(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra < utf8.RuneSelf && rb < utf8.RuneSelf {
			if 'A' <= ra && ra <= 'Z' {
				ra += 'a' - 'A'
			}
			if 'A' <= rb && rb <= 'Z' {
				rb += 'a' - 'A'
			}
		} else {
			ra, rb = marketplace.FoldRune(ra), marketplace.FoldRune(rb)
		}
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}
