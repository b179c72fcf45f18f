package metering

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLargeBatchesTakeTurns: at most largeBatchSlots large usage batches are
// ingested at once (memory under a flood); a small batch never waits for them.
func TestLargeBatchesTakeTurns(t *testing.T) {
	t.Parallel()
	s := &Service{}
	ctx := context.Background()
	var releases []func()
	for range largeBatchSlots {
		r, err := s.largeSlot(ctx, largeBatchBytes)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.largeSlot(short, 8<<20); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a large batch beyond the slots: %v, want it to wait until its context ends", err)
	}
	small, err := s.largeSlot(short, largeBatchBytes-1)
	if err != nil {
		t.Fatalf("a small batch waited: %v", err)
	}
	small()
	got := make(chan error, 1)
	go func() {
		r, err := s.largeSlot(ctx, largeBatchBytes)
		if err == nil {
			r()
		}
		got <- err
	}()
	releases[0]()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a released slot was not taken")
	}
	releases[1]()
}
