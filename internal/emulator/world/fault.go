package world

import (
	"time"
)

// Decision is what fault injection decided for one call.
type Decision struct {
	Latency  time.Duration
	Throttle bool // answer ThrottlingException
	Fail     bool // answer a 500 internal error
}

// Inject draws the injected faults for one call of op (the AWS operation name),
// from the seeded source so a run can be reproduced.
func (s *State) Inject(op string) Decision {
	f, ok := s.Faults[op]
	if !ok {
		f, ok = s.Faults["*"]
	}
	if !ok {
		return Decision{}
	}
	d := Decision{Latency: f.Latency}
	if f.ThrottleShare > 0 && s.rng.Float64() < f.ThrottleShare {
		d.Throttle = true
	} else if f.ErrorShare > 0 && s.rng.Float64() < f.ErrorShare {
		d.Fail = true
	}
	return d
}

// Unprocessed draws whether one BatchMeterUsage record is left unprocessed.
func (s *State) Unprocessed(op string) bool {
	f, ok := s.Faults[op]
	if !ok {
		f = s.Faults["*"]
	}
	return f.UnprocessedShare > 0 && s.rng.Float64() < f.UnprocessedShare
}

// SetFaults replaces the fault table and reseeds the source.
func (s *State) SetFaults(faults map[string]Fault, seed uint64) {
	s.Faults = faults
	if s.Faults == nil {
		s.Faults = map[string]Fault{}
	}
	s.FaultSeed = seed
	s.rng = newRand(seed)
}

// bucket is a token bucket in real time: request quotas are physical rates.
type bucket struct {
	tokens float64
	last   time.Time
}

// Allow takes one request from account's quota for op (ThrottleRPS per second,
// with a burst of the same size). It reports false when the caller must be throttled.
func (s *State) Allow(account, op string) bool {
	rps := s.Config.ThrottleRPS
	if rps <= 0 {
		return true
	}
	if s.buckets == nil {
		s.buckets = map[string]*bucket{}
	}
	key := account + "|" + op
	now := time.Now()
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: rps, last: now}
		s.buckets[key] = b
	}
	b.tokens = min(rps, b.tokens+now.Sub(b.last).Seconds()*rps)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
