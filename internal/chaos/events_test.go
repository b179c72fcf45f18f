package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// TestCrashShuffledEvents delivers a marketplace story's events to a clean
// serve in order, then the same events, some twice and all shuffled, to two
// serve processes on one PostgreSQL database while one of them is killed
// again and again: both end in the same ledger (agreements with their terms
// and lineage, licenses, bookable artifacts), read through the API.
func TestCrashShuffledEvents(t *testing.T) {
	t.Parallel()
	k := runKnobs(t)
	began := time.Now()
	rng := rand.New(rand.NewPCG(k.seed, 11))
	database := storetest.URL(t, store.Postgres) // fails, not skips, under CONCORD_TEST_REQUIRE_POSTGRES=1

	emu := startEmulator(t, "") // events are delivered by the test, not by a queue
	events := story(t, emu, max(1, k.kills/4))
	t.Logf("%s: the story emitted %d events", time.Since(began).Round(time.Millisecond), len(events))
	// The faults come after the product is synced from the Catalog API (below).
	faults := func() {
		emu.control("PUT", "/control/faults", map[string]any{"seed": k.seed, "faults": map[string]any{
			"*": map[string]any{"latencyMs": 10, "errorShare": 0.03},
		}}, nil)
	}

	// The clean run: one process on SQLite, every event once, in order.
	clean := startServes(t, 1, serveConfig{name: "clean", emu: emu})[0]
	// The operator syncs the product first, as docs/deployment.md says: a
	// bookable artifact recorded before the product's first sync keeps no
	// title, whatever order the events come in (a known gap, reported).
	clean.mustAPI("POST", "/v1/products/"+chaosProduct+"/sync", nil, nil)
	// Light faults on the APIs the enrichment jobs call: retried, and the
	// answers are the same for both runs.
	faults()
	t.Logf("%s: the clean serve is up", time.Since(began).Round(time.Millisecond))
	for _, ev := range events {
		if code, raw, err := clean.deliver(ev); err != nil || code/100 != 2 {
			t.Fatalf("clean delivery: %d %v %s", code, err, raw)
		}
	}
	want := settle(t, clean)
	t.Logf("%s: the clean run settled: %d ledger items", time.Since(began).Round(time.Millisecond), len(want))
	clean.kill()

	// The chaos run: two processes on one PostgreSQL, each event once or
	// twice, shuffled, one process killed at random moments.
	procs := startServes(t, 2, serveConfig{name: "serve", database: database, emu: emu})
	emu.control("PUT", "/control/faults", map[string]any{"faults": map[string]any{}}, nil)
	procs[0].mustAPI("POST", "/v1/products/"+chaosProduct+"/sync", nil, nil)
	faults()
	t.Logf("%s: the chaos serves are up", time.Since(began).Round(time.Millisecond))
	var stream []json.RawMessage
	for _, ev := range events {
		stream = append(stream, ev)
		if rng.Float64() < 0.5 {
			stream = append(stream, ev)
		}
	}
	rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	kl := &killer{target: procs[0], rng: rand.New(rand.NewPCG(k.seed, 12)), gap: k.duration / time.Duration(max(k.kills, 1))}
	var wg sync.WaitGroup
	var killErr error
	wg.Go(func() { killErr = kl.run(k.kills) })
	pace := k.duration / time.Duration(len(stream))
	deliveries := 0
	deadline := time.Now().Add(k.duration + 2*time.Minute)
	for _, ev := range stream {
		for {
			if time.Now().After(deadline) {
				t.Fatal("events were not acknowledged in time")
			}
			deliveries++
			code, raw, err := procs[rng.IntN(2)].deliver(ev)
			if err == nil && code/100 == 2 {
				break
			}
			if err == nil && code/100 == 4 {
				t.Fatalf("an event was refused: %d %s", code, raw)
			}
			time.Sleep(50 * time.Millisecond) // the process is down: EventBridge retries
		}
		time.Sleep(pace)
	}
	wg.Wait()
	if killErr != nil {
		t.Fatal(killErr)
	}
	t.Logf("%s: the chaos run delivered %d times", time.Since(began).Round(time.Millisecond), deliveries)
	got := settle(t, procs[1])
	diffs := differ(want, got)
	for _, d := range diffs {
		t.Error("ledger difference: " + d)
	}
	t.Logf("chaos shuffled events, postgres, 2 serve processes: kills=%d events=%d deliveries=%d (each once or twice, shuffled) ledger-items=%d ledger-differences=%d slowest-restart=%s seed=%d",
		len(kl.kills()), len(events), deliveries, len(want), len(diffs), kl.slowestRestart(), k.seed)
	if len(diffs) > 0 {
		t.Errorf("the shuffled, crashed run's ledger differs from the clean run's in %d items (replay with CONCORD_CHAOS_SEED=%d)", len(diffs), k.seed)
	}
	if os.Getenv("CONCORD_CHAOS_DUMP") != "" {
		for _, key := range sortedKeys(want) {
			t.Logf("%s: %s", key, want[key])
		}
	}
}

