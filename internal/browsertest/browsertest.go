// Package browsertest drives headless Chromium for end-to-end tests of
// Concord's pages (the console, the registration page), as a person would:
// navigate, type, choose, click, read, measure the layout, take screenshots.
//
// It is a thin layer over chromedp (github.com/chromedp/chromedp), which
// starts Debian's chromium with --remote-debugging-pipe and speaks the
// DevTools protocol through typed commands (cdproto). What it adds is what
// the tests rely on: skip or fail when Chromium is missing (RequireEnv), a
// deadline on every call, errors that name the selector or script, a click
// that refuses an element covered by another, and a page that fails at once
// when it crashed or was closed.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// RequireEnv makes Start fail instead of skip when Chromium is missing; CI sets
// it so the browser tests can never be skipped silently.
const RequireEnv = "CONCORD_TEST_REQUIRE_BROWSER"

// InstallHint is how to get the browser on Debian and Ubuntu.
const InstallHint = "apt-get update && apt-get install -y chromium"

// LaunchTimeout bounds Chromium's start-up in Start; generous, for loaded CI
// machines.
const LaunchTimeout = 90 * time.Second

// ErrNotFound means no Chromium binary was found.
var ErrNotFound = errors.New("browsertest: chromium not found")

// systemChromium is where Debian's chromium package installs its launcher.
var systemChromium = "/usr/bin/chromium"

// Find returns the Chromium to run: /usr/bin/chromium, else chromium on PATH.
func Find() (string, error) {
	if fi, err := os.Stat(systemChromium); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return systemChromium, nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: looked for %s and for chromium on PATH; install it with `%s`", ErrNotFound, systemChromium, InstallHint)
}

// Start launches a browser for t and closes it when t ends. Without Chromium
// it skips t, or fails t when CONCORD_TEST_REQUIRE_BROWSER=1.
func Start(t testing.TB) *Browser {
	t.Helper()
	b, err := launch(find(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Logf("close browser: %v", err)
		}
	})
	return b
}

// find is Find for a test: without Chromium it skips t, or fails t when
// CONCORD_TEST_REQUIRE_BROWSER=1.
func find(t testing.TB) string {
	t.Helper()
	path, err := Find()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v (%s=1, so the browser tests may not be skipped)", err, RequireEnv)
		}
		t.Skipf("skipping the browser test: %v (set %s=1 to fail instead)", err, RequireEnv)
	}
	return path
}

func launch(path string) (*Browser, error) {
	ctx, cancel := context.WithTimeout(context.Background(), LaunchTimeout)
	defer cancel()
	return Launch(ctx, Options{Path: path})
}

// Shared is one Chromium for the tests of a package, started by the first
// test that asks for a page and closed by Close (call it from TestMain after
// m.Run). Starting Chromium costs each test a second or more of a loaded
// machine's CPU; a page in a browser context of its own costs a few
// milliseconds and keeps the tests apart just as well (NewIsolatedPage).
// The zero value is ready to use.
type Shared struct {
	mu sync.Mutex
	b  *Browser
}

// Page opens a page for t in a browser context of its own (its own
// cookies), on the shared browser, which it starts (or starts again, if it
// died) when needed; the page is closed when t ends, before the cleanups t
// registered earlier (so open it after starting the servers it visits: a
// server shut down first waits for the browser's idle connections).
// Without Chromium it skips t, or fails t when CONCORD_TEST_REQUIRE_BROWSER=1.
func (s *Shared) Page(t testing.TB) *Page {
	t.Helper()
	path := find(t)
	s.mu.Lock()
	if s.b != nil && s.b.gone() {
		s.b.Close()
		s.b = nil
	}
	if s.b == nil {
		b, err := launch(path)
		if err != nil {
			s.mu.Unlock()
			t.Fatal(err)
		}
		s.b = b
		t.Logf("started %s for the package's browser tests", b.Version)
	}
	b := s.b
	s.mu.Unlock()
	p, err := b.NewIsolatedPage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Logf("close page: %v", err)
		}
	})
	return p
}

// Close closes the shared browser, if it was started.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		return nil
	}
	err := s.b.Close()
	s.b = nil
	return err
}

// defaultTimeout applies to calls whose context has no deadline, so that a
// wedged browser fails a test instead of hanging it.
const defaultTimeout = 60 * time.Second

func withDefault(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultTimeout)
}
