package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Options configure Launch.
type Options struct {
	// Path is the Chromium binary; Find's answer when empty.
	Path string
	// Args are extra command-line flags.
	Args []string
	// Stderr, when set, receives Chromium's output (it is noisy); the last few
	// kilobytes are always kept for error messages.
	Stderr io.Writer
}

// Browser is a running headless Chromium and the DevTools connection to it.
type Browser struct {
	cmd     *exec.Cmd
	dir     string   // --user-data-dir, removed by Close
	out     *os.File // our end of Chromium's fd 3
	in      *os.File // our end of Chromium's fd 4
	stderr  *tail
	Version string // e.g. "Chrome/140.0.0.0"

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	nextID  int64
	pending map[int64]*call
	pages   map[string]*Page // by session id
	closing bool
	err     error // why the connection ended; set once

	done      chan struct{} // closed when the reader has stopped
	exited    chan struct{} // closed when the process has been reaped
	closeOnce sync.Once
	closeErr  error
}

// message is one CDP message in either direction.
type message struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *Error          `json:"error,omitempty"`
}

// Error is an error answer from the browser.
type Error struct {
	Method  string `json:"-"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data,omitempty"`
}

func (e *Error) Error() string {
	s := fmt.Sprintf("browsertest: %s: %s (%d)", e.Method, e.Message, e.Code)
	if e.Data != "" {
		s += ": " + e.Data
	}
	return s
}

type reply struct {
	msg message
	err error
}

type call struct {
	session string
	ch      chan reply // buffered; receives exactly one reply
}

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
	dir, err := os.MkdirTemp("", "browsertest-profile-")
	if err != nil {
		return nil, fmt.Errorf("browsertest: %w", err)
	}
	cmdIn, out, err := os.Pipe() // Chromium reads commands from fd 3
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("browsertest: %w", err)
	}
	in, cmdOut, err := os.Pipe() // and writes to fd 4
	if err != nil {
		os.RemoveAll(dir)
		cmdIn.Close()
		out.Close()
		return nil, fmt.Errorf("browsertest: %w", err)
	}
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--user-data-dir=" + dir,
		"--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--disable-default-apps", "--disable-sync",
		"--disable-breakpad", "--mute-audio", "--hide-scrollbars", "--password-store=basic", "--use-mock-keychain",
	}
	args = append(append(args, o.Args...), "about:blank")
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{cmdIn, cmdOut} // fd 3 and fd 4
	st := &tail{max: 8 << 10}
	var w io.Writer = st
	if o.Stderr != nil {
		w = io.MultiWriter(st, o.Stderr)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second // helpers holding stderr open must not wedge Wait
	setProcessGroup(cmd)
	err = cmd.Start()
	cmdIn.Close()
	cmdOut.Close()
	if err != nil {
		out.Close()
		in.Close()
		os.RemoveAll(dir)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: cannot run %s: %v; install it with `%s`", ErrNotFound, path, err, InstallHint)
		}
		return nil, fmt.Errorf("browsertest: start %s: %w", path, err)
	}
	b := &Browser{cmd: cmd, dir: dir, out: out, in: in, stderr: st, pending: map[int64]*call{}, pages: map[string]*Page{},
		done: make(chan struct{}), exited: make(chan struct{})}
	go b.reap()
	go b.read()
	var v struct {
		Product string `json:"product"`
	}
	if err := b.Call(ctx, "Browser.getVersion", nil, &v); err != nil {
		b.Close()
		return nil, fmt.Errorf("browsertest: %s did not answer over the DevTools pipe: %w%s", path, err, st.String())
	}
	b.Version = v.Product
	return b, nil
}

// reap waits for the process; once it is gone nothing more can be read.
func (b *Browser) reap() {
	err := b.cmd.Wait()
	close(b.exited)
	b.mu.Lock()
	closing := b.closing
	b.mu.Unlock()
	if !closing {
		b.fail(fmt.Errorf("browsertest: chromium exited unexpectedly (%v)%s", err, b.stderr.String()))
	}
	b.in.Close() // unblocks the reader
}

// read dispatches the browser's messages until the pipe closes.
func (b *Browser) read() {
	defer close(b.done)
	r := bufio.NewReaderSize(b.in, 1<<16)
	for {
		data, err := r.ReadBytes(0)
		if err != nil {
			b.fail(fmt.Errorf("browsertest: connection to chromium closed (%v)%s", err, b.stderr.String()))
			return
		}
		var m message
		if err := json.Unmarshal(data[:len(data)-1], &m); err != nil {
			b.fail(fmt.Errorf("browsertest: bad message from chromium: %w", err))
			return
		}
		b.dispatch(m)
	}
}

func (b *Browser) dispatch(m message) {
	if m.ID != 0 {
		b.mu.Lock()
		c := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if c != nil {
			c.ch <- reply{msg: m}
		}
		return
	}
	switch {
	case m.Method == "Target.detachedFromTarget" && m.SessionID == "":
		var p struct {
			SessionID string `json:"sessionId"`
		}
		json.Unmarshal(m.Params, &p)
		b.pageGone(p.SessionID, errors.New("browsertest: the page was closed"))
	case m.Method == "Inspector.targetCrashed":
		b.pageGone(m.SessionID, errors.New("browsertest: the page crashed"))
	case m.SessionID != "":
		b.mu.Lock()
		p := b.pages[m.SessionID]
		b.mu.Unlock()
		if p != nil {
			p.deliver(m)
		}
	}
}

