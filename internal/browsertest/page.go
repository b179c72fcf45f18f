package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Page is a browser tab: a chromedp context of its own.
type Page struct {
	b         *Browser
	TargetID  string
	SessionID string

	ctx    context.Context         // the tab's context, ended with a cause when the page is gone
	kill   context.CancelCauseFunc // ends ctx with a cause (crash, Close)
	cancel context.CancelFunc      // closes the tab
}

// Response describes the document a navigation ended on.
type Response struct {
	URL    string // final URL, after redirects
	Status int    // HTTP status of the document; 0 when unknown (data:, about:)
}

var (
	errPageClosed  = errors.New("browsertest: the page was closed")
	errPageCrashed = errors.New("browsertest: the page crashed")
)

// event watches the tab's events: a crash ends every call at once.
func (p *Page) event(ev any) {
	if _, ok := ev.(*inspector.EventTargetCrashed); ok {
		p.kill(errPageCrashed)
	}
}

// run runs a chromedp action on the page, bounded by ctx (or the default
// timeout when ctx has none), and names why the page or browser is gone
// when that is why it failed.
func run[T any](p *Page, ctx context.Context, a chromedp.Action[T]) (T, error) {
	var zero T
	if err := p.gone(); err != nil {
		return zero, err
	}
	ctx, cancel := withDefault(ctx)
	defer cancel()
	rctx, rcancel := context.WithCancel(p.ctx) // a tab's child context: cancelling it leaves the tab open
	defer rcancel()
	if d, ok := ctx.Deadline(); ok {
		var c context.CancelFunc
		rctx, c = context.WithDeadline(rctx, d)
		defer c()
	}
	stop := context.AfterFunc(ctx, rcancel)
	defer stop()
	v, err := chromedp.Run(rctx, a)
	if err != nil {
		if gone := p.gone(); gone != nil {
			return zero, gone
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
	}
	return v, err
}

// gone is why the page cannot be used any more, or nil.
func (p *Page) gone() error {
	select {
	case <-p.b.closed:
		return errClosed
	default:
	}
	if p.ctx.Err() != nil {
		if cause := context.Cause(p.ctx); cause != nil && cause != context.Canceled {
			return cause
		}
		return errPageClosed
	}
	return nil
}

// Call sends a raw DevTools command to the page's session and decodes its
// result into result (which may be nil); for what chromedp has no action for.
func (p *Page) Call(ctx context.Context, method string, params, result any) error {
	_, err := run(p, ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		return t.Call(ctx, method, params, result)
	}))
	if err != nil {
		return fmt.Errorf("browsertest: %s: %w", method, err)
	}
	return nil
}

// Navigate loads url and waits for its load event.
func (p *Page) Navigate(ctx context.Context, url string) (Response, error) {
	return p.navigation(ctx, "navigate to "+url, chromedp.Navigate(url))
}

// WaitNavigation runs action, which must make the page's main frame navigate
// (a click on a submit button, form.submit(), location.assign), and waits
// until the new document has fired its load event. Events are watched from
// before action runs, so a fast navigation is not missed.
func (p *Page) WaitNavigation(ctx context.Context, action func(ctx context.Context) error) (Response, error) {
	return p.navigation(ctx, "navigation", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error { return action(ctx) }))
}

// ClickAndWait clicks the element and waits for the navigation it starts.
func (p *Page) ClickAndWait(ctx context.Context, selector string) (Response, error) {
	return p.WaitNavigation(ctx, func(ctx context.Context) error { return p.Click(ctx, selector) })
}

// navigation runs start, waits for the document it loads (chromedp's
// RunResponse: the main frame's document request, through redirects, to its
// load event) and reports where it ended.
func (p *Page) navigation(ctx context.Context, what string, start chromedp.Action[chromedp.Void]) (Response, error) {
	var r Response
	_, err := run(p, ctx, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		resp, err := chromedp.RunResponse(ctx, start)
		if err != nil {
			return chromedp.Void{}, err
		}
		if resp != nil {
			r.Status = int(resp.Status)
		}
		r.URL, err = chromedp.Location()(ctx, t)
		return chromedp.Void{}, err
	})
	if err != nil {
		return Response{}, fmt.Errorf("browsertest: %s: %w", what, err)
	}
	return r, nil
}

// userGesture makes script run as if a person had acted (as a click does).
func userGesture(p *runtime.EvaluateParams) { t := true; p.UserGesture = &t }