// deliver posts one EventBridge event as an API destination does.
func (s *serve) deliver(ev json.RawMessage) (int, []byte, error) {
	return call("POST", s.url+"/events/eventbridge", map[string]string{"X-Concord-Secret": s.secret}, []byte(ev))
}

// story plays a marketplace story in the emulator, dated hours ago, and
// returns the EventBridge events it emitted, in order: public and private
// offers accepted, a replacement, auto-renewal turned off and on, a renewal,
// a cancellation and an expiry past their final metering window, and a
// channel partner's sale.
func story(t *testing.T, emu *emulator, rounds int) []json.RawMessage {
	t.Helper()
	// Each round moves the clock 40 minutes, the end 3 h 20 min more: the
	// story ends 20 minutes ago, so no event is dated in Concord's future.
	emu.startInPast(time.Duration(rounds)*40*time.Minute + 3*time.Hour + 40*time.Minute)
	emu.control("POST", "/control/products", map[string]any{"productId": chaosProduct, "productCode": chaosCode, "title": "Chaos",
		"type": "saas_contract", "dimensions": []map[string]any{{"key": "seats", "kind": "contract", "price": "40.00"}, {"key": "admins", "kind": "contract", "price": "5.00"}},
		"concurrentAgreements": true}, nil)
	for r := range rounds {
		storyRound(t, emu, r)
	}
	// Past the final metering window: the ended licenses are deprovisioned.
	emu.control("POST", "/control/clock/advance", map[string]any{"duration": "3h20m"}, nil)

	var all []struct {
		Kind string          `json:"kind"`
		Body json.RawMessage `json:"body"`
	}
	emu.control("GET", "/control/events", nil, &all)
	var out []json.RawMessage
	for _, ev := range all {
		if ev.Kind == "eventbridge" {
			out = append(out, ev.Body)
		}
	}
	if len(out) < 20 {
		t.Fatalf("the story emitted only %d EventBridge events", len(out))
	}
	return out
}

// storyRound is one round of the story, with buyers of its own.
func storyRound(t *testing.T, emu *emulator, round int) {
	t.Helper()
	buyer := func(n int) string { return fmt.Sprintf("3300000%02d%03d", round, n) }
	private := func(buyer string, seats int) accepted {
		var o struct {
			OfferID string `json:"offerId"`
		}
		var a accepted
		emu.control("POST", "/control/offers", map[string]any{"productId": chaosProduct, "buyerAccounts": []string{buyer},
			"quantities": map[string]int{"seats": seats, "admins": 1}, "duration": "P12M"}, &o)
		emu.control("POST", "/control/accept", map[string]any{"buyer": buyer, "offerId": o.OfferID}, &a)
		return a
	}
	act := func(id, action string, body any) {
		emu.control("POST", "/control/agreements/"+id+"/"+action, body, nil)
	}
	emu.control("POST", "/control/accept", map[string]any{"buyer": buyer(1), "productId": chaosProduct, "quantities": map[string]int{"seats": 10}}, nil)
	emu.control("POST", "/control/accept", map[string]any{"buyer": buyer(1), "productId": chaosProduct, "quantities": map[string]int{"seats": 3}}, nil)
	replaced := private(buyer(2), 5)
	toggled := private(buyer(3), 7)
	cancelled := private(buyer(4), 2)
	expired := private(buyer(5), 4)
	renewed := private(buyer(6), 6)
	emu.control("POST", "/control/clock/advance", map[string]any{"duration": "20m"}, nil)
	act(replaced.AgreementID, "amend", map[string]any{"intent": "REPLACE", "quantities": map[string]int{"seats": 9, "admins": 2}})
	act(toggled.AgreementID, "amend", map[string]any{"intent": "AMEND", "autoRenew": !toggled.AutoRenew})
	act(cancelled.AgreementID, "cancel", nil)
	act(renewed.AgreementID, "renew", nil)
	emu.control("POST", "/control/clock/advance", map[string]any{"duration": "20m"}, nil)
	act(toggled.AgreementID, "amend", map[string]any{"intent": "AMEND", "autoRenew": toggled.AutoRenew, "by": "PROPOSER"})
	act(expired.AgreementID, "expire", nil)
	var ra struct {
		ID string `json:"id"`
	}
	emu.control("POST", "/control/resale-authorizations", map[string]any{"productId": chaosProduct, "resellerAccountId": fmt.Sprintf("4400000%02d001", round), "name": "Chaos partner"}, &ra)
	var po struct {
		OfferID string `json:"offerId"`
	}
	emu.control("POST", "/control/partner-offers", map[string]any{"resaleAuthorizationId": ra.ID, "buyerAccounts": []string{buyer(7)},
		"quantities": map[string]int{"seats": 12, "admins": 1}, "duration": "P12M"}, &po)
	emu.control("POST", "/control/accept", map[string]any{"buyer": buyer(7), "offerId": po.OfferID}, nil)
}

