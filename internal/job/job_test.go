package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// t0 is millisecond-aligned: the schema stores epoch milliseconds.
var t0 = time.Date(2030, 3, 4, 5, 6, 7, 0, time.UTC)

// fixture is one fresh database plus a clock and helpers that fail the test on
// unexpected errors.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	clock *clocktest.Clock
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	return &fixture{t: t, ctx: t.Context(), db: db, clock: clocktest.New(t0)}
}

// runner builds a runner on the fixture's clock with the given handlers.
func (f *fixture) runner(o job.RunnerOptions, handlers map[string]job.Handler) *job.Runner {
	if o.Now == nil {
		o.Now = f.clock.Now
	}
	r := job.NewRunner(f.db, o)
	for k, h := range handlers {
		r.Handle(k, h)
	}
	return r
}

func (f *fixture) tryEnqueue(kind string, args any, o job.Options) (string, bool) {
	f.t.Helper()
	var id string
	var inserted bool
	err := f.db.Write(f.ctx, func(tx *store.Tx) error {
		var err error
		id, inserted, err = job.Enqueue(f.ctx, tx, f.clock.Now(), kind, args, o)
		return err
	})
	if err != nil {
		f.t.Fatalf("enqueue %s: %v", kind, err)
	}
	return id, inserted
}

func (f *fixture) enqueue(kind string, args any, o job.Options) string {
	f.t.Helper()
	id, inserted := f.tryEnqueue(kind, args, o)
	if !inserted || id == "" {
		f.t.Fatalf("enqueue %s %+v: inserted=%v id=%q, want a new job", kind, o, inserted, id)
	}
	return id
}

func (f *fixture) get(id string) job.Job {
	f.t.Helper()
	j, err := job.Get(f.ctx, f.db, id)
	if err != nil {
		f.t.Fatalf("get %s: %v", id, err)
	}
	return j
}

func (f *fixture) list(flt job.Filter) []job.Job {
	f.t.Helper()
	js, err := job.List(f.ctx, f.db, flt)
	if err != nil {
		f.t.Fatalf("list %+v: %v", flt, err)
	}
	return js
}

// work runs r.WorkOne and fails unless it worked without error.
func (f *fixture) work(r *job.Runner) {
	f.t.Helper()
	worked, err := r.WorkOne(f.ctx)
	if err != nil {
		f.t.Fatalf("WorkOne: %v", err)
	}
	if !worked {
		f.t.Fatalf("WorkOne found no due job at %s", f.clock.Now())
	}
}

// idle fails unless r.WorkOne finds nothing due.
func (f *fixture) idle(r *job.Runner) {
	f.t.Helper()
	worked, err := r.WorkOne(f.ctx)
	if err != nil {
		f.t.Fatalf("WorkOne: %v", err)
	}
	if worked {
		f.t.Fatalf("WorkOne ran a job at %s, want none due", f.clock.Now())
	}
}

func (f *fixture) wantState(id, state string, attempt int) job.Job {
	f.t.Helper()
	j := f.get(id)
	if j.State != state || j.Attempt != attempt {
		f.t.Fatalf("job %s: state %s attempt %d (last error %q), want %s attempt %d", id, j.State, j.Attempt, j.LastError, state, attempt)
	}
	return j
}

func wantFinalized(t *testing.T, j job.Job, at time.Time) {
	t.Helper()
	if j.FinalizedAt == nil || !j.FinalizedAt.Equal(at) {
		t.Fatalf("job %s finalized at %v, want %s", j.ID, j.FinalizedAt, at)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := marketplace.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// waitFor receives from ch or fails after a generous real-time timeout.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type args struct {
	N    int    `json:"n"`
	Name string `json:"name"`
}

func ok(context.Context, *job.Job) error { return nil }

// TestJobs is the conformance suite: each behaviour runs on a fresh SQLite and a
// fresh PostgreSQL database.
func TestJobs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"EnqueueRolledBackLeavesNoJob", testEnqueueRollback},
		{"EnqueueCommittedLeavesOneAvailableJob", testEnqueueCommit},
		{"UniqueKeyIsNoOpWhileAvailableOrRunning", testUniquePending},
		{"UniqueKeyFreedAfterCompletionAndDeath", testUniqueFreed},
		{"WorkOneRunsHandlerWithArgsAndCompletes", testWorkCompletes},
		{"FailureRetriesWithBackoffThenDies", testFailureBackoff},
		{"PermanentErrorDiesAtOnce", testPermanent},
		{"PanicIsAFailureNotACrash", testPanic},
		{"NoHandlerDiesWithClearError", testNoHandler},
		{"FutureJobNotClaimedUntilDue", testFuture},
		{"ExpiredLeaseOfDeadRunnerIsReclaimed", testLeaseDeadRunner},
		{"CancelledWorkOneHandsJobBackUncounted", testCancelledWorkOne},
		{"LateFailureDoesNotOverwriteNewOwnersSuccess", lateFinish(errors.New("A failed late"), nil, job.StateCompleted, "")},
		{"LateSuccessDoesNotOverwriteNewOwnersFailure", lateFinish(nil, errors.New("B failed"), job.StateAvailable, "B failed")},
		{"LatePermanentDoesNotOverwriteNewOwnersSuccess", lateFinish(job.Permanent(errors.New("A gave up")), nil, job.StateCompleted, "")},
		{"LateFinishOfSameRunnerIsGuardedByAttempt", testLateFinishSameRunner},
		{"ExpiredLeaseOnFinalAttemptDies", testLeaseFinalAttempt},
		{"RetryRevivesDeadJob", testRetry},
		{"RetryOfNonDeadJobIsConflict", testRetryConflict},
		{"RetryKeepsUniqueKeyExclusive", testRetryUnique},
		{"ListFiltersByStateAndKind", testList},
		{"GetUnknownIsNotFound", testGetUnknown},
		{"LongOrBinaryErrorIsRecorded", testErrorText},
		{"PermanentNilDoesNotCrash", testPermanentNil},
		{"RunShutdownHandsInterruptedJobBack", testRunShutdown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				c.fn(t, setup(t, db))
			})
		})
	}
}

