package metering

import "context"

// A large usage batch holds much more memory while it is parsed and ingested
// than its body: 10,000 records took some 15 MB each, and a flood of such
// batches from 16 callers took concord serve past 200 MB (issue 19, target 6;
// `concord bench memory`). Batches from largeBatchBytes up therefore take
// turns, largeBatchSlots at a time; on SQLite their transactions run one after
// the other anyway, so this costs no throughput. Small batches never wait.
const (
	largeBatchBytes = 256 << 10
	largeBatchSlots = 2
)

// largeSlot waits for a turn for a batch body of size bytes (at once for a
// small one), or for ctx to end. release gives the turn back.
func (s *Service) largeSlot(ctx context.Context, size int) (release func(), err error) {
	if size < largeBatchBytes {
		return func() {}, nil
	}
	s.largeOnce.Do(func() { s.large = make(chan struct{}, largeBatchSlots) })
	select {
	case s.large <- struct{}{}:
		return func() { <-s.large }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