// volatile are the members that say when Concord did something, not what
// the ledger holds; two runs differ in them by nature.
var volatile = map[string]bool{"updatedAt": true, "termsFetchedAt": true, "createdAt": true, "recordedAt": true, "fetchedAt": true}

// picture reads the ledger through the API: every agreement (with lineage,
// licenses and terms), its bookable artifacts, and every license, each as
// canonical JSON without the volatile members.
func picture(s *serve) (map[string]string, error) {
	out := map[string]string{}
	get := func(path string) (any, error) {
		code, raw, err := s.api("GET", path, nil)
		if err != nil || code != 200 {
			return nil, fmt.Errorf("GET %s: %d %v %s", path, code, err, raw)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return scrub(v), nil
	}
	list := func(path string) ([]any, error) {
		var items []any
		cursor := ""
		for range 100 {
			p := path + "?limit=100"
			if cursor != "" {
				p += "&cursor=" + url.QueryEscape(cursor)
			}
			v, err := get(p)
			if err != nil {
				return nil, err
			}
			m, _ := v.(map[string]any)
			its, _ := m["items"].([]any)
			items = append(items, its...)
			cursor, _ = m["nextCursor"].(string)
			if cursor == "" {
				return items, nil
			}
		}
		return nil, fmt.Errorf("GET %s: more than 100 pages", path)
	}
	ags, err := list("/v1/agreements")
	if err != nil {
		return nil, err
	}
	for _, a := range ags {
		id, _ := a.(map[string]any)["agreementId"].(string)
		v, err := get("/v1/agreements/" + url.PathEscape(id))
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(v)
		out["agreement "+id] = string(b)
		// The current booking is the latest artifact version. The versions
		// before it record what was known when, which depends on the order
		// the facts arrived in; their number differs by nature too.
		v, err = get("/v1/agreements/" + url.PathEscape(id) + "/artifacts")
		if err != nil {
			return nil, err
		}
		items, _ := v.(map[string]any)["items"].([]any)
		var latest map[string]any
		for _, it := range items {
			m, _ := it.(map[string]any)
			if n, _ := m["version"].(float64); latest == nil || n > latest["version"].(float64) {
				latest = m
			}
		}
		if latest != nil {
			delete(latest, "id")
			delete(latest, "version")
			b, _ := json.Marshal(latest)
			out["artifact "+id] = string(b)
		}
	}
	lics, err := list("/v1/licenses")
	if err != nil {
		return nil, err
	}
	for _, l := range lics {
		id, _ := l.(map[string]any)["licenseArn"].(string)
		b, _ := json.Marshal(l)
		out["license "+id] = string(b)
	}
	return out, nil
}

// scrub removes the volatile members at every depth.
func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if volatile[k] {
				delete(x, k)
				continue
			}
			x[k] = scrub(e)
		}
	case []any:
		for i, e := range x {
			x[i] = scrub(e)
		}
	}
	return v
}

// settle waits (bounded) until serve has no job due and its ledger picture
// is the same twice in a row, and returns that picture.
func settle(t *testing.T, s *serve) map[string]string {
	t.Helper()
	var last map[string]string
	eventually(t, 2*time.Minute, s.name+"'s ledger to settle", func() bool {
		if !quiet(s) {
			return false
		}
		p, err := picture(s)
		if err != nil {
			return false
		}
		same := last != nil && len(differ(last, p)) == 0
		last = p
		return same
	})
	return last
}

// quiet reports whether serve has folded every event it accepted and has no
// job running or due within a minute (only the periodic sweeps are further
// out).
func quiet(s *serve) bool {
	var queued struct {
		Items []json.RawMessage `json:"items"`
	}
	code, raw, err := s.api("GET", "/v1/events?status=queued&limit=1", nil)
	if err != nil || code != 200 || json.Unmarshal(raw, &queued) != nil || len(queued.Items) > 0 {
		return false
	}
	for _, state := range []string{"running", "available"} {
		var jobs struct {
			Items []struct {
				Kind  string    `json:"kind"`
				RunAt time.Time `json:"runAt"`
			} `json:"items"`
		}
		code, raw, err := s.api("GET", "/v1/jobs?limit=500&state="+state, nil)
		if err != nil || code != 200 || json.Unmarshal(raw, &jobs) != nil {
			return false
		}
		for _, j := range jobs.Items {
			if state == "running" || j.RunAt.Before(time.Now().Add(time.Minute)) {
				return false
			}
		}
	}
	return true
}

// differ lists the items that are missing from one picture or differ.
func differ(want, got map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(want) {
		switch g, ok := got[k]; {
		case !ok:
			out = append(out, k+": missing from the chaos run")
		case g != want[k]:
			out = append(out, fmt.Sprintf("%s:\n  clean: %s\n  chaos: %s", k, want[k], g))
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			out = append(out, k+": only in the chaos run")
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return slices.Clip(keys)
}
