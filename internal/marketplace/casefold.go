package marketplace

import (
	"strings"
	"unicode"
)

// Fold is the form names are compared and searched in: the Unicode lower
// case of each letter's upper case, so "ÜNÏCODE" and "ünïcode" are equal.
// Searches fold in Go because SQLite's LOWER and LIKE fold ASCII only: the
// same query then finds the same rows on SQLite and PostgreSQL.
func Fold(s string) string { return strings.Map(FoldRune, s) }

// FoldRune is one character as Fold writes it.
func FoldRune(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }

// ContainsFold reports whether q (folded or not) is found in s, whatever the
// case of either, in any script.
func ContainsFold(s, q string) bool {
	return strings.Contains(Fold(s), Fold(q))
}
