package console_test

import (
	"os"
	"testing"

	"github.com/concordmp/concord/internal/browsertest"
)

// browser is the package's one Chromium: each browser test takes a page of
// its own from it (browser.Page), with its own cookies.
var browser browsertest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := browser.Close(); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
	}
	os.Exit(code)
}
