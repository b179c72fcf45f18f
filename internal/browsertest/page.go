package browsertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// Page is a browser tab, attached with a flattened session.
type Page struct {
	b         *Browser
	TargetID  string
	SessionID string

	mu   sync.Mutex
	subs map[*subscription]struct{}
	err  error         // why the page is gone
	done chan struct{} // closed when the page is gone (closed, crashed, browser ended)
	once sync.Once
}

// Response describes the document a navigation ended on.
type Response struct {
	URL    string // final URL, after redirects
	Status int    // HTTP status of the document; 0 when unknown (data:, about:)
}

// Call sends a command to the page's session.
func (p *Page) Call(ctx context.Context, method string, params, result any) error {
	select {
	case <-p.done:
		return fmt.Errorf("%w (calling %s)", p.err, method)
	default:
	}
	return p.b.call(ctx, p.SessionID, method, params, result)
}

func (p *Page) deliver(m message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.subs {
		s.push(m)
	}
}

func (p *Page) gone(err error) {
	p.once.Do(func() {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	})
}

// subscription queues every event of a page from its creation on, so that an
// event fired between starting an action and waiting for it is not lost.
type subscription struct {
	p      *Page
	mu     sync.Mutex
	queue  []message
	notify chan struct{}
}

func (p *Page) subscribe() *subscription {
	s := &subscription{p: p, notify: make(chan struct{}, 1)}
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	return s
}

func (s *subscription) close() {
	s.p.mu.Lock()
	delete(s.p.subs, s)
	s.p.mu.Unlock()
}

func (s *subscription) push(m message) {
	s.mu.Lock()
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *subscription) next(ctx context.Context) (message, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			m := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return m, nil
		}
		s.mu.Unlock()
		select {
		case <-s.notify:
		case <-ctx.Done():
			return message{}, ctx.Err()
		case <-s.p.done:
			s.p.mu.Lock()
			defer s.p.mu.Unlock()
			return message{}, s.p.err
		}
	}
}

// Navigate loads url and waits for its load event.
func (p *Page) Navigate(ctx context.Context, url string) (Response, error) {
	return p.navigation(ctx, "navigate to "+url, func(ctx context.Context) (string, error) {
		var r struct {
			LoaderID  string `json:"loaderId"`
			ErrorText string `json:"errorText"`
		}
		if err := p.Call(ctx, "Page.navigate", map[string]any{"url": url}, &r); err != nil {
			return "", err
		}
		if r.ErrorText != "" {
			return "", fmt.Errorf("browsertest: navigate to %s: %s", url, r.ErrorText)
		}
		if r.LoaderID == "" {
			return "", fmt.Errorf("browsertest: navigate to %s: a same-document navigation loads nothing", url)
		}
		return r.LoaderID, nil
	})
}

// WaitNavigation runs action, which must make the page's main frame navigate
// (a click on a submit button, form.submit(), location.assign), and waits
// until the new document has fired its load event. Events are watched from
// before action runs, so a fast navigation is not missed.
func (p *Page) WaitNavigation(ctx context.Context, action func(ctx context.Context) error) (Response, error) {
	return p.navigation(ctx, "navigation", func(ctx context.Context) (string, error) { return "", action(ctx) })
}

// ClickAndWait clicks the element and waits for the navigation it starts.
func (p *Page) ClickAndWait(ctx context.Context, selector string) (Response, error) {
	return p.navigation(ctx, "navigation after clicking "+selector, func(ctx context.Context) (string, error) { return "", p.Click(ctx, selector) })
}

