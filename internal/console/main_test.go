package console_test

import (
	"os"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/browsertest"
	"github.com/concordmp/concord/internal/offer"
)

// browser is the package's one Chromium: each browser test takes a page of
// its own from it (browser.Page), with its own cookies.
var browser browsertest.Shared

func TestMain(m *testing.M) {
	// A submitted offer's change set is polled every 2 s in production; the
	// console's tests check what the pages show once AWS has answered, not
	// the cadence (internal/offer and internal/app test that), and at 2 s
	// every publish in the browser journeys waited 2.3 s.
	offer.TrackEvery = 200 * time.Millisecond
	code := m.Run()
	if err := browser.Close(); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
	}
	os.Exit(code)
}
