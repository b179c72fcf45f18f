package docscheck

import (
	"fmt"
	"regexp"
	"strings"
)

// Placeholders in shown output: ids and times differ in every sandbox, so
// both the document's lines and the real output are rewritten with them
// before they are compared.
var (
	uuidRE   = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	timeRE   = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)`)
	dateRE   = regexp.MustCompile(`\b\d{4}-\d\d-\d\d\b`)
	idRE     = regexp.MustCompile(`\b([a-z]+[-_])[0-9a-f]{12,}\b`)
	spacesRE = regexp.MustCompile(`  +`)
)

// Normalize rewrites one output line with the placeholders the package doc
// describes.
func Normalize(line string) string {
	line = uuidRE.ReplaceAllString(line, "<uuid>")
	line = timeRE.ReplaceAllString(line, "<time>")
	line = dateRE.ReplaceAllString(line, "<date>")
	line = idRE.ReplaceAllString(line, "${1}…")
	line = spacesRE.ReplaceAllString(line, "  ")
	return strings.TrimRight(line, " \t")
}

// lineMatcher compiles a normalized shown line: "…" matches any text.
func lineMatcher(want string) *regexp.Regexp {
	parts := strings.Split(want, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// wholeMatcher compiles the normalized shown lines into one expression over
// the output's lines (each ending in a newline): a line of only "…" matches
// any number of lines, none included.
func wholeMatcher(want []string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, w := range want {
		if strings.TrimSpace(w) == "…" {
			b.WriteString(`(?:.*\n)*?`)
			continue
		}
		parts := strings.Split(w, "…")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		b.WriteString(strings.Join(parts, ".*") + `\n`)
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Compare reports whether got (a command's output) is what want (the lines
// a document shows) shows, and if not a readable line diff: "-" lines are
// the document's, "+" lines the command's, both after placeholders.
func Compare(want []string, got string) (bool, string) {
	w := trimEmpty(want)
	g := trimEmpty(strings.Split(strings.ReplaceAll(got, "\r\n", "\n"), "\n"))
	for i := range w {
		w[i] = Normalize(w[i])
	}
	for i := range g {
		g[i] = Normalize(g[i])
	}
	ms := make([]*regexp.Regexp, len(w))
	for i := range w {
		ms[i] = lineMatcher(w[i])
	}
	if wholeMatcher(w).MatchString(strings.Join(g, "\n") + "\n") {
		return true, ""
	}
	// Not the same: a line diff, where a line of only "…" stands for one
	// line (it may stand for more, so the diff is a guide, not a proof).
	eq := func(i, j int) bool { return ms[i].MatchString(g[j]) }
	// Longest common subsequence, then walk it for the diff.
	n, m := len(w), len(g)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if eq(i, j) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && eq(i, j):
			fmt.Fprintf(&b, "  %s\n", g[j])
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&b, "+ %s\n", g[j])
			j++
		default:
			fmt.Fprintf(&b, "- %s\n", w[i])
			i++
		}
	}
	return false, b.String()
}

// trimEmpty drops leading and trailing empty lines (a copy).
func trimEmpty(lines []string) []string {
	out := append([]string(nil), lines...)
	for len(out) > 0 && strings.TrimSpace(out[0]) == "" {
		out = out[1:]
	}
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	return out
}
