// Package background keeps Concord's long-running goroutines alive across a
// panic. The emulator's clock, job workers, the SQS poller, heartbeats, caches'
// loaders and the metering submitter each run one step at a time through Guard:
// a step that panics is logged with its stack and reported as an error, and the
// loop goes on (backing off as for any other error). Without it, one bad input
// reaching a goroutine that is not an HTTP handler kills the whole process.
package background

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// PanicError is what Guard returns for a step that panicked, so a caller can
// tell a crash from an ordinary failure if it needs to.
type PanicError struct {
	What  string
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprintf("%s panicked: %v", e.What, e.Value) }

// Guard runs one step of a background loop and turns a panic into a
// *PanicError, logged (with the stack) at error level. what names the loop in
// the log; a nil logger logs to slog.Default.
func Guard(logger *slog.Logger, what string, step func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if logger == nil {
				logger = slog.Default()
			}
			logger.Error("background: recovered a panic; the loop goes on", "loop", what, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = &PanicError{What: what, Value: p}
		}
	}()
	return step()
}

// Go starts fn in a goroutine guarded the same way: for one-shot background
// work (a cache load, a delivery) whose panic must not end the process.
func Go(logger *slog.Logger, what string, fn func()) {
	go Guard(logger, what, func() error { fn(); return nil })
}