func testEnqueueRollback(t *testing.T, f *fixture) {
	rollback := errors.New("roll back")
	var id string
	err := f.db.Write(f.ctx, func(tx *store.Tx) error {
		var inserted bool
		var err error
		id, inserted, err = job.Enqueue(f.ctx, tx, f.clock.Now(), "mail.send", args{N: 1}, job.Options{UniqueKey: "k"})
		if err != nil || !inserted {
			t.Fatalf("enqueue in tx: inserted=%v err=%v", inserted, err)
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("Write: %v, want the rollback error", err)
	}
	if js := f.list(job.Filter{}); len(js) != 0 {
		t.Fatalf("after rollback: %d jobs, want none: %+v", len(js), js)
	}
	_, err = job.Get(f.ctx, f.db, id)
	wantCode(t, err, marketplace.ENotFound)
	// The unique key of the rolled-back job is not held.
	f.enqueue("mail.send", args{N: 2}, job.Options{UniqueKey: "k"})
}

func testEnqueueCommit(t *testing.T, f *fixture) {
	id := f.enqueue("mail.send", args{N: 7, Name: "ünï"}, job.Options{})
	js := f.list(job.Filter{})
	if len(js) != 1 {
		t.Fatalf("%d jobs, want 1: %+v", len(js), js)
	}
	j := js[0]
	if j.ID != id || j.Kind != "mail.send" || j.State != job.StateAvailable || j.Attempt != 0 ||
		j.MaxAttempts != job.DefaultMaxAttempts || !j.RunAt.Equal(t0) || !j.CreatedAt.Equal(t0) || j.FinalizedAt != nil {
		t.Fatalf("enqueued job: %+v", j)
	}
	var a args
	if err := json.Unmarshal(j.Args, &a); err != nil || a != (args{N: 7, Name: "ünï"}) {
		t.Fatalf("args %s (%v), want n=7 name=ünï", j.Args, err)
	}
	if g := f.get(id); g.ID != id || string(g.Args) != string(j.Args) {
		t.Fatalf("Get disagrees with List: %+v vs %+v", g, j)
	}
}

func testUniquePending(t *testing.T, f *fixture) {
	id := f.enqueue("sync", args{N: 1}, job.Options{UniqueKey: "sync:1"})
	if dup, inserted := f.tryEnqueue("sync", args{N: 2}, job.Options{UniqueKey: "sync:1"}); inserted || dup != "" {
		t.Fatalf("second enqueue while available: id=%q inserted=%v, want a no-op", dup, inserted)
	}
	// The key is per key, not per kind: another key is independent.
	other := f.enqueue("sync", args{N: 3}, job.Options{UniqueKey: "sync:2"})

	var whileRunning []bool
	runs := 0
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{"sync": func(ctx context.Context, j *job.Job) error {
		if j.ID == id {
			runs++
			if runs == 1 {
				_, inserted := f.tryEnqueue("sync", args{N: 4}, job.Options{UniqueKey: "sync:1"})
				whileRunning = append(whileRunning, inserted)
			}
			if g := f.get(id); g.State != job.StateRunning {
				t.Errorf("inside handler: state %s, want running", g.State)
			}
		}
		return nil
	}})
	f.work(r)
	f.work(r)
	f.work(r)
	f.idle(r)
	if len(whileRunning) != 1 || whileRunning[0] {
		t.Fatalf("enqueue while running: inserted %v, want [false]", whileRunning)
	}
	// Asked for again while it ran: it ran once more (what it read may have
	// predated the request), still as one job.
	if runs != 2 {
		t.Fatalf("the job ran %d times, want 2", runs)
	}
	// The attempt count is not reset (a stale claim of attempt 1 must never
	// match the rerun); the rerun got its attempts on top instead.
	if g := f.wantState(id, job.StateCompleted, 2); g.MaxAttempts != job.DefaultMaxAttempts+1 {
		t.Fatalf("max attempts %d, want %d", g.MaxAttempts, job.DefaultMaxAttempts+1)
	}
	f.wantState(other, job.StateCompleted, 1)
	var a args
	json.Unmarshal(f.get(id).Args, &a)
	if a.N != 1 {
		t.Fatalf("first job's args were replaced: %+v", a)
	}
	if n := len(f.list(job.Filter{})); n != 2 {
		t.Fatalf("%d jobs, want 2 (duplicates must not be stored)", n)
	}
}

func testUniqueFreed(t *testing.T, f *fixture) {
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{
		"ok":   ok,
		"fail": func(context.Context, *job.Job) error { return job.Permanent(errors.New("nope")) },
	})
	first := f.enqueue("ok", nil, job.Options{UniqueKey: "key"})
	f.work(r)
	f.wantState(first, job.StateCompleted, 1)
	if g := f.get(first); g.UniqueKey != "key" {
		t.Errorf("completed job shows unique key %q, want key", g.UniqueKey)
	}
	second := f.enqueue("fail", nil, job.Options{UniqueKey: "key"})
	if second == first {
		t.Fatal("re-enqueue returned the old id")
	}
	if _, inserted := f.tryEnqueue("ok", nil, job.Options{UniqueKey: "key"}); inserted {
		t.Fatal("key not held by the second job")
	}
	f.work(r)
	f.wantState(second, job.StateDead, 1)
	third := f.enqueue("ok", nil, job.Options{UniqueKey: "key"})
	f.work(r)
	f.wantState(third, job.StateCompleted, 1)
	if n := len(f.list(job.Filter{})); n != 3 {
		t.Fatalf("%d jobs, want 3", n)
	}
}

