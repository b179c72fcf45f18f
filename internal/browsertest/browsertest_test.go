package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// site is a small web site to drive the client against.
func site(t *testing.T) (*httptest.Server, *posts) {
	t.Helper()
	got := &posts{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><title>Home</title><meta name="viewport" content="width=device-width, initial-scale=1"></head><body>
<h1>Home</h1><img id="slow" src="/slow.png" alt="">
<form method="post" action="/submit"><label for="name">Name</label><input id="name" name="name">
<select id="size" name="size"><option value="">Choose</option><option value="s">Small</option><option value="l">Large</option></select>
<button id="go" type="submit">Send</button></form>
<div style="height:1800px"></div>
<button id="covered" style="position:fixed;top:0;left:0">Hidden</button><div style="position:fixed;top:0;left:0;width:200px;height:100px;background:#fff"></div>
</body></html>`)
	})
	mux.HandleFunc("GET /slow.png", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // the load event waits for it
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got.add(r.PostForm.Get("name") + "/" + r.PostForm.Get("size"))
		http.Redirect(w, r, "/thanks", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /thanks", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Thanks</title><h1>Thank you</h1>`)
	})
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		fmt.Fprint(w, `<!doctype html><title>Missing</title><p>not here</p>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, got
}

type posts struct {
	mu  sync.Mutex
	got []string
}

func (p *posts) add(s string) { p.mu.Lock(); p.got = append(p.got, s); p.mu.Unlock() }
func (p *posts) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newPage(t *testing.T, ctx context.Context, b *Browser) *Page {
	t.Helper()
	p, err := b.NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func TestBrowserClient(t *testing.T) {
	b := Start(t)
	srv, got := site(t)
	ctx := testContext(t)
	t.Logf("browser: %s", b.Version)

	t.Run("NavigateWaitsForTheLoadEventAndReportsTheStatus", func(t *testing.T) {
		p := newPage(t, ctx, b)
		resp, err := p.Navigate(ctx, srv.URL+"/")
		if err != nil {
			t.Fatal(err)
		}
		var state struct {
			Ready    string `json:"ready"`
			Complete bool   `json:"complete"`
			Title    string `json:"title"`
		}
		if err := p.Evaluate(ctx, `({ready: document.readyState, complete: document.getElementById("slow").complete, title: document.title})`, &state); err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || resp.URL != srv.URL+"/" || state.Ready != "complete" || !state.Complete || state.Title != "Home" {
			t.Fatalf("after Navigate: %+v %+v", resp, state)
		}
		if resp, err := p.Navigate(ctx, srv.URL+"/missing"); err != nil || resp.Status != 404 {
			t.Fatalf("404 page: %+v %v", resp, err)
		}
		if resp, err := p.Navigate(ctx, "data:text/html,<title>D</title><p>x"); err != nil || !strings.HasPrefix(resp.URL, "data:") {
			t.Fatalf("data URL: %+v %v", resp, err)
		}
	})

	t.Run("UnreachableURLsFail", func(t *testing.T) {
		p := newPage(t, ctx, b)
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		_, err := p.Navigate(ctx, dead.URL+"/")
		if err == nil || !strings.Contains(err.Error(), "ERR_CONNECTION_REFUSED") {
			t.Fatalf("want a connection error, got %v", err)
		}
	})

	t.Run("EvaluateAwaitsPromisesAndReturnsValues", func(t *testing.T) {
		p := newPage(t, ctx, b)
		var v struct {
			A int      `json:"a"`
			B []string `json:"b"`
		}
		if err := p.Evaluate(ctx, `new Promise(r => setTimeout(() => r({a: 1, b: ["x", "y"]}), 100))`, &v); err != nil || v.A != 1 || len(v.B) != 2 {
			t.Fatalf("%+v %v", v, err)
		}
		var n int
		if err := p.Evaluate(ctx, `6 * 7`, &n); err != nil || n != 42 {
			t.Fatalf("%d %v", n, err)
		}
		if err := p.Evaluate(ctx, `undefined`, &n); err == nil {
			t.Fatal("decoding undefined should fail")
		}
	})

	t.Run("EvaluateReportsExceptionsAndRejections", func(t *testing.T) {
		p := newPage(t, ctx, b)
		if err := p.Evaluate(ctx, `(() => { throw new Error("boom") })()`, nil); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("thrown: %v", err)
		}
		if err := p.Evaluate(ctx, `Promise.reject(new Error("nope"))`, nil); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("rejected: %v", err)
		}
	})

	t.Run("ContextDeadlinesEndCallsAndThePageStaysUsable", func(t *testing.T) {
		p := newPage(t, ctx, b)
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err := p.Evaluate(short, `new Promise(() => {})`, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want a deadline error, got %v", err)
		}
		var n int
		if err := p.Evaluate(ctx, `1 + 1`, &n); err != nil || n != 2 {
			t.Fatalf("after a timeout: %d %v", n, err)
		}
		if err := p.WaitFor(short, `false`); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFor: %v", err)
		}
	})

	t.Run("TypeSelectAndClickSubmitAFormThroughARedirect", func(t *testing.T) {
		p := newPage(t, ctx, b)
		if _, err := p.Navigate(ctx, srv.URL+"/"); err != nil {
			t.Fatal(err)
		}
		if err := p.Type(ctx, "#name", "Ada Lovelace"); err != nil {
			t.Fatal(err)
		}
		if err := p.Select(ctx, "#size", "Large"); err != nil {
			t.Fatal(err)
		}
		if err := p.Select(ctx, "#size", "Huge"); err == nil {
			t.Fatal("selected a missing option")
		}
		if err := p.Click(ctx, "#covered"); err == nil || !strings.Contains(err.Error(), "covered") {
			t.Fatalf("clicking a covered button: %v", err)
		}
		if err := p.Click(ctx, "#nothing"); err == nil || !strings.Contains(err.Error(), "no element") {
			t.Fatalf("clicking a missing element: %v", err)
		}
		resp, err := p.ClickAndWait(ctx, "#go")
		if err != nil {
			t.Fatal(err)
		}
		h1, err := p.Text(ctx, "h1")
		if err != nil || resp.URL != srv.URL+"/thanks" || resp.Status != 200 || h1 != "Thank you" {
			t.Fatalf("after submit: %+v %q %v", resp, h1, err)
		}
		if g := got.list(); len(g) != 1 || g[0] != "Ada Lovelace/l" {
			t.Fatalf("the server got %q", g)
		}
		// Back, then a form submitted by script.
		if _, err := p.Navigate(ctx, srv.URL+"/"); err != nil {
			t.Fatal(err)
		}
		resp, err = p.WaitNavigation(ctx, func(ctx context.Context) error {
			return p.Evaluate(ctx, `document.querySelector("form").submit()`, nil)
		})
		if err != nil || resp.URL != srv.URL+"/thanks" {
			t.Fatalf("form.submit(): %+v %v", resp, err)
		}
	})

	t.Run("PagesHaveTheirOwnSessions", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := b.NewPage(ctx)
				if err != nil {
					errs <- err
					return
				}
				defer p.Close(ctx)
				want := fmt.Sprintf("page %d", i)
				if _, err := p.Navigate(ctx, "data:text/html,<title>"+strings.ReplaceAll(want, " ", "%20")+"</title>"); err != nil {
					errs <- err
					return
				}
				var title string
				if err := p.Evaluate(ctx, `document.title`, &title); err != nil || title != want {
					errs <- fmt.Errorf("title %q, want %q (%v)", title, want, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("ViewportAndScreenshots", func(t *testing.T) {
		p := newPage(t, ctx, b)
		if err := p.SetViewport(ctx, 390, 600, true); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Navigate(ctx, srv.URL+"/"); err != nil {
			t.Fatal(err)
		}
		var w int
		if err := p.Evaluate(ctx, `window.innerWidth`, &w); err != nil || w != 390 {
			t.Fatalf("innerWidth %d %v", w, err)
		}
		shot, err := p.Screenshot(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil || img.Bounds().Dx() != 390 || img.Bounds().Dy() != 600 {
			t.Fatalf("viewport screenshot: %v %v", img.Bounds(), err)
		}
		full, err := p.Screenshot(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		img, err = png.Decode(bytes.NewReader(full))
		if err != nil || img.Bounds().Dx() != 390 || img.Bounds().Dy() < 1800 {
			t.Fatalf("full-page screenshot: %v %v", img.Bounds(), err)
		}
	})

	t.Run("ACrashedPageFailsFast", func(t *testing.T) {
		p := newPage(t, ctx, b)
		go p.Call(ctx, "Page.crash", nil, nil) // never answered
		start := time.Now()
		err := p.WaitFor(ctx, `false`)
		if err == nil || !strings.Contains(err.Error(), "crashed") || time.Since(start) > 30*time.Second {
			t.Fatalf("after a crash: %v (%v)", err, time.Since(start))
		}
		// The browser lives on.
		p2 := newPage(t, ctx, b)
		if _, err := p2.Navigate(ctx, srv.URL+"/thanks"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSharedBrowserKeepsTestsApart: pages of one shared browser, each in its
// own browser context, do not see each other's cookies, even for servers on
// the same host (cookies ignore the port); pages of NewPage share them. A
// shared browser that died is started again.
func TestSharedBrowserKeepsTestsApart(t *testing.T) {
	var shared Shared
	defer shared.Close()
	srv := cookieSite(t)
	ctx := testContext(t)
	cookies := func(p *Page) string {
		t.Helper()
		if _, err := p.Navigate(ctx, srv.URL+"/"); err != nil {
			t.Fatal(err)
		}
		s, err := p.Text(ctx, "body")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var first *Page
	t.Run("first", func(t *testing.T) {
		first = shared.Page(t)
		if got := cookies(first); got != "cookies:" {
			t.Fatalf("a fresh page sends %q", got)
		}
		if got := cookies(first); got != "cookies: visit=1" {
			t.Fatalf("the page's own cookie: %q", got)
		}
	})
	if err := first.Evaluate(ctx, `1`, nil); err == nil {
		t.Fatal("the page outlived its test")
	}
	b := shared.b
	t.Run("second", func(t *testing.T) {
		p, q := shared.Page(t), shared.Page(t)
		if shared.b != b {
			t.Fatal("a second test started another browser")
		}
		if got := cookies(p); got != "cookies:" {
			t.Fatalf("another test's page sends %q", got)
		}
		if got := cookies(q); got != "cookies:" {
			t.Fatalf("a second page of the test sends %q", got)
		}
		// Tabs of NewPage share the browser's default context.
		r1, err := b.NewPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer r1.Close(ctx)
		r2, err := b.NewPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close(ctx)
		cookies(r1)
		if got := cookies(r2); got != "cookies: visit=1" {
			t.Fatalf("tabs of NewPage: %q", got)
		}
	})
	b.Close()
	t.Run("after the browser died", func(t *testing.T) {
		p := shared.Page(t)
		if shared.b == b {
			t.Fatal("the dead browser was kept")
		}
		if got := cookies(p); got != "cookies:" {
			t.Fatalf("the new browser's page sends %q", got)
		}
	})
}

// cookieSite shows the cookies it receives and sets visit=1.
func cookieSite(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for _, c := range r.Cookies() {
			names = append(names, c.Name+"="+c.Value)
		}
		http.SetCookie(w, &http.Cookie{Name: "visit", Value: "1", Path: "/"})
		fmt.Fprintf(w, `<!doctype html><title>Cookies</title><body>cookies: %s</body>`, strings.Join(names, "; "))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowserCloseStopsChromiumAndRemovesItsProfile(t *testing.T) {
	b := Start(t)
	ctx := testContext(t)
	p := newPage(t, ctx, b)
	if _, err := p.Navigate(ctx, "data:text/html,<p>hi"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b.cmd.ProcessState == nil {
		t.Fatal("chromium was not reaped")
	}
	if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
		t.Fatalf("profile %s left behind: %v", b.dir, err)
	}
	if err := p.Evaluate(ctx, `1`, nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("a call after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestBrowserMissingChromiumHasAHelpfulError(t *testing.T) {
	_, err := Launch(context.Background(), Options{Path: filepath.Join(t.TempDir(), "chromium")})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), InstallHint) {
		t.Fatalf("launching a missing binary: %v", err)
	}
	old := systemChromium
	systemChromium = filepath.Join(t.TempDir(), "chromium")
	defer func() { systemChromium = old }()
	t.Setenv("PATH", t.TempDir())
	if _, err := Find(); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), InstallHint) {
		t.Fatalf("Find without chromium: %v", err)
	}
}
