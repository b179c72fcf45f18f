package notify

import (
	"regexp"
	"strings"
	"testing"
)

var blankHTMLLines = regexp.MustCompile(`\n(\s*\n)+`)

// FuzzTidyHTML: tidyHTML does what the regular expression it replaced did.
func FuzzTidyHTML(f *testing.F) {
	for _, seed := range []string{"", "\n", "\n\n", "a\n\nb", "a\n \n\t\nb", "a\n  b\n\n", "\n\r\n\f\v\n x", "<p>x</p>\n\n\n  <p>y</p>  \n",
		"a\n \n", "\n \n \n", " \n\u00a0\n", "a\nb\nc", "a\r\n\r\nb"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := strings.TrimSpace(blankHTMLLines.ReplaceAllString(s, "\n")) + "\n"
		if got := tidyHTML(s); got != want {
			t.Fatalf("tidyHTML(%q) = %q, the regular expression %q", s, got, want)
		}
	})
}