func testWorkCompletes(t *testing.T, f *fixture) {
	id := f.enqueue("greet", args{N: 42, Name: "ada"}, job.Options{})
	var got []args
	var seen []job.Job
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{"greet": func(ctx context.Context, j *job.Job) error {
		var a args
		if err := json.Unmarshal(j.Args, &a); err != nil {
			return job.Permanent(err)
		}
		got = append(got, a)
		seen = append(seen, *j)
		return nil
	}})
	done := f.clock.Advance(3 * time.Second)
	f.work(r)
	if len(got) != 1 || got[0] != (args{N: 42, Name: "ada"}) {
		t.Fatalf("handler saw args %+v, want one call with n=42 name=ada", got)
	}
	if s := seen[0]; s.ID != id || s.Kind != "greet" || s.Attempt != 1 || s.State != job.StateRunning {
		t.Fatalf("handler saw job %+v, want id %s attempt 1 running", s, id)
	}
	j := f.wantState(id, job.StateCompleted, 1)
	wantFinalized(t, j, done)
	if j.LastError != "" || !j.UpdatedAt.Equal(done) {
		t.Fatalf("completed job: %+v", j)
	}
	f.idle(r)
	if len(got) != 1 {
		t.Fatalf("handler ran %d times, want 1", len(got))
	}
}

func testFailureBackoff(t *testing.T, f *fixture) {
	var backoffs []int
	calls := 0
	r := f.runner(job.RunnerOptions{
		Backoff: func(attempt int) time.Duration {
			backoffs = append(backoffs, attempt)
			return time.Duration(attempt) * time.Minute
		},
	}, map[string]job.Handler{"flaky": func(ctx context.Context, j *job.Job) error {
		calls++
		if j.Attempt != calls {
			t.Errorf("call %d saw attempt %d", calls, j.Attempt)
		}
		return fmt.Errorf("boom %d", j.Attempt)
	}})
	id := f.enqueue("flaky", args{N: 1}, job.Options{MaxAttempts: 3})
	for attempt := 1; attempt <= 2; attempt++ {
		now := f.clock.Now()
		f.work(r)
		j := f.wantState(id, job.StateAvailable, attempt)
		due := now.Add(time.Duration(attempt) * time.Minute)
		if !j.RunAt.Equal(due) {
			t.Fatalf("attempt %d: run_at %s, want now + backoff = %s", attempt, j.RunAt, due)
		}
		if !strings.Contains(j.LastError, fmt.Sprintf("boom %d", attempt)) || j.FinalizedAt != nil {
			t.Fatalf("attempt %d: last error %q finalized %v", attempt, j.LastError, j.FinalizedAt)
		}
		f.idle(r) // not due yet
		f.clock.Advance(time.Duration(attempt)*time.Minute - time.Millisecond)
		f.idle(r) // 1 ms early
		f.clock.Advance(time.Millisecond)
	}
	end := f.clock.Now()
	f.work(r)
	j := f.wantState(id, job.StateDead, 3)
	wantFinalized(t, j, end)
	if !strings.Contains(j.LastError, "boom 3") {
		t.Fatalf("dead job last error %q, want boom 3", j.LastError)
	}
	f.clock.Advance(24 * time.Hour)
	f.idle(r)
	if calls != 3 {
		t.Fatalf("handler ran %d times, want MaxAttempts = 3", calls)
	}
	if fmt.Sprint(backoffs) != "[1 2]" {
		t.Fatalf("backoff asked for attempts %v, want [1 2] (none after the last)", backoffs)
	}
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	want := map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		12: 2048 * time.Second, 13: time.Hour, 100: time.Hour}
	for a, d := range want {
		if got := job.DefaultBackoff(a); got != d {
			t.Errorf("DefaultBackoff(%d) = %s, want %s", a, got, d)
		}
	}
}

func testPermanent(t *testing.T, f *fixture) {
	calls := 0
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{
		"bad": func(context.Context, *job.Job) error { calls++; return job.Permanent(errors.New("malformed input")) },
		"wrapped": func(context.Context, *job.Job) error {
			calls++
			return fmt.Errorf("step 2: %w", job.Permanent(errors.New("gone")))
		},
	})
	bad := f.enqueue("bad", nil, job.Options{})
	wrapped := f.enqueue("wrapped", nil, job.Options{})
	now := f.clock.Now()
	f.work(r)
	f.work(r)
	j := f.wantState(bad, job.StateDead, 1)
	wantFinalized(t, j, now)
	if !strings.Contains(j.LastError, "malformed input") {
		t.Fatalf("last error %q", j.LastError)
	}
	j = f.wantState(wrapped, job.StateDead, 1)
	if !strings.Contains(j.LastError, "step 2: gone") {
		t.Fatalf("last error %q", j.LastError)
	}
	f.clock.Advance(24 * time.Hour)
	f.idle(r)
	if calls != 2 {
		t.Fatalf("handlers ran %d times, want 2", calls)
	}
	if err := job.Permanent(errors.New("x")); !strings.Contains(err.Error(), "x") || errors.Unwrap(err) == nil {
		t.Fatalf("Permanent hides its error: %v", err)
	}
}

