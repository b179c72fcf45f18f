package metering

import (
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// defaultWindow is used when Config.MeteringWindow is not set.
const defaultWindow = 24 * time.Hour

// InBounds reports whether usage at ts may be metered at now under cfg:
// less than MeteringWindow old ("not accepted 24 hours or more after an
// event"), at most FutureSkew ahead, and, when MonthEndGrace is on, not in a
// billing month that has closed: a month's records are accepted until 06:00
// UTC on the 1st of the next month and rejected after, whatever the window
// says. The grace never extends the window.
func InBounds(cfg world.Config, now, ts time.Time) bool {
	window := cfg.MeteringWindow
	if window <= 0 {
		window = defaultWindow
	}
	now, ts = now.UTC(), ts.UTC()
	if ts.After(now.Add(FutureSkew)) || now.Sub(ts) >= window {
		return false
	}
	if cfg.MonthEndGrace {
		monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		if ts.Before(monthStart) && !now.Before(monthStart.Add(MonthEndCutoff)) {
			return false
		}
	}
	return true
}

// subscribedAt reports whether usage at ts may be billed on l: from the hour
// the license started until it is deprovisioned. The final window between
// Purchase Agreement Ended and License Deprovisioned is included; once the
// license is deprovisioned no usage is accepted, whatever its timestamp.
func subscribedAt(l *world.License, ts time.Time) bool {
	if !l.ActiveAt(ts) || l.State == world.LicensePending {
		return false
	}
	// ActiveAt only looks at DeprovisionedAt; while the license is ending a
	// (slightly future) timestamp may already lie past the deprovisioning.
	return l.DeprovisionAt == nil || ts.Before(*l.DeprovisionAt)
}

// hourOf is the dedupe granularity: the timestamp truncated to the hour.
func hourOf(ts time.Time) string { return ts.UTC().Truncate(time.Hour).Format(time.RFC3339) }
