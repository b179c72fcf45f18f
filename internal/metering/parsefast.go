package metering

import "unicode/utf8"

// parseBatchFast reads a batch body of the plain shape vendors send, which
// nearly every batch is: {"records": [ ... ]} whose records are objects of
// the known fields, spelled exactly, each at most once, with strings free of
// escapes and control characters and valid UTF-8, and whole-number
// quantities. For such a body it makes exactly what ParseBatch's decoder
// makes (the same wireUsage for each record, checked by the same usage),
// without encoding/json's reflection, which was most of a batch's CPU time.
// Anything else, well-formed or not, it leaves to the decoder: ok is false.
func parseBatchFast(body []byte) (out []Parsed, ok bool) {
	s := scanner{b: body}
	if !s.byte('{') || !s.key("records") || !s.byte(':') || !s.byte('[') {
		return nil, false
	}
	out = []Parsed{}
	// Licenses, tenants and dimensions repeat across a batch: one string each.
	names := map[string]string{}
	name := func(b []byte) string {
		if v, ok := names[string(b)]; ok {
			return v
		}
		v := string(b)
		names[v] = v
		return v
	}
	if !s.peek(']') {
		for {
			if len(out) == MaxIngest {
				return nil, false
			}
			var w wireUsage
			if !s.record(&w, name) {
				return nil, false
			}
			u, err := w.usage()
			out = append(out, Parsed{Usage: u, Err: err})
			if s.peek(']') {
				break
			}
			if !s.byte(',') {
				return nil, false
			}
		}
	}
	if !s.byte(']') || !s.byte('}') {
		return nil, false
	}
	s.space()
	return out, s.i == len(s.b)
}

// scanner reads the plain JSON parseBatchFast takes.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// peek says whether c comes next (after white space).
func (s *scanner) peek(c byte) bool {
	s.space()
	return s.i < len(s.b) && s.b[s.i] == c
}

// byte reads c (after white space).
func (s *scanner) byte(c byte) bool {
	if !s.peek(c) {
		return false
	}
	s.i++
	return true
}

// str reads a string without escapes or control characters, in valid UTF-8,
// whose value is therefore its bytes.
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// key reads the member name k.
func (s *scanner) key(k string) bool {
	v, ok := s.str()
	return ok && string(v) == k
}

// record reads one record of the known fields into w.
func (s *scanner) record(w *wireUsage, name func([]byte) string) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	var seen [6]bool
	for {
		k, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		var f int
		var dst *string
		switch string(k) {
		case "license":
			f, dst = 0, &w.License
		case "tenant":
			f, dst = 1, &w.Tenant
		case "dimension":
			f, dst = 2, &w.Dimension
		case "timestamp":
			f, dst = 3, &w.Timestamp
		case "idempotencyKey":
			f, dst = 4, &w.IdempotencyKey
		case "quantity":
			f = 5
		default:
			return false
		}
		if seen[f] {
			return false
		}
		seen[f] = true
		if dst != nil {
			v, ok := s.str()
			if !ok {
				return false
			}
			if f <= 2 {
				*dst = name(v)
			} else {
				*dst = string(v)
			}
		} else if w.Quantity, ok = s.integer(); !ok {
			return false
		}
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// integer reads a JSON number that is a whole number without fraction or
// exponent: -?(0|[1-9][0-9]*), followed by white space, ',' or '}'.
func (s *scanner) integer() ([]byte, bool) {
	s.space()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || (n > 1 && s.b[digits] == '0') {
		return nil, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r', ',', '}':
		default:
			return nil, false
		}
	}
	return s.b[start:s.i:s.i], true
}
