package console

import (
	"net/url"
	"strconv"

	"github.com/concordmp/concord/internal/report"
)

// sortHeader is a sortable column's header: a link that sorts by it (or
// reverses the sort when it is the current one), and aria-sort's value.
type sortHeader struct {
	Label, Href string
	// Sort is "ascending" or "descending" on the current column, else "".
	Sort string
	Num  bool
}

// column is a list's column: its label and the sort key it orders by ("" for
// a column that does not sort).
type column struct {
	Label, Key string
	Num        bool
}

// sortHeaders makes the headers of a list at base whose filters are q and
// whose current order is cur. Sorting starts again at the first page.
func sortHeaders(base string, q url.Values, cur report.Order, cols []column) []sortHeader {
	out := make([]sortHeader, len(cols))
	for i, c := range cols {
		h := sortHeader{Label: c.Label, Num: c.Num}
		if c.Key != "" {
			next := report.Order{Key: c.Key}
			if cur.Key == c.Key {
				h.Sort = "ascending"
				if cur.Desc {
					h.Sort = "descending"
				}
				next.Desc = !cur.Desc
			}
			v := clone(q)
			v.Set("sort", next.String())
			v.Del("offset")
			h.Href = base + "?" + v.Encode()
		}
		out[i] = h
	}
	return out
}

// pager links a list's previous and next pages.
type pager struct {
	Prev, Next      string
	From, To, Total int
}

func pagerOf[T any](base string, q url.Values, p report.Paged[T]) pager {
	pg := pager{Total: p.Total, From: p.Offset + 1, To: p.Offset + len(p.Items)}
	if p.Offset > 0 {
		v := clone(q)
		if prev := max(p.Offset-p.Limit, 0); prev > 0 {
			v.Set("offset", strconv.Itoa(prev))
		} else {
			v.Del("offset")
		}
		pg.Prev = base + "?" + v.Encode()
	}
	if p.NextOffset > 0 {
		v := clone(q)
		v.Set("offset", strconv.Itoa(p.NextOffset))
		pg.Next = base + "?" + v.Encode()
	}
	return pg
}

// csvHref is the download of the list at base with the same filters and
// order (every row, not one page).
func csvHref(base string, q url.Values) string {
	v := clone(q)
	v.Del("offset")
	if len(v) == 0 {
		return base + ".csv"
	}
	return base + ".csv?" + v.Encode()
}

// clone copies the non-empty values of q.
func clone(q url.Values) url.Values {
	v := url.Values{}
	for k, xs := range q {
		for _, x := range xs {
			if x != "" {
				v.Add(k, x)
			}
		}
	}
	return v
}

// offsetOf reads a list's offset parameter (0 when absent or not a number).
func offsetOf(q url.Values) int {
	n, err := strconv.Atoi(q.Get("offset"))
	if err != nil || n < 0 || n > 1_000_000 {
		return 0
	}
	return n
}