// pageGone ends a page's session: its waiters and calls fail with err.
func (b *Browser) pageGone(session string, err error) {
	b.mu.Lock()
	p := b.pages[session]
	delete(b.pages, session)
	for id, c := range b.pending {
		if c.session == session {
			delete(b.pending, id)
			c.ch <- reply{err: err}
		}
	}
	b.mu.Unlock()
	if p != nil {
		p.gone(err)
	}
}

// fail ends the connection: every call in flight and every later call fails.
func (b *Browser) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		if b.closing {
			err = errors.New("browsertest: the browser is closed")
		}
		b.err = err
	}
	err = b.err
	pending, pages := b.pending, b.pages
	b.pending, b.pages = map[int64]*call{}, map[string]*Page{}
	b.mu.Unlock()
	for _, c := range pending {
		c.ch <- reply{err: err}
	}
	for _, p := range pages {
		p.gone(err)
	}
}

// Call sends a browser-level command and decodes its result into result
// (which may be nil).
func (b *Browser) Call(ctx context.Context, method string, params, result any) error {
	return b.call(ctx, "", method, params, result)
}

func (b *Browser) call(ctx context.Context, session, method string, params, result any) error {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	if params == nil {
		params = struct{}{}
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("browsertest: %s: %w", method, err)
	}
	c := &call{session: session, ch: make(chan reply, 1)}
	b.mu.Lock()
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return fmt.Errorf("%w (calling %s)", err, method)
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = c
	b.mu.Unlock()
	data, err := json.Marshal(message{ID: id, SessionID: session, Method: method, Params: raw})
	if err != nil {
		b.forget(id)
		return fmt.Errorf("browsertest: %s: %w", method, err)
	}
	if err := b.write(ctx, append(data, 0)); err != nil {
		b.forget(id)
		return fmt.Errorf("browsertest: %s: write to chromium: %w", method, err)
	}
	select {
	case r := <-c.ch:
		if r.err != nil {
			return fmt.Errorf("%w (calling %s)", r.err, method)
		}
		if r.msg.Error != nil {
			r.msg.Error.Method = method
			return r.msg.Error
		}
		if result != nil && len(r.msg.Result) > 0 {
			if err := json.Unmarshal(r.msg.Result, result); err != nil {
				return fmt.Errorf("browsertest: %s: decode result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		b.forget(id)
		return fmt.Errorf("browsertest: %s: %w", method, ctx.Err())
	}
}

func (b *Browser) forget(id int64) {
	b.mu.Lock()
	delete(b.pending, id)
	b.mu.Unlock()
}

func (b *Browser) write(ctx context.Context, data []byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if d, ok := ctx.Deadline(); ok {
		b.out.SetWriteDeadline(d)
	}
	_, err := b.out.Write(data)
	b.out.SetWriteDeadline(time.Time{})
	return err
}

// NewPage opens a tab on about:blank and attaches to it.
func (b *Browser) NewPage(ctx context.Context) (*Page, error) {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.Call(ctx, "Target.createTarget", map[string]any{"url": "about:blank"}, &t); err != nil {
		return nil, err
	}
	var a struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.Call(ctx, "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &a); err != nil {
		return nil, err
	}
	p := &Page{b: b, TargetID: t.TargetID, SessionID: a.SessionID, subs: map[*subscription]struct{}{}, done: make(chan struct{})}
	b.mu.Lock()
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return nil, err
	}
	b.pages[a.SessionID] = p
	b.mu.Unlock()
	for _, c := range []struct {
		method string
		params any
	}{
		{"Page.enable", nil},
		{"Page.setLifecycleEventsEnabled", map[string]any{"enabled": true}},
		{"Network.enable", nil}, // for the HTTP status of documents
	} {
		if err := p.Call(ctx, c.method, c.params, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Close closes the browser, waits for it to exit (killing it if it does not)
// and removes its profile directory. It is safe to call more than once.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closing = true
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.Call(ctx, "Browser.close", nil, nil) // the pipe may close before the answer
		cancel()
		select {
		case <-b.exited:
		case <-time.After(15 * time.Second):
			b.closeErr = errors.New("browsertest: chromium did not exit after Browser.close; killed it")
		}
		killProcessGroup(b.cmd) // stray helpers, or all of it after the timeout
		<-b.exited
		b.out.Close()
		b.in.Close()
		<-b.done
		b.fail(errors.New("browsertest: the browser is closed"))
		// Helpers may still be writing to the profile for a moment.
		var err error
		for i := 0; i < 50; i++ {
			if err = os.RemoveAll(b.dir); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil && b.closeErr == nil {
			b.closeErr = fmt.Errorf("browsertest: remove profile: %w", err)
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