func testPanic(t *testing.T, f *fixture) {
	r := f.runner(job.RunnerOptions{Backoff: func(int) time.Duration { return time.Second }},
		map[string]job.Handler{"panicky": func(context.Context, *job.Job) error { panic("kaboom") }})
	id := f.enqueue("panicky", nil, job.Options{MaxAttempts: 2})
	f.work(r) // must return, not crash
	j := f.wantState(id, job.StateAvailable, 1)
	if !strings.Contains(j.LastError, "panic") || !strings.Contains(j.LastError, "kaboom") {
		t.Fatalf("last error %q, want it to mention the panic", j.LastError)
	}
	f.clock.Advance(time.Second)
	f.work(r)
	f.wantState(id, job.StateDead, 2)
}

// An error's text must never stop the outcome from being recorded: long messages
// are truncated (without splitting a UTF-8 character) and bytes PostgreSQL text
// cannot hold are replaced.
func testErrorText(t *testing.T, f *fixture) {
	msgs := map[string]string{
		"long-ascii": strings.Repeat("a", 10000),
		"long-utf8":  strings.Repeat("a", 3999) + strings.Repeat("é", 100), // byte 4000 is inside a rune
		"invalid":    "bad \xff\xfe bytes",
		"nul":        "response: \x00\x01 binary",
	}
	handlers := map[string]job.Handler{}
	for kind, msg := range msgs {
		handlers[kind] = func(context.Context, *job.Job) error { return errors.New(msg) }
	}
	r := f.runner(job.RunnerOptions{}, handlers)
	ids := map[string]string{}
	for kind := range msgs {
		ids[kind] = f.enqueue(kind, nil, job.Options{MaxAttempts: 1})
	}
	for range msgs {
		f.work(r)
	}
	for kind, id := range ids {
		j := f.wantState(id, job.StateDead, 1)
		if !utf8.ValidString(j.LastError) || strings.ContainsRune(j.LastError, 0) {
			t.Errorf("%s: last error is not valid text: %q", kind, j.LastError)
		}
		if len(j.LastError) > 4100 || len(j.LastError) < 10 {
			t.Errorf("%s: last error is %d bytes, want it kept but truncated near 4000", kind, len(j.LastError))
		}
		if p := msgs[kind][:4]; !strings.HasPrefix(j.LastError, p) {
			t.Errorf("%s: last error %.40q does not start like the error %q", kind, j.LastError, p)
		}
	}
}

// A handler that returns job.Permanent(err) with a nil err must not take the
// runner down.
func testPermanentNil(t *testing.T, f *fixture) {
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{"k": func(context.Context, *job.Job) error {
		var err error
		return job.Permanent(err)
	}})
	id := f.enqueue("k", nil, job.Options{})
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("WorkOne panicked: %v", p)
			}
		}()
		f.work(r)
	}()
	// Documented: Permanent(nil) is nil, so the job completes.
	if err := job.Permanent(nil); err != nil {
		t.Fatalf("Permanent(nil) = %v, want nil", err)
	}
	f.wantState(id, job.StateCompleted, 1)
}

func testNoHandler(t *testing.T, f *fixture) {
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{"known": ok})
	id := f.enqueue("unknown.kind", nil, job.Options{})
	f.work(r)
	j := f.wantState(id, job.StateDead, 1)
	if !strings.Contains(j.LastError, `no handler for job kind "unknown.kind"`) {
		t.Fatalf("last error %q, want it to name the missing handler", j.LastError)
	}
	wantFinalized(t, j, t0)
}

func testFuture(t *testing.T, f *fixture) {
	var ran []string
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{"k": func(_ context.Context, j *job.Job) error {
		ran = append(ran, j.ID)
		return nil
	}})
	later := f.enqueue("k", nil, job.Options{RunAt: t0.Add(time.Hour)})
	if j := f.get(later); !j.RunAt.Equal(t0.Add(time.Hour)) || j.State != job.StateAvailable {
		t.Fatalf("delayed job: %+v", j)
	}
	f.idle(r)
	now := f.enqueue("k", nil, job.Options{})
	f.work(r) // the due job runs even though the future one was enqueued first
	f.idle(r)
	f.clock.Advance(time.Hour - time.Millisecond)
	f.idle(r)
	f.clock.Advance(time.Millisecond)
	f.work(r)
	f.wantState(later, job.StateCompleted, 1)
	if fmt.Sprint(ran) != fmt.Sprint([]string{now, later}) {
		t.Fatalf("ran %v, want [%s %s]", ran, now, later)
	}
}

// blocker is a handler that reports each start and blocks until released (with
// the error to return) or until its context ends.
type blocker struct {
	started chan *job.Job
	release chan error
}

func newBlocker() *blocker {
	return &blocker{started: make(chan *job.Job, 4), release: make(chan error, 4)}
}

