package store_test

import (
	"os"
	"regexp"
	"testing"
)

// modernc.org/sqlite works only with the exact modernc.org/libc it was built
// against; a `go get -u` that moves one without the other corrupts memory at run
// time, not at build time. This keeps the pair together.
func TestSQLiteDriverAndLibcArePinnedTogether(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	version := func(path string) string {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(path) + `\s+(\S+)`).FindSubmatch(mod)
		if m == nil {
			return ""
		}
		return string(m[1])
	}
	if s, l := version("modernc.org/sqlite"), version("modernc.org/libc"); s != "v1.60.1" || l != "v1.77.1" {
		t.Fatalf("modernc.org/sqlite %s with modernc.org/libc %s: upgrade them only as the pair the driver's go.mod names", s, l)
	}
}