// Evaluate runs a JavaScript expression in the page, awaits it when it is a
// promise, and decodes its JSON value into out (which may be nil). A thrown
// exception or rejected promise is an error.
func (p *Page) Evaluate(ctx context.Context, expression string, out any) error {
	raw, err := run(p, ctx, chromedp.Evaluate[[]byte](expression, chromedp.EvalAwaitPromise, userGesture))
	if err != nil {
		return fmt.Errorf("browsertest: evaluate %s: %w", abbreviate(expression), err)
	}
	if out == nil {
		return nil
	}
	if len(raw) == 0 {
		return fmt.Errorf("browsertest: evaluate %s: no JSON value (undefined, or not serializable)", abbreviate(expression))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("browsertest: evaluate %s: %w", abbreviate(expression), err)
	}
	return nil
}

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return fmt.Sprintf("%q…", s[:80])
	}
	return fmt.Sprintf("%q", s)
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// WaitFor polls a JavaScript expression until it is truthy.
func (p *Page) WaitFor(ctx context.Context, expression string) error {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	var last error
	for {
		var ok bool
		last = p.Evaluate(ctx, "!!("+expression+")", &ok)
		if last == nil && ok {
			return nil
		}
		if err := p.gone(); err != nil {
			return fmt.Errorf("browsertest: waiting for %s: %w", abbreviate(expression), err)
		}
		select {
		case <-p.ctx.Done():
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("browsertest: waiting for %s: %w (last error: %v)", abbreviate(expression), ctx.Err(), last)
			}
			return fmt.Errorf("browsertest: waiting for %s: %w", abbreviate(expression), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Click scrolls the element into view and clicks its centre with real mouse
// events. It fails if the element is missing, has no size, or is covered by
// another element (chromedp's Click would click whatever covers it).
func (p *Page) Click(ctx context.Context, selector string) error {
	var pt struct{ X, Y float64 }
	err := p.Evaluate(ctx, `(() => {
		const sel = `+js(selector)+`;
		const el = document.querySelector(sel);
		if (!el) throw new Error("no element matches " + sel);
		el.scrollIntoView({block: "center", inline: "center"});
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) throw new Error(sel + " is not visible");
		const x = r.left + r.width / 2, y = r.top + r.height / 2;
		const hit = document.elementFromPoint(x, y);
		if (!hit || (hit !== el && !el.contains(hit))) throw new Error(sel + " is covered by " + (hit ? hit.outerHTML.slice(0, 100) : "nothing"));
		return {x, y};
	})()`, &pt)
	if err != nil {
		return err
	}
	_, err = run(p, ctx, chromedp.MouseClickXY(pt.X, pt.Y))
	if err != nil {
		return fmt.Errorf("browsertest: click %s: %w", selector, err)
	}
	return nil
}

// Type focuses a text field, clears it and types text into it as keyboard
// input (input events fire as they would for a person).
func (p *Page) Type(ctx context.Context, selector, text string) error {
	err := p.Evaluate(ctx, `(() => {
		const sel = `+js(selector)+`;
		const el = document.querySelector(sel);
		if (!el) throw new Error("no element matches " + sel);
		el.focus();
		if (document.activeElement !== el) throw new Error(sel + " cannot take focus");
		el.value = "";
		el.dispatchEvent(new Event("input", {bubbles: true}));
	})()`, nil)
	if err != nil || text == "" {
		return err
	}
	_, err = run(p, ctx, func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
	})
	if err != nil {
		return fmt.Errorf("browsertest: type into %s: %w", selector, err)
	}
	return nil
}

// Select chooses the option of a <select> whose value or text is choice.
func (p *Page) Select(ctx context.Context, selector, choice string) error {
	return p.Evaluate(ctx, `(() => {
		const sel = `+js(selector)+`, choice = `+js(choice)+`;
		const el = document.querySelector(sel);
		if (!el || el.tagName !== "SELECT") throw new Error("no <select> matches " + sel);
		const o = Array.from(el.options).find(o => o.value === choice || o.text.trim() === choice);
		if (!o) throw new Error(sel + " has no option " + choice);
		el.focus();
		el.value = o.value;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
	})()`, nil)
}

// Text is the rendered text of the first element matching selector.
func (p *Page) Text(ctx context.Context, selector string) (string, error) {
	var s string
	err := p.Evaluate(ctx, `(() => {
		const el = document.querySelector(`+js(selector)+`);
		if (!el) throw new Error("no element matches " + `+js(selector)+`);
		return el.innerText;
	})()`, &s)
	return s, err
}

// SetViewport emulates a window of width × height CSS pixels at scale 1;
// mobile makes the page lay out as on a phone (honouring <meta name=viewport>).
func (p *Page) SetViewport(ctx context.Context, width, height int, mobile bool) error {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if _, err := run(p, ctx, chromedp.EmulateViewport(int64(width), int64(height), opts...)); err != nil {
		return fmt.Errorf("browsertest: set the viewport: %w", err)
	}
	return nil
}

// Screenshot captures the viewport, or the whole page when fullPage, as PNG.
func (p *Page) Screenshot(ctx context.Context, fullPage bool) ([]byte, error) {
	shot := chromedp.CaptureScreenshot()
	if fullPage {
		// The page's whole content box at scale 1 (chromedp's FullScreenshot
		// stops at the viewport in headless Chromium).
		shot = func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
			m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
			if err != nil {
				return nil, err
			}
			if m.CSSContentSize == nil {
				return nil, errors.New("no content size")
			}
			yes := true
			r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
				Format: page.CaptureScreenshotFormatPng, CaptureBeyondViewport: &yes,
				Clip: &page.Viewport{Width: math.Ceil(m.CSSContentSize.Width), Height: math.Ceil(m.CSSContentSize.Height), Scale: 1},
			})
			if err != nil {
				return nil, err
			}
			return r.Data, nil
		}
	}
	png, err := run(p, ctx, shot)
	if err != nil {
		return nil, fmt.Errorf("browsertest: screenshot: %w", err)
	}
	if len(png) == 0 {
		return nil, errors.New("browsertest: screenshot: empty image")
	}
	return png, nil
}

// Close closes the tab; calls in flight fail as the page is closed.
func (p *Page) Close(ctx context.Context) error {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	gone := p.gone()
	p.kill(errPageClosed)
	if gone != nil {
		p.cancel()
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- chromedp.Cancel(p.ctx) }() // closes the tab and waits for it
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("browsertest: close the page: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("browsertest: close the page: %w", ctx.Err())
	}
}
