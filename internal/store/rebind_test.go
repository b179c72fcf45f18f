package store_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/store"
)

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"empty query", "", ""},
		{"no placeholders", "SELECT 1", "SELECT 1"},
		{"one placeholder", "SELECT * FROM t WHERE a = ?", "SELECT * FROM t WHERE a = $1"},
		{"placeholders are numbered in order", "UPDATE t SET a = ?, b = ? WHERE c = ?", "UPDATE t SET a = $1, b = $2 WHERE c = $3"},
		{"adjacent placeholders", "??", "$1$2"},
		{"placeholder at start and end", "? = ?", "$1 = $2"},
		{"many placeholders reach two digits", "VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", 19), ", ") + ")",
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"},
		{"question mark in a string", "SELECT '?' FROM t WHERE a = ?", "SELECT '?' FROM t WHERE a = $1"},
		{"question mark in a quoted identifier", `SELECT "what?" FROM t WHERE a = ?`, `SELECT "what?" FROM t WHERE a = $1`},
		{"escaped quote in a string", "WHERE a = 'it''s ?' AND b = ?", "WHERE a = 'it''s ?' AND b = $1"},
		{"escaped quote in an identifier", `SELECT "a""?" FROM t WHERE b = ?`, `SELECT "a""?" FROM t WHERE b = $1`},
		{"empty string literal", "WHERE a = '' AND b = ?", "WHERE a = '' AND b = $1"},
		{"only an escaped quote", "WHERE a = '''' AND b = ?", "WHERE a = '''' AND b = $1"},
		{"double quote inside a string", `WHERE a = '"?' AND b = ?`, `WHERE a = '"?' AND b = $1`},
		{"single quote inside an identifier", `SELECT "'?" FROM t WHERE b = ?`, `SELECT "'?" FROM t WHERE b = $1`},
		{"several strings", "WHERE a = ? AND b = '?' AND c = ? AND d = '??' AND e = ?", "WHERE a = $1 AND b = '?' AND c = $2 AND d = '??' AND e = $3"},
		{"unterminated string swallows the rest", "WHERE a = 'oops ? AND b = ?", "WHERE a = 'oops ? AND b = ?"},
		{"non-ASCII text", "WHERE name = 'héllo ?' AND x = ? -- ✓", "WHERE name = 'héllo ?' AND x = $1 -- ✓"},
		{"dollar signs are left alone", "SELECT $$x$$, ?", "SELECT $$x$$, $1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := store.Rebind(tt.in); got != tt.want {
				t.Errorf("Rebind(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// quoted matches a quoted string or identifier, or an unterminated one that runs
// to the end. SQL escapes a quote by doubling it, which here is two adjacent
// matches with nothing between them, so it needs no special case.
var quoted = regexp.MustCompile(`'[^']*(?:'|$)|"[^"]*(?:"|$)`)

// rebindModel is an independent model of Rebind: it splits q into quoted and
// unquoted segments and numbers the question marks of the unquoted ones.
func rebindModel(q string) (string, int) {
	var b strings.Builder
	n, last := 0, 0
	plain := func(s string) {
		for _, part := range strings.SplitAfter(s, "?") {
			if strings.HasSuffix(part, "?") {
				n++
				part = strings.TrimSuffix(part, "?") + "$" + strconv.Itoa(n)
			}
			b.WriteString(part)
		}
	}
	for _, m := range quoted.FindAllStringIndex(q, -1) {
		plain(q[last:m[0]])
		b.WriteString(q[m[0]:m[1]])
		last = m[1]
	}
	plain(q[last:])
	return b.String(), n
}

func FuzzRebind(f *testing.F) {
	for _, s := range []string{
		"", "?", "??", "SELECT 1", "SELECT * FROM t WHERE a = ? AND b = ?",
		"'?'", `"?"`, "'it''s ?' ?", `"a""?" ?`, `'"?' ?`, `"'?" ?`, "'unterminated ?", `"unterminated ?`,
		"$1 ?", "?1 ?", "\xff?\xfe'?'", "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := store.Rebind(q)
		want, n := rebindModel(q)
		if got != want {
			t.Fatalf("Rebind(%q)\n got %q\nwant %q", q, got, want)
		}
		// Walk the output against the input: every byte is copied except question
		// marks that became $1..$k in order, so taking the placeholders out gives
		// the input back, and k must be the number of question marks outside quotes.
		i, j, k := 0, 0, 0
		for i < len(q) {
			if q[i] == '?' && j < len(got) && got[j] != '?' {
				k++
				p := "$" + strconv.Itoa(k)
				if !strings.HasPrefix(got[j:], p) {
					t.Fatalf("Rebind(%q) = %q: at byte %d want placeholder %s", q, got, j, p)
				}
				i, j = i+1, j+len(p)
				continue
			}
			if j >= len(got) || got[j] != q[i] {
				t.Fatalf("Rebind(%q) = %q: output differs from the input at byte %d", q, got, j)
			}
			i, j = i+1, j+1
		}
		if j != len(got) {
			t.Fatalf("Rebind(%q) = %q: trailing output %q", q, got, got[j:])
		}
		if k != n {
			t.Fatalf("Rebind(%q) = %q has %d placeholders, want %d (question marks outside quotes)", q, got, k, n)
		}
		if n == 0 && got != q {
			t.Fatalf("Rebind(%q) = %q changed a query without placeholders", q, got)
		}
	})
}