func (b *blocker) handle(ctx context.Context, j *job.Job) error {
	b.started <- j
	select {
	case err := <-b.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type workResult struct {
	worked bool
	err    error
}

// goWork runs r.WorkOne(ctx) in the background.
func goWork(ctx context.Context, r *job.Runner) <-chan workResult {
	ch := make(chan workResult, 1)
	go func() {
		w, err := r.WorkOne(ctx)
		ch <- workResult{w, err}
	}()
	return ch
}

// A runner that dies (crash, partition, stuck process) runs no more code, so its
// job is only freed by lease expiry. A is simulated by a handler that never
// returns while the test looks; at the end it is let go and its late finish must
// change nothing.
func testLeaseDeadRunner(t *testing.T, f *fixture) {
	const lease = time.Minute
	b := newBlocker()
	a := f.runner(job.RunnerOptions{Lease: lease}, map[string]job.Handler{"k": b.handle})
	var bRuns []int
	bRunner := f.runner(job.RunnerOptions{Lease: lease}, map[string]job.Handler{"k": func(_ context.Context, j *job.Job) error {
		bRuns = append(bRuns, j.Attempt)
		return nil
	}})
	id := f.enqueue("k", args{N: 1}, job.Options{})
	aDone := goWork(f.ctx, a)
	waitFor(t, b.started, "runner A to start the job")
	f.wantState(id, job.StateRunning, 1)

	f.idle(bRunner) // A's lease is valid: B must not take the job
	f.clock.Advance(lease)
	f.idle(bRunner) // the lease ends at claim + Lease; exactly then it still holds
	f.wantState(id, job.StateRunning, 1)

	f.clock.Advance(time.Millisecond)
	f.work(bRunner)
	if fmt.Sprint(bRuns) != "[2]" {
		t.Fatalf("B ran attempts %v, want [2]", bRuns)
	}
	done := f.clock.Now()
	f.wantState(id, job.StateCompleted, 2)

	f.clock.Advance(time.Minute)
	b.release <- errors.New("A comes back")
	if r := waitFor(t, aDone, "runner A to return"); !r.worked || r.err != nil {
		t.Fatalf("A's late WorkOne: %+v", r)
	}
	j := f.wantState(id, job.StateCompleted, 2)
	wantFinalized(t, j, done)
	if j.LastError != "" {
		t.Fatalf("A's late failure was recorded: %q", j.LastError)
	}
}

// A runner shutting down (its context cancelled) while a handler runs hands the
// job back at once without counting the attempt, so another runner need not wait
// for the lease.
func testCancelledWorkOne(t *testing.T, f *fixture) {
	b := newBlocker()
	a := f.runner(job.RunnerOptions{Lease: time.Hour}, map[string]job.Handler{"k": b.handle})
	var bRuns []int
	bRunner := f.runner(job.RunnerOptions{Lease: time.Hour}, map[string]job.Handler{"k": func(_ context.Context, j *job.Job) error {
		bRuns = append(bRuns, j.Attempt)
		return nil
	}})
	id := f.enqueue("k", nil, job.Options{MaxAttempts: 1})
	actx, stopA := context.WithCancel(f.ctx)
	aDone := goWork(actx, a)
	waitFor(t, b.started, "runner A to start the job")
	stopA()
	if r := waitFor(t, aDone, "runner A to stop"); !r.worked || r.err != nil {
		t.Fatalf("A's WorkOne after cancel: %+v", r)
	}
	j := f.wantState(id, job.StateAvailable, 0)
	if j.LastError != "" || !j.RunAt.Equal(t0) || j.FinalizedAt != nil {
		t.Fatalf("handed-back job: %+v", j)
	}
	f.work(bRunner) // same instant: no lease to wait for
	if fmt.Sprint(bRuns) != "[1]" {
		t.Fatalf("B ran attempts %v, want [1] (the interrupted attempt is not counted)", bRuns)
	}
	f.wantState(id, job.StateCompleted, 1)
}

// lateFinish: runner A claims a job and stalls past its lease, runner B takes the
// job over and finishes it with bResult, then A finishes with aResult. B's result
// must stand.
func lateFinish(aResult, bResult error, wantState, wantErr string) func(t *testing.T, f *fixture) {
	return func(t *testing.T, f *fixture) {
		const lease = time.Minute
		b := newBlocker()
		a := f.runner(job.RunnerOptions{Lease: lease}, map[string]job.Handler{"k": b.handle})
		bRunner := f.runner(job.RunnerOptions{Lease: lease, Backoff: func(int) time.Duration { return time.Hour }},
			map[string]job.Handler{"k": func(context.Context, *job.Job) error { return bResult }})
		id := f.enqueue("k", nil, job.Options{})
		aDone := goWork(f.ctx, a)
		waitFor(t, b.started, "runner A to start the job")
		f.clock.Advance(lease + time.Second)
		bAt := f.clock.Now()
		f.work(bRunner)
		f.clock.Advance(time.Second)
		b.release <- aResult
		if r := waitFor(t, aDone, "runner A to finish"); !r.worked || r.err != nil {
			t.Fatalf("A's late WorkOne: %+v", r)
		}
		j := f.wantState(id, wantState, 2)
		if !j.UpdatedAt.Equal(bAt) {
			t.Fatalf("updated at %s, want B's finish at %s: A's late finish overwrote it", j.UpdatedAt, bAt)
		}
		if wantState == job.StateCompleted {
			wantFinalized(t, j, bAt)
		} else if j.FinalizedAt != nil || !j.RunAt.Equal(bAt.Add(time.Hour)) {
			t.Fatalf("B's retry schedule was overwritten: %+v", j)
		}
		if wantErr == "" && j.LastError != "" || !strings.Contains(j.LastError, wantErr) {
			t.Fatalf("last error %q, want %q", j.LastError, wantErr)
		}
	}
}

// A single replica whose worker hung past its lease and whose other worker took
// the job over: both claims have the same owner, so the attempt must guard.
func testLateFinishSameRunner(t *testing.T, f *fixture) {
	const lease = time.Minute
	b := newBlocker()
	first := true
	var mu sync.Mutex
	r := f.runner(job.RunnerOptions{Lease: lease}, map[string]job.Handler{"k": func(ctx context.Context, j *job.Job) error {
		mu.Lock()
		hang := first
		first = false
		mu.Unlock()
		if hang {
			return b.handle(ctx, j)
		}
		return nil
	}})
	id := f.enqueue("k", nil, job.Options{})
	hung := goWork(f.ctx, r)
	waitFor(t, b.started, "the first worker to start")
	f.clock.Advance(lease + time.Second)
	done := f.clock.Now()
	f.work(r)
	f.wantState(id, job.StateCompleted, 2)
	b.release <- errors.New("hung worker fails late")
	waitFor(t, hung, "the hung worker")
	j := f.wantState(id, job.StateCompleted, 2)
	wantFinalized(t, j, done)
	if j.LastError != "" {
		t.Fatalf("late failure recorded: %q", j.LastError)
	}
}

func testLeaseFinalAttempt(t *testing.T, f *fixture) {
	const lease = time.Minute
	b := newBlocker()
	a := f.runner(job.RunnerOptions{Lease: lease}, map[string]job.Handler{"k": b.handle})
	bCalls := 0
	bRunner := f.runner(job.RunnerOptions{Lease: lease}, map[string]job.Handler{"k": func(context.Context, *job.Job) error {
		bCalls++
		return nil
	}})
	id := f.enqueue("k", nil, job.Options{MaxAttempts: 1})
	aDone := goWork(f.ctx, a)
	waitFor(t, b.started, "runner A to start")
	f.clock.Advance(lease + time.Millisecond)
	if _, err := bRunner.WorkOne(f.ctx); err != nil {
		t.Fatalf("WorkOne: %v", err)
	}
	j := f.get(id)
	if j.State != job.StateDead || !strings.Contains(j.LastError, "lease expired") || j.FinalizedAt == nil {
		t.Fatalf("job whose last attempt lost its lease: %+v, want dead with a lease error", j)
	}
	if bCalls != 0 {
		t.Fatalf("handler ran %d more times beyond MaxAttempts", bCalls)
	}
	f.idle(bRunner)
	b.release <- nil // A's late success must not revive it
	waitFor(t, aDone, "runner A to return")
	if g := f.get(id); g.State != job.StateDead || !g.UpdatedAt.Equal(j.UpdatedAt) {
		t.Fatalf("A's late finish changed the dead job: %+v", g)
	}
}

func testRetry(t *testing.T, f *fixture) {
	fail := true
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{"k": func(context.Context, *job.Job) error {
		if fail {
			return job.Permanent(errors.New("down"))
		}
		return nil
	}})
	id := f.enqueue("k", args{N: 5}, job.Options{MaxAttempts: 3})
	f.work(r)
	f.wantState(id, job.StateDead, 1)

	at := f.clock.Advance(time.Hour)
	if err := job.Retry(f.ctx, f.db, id, at); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	j := f.wantState(id, job.StateAvailable, 0)
	if !j.RunAt.Equal(at) || j.FinalizedAt != nil || j.MaxAttempts != 3 {
		t.Fatalf("retried job: %+v", j)
	}
	fail = false
	f.work(r)
	f.wantState(id, job.StateCompleted, 1)
	var a args
	if json.Unmarshal(f.get(id).Args, &a); a.N != 5 {
		t.Fatalf("args after retry: %s", f.get(id).Args)
	}
}

func testRetryConflict(t *testing.T, f *fixture) {
	b := newBlocker()
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{"ok": ok, "block": b.handle})
	available := f.enqueue("later", nil, job.Options{RunAt: t0.Add(time.Hour)})
	completed := f.enqueue("ok", nil, job.Options{})
	f.work(r)
	running := f.enqueue("block", nil, job.Options{})
	done := goWork(f.ctx, r)
	waitFor(t, b.started, "the blocking job")
	for _, id := range []string{available, running, completed} {
		before := f.get(id)
		err := job.Retry(f.ctx, f.db, id, f.clock.Now())
		wantCode(t, err, marketplace.EConflict)
		if after := f.get(id); after.State != before.State || after.Attempt != before.Attempt {
			t.Fatalf("refused Retry changed job %s: %+v -> %+v", id, before, after)
		}
	}
	b.release <- nil
	waitFor(t, done, "the blocking job to finish")
	wantCode(t, job.Retry(f.ctx, f.db, "00000000-0000-7000-8000-000000000000", f.clock.Now()), marketplace.ENotFound)
}

