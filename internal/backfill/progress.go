package backfill

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/pace"
)

// barWidth is the width of the progress bar between its brackets.
const barWidth = 30

// bar draws "\r[=====>     ] 120/300 accounts" on a terminal; a nil writer
// draws nothing.
type bar struct {
	w       io.Writer
	total   int
	n       int
	what    string
	started bool
	drawn   time.Time // when step last drew
	shown   int       // the count last drawn
}

func newBar(w io.Writer, total int, what string) *bar {
	b := &bar{w: w, total: total, what: what}
	if w == nil || total == 0 {
		b.w = nil
	}
	b.draw()
	return b
}

func (b *bar) draw() {
	if b.w == nil {
		return
	}
	b.started = true
	fill := barWidth * b.n / b.total
	var s string
	switch {
	case fill >= barWidth:
		s = strings.Repeat("=", barWidth)
	default:
		s = strings.Repeat("=", fill) + ">" + strings.Repeat(" ", barWidth-fill-1)
	}
	b.shown = b.n
	fmt.Fprintf(b.w, "\r[%s] %d/%d %s", s, b.n, b.total, b.what)
}

// step counts one item done. The bar is redrawn at most ten times a second
// (and at the end), so a large input does not flood the terminal or a log.
func (b *bar) step() {
	b.n++
	if b.n == b.total || time.Since(b.drawn) >= 100*time.Millisecond {
		b.drawn = time.Now()
		b.draw()
	}
}

// done ends the bar's line.
func (b *bar) done() {
	if b.w != nil && b.started && b.shown != b.n {
		b.draw() // the last steps may have come too fast to draw
	}
	if b.w != nil && b.started {
		fmt.Fprintln(b.w)
	}
	b.w = nil
}

// abort ends the bar's line so an error prints on its own.
func (b *bar) abort() { b.done() }

// DefaultRate is how many GetEntitlements calls per second a backfill makes
// unless told otherwise: below the seller's request quota, so the calls are not
// throttled (the SDK retries a throttled call only a few times).
const DefaultRate = 5

// newPacer paces GetEntitlements calls at rate per second (DefaultRate for 0);
// a negative rate does not pace them (a nil limiter does not wait).
func newPacer(rate float64) *pace.Limiter {
	switch {
	case rate < 0:
		return nil
	case rate == 0:
		rate = DefaultRate
	}
	return pace.New(rate)
}
