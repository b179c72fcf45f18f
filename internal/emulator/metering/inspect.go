package metering

import (
	"bytes"

	"github.com/concordmp/concord/internal/emulator/world"
)

// Records returns a copy of every usage record the service received, oldest
// first, with its outcome: Success, DuplicateRecord, CustomerNotSubscribed,
// Unprocessed or Rejected (the whole request was refused; Reason says why).
// An identical resubmission is listed again as Success with the original
// MeteringRecordID; it is not billed twice (see Accepted).
func Records(w *world.World) []world.MeteringRecord {
	var out []world.MeteringRecord
	_ = w.Do(func(s *world.State) error {
		out = make([]world.MeteringRecord, 0, len(s.Metering))
		for _, r := range s.Metering {
			c := *r
			c.Allocations = bytes.Clone(r.Allocations)
			out = append(out, c)
		}
		return nil
	})
	return out
}

// Accepted sums the billed quantities: for every dedupe key, the quantity of
// the record that won it (the first accepted one). The map key is
// "<who>|<dimension>|<hour RFC 3339>", where who is the record's LicenseArn,
// else its CustomerIdentifier, else its CustomerAWSAccountId, else (for
// MeterUsage) its ProductCode.
func Accepted(w *world.World) map[string]int64 {
	out := map[string]int64{}
	_ = w.Do(func(s *world.State) error {
		for _, idx := range s.MeteringKeys {
			if idx < 0 || idx >= len(s.Metering) {
				continue
			}
			r := s.Metering[idx]
			if r.Status != StatusSuccess {
				continue
			}
			out[AcceptedKey(*r)] += r.Quantity
		}
		return nil
	})
	return out
}

// AcceptedKey is the key Accepted files a record under.
func AcceptedKey(r world.MeteringRecord) string {
	who := r.LicenseArn
	for _, v := range []string{r.CustomerIdentifier, r.CustomerAWSAccount, r.ProductCode} {
		if who != "" {
			break
		}
		who = v
	}
	return who + "|" + r.Dimension + "|" + hourOf(r.Timestamp)
}
