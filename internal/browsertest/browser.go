package browsertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// Options configure Launch.
type Options struct {
	// Path is the Chromium binary; Find's answer when empty.
	Path string
	// Args are extra command-line flags ("--name" or "--name=value").
	Args []string
	// Stderr, when set, receives Chromium's output (it is noisy); the last few
	// kilobytes are always kept for error messages.
	Stderr io.Writer
}

// Browser is a running headless Chromium, driven by chromedp over the
// DevTools pipe.
type Browser struct {
	Version string // e.g. "Chrome/140.0.0.0"

	ctx         context.Context // chromedp's browser context (its first tab)
	cancelAlloc context.CancelFunc
	stderr      *tail

	mu  sync.Mutex
	cmd *exec.Cmd // the process chromedp started, for tests
	dir string    // its --user-data-dir, which chromedp removes

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// errClosed is what calls on a closed browser fail with.
var errClosed = errors.New("browsertest: the browser is closed")

// Launch starts headless Chromium with a fresh temporary profile and waits
// until it answers over the DevTools pipe. Close it when done.
func Launch(ctx context.Context, o Options) (*Browser, error) {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	path := o.Path
	if path == "" {
		p, err := Find()
		if err != nil {
			return nil, err
		}
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		return nil, fmt.Errorf("%w: cannot run %s: %v; install it with `%s`", ErrNotFound, path, err, InstallHint)
	}
	b := &Browser{stderr: &tail{max: 8 << 10}, closed: make(chan struct{})}
	var out io.Writer = b.stderr
	if o.Stderr != nil {
		out = io.MultiWriter(b.stderr, o.Stderr)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in containers and CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.CombinedOutput(out),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.cmd = cmd
			for _, a := range cmd.Args {
				if d, ok := strings.CutPrefix(a, "--user-data-dir="); ok {
					b.dir = d
				}
			}
		}),
	)
	for _, a := range o.Args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if hasValue {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, _ := chromedp.NewContext(allocCtx) // cancelAlloc ends it
	b.ctx, b.cancelAlloc = bctx, cancelAlloc
	// The browser lives as long as the context of its first Run, so that is
	// bctx itself; ctx only bounds the start.
	stop := context.AfterFunc(ctx, cancelAlloc)
	v, err := chromedp.CallBrowser(bctx, browser.GetVersion, cdp.Empty{})
	if !stop() || err != nil {
		cancelAlloc()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("browsertest: %s did not answer over the DevTools pipe: %w%s", path, err, b.stderr.String())
	}
	b.Version = v.Product
	return b, nil
}

// NewPage opens a tab on about:blank. Tabs opened this way share the
// browser's cookies and storage.
func (b *Browser) NewPage(ctx context.Context) (*Page, error) {
	return b.newPage(ctx)
}

// NewIsolatedPage opens a tab on about:blank in a browser context of its own
// (as an incognito window): its cookies, storage, cache and connections are
// its own, and Close throws them away. Parallel tests sharing one browser
// use it, since cookies ignore the port: two servers on 127.0.0.1 would
// otherwise share the session cookie.
func (b *Browser) NewIsolatedPage(ctx context.Context) (*Page, error) {
	return b.newPage(ctx, chromedp.WithNewBrowserContext())
}

func (b *Browser) newPage(ctx context.Context, opts ...chromedp.ContextOption) (*Page, error) {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	select {
	case <-b.closed:
		return nil, errClosed
	default:
	}
	pctx, cancelPage := chromedp.NewContext(b.ctx, opts...)
	// As for the browser, the tab lives as long as the context of its first
	// Run; ctx only bounds the opening.
	stop := context.AfterFunc(ctx, cancelPage)
	err := chromedp.Do(pctx)
	if !stop() || err != nil {
		cancelPage()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("browsertest: open a page: %w", err)
	}
	alive, kill := context.WithCancelCause(pctx)
	p := &Page{b: b, ctx: alive, kill: kill, cancel: cancelPage}
	t := chromedp.FromContext(pctx).Target
	p.TargetID, p.SessionID = string(t.TargetID), string(t.SessionID)
	if err := chromedp.Listen(pctx, p.event); err != nil {
		p.Close(ctx)
		return nil, fmt.Errorf("browsertest: open a page: %w", err)
	}
	return p, nil
}

// gone reports whether the browser was closed or has died.
func (b *Browser) gone() bool {
	select {
	case <-b.closed:
		return true
	default:
	}
	return b.ctx.Err() != nil
}

// Close closes the browser, waits for it to exit (chromedp kills it if it
// does not) and removes its profile directory. It is safe to call more than
// once.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		close(b.closed)
		ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
		defer cancel()
		b.closeErr = chromedp.Cancel(ctx)
		b.cancelAlloc()
		if errors.Is(b.closeErr, context.Canceled) || errors.Is(b.closeErr, context.DeadlineExceeded) {
			b.closeErr = nil // the browser was gone already, or had to be killed
		}
		if b.closeErr != nil {
			b.closeErr = fmt.Errorf("browsertest: close chromium: %w", b.closeErr)
		}
	})
	return b.closeErr
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// String is the output so far, formatted to follow an error message.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return "\nchromium output (last lines):\n" + s
}