// navigation runs start and waits for the load event of the main-frame
// document it commits. start may return the loader id of the navigation when
// it knows it.
func (p *Page) navigation(ctx context.Context, what string, start func(context.Context) (string, error)) (Response, error) {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	sub := p.subscribe()
	defer sub.close()
	loader, err := start(ctx)
	if err != nil {
		return Response{}, err
	}
	status := map[string]int{} // document status by loader id
	var frameID, url string
	for {
		m, err := sub.next(ctx)
		if err != nil {
			return Response{}, fmt.Errorf("browsertest: waiting for the %s to load: %w", what, err)
		}
		switch m.Method {
		case "Network.responseReceived":
			var e struct {
				LoaderID string `json:"loaderId"`
				Type     string `json:"type"`
				Response struct {
					Status int `json:"status"`
				} `json:"response"`
			}
			if json.Unmarshal(m.Params, &e) == nil && e.Type == "Document" {
				status[e.LoaderID] = e.Response.Status
			}
		case "Page.frameNavigated":
			var e struct {
				Frame struct {
					ID             string `json:"id"`
					ParentID       string `json:"parentId"`
					LoaderID       string `json:"loaderId"`
					URL            string `json:"url"`
					UnreachableURL string `json:"unreachableUrl"`
				} `json:"frame"`
			}
			if json.Unmarshal(m.Params, &e) != nil || e.Frame.ParentID != "" || (loader != "" && e.Frame.LoaderID != loader) {
				continue
			}
			if e.Frame.UnreachableURL != "" {
				return Response{}, fmt.Errorf("browsertest: %s: could not load %s", what, e.Frame.UnreachableURL)
			}
			frameID, loader, url = e.Frame.ID, e.Frame.LoaderID, e.Frame.URL
		case "Page.lifecycleEvent":
			var e struct {
				FrameID  string `json:"frameId"`
				LoaderID string `json:"loaderId"`
				Name     string `json:"name"`
			}
			if json.Unmarshal(m.Params, &e) == nil && e.Name == "load" && frameID != "" && e.FrameID == frameID && e.LoaderID == loader {
				return Response{URL: url, Status: status[loader]}, nil
			}
		}
	}
}

// Evaluate runs a JavaScript expression in the page, awaits it when it is a
// promise, and decodes its JSON value into out (which may be nil). A thrown
// exception or rejected promise is an error.
func (p *Page) Evaluate(ctx context.Context, expression string, out any) error {
	var r struct {
		Result struct {
			Type        string          `json:"type"`
			Value       json.RawMessage `json:"value"`
			Description string          `json:"description"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string          `json:"description"`
				Value       json.RawMessage `json:"value"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expression, "awaitPromise": true, "returnByValue": true, "userGesture": true}, &r)
	if err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		msg := e.Text
		if e.Exception != nil && e.Exception.Description != "" {
			msg = e.Exception.Description
		} else if e.Exception != nil && len(e.Exception.Value) > 0 {
			msg += " " + string(e.Exception.Value)
		}
		return fmt.Errorf("browsertest: evaluate %s: %s", abbreviate(expression), msg)
	}
	if out == nil {
		return nil
	}
	if len(r.Result.Value) == 0 {
		return fmt.Errorf("browsertest: evaluate %s: no JSON value (got %s %s)", abbreviate(expression), r.Result.Type, r.Result.Description)
	}
	if err := json.Unmarshal(r.Result.Value, out); err != nil {
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
		select {
		case <-p.done:
			return fmt.Errorf("browsertest: waiting for %s: %w", abbreviate(expression), p.err)
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
// another element.
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
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		ev := map[string]any{"type": typ, "x": pt.X, "y": pt.Y}
		if typ != "mouseMoved" {
			ev["button"], ev["clickCount"] = "left", 1
		}
		if err := p.Call(ctx, "Input.dispatchMouseEvent", ev, nil); err != nil {
			return err
		}
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
	return p.Call(ctx, "Input.insertText", map[string]any{"text": text}, nil)
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
	return p.Call(ctx, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, nil)
}

// Screenshot captures the viewport, or the whole page when fullPage, as PNG.
func (p *Page) Screenshot(ctx context.Context, fullPage bool) ([]byte, error) {
	params := map[string]any{"format": "png"}
	if fullPage {
		var m struct {
			Content struct {
				Width  float64 `json:"width"`
				Height float64 `json:"height"`
			} `json:"cssContentSize"`
		}
		if err := p.Call(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
			return nil, err
		}
		params["captureBeyondViewport"] = true
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": math.Ceil(m.Content.Width), "height": math.Ceil(m.Content.Height), "scale": 1}
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := p.Call(ctx, "Page.captureScreenshot", params, &r); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return nil, fmt.Errorf("browsertest: screenshot: %w", err)
	}
	if len(png) == 0 {
		return nil, errors.New("browsertest: screenshot: empty image")
	}
	return png, nil
}

// Close closes the tab.
func (p *Page) Close(ctx context.Context) error {
	err := p.b.Call(ctx, "Target.closeTarget", map[string]any{"targetId": p.TargetID}, nil)
	p.gone(errors.New("browsertest: the page was closed"))
	return err
}