func testRetryUnique(t *testing.T, f *fixture) {
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{
		"dies": func(context.Context, *job.Job) error { return job.Permanent(errors.New("x")) },
		"ok":   ok,
	})
	dead := f.enqueue("dies", nil, job.Options{UniqueKey: "u"})
	f.work(r)
	f.wantState(dead, job.StateDead, 1)
	pending := f.enqueue("ok", nil, job.Options{UniqueKey: "u"})
	wantCode(t, job.Retry(f.ctx, f.db, dead, f.clock.Now()), marketplace.EConflict)
	f.wantState(dead, job.StateDead, 1)
	f.work(r)
	f.wantState(pending, job.StateCompleted, 1)
	if err := job.Retry(f.ctx, f.db, dead, f.clock.Now()); err != nil {
		t.Fatalf("Retry after the key was freed: %v", err)
	}
	if _, inserted := f.tryEnqueue("ok", nil, job.Options{UniqueKey: "u"}); inserted {
		t.Fatal("the retried job does not hold its unique key again")
	}
}

func testList(t *testing.T, f *fixture) {
	r := f.runner(job.RunnerOptions{}, map[string]job.Handler{
		"a": ok,
		"b": func(context.Context, *job.Job) error { return job.Permanent(errors.New("x")) },
	})
	a1 := f.enqueue("a", nil, job.Options{})
	f.work(r)
	f.clock.Advance(time.Second)
	b1 := f.enqueue("b", nil, job.Options{})
	f.work(r)
	f.clock.Advance(time.Second)
	a2 := f.enqueue("a", nil, job.Options{RunAt: t0.Add(time.Hour)})
	f.clock.Advance(time.Second)
	b2 := f.enqueue("b", nil, job.Options{RunAt: t0.Add(time.Hour)})

	ids := func(js []job.Job) string {
		var s []string
		for _, j := range js {
			s = append(s, j.ID)
		}
		return strings.Join(s, ",")
	}
	want := func(flt job.Filter, idv ...string) {
		t.Helper()
		if got, w := ids(f.list(flt)), strings.Join(idv, ","); got != w {
			t.Errorf("List(%+v) = [%s], want [%s] (newest first)", flt, got, w)
		}
	}
	want(job.Filter{}, b2, a2, b1, a1)
	want(job.Filter{Kind: "a"}, a2, a1)
	want(job.Filter{State: job.StateAvailable}, b2, a2)
	want(job.Filter{State: job.StateCompleted}, a1)
	want(job.Filter{State: job.StateDead}, b1)
	want(job.Filter{State: job.StateRunning})
	want(job.Filter{State: job.StateAvailable, Kind: "b"}, b2)
	want(job.Filter{State: job.StateDead, Kind: "a"})
	want(job.Filter{Kind: "nope"})
	want(job.Filter{Limit: 2}, b2, a2)
	if js := f.list(job.Filter{Kind: "nope"}); js == nil {
		t.Error("empty List is nil, want an empty slice (it is JSON-encoded as [])")
	}
	_, err := job.List(f.ctx, f.db, job.Filter{State: "bogus"})
	wantCode(t, err, marketplace.EInvalid)
}

