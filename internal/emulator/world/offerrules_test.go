package world_test

import (
	"testing"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// FuzzAddDuration: a duration from a change set or the control API is added
// exactly when AWS's pattern accepts it (and is not absurdly long), never
// moves time backwards, and never panics.
func FuzzAddDuration(f *testing.F) {
	for _, s := range []string{"P12M", "P1Y", "P30D", "P1Y6M", "P1Y2M3D", "P", "", "12 months", "P1M1Y", "P-1D", "P99999999999999999999Y"} {
		f.Add(s)
	}
	start := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		end, err := world.AddDuration(start, s)
		if err == nil && !world.ValidDuration(s) {
			t.Fatalf("AddDuration took %q, which AWS's pattern refuses", s)
		}
		if err == nil && end.Before(start) {
			t.Fatalf("AddDuration(%q) went back to %v", s, end)
		}
	})
}

func TestAddDuration(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"P12M":    time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC),
		"P1Y6M":   time.Date(2027, 7, 15, 0, 0, 0, 0, time.UTC),
		"P1Y2M3D": time.Date(2027, 3, 18, 0, 0, 0, 0, time.UTC),
		"P30D":    time.Date(2026, 2, 14, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := world.AddDuration(start, in); err != nil || !got.Equal(want) {
			t.Errorf("AddDuration(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"P", "", "P1M1Y", "12M", "P1W", "P99999999999999999999Y"} {
		if _, err := world.AddDuration(start, in); err == nil {
			t.Errorf("AddDuration(%q) took it", in)
		}
	}
}
