package report

import (
	"strings"
	"testing"
)

// foldCompare orders as comparing the folded strings does, for every pair
// of a set with ASCII, accented and other-script names, prefixes, and
// letters whose folded form has another UTF-8 length (ſ folds to s, K to k).
func TestFoldCompareIsComparingFoldedText(t *testing.T) {
	t.Parallel()
	names := []string{"", "a", "A", "ab", "Ab", "b", "z", "Z", "ü", "Ü", "ünïcode gmbh", "ÜNÏCODE GmbH", "Unicode", "ſtar", "STAR", "star", "\u212aelvin",
		"kelvin", "Ωmega", "ωmega", "東京", "東", "1 Corp", "#1", "Zeta corp", "zeta", "\xff", "a\xffb", "Straße", "STRASSE"}
	sign := func(n int) int { return min(max(n, -1), 1) }
	for _, a := range names {
		for _, b := range names {
			if got, want := sign(foldCompare(a, b)), sign(strings.Compare(Fold(a), Fold(b))); got != want {
				t.Errorf("foldCompare(%q, %q) = %d, comparing the folded text gives %d", a, b, got, want)
			}
		}
	}
}

func FuzzFoldCompare(f *testing.F) {
	f.Add("Ünïcode", "ünïcode gmbh")
	f.Add("ſ", "S")
	f.Fuzz(func(t *testing.T, a, b string) {
		sign := func(n int) int { return min(max(n, -1), 1) }
		if got, want := sign(foldCompare(a, b)), sign(strings.Compare(Fold(a), Fold(b))); got != want {
			t.Errorf("foldCompare(%q, %q) = %d, comparing the folded text gives %d", a, b, got, want)
		}
	})
}