func testGetUnknown(t *testing.T, f *fixture) {
	for _, id := range []string{"00000000-0000-7000-8000-000000000000", "not-a-uuid", ""} {
		_, err := job.Get(f.ctx, f.db, id)
		wantCode(t, err, marketplace.ENotFound)
	}
}

// TestRunWakesOnEnqueue is deliberately not parallel: Enqueue wakes runners through
// a process-wide registry, so another test's enqueue would wake this runner too
// and hide a missing wake-up. A non-parallel top-level test runs while every
// parallel test is paused, and the dialects run one after the other.
func TestRunWakesOnEnqueue(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) { testRun(t, setup(t, storetest.Open(t, d))) })
	}
}

// waitState polls until job id reaches state (a background runner moves it).
func waitState(t *testing.T, f *fixture, id, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.get(id).State != state {
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %+v, want %s", id, f.get(id), state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idleSignal is one call of RunnerOptions.Idle: how many handler calls had
// begun by then, and whether a wake-up was pending.
type idleSignal struct {
	handled int64
	pending bool
}

// waitIdle waits until the worker, after at least n handler calls, is about
// to wait with no wake-up pending: from then on, with the poll an hour away,
// only a new wake-up can get a job run.
func waitIdle(t *testing.T, idle <-chan idleSignal, n int64) {
	t.Helper()
	for {
		s := waitFor(t, idle, "the worker to go idle")
		if s.handled >= n && !s.pending {
			return
		}
	}
}

func testRun(t *testing.T, f *fixture) {
	ran := make(chan string, 8)
	idle := make(chan idleSignal, 1024)
	var handled atomic.Int64
	var revived atomic.Bool
	// Poll is an hour: only the enqueue's after-commit wake-up can get the job
	// run. One worker, so "idle" is the whole runner; it tells the test when it
	// goes idle, so no sleep stands in for that.
	r := f.runner(job.RunnerOptions{Now: time.Now, Poll: time.Hour, Workers: 1, Idle: func(pending bool) {
		idle <- idleSignal{handled.Load(), pending}
	}}, map[string]job.Handler{
		"k": func(_ context.Context, j *job.Job) error { handled.Add(1); ran <- j.ID; return nil },
		"k-dead": func(_ context.Context, j *job.Job) error {
			handled.Add(1)
			if !revived.Load() {
				return job.Permanent(errors.New("not yet"))
			}
			ran <- j.ID
			return nil
		},
	})
	ctx, stop := context.WithCancel(f.ctx)
	stopped := make(chan struct{})
	go func() { r.Run(ctx); close(stopped) }()

	f.clock.Set(time.Now().Truncate(time.Millisecond))
	first := f.enqueue("k", nil, job.Options{})
	if got := waitFor(t, ran, "the first job"); got != first {
		t.Fatalf("ran %s, want %s", got, first)
	}
	// The worker finished the first job and waits, with no wake-up pending and
	// the next poll an hour away: only the enqueue can wake it.
	waitIdle(t, idle, 1)
	f.clock.Set(time.Now().Truncate(time.Millisecond))
	second := f.enqueue("k", nil, job.Options{})
	if got := waitFor(t, ran, "the job enqueued while Run was idle"); got != second {
		t.Fatalf("ran %s, want %s", got, second)
	}
	// Retry wakes it too.
	f.clock.Set(time.Now().Truncate(time.Millisecond))
	third := f.enqueue("k-dead", nil, job.Options{}) // dies at once
	waitState(t, f, third, job.StateDead)
	waitIdle(t, idle, 3) // idle again, as above
	revived.Store(true)
	if err := job.Retry(f.ctx, f.db, third, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, ran, "the retried job"); got != third {
		t.Fatalf("ran %s, want %s", got, third)
	}

	stop()
	waitFor(t, stopped, "Run to return after cancel")
	for _, id := range []string{first, second, third} {
		if j := f.get(id); j.State != job.StateCompleted {
			t.Errorf("job %s: %s", id, j.State)
		}
	}
	// Stopped: a new job stays put.
	late := f.enqueue("k", nil, job.Options{})
	select {
	case id := <-ran:
		t.Fatalf("stopped runner ran %s", id)
	default:
	}
	f.wantState(late, job.StateAvailable, 0)
}

func testRunShutdown(t *testing.T, f *fixture) {
	b := newBlocker()
	r := f.runner(job.RunnerOptions{Poll: time.Hour, Workers: 1}, map[string]job.Handler{"k": b.handle})
	id := f.enqueue("k", nil, job.Options{})
	ctx, stop := context.WithCancel(f.ctx)
	stopped := make(chan struct{})
	go func() { r.Run(ctx); close(stopped) }()
	waitFor(t, b.started, "the job to start")
	select {
	case <-stopped:
		t.Fatal("Run returned while its context was live")
	default:
	}
	stop()
	waitFor(t, stopped, "Run to return after cancel")
	// Interrupted by shutdown, not failed: handed back at once, the attempt not
	// counted and no error charged.
	j := f.wantState(id, job.StateAvailable, 0)
	if j.LastError != "" || j.FinalizedAt != nil {
		t.Fatalf("shutdown recorded an outcome: %+v", j)
	}
}

// TestExactlyOnceUnderConcurrency enqueues jobs and drains them with several
// runners on separate database handles, as replicas do.
func TestExactlyOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	const (
		jobs    = 200
		runners = 6
		workers = 4
	)
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			url, dir := storetest.URL(t, dialect), t.TempDir()
			var dbs []*store.DB
			for i := range runners {
				db, err := store.Open(ctx, store.Config{URL: url, DataDir: dir})
				if err != nil {
					t.Fatalf("open handle %d: %v", i, err)
				}
				t.Cleanup(func() { db.Close() })
				if i == 0 {
					if err := db.Migrate(ctx); err != nil {
						t.Fatal(err)
					}
				}
				dbs = append(dbs, db)
			}

			want := map[string]int{}
			err := dbs[0].Write(ctx, func(tx *store.Tx) error {
				clear(want)
				for i := range jobs {
					id, inserted, err := job.Enqueue(ctx, tx, time.Now(), "count", args{N: i}, job.Options{})
					if err != nil || !inserted {
						return fmt.Errorf("enqueue %d: inserted=%v err=%v", i, inserted, err)
					}
					want[id] = i
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex
			calls := map[string]int{}
			handler := func(_ context.Context, j *job.Job) error {
				var a args
				if err := json.Unmarshal(j.Args, &a); err != nil {
					return job.Permanent(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if n, ok := want[j.ID]; !ok || n != a.N {
					t.Errorf("job %s ran with args %s, want n=%d", j.ID, j.Args, n)
				}
				calls[j.ID]++
				return nil
			}
			var wg sync.WaitGroup
			errs := make(chan error, runners*workers)
			for _, db := range dbs {
				r := job.NewRunner(db, job.RunnerOptions{})
				r.Handle("count", handler)
				for range workers {
					wg.Go(func() {
						for {
							worked, err := r.WorkOne(ctx)
							if err != nil {
								errs <- err
								return
							}
							if !worked {
								return
							}
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("WorkOne: %v", err)
			}

			for id := range want {
				if calls[id] != 1 {
					t.Errorf("job %s ran %d times, want exactly once", id, calls[id])
				}
			}
			if len(calls) != jobs {
				t.Errorf("%d distinct jobs ran, want %d", len(calls), jobs)
			}
			done, err := job.List(ctx, dbs[runners-1], job.Filter{State: job.StateCompleted, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			if len(done) != jobs {
				t.Errorf("%d completed jobs, want %d", len(done), jobs)
			}
			for _, j := range done {
				if j.Attempt != 1 {
					t.Errorf("job %s completed at attempt %d, want 1", j.ID, j.Attempt)
				}
			}
		})
	}
}

func BenchmarkEnqueueAndWork(b *testing.B) {
	const batch = 100
	ctx := context.Background()
	db := storetest.Open(b, store.SQLite)
	r := job.NewRunner(db, job.RunnerOptions{})
	r.Handle("bench", ok)
	total := 0
	for b.Loop() {
		err := db.Write(ctx, func(tx *store.Tx) error {
			for i := range batch {
				if _, _, err := job.Enqueue(ctx, tx, time.Now(), "bench", args{N: i}, job.Options{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; ; n++ {
			worked, err := r.WorkOne(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if !worked {
				if n != batch {
					b.Fatalf("drained %d jobs, want %d", n, batch)
				}
				break
			}
		}
		total += batch
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "jobs/s")
}
