package metering

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestExpiryCutoffAgreesWithSendDeadline: the SQL prefilter of Expire picks
// exactly the hours whose deadline has passed, across month ends and for the
// 24 h and the old 6 h window.
func TestExpiryCutoffAgreesWithSendDeadline(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, window := range []time.Duration{24 * time.Hour, 6 * time.Hour} {
		s := &Service{Window: window}
		for range 20000 {
			// Around the turn of a month, to the minute.
			now := time.Date(2026, time.Month(1+rng.IntN(12)), 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(60*60)-30*60) * time.Minute)
			hour := now.Add(-time.Duration(rng.IntN(40*60)) * time.Minute).Truncate(time.Hour)
			expired := !now.Before(s.sendDeadline(hour))
			if picked := !hour.After(s.expiryCutoff(now)); picked != expired {
				t.Fatalf("window %s, now %s, hour %s: deadline %s says expired=%v, cutoff %s says %v",
					window, now, hour, s.sendDeadline(hour), expired, s.expiryCutoff(now), picked)
			}
		}
	}
}
