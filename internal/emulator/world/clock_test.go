package world_test

import (
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// TestSetClock: a stopped clock stamps the same time until the emulator's
// clock is advanced, which moves it by exactly the advance; what the world
// makes is stamped with it.
func TestSetClock(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	w := world.New(world.DefaultConfig())
	w.SetClock(func() time.Time { return at })
	if got := w.Now(); !got.Equal(at) {
		t.Fatalf("Now = %s, want %s", got, at)
	}
	time.Sleep(5 * time.Millisecond)
	if got := w.Now(); !got.Equal(at) {
		t.Fatalf("a stopped clock moved to %s", got)
	}
	if err := w.Advance(90 * time.Minute); err != nil {
		t.Fatal(err)
	}
	want := at.Add(90 * time.Minute)
	if got := w.Now(); !got.Equal(want) {
		t.Fatalf("after advancing 90m Now = %s, want %s", got, want)
	}
	var created *time.Time
	if err := w.Do(func(s *world.State) error {
		p, err := s.CreateProduct(world.Product{Title: "T", Dimensions: []world.Dimension{{Key: "seats", Kind: "contract"}}})
		if err == nil {
			created = p.CreatedAt
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if created == nil || !created.Equal(want) {
		t.Fatalf("product stamped %v, want %s", created, want)
	}
	w.SetClock(nil)
	if got := w.Now(); time.Since(got.Add(-90*time.Minute)) > time.Minute {
		t.Fatalf("SetClock(nil) did not restore real time: %s", got)
	}
}
