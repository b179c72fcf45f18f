package background

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestGuard(t *testing.T) {
	t.Parallel()
	t.Run("a panic becomes a logged error", func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, nil))
		err := Guard(logger, "clock", func() error {
			var m map[string]int
			m["x"] = 1 // assignment to entry in nil map
			return nil
		})
		var pe *PanicError
		if !errors.As(err, &pe) || pe.What != "clock" || !strings.Contains(err.Error(), "nil map") {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(buf.String(), "loop=clock") || !strings.Contains(buf.String(), "background_test.go") {
			t.Fatalf("log lacks the loop or the stack: %s", buf.String())
		}
	})
	t.Run("errors and successes pass through", func(t *testing.T) {
		want := errors.New("boom")
		if err := Guard(nil, "x", func() error { return want }); err != want {
			t.Fatalf("err = %v", err)
		}
		if err := Guard(nil, "x", func() error { return nil }); err != nil {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Go survives a panic", func(t *testing.T) {
		var wg sync.WaitGroup
		wg.Add(1)
		Go(slog.New(slog.DiscardHandler), "once", func() {
			defer wg.Done()
			panic("bad")
		})
		wg.Wait() // the test binary is still alive
	})
}
