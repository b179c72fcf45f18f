// Package job runs durable background work on the store: jobs are enqueued inside
// the caller's transaction (so follow-up work commits atomically with the change
// that causes it), claimed with leases (so replicas sharing one PostgreSQL never
// run a job at the same time), retried with exponential backoff, deduplicated by
// unique keys, and parked as dead after their last attempt for an operator to see.
package job

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/google/uuid"
)

// Job states.
const (
	StateAvailable = "available"
	StateRunning   = "running"
	StateCompleted = "completed"
	StateDead      = "dead"
)

// DefaultMaxAttempts is how often a job runs before it is parked as dead.
const DefaultMaxAttempts = 10

// Job is one unit of durable work.
type Job struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	Args        json.RawMessage `json:"args"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"maxAttempts"`
	RunAt       time.Time       `json:"runAt"`
	UniqueKey   string          `json:"uniqueKey,omitempty"`
	LastError   string          `json:"lastError,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
	FinalizedAt *time.Time      `json:"finalizedAt,omitempty"`
}

// Options tune one enqueue.
type Options struct {
	// RunAt delays the job; zero means now.
	RunAt time.Time
	// UniqueKey makes the enqueue a no-op while another job with the same key is
	// still available or running, except that a waiting job is moved earlier when
	// this enqueue wants it sooner, and a running job runs once more after it
	// succeeds (what it read may predate this request; a job that dies drops
	// such a request, and Retry runs it again). Once that job completes or dies
	// the key is free.
	UniqueKey string
	// MaxAttempts defaults to DefaultMaxAttempts.
	MaxAttempts int
}

// Enqueue adds a job inside tx. inserted is false when a job with the same unique
// key is already pending.
func Enqueue(ctx context.Context, tx *store.Tx, now time.Time, kind string, args any, o Options) (id string, inserted bool, err error) {
	b, err := json.Marshal(args)
	if err != nil {
		return "", false, fmt.Errorf("encode %s job args: %w", kind, err)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.RunAt.IsZero() {
		o.RunAt = now
	}
	id = uuid.Must(uuid.NewV7()).String()
	// Twice at most: the pending job may complete between the insert and the
	// update below, freeing the key; the insert then succeeds.
	for range 2 {
		res, err := tx.Exec(ctx, `INSERT INTO jobs (id, kind, args, state, max_attempts, run_at, unique_key, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			id, kind, string(b), StateAvailable, o.MaxAttempts, store.Millis(o.RunAt), store.NullString(o.UniqueKey), store.Millis(now), store.Millis(now))
		if err != nil {
			return "", false, fmt.Errorf("enqueue %s job: %w", kind, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return "", false, fmt.Errorf("enqueue %s job: %w", kind, err)
		}
		if n == 1 {
			tx.NotifyAfterCommit(notifyTopic)
			return id, true, nil
		}
		if o.UniqueKey == "" {
			return "", false, nil
		}
		// The same work is wanted again: a waiting job is pulled forward if
		// this wants it sooner, a running one runs once more afterwards. The
		// row is written whatever its state, never skipped: that write is what
		// orders this request against a concurrent claim or finish (a claim
		// skips or waits for the locked row, and on PostgreSQL a claim
		// committed since this transaction's snapshot makes it retry), so no
		// run can start on data older than this transaction and be the last.
		res, err = tx.Exec(ctx, `UPDATE jobs SET
			run_at = CASE WHEN state = 'available' AND run_at > ? THEN ? ELSE run_at END,
			rerun_at = CASE WHEN state = 'running' AND (rerun_at IS NULL OR rerun_at > ?) THEN ? ELSE rerun_at END,
			updated_at = ? WHERE unique_key = ?`,
			store.Millis(o.RunAt), store.Millis(o.RunAt), store.Millis(o.RunAt), store.Millis(o.RunAt), store.Millis(now), o.UniqueKey)
		if err != nil {
			return "", false, fmt.Errorf("ask again for %s job: %w", kind, err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return "", false, fmt.Errorf("ask again for %s job: %w", kind, err)
		}
		if n > 0 {
			return "", false, nil
		}
	}
	return "", false, fmt.Errorf("enqueue %s job: unique key %s neither free nor held", kind, o.UniqueKey)
}

// Refill gives the job waiting under uniqueKey a fresh set of attempts on top
// of those it used (a retry the operator asked for). The attempt count itself
// is not reset: claims are told apart by it.
func Refill(ctx context.Context, tx *store.Tx, now time.Time, uniqueKey string, attempts int) error {
	if _, err := tx.Exec(ctx, `UPDATE jobs SET max_attempts = attempt + ?, updated_at = ? WHERE unique_key = ? AND state = 'available'`,
		attempts, store.Millis(now), uniqueKey); err != nil {
		return fmt.Errorf("refill job %s: %w", uniqueKey, err)
	}
	return nil
}

// notifyTopic is what Enqueue and Retry announce on the database once they
// commit, so an idle Runner on the same database starts at once instead of at
// its next poll.
const notifyTopic = "job"

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so the job is parked as dead at once instead of retried.
// Permanent(nil) is nil, so `return job.Permanent(err)` completes the job when err
// is nil (a *permanentError around nil would panic when its text is recorded).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// Handler does the work of one job kind. Returning nil completes the job; an error
// schedules a retry (or parks it as dead after its last attempt).
type Handler func(ctx context.Context, j *Job) error

// RunnerOptions configure a Runner.
type RunnerOptions struct {
	Logger  *slog.Logger
	Now     func() time.Time
	Workers int
	// Lease is how long a claim is valid without a heartbeat; a crashed replica's
	// jobs become claimable again after it.
	Lease time.Duration
	// Poll is how often idle workers look for due jobs.
	Poll time.Duration
	// Backoff returns the delay before attempt+1; nil is exponential from 1 s to 1 h.
	Backoff func(attempt int) time.Duration
	// Idle, when set, is called by a worker that found no due job, just before
	// it waits for a wake-up or the next poll, with whether a wake-up is already
	// pending. Tests use it to know a runner is idle instead of sleeping.
	Idle func(wakePending bool)
}

// Runner claims and runs jobs.
type Runner struct {
	db       *store.DB
	o        RunnerOptions
	owner    string
	handlers map[string]Handler
	wake     chan struct{}
}

// NewRunner builds a runner; register handlers with Handle before Run.
func NewRunner(db *store.DB, o RunnerOptions) *Runner {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	var b [4]byte
	rand.Read(b[:])
	return &Runner{db: db, o: o, owner: "runner-" + hex.EncodeToString(b[:]), handlers: map[string]Handler{}, wake: make(chan struct{}, 1)}
}

// DefaultBackoff doubles from one second and caps at one hour.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 12 {
		return time.Hour
	}
	return min(time.Second<<(attempt-1), time.Hour)
}

// Handle registers the handler for a kind.
func (r *Runner) Handle(kind string, h Handler) { r.handlers[kind] = h }

// Wake makes an idle worker look for jobs now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx is cancelled, then waits for running jobs to finish.
func (r *Runner) Run(ctx context.Context) {
	defer r.db.Subscribe(notifyTopic, r.Wake)()
	var wg sync.WaitGroup
	for range r.o.Workers {
		wg.Go(func() {
			t := time.NewTicker(r.o.Poll)
			defer t.Stop()
			for ctx.Err() == nil {
				var worked bool
				err := background.Guard(r.o.Logger, "job worker", func() (err error) {
					worked, err = r.WorkOne(ctx)
					return err
				})
				if err != nil && ctx.Err() == nil {
					r.o.Logger.Error("job runner", "err", err)
				}
				if worked {
					continue
				}
				if r.o.Idle != nil {
					r.o.Idle(len(r.wake) > 0)
				}
				select {
				case <-ctx.Done():
				case <-r.wake:
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
}

// WorkOne claims one due job and runs it. worked is false when none was due.
func (r *Runner) WorkOne(ctx context.Context) (worked bool, err error) {
	j, err := r.claim(ctx)
	if err != nil || j == nil {
		return false, err
	}
	h := r.handlers[j.Kind]
	var runErr error
	if h == nil {
		runErr = Permanent(fmt.Errorf("no handler for job kind %q", j.Kind))
	} else {
		runErr = r.runWithHeartbeat(ctx, j, h)
	}
	if ctx.Err() != nil && runErr != nil {
		// Shutting down mid-job: hand the job back at once (not counting this
		// attempt) instead of leaving it to the lease expiry.
		return true, r.release(context.WithoutCancel(ctx), j)
	}
	return true, r.finish(context.WithoutCancel(ctx), j, runErr)
}

func (r *Runner) runWithHeartbeat(ctx context.Context, j *Job, h Handler) (err error) {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	renewed := time.Now()
	// A panicking heartbeat stops renewing: the lease runs out and the job is
	// claimed again, as after a crash.
	background.Go(r.o.Logger, "job lease heartbeat", func() {
		t := time.NewTicker(r.o.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var n int64
				err := r.db.WriteCommitted(hctx, func(tx *store.Tx) error {
					res, err := tx.Exec(hctx, `UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND attempt = ?`,
						store.Millis(r.o.Now().Add(r.o.Lease)), j.ID, r.owner, j.Attempt)
					if err == nil {
						n, err = res.RowsAffected()
					}
					return err
				})
				switch {
				case err == nil && n == 1:
					renewed = time.Now()
				case err == nil || time.Since(renewed) >= r.o.Lease:
					// The lease is gone (another runner may hold the job now): stop
					// the handler rather than run the job twice at once.
					r.o.Logger.Warn("job lease lost; cancelling the handler", "job", j.ID, "kind", j.Kind, "err", err)
					cancel()
					return
				}
			}
		}
	})
	defer close(done)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job panicked: %v", p)
		}
	}()
	return h(hctx, j)
}

func (r *Runner) claim(ctx context.Context) (*Job, error) {
	now := store.Millis(r.o.Now())
	var j *Job
	err := r.db.WriteCommitted(ctx, func(tx *store.Tx) error {
		j = nil
		lock := ""
		if tx.Dialect() == store.Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		due := `((state = 'available' AND run_at <= ?) OR (state = 'running' AND lease_until < ?))`
		row := tx.QueryRow(ctx, `UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempt = attempt + 1, updated_at = ?
			WHERE id = (SELECT id FROM jobs WHERE `+due+` ORDER BY run_at, id LIMIT 1`+lock+`) AND `+due+`
			RETURNING id, kind, args, attempt, max_attempts, run_at, unique_key, created_at`,
			r.owner, now+r.o.Lease.Milliseconds(), now, now, now, now, now)
		var c Job
		var args string
		var uk sql.NullString
		var runAt, created int64
		if err := row.Scan(&c.ID, &c.Kind, &args, &c.Attempt, &c.MaxAttempts, &runAt, &uk, &created); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		c.Args, c.UniqueKey, c.State = json.RawMessage(args), uk.String, StateRunning
		c.RunAt, c.CreatedAt = store.FromMillis(runAt), store.FromMillis(created)
		j = &c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	if j != nil && j.Attempt > j.MaxAttempts {
		// Its last holder vanished mid-run on the final attempt.
		return nil, r.finish(ctx, j, Permanent(errors.New("lease expired on the final attempt")))
	}
	return j, nil
}

// release returns a claimed job to the queue without counting the attempt.
func (r *Runner) release(ctx context.Context, j *Job) error {
	return r.db.WriteCommitted(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE jobs SET state = 'available', lease_owner = NULL, lease_until = 0, attempt = attempt - 1, updated_at = ?
			WHERE id = ? AND lease_owner = ? AND attempt = ?`, store.Millis(r.o.Now()), j.ID, r.owner, j.Attempt)
		return err
	})
}

func (r *Runner) finish(ctx context.Context, j *Job, runErr error) error {
	now := r.o.Now()
	var pe *permanentError
	return r.db.WriteCommitted(ctx, func(tx *store.Tx) error {
		var err error
		switch {
		case runErr == nil:
			// One statement, so an Enqueue committing rerun_at meanwhile is
			// either seen here (the job goes back to the queue) or made to retry
			// after this commits (and then finds the key free). Asked for again
			// while it ran, the job keeps its attempt count (claims are told apart
			// by it) and gets its number of attempts again on top.
			_, err = tx.Exec(ctx, `UPDATE jobs SET
				state = CASE WHEN rerun_at IS NULL THEN 'completed' ELSE 'available' END,
				run_at = COALESCE(rerun_at, run_at),
				max_attempts = CASE WHEN rerun_at IS NULL THEN max_attempts ELSE max_attempts + attempt END,
				done_key = CASE WHEN rerun_at IS NULL THEN unique_key ELSE NULL END,
				unique_key = CASE WHEN rerun_at IS NULL THEN NULL ELSE unique_key END,
				finalized_at = CASE WHEN rerun_at IS NULL THEN CAST(? AS BIGINT) ELSE NULL END,
				rerun_at = NULL, lease_owner = NULL, lease_until = 0, updated_at = ?, last_error = NULL
				WHERE id = ? AND lease_owner = ? AND attempt = ?`,
				store.Millis(now), store.Millis(now), j.ID, r.owner, j.Attempt)
			tx.NotifyAfterCommit(notifyTopic)
		case errors.As(runErr, &pe) || j.Attempt >= j.MaxAttempts:
			r.o.Logger.Error("job dead", "job", j.ID, "kind", j.Kind, "attempt", j.Attempt, "err", runErr)
			_, err = tx.Exec(ctx, `UPDATE jobs SET state = 'dead', lease_owner = NULL, done_key = unique_key, unique_key = NULL, rerun_at = NULL,
				finalized_at = ?, updated_at = ?, last_error = ? WHERE id = ? AND lease_owner = ? AND attempt = ?`,
				store.Millis(now), store.Millis(now), truncate(runErr.Error()), j.ID, r.owner, j.Attempt)
		default:
			r.o.Logger.Warn("job failed, will retry", "job", j.ID, "kind", j.Kind, "attempt", j.Attempt, "err", runErr)
			_, err = tx.Exec(ctx, `UPDATE jobs SET state = 'available', lease_owner = NULL, lease_until = 0, run_at = ?,
				updated_at = ?, last_error = ? WHERE id = ? AND lease_owner = ? AND attempt = ?`,
				store.Millis(now.Add(r.o.Backoff(j.Attempt))), store.Millis(now), truncate(runErr.Error()), j.ID, r.owner, j.Attempt)
		}
		if err != nil {
			return fmt.Errorf("finish job %s: %w", j.ID, err)
		}
		return nil
	})
}

// truncate makes an error text storable: PostgreSQL rejects text that is not valid
// UTF-8 or holds NUL bytes (which would make the job's outcome unrecordable), and a
// long message is cut without splitting a character.
func truncate(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > 4000 {
		return strings.ToValidUTF8(s[:4000], "") + "…"
	}
	return s
}

const columns = `id, kind, args, state, attempt, max_attempts, run_at, unique_key, done_key, last_error, created_at, updated_at, finalized_at`

func scan(rows interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var args string
	var uk, dk, le sql.NullString
	var runAt, created, updated int64
	var fin sql.NullInt64
	if err := rows.Scan(&j.ID, &j.Kind, &args, &j.State, &j.Attempt, &j.MaxAttempts, &runAt, &uk, &dk, &le, &created, &updated, &fin); err != nil {
		return j, err
	}
	j.Args = json.RawMessage(args)
	j.UniqueKey = uk.String
	if j.UniqueKey == "" {
		j.UniqueKey = dk.String
	}
	j.LastError = le.String
	j.RunAt, j.CreatedAt, j.UpdatedAt, j.FinalizedAt = store.FromMillis(runAt), store.FromMillis(created), store.FromMillis(updated), store.FromNullMillis(fin)
	return j, nil
}

// Filter selects jobs to list.
type Filter struct {
	State string
	Kind  string
	Limit int
}

// List returns jobs, newest first.
func List(ctx context.Context, db *store.DB, f Filter) ([]Job, error) {
	if f.State != "" && !validState(f.State) {
		return nil, marketplace.Errorf(marketplace.EInvalid, "state %q is invalid: use available, running, completed or dead", f.State)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 500)
	var where []string
	var args []any
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, f.State)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	q := `SELECT ` + columns + ` FROM jobs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	out := []Job{}
	err := db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// Get returns one job.
func Get(ctx context.Context, db *store.DB, id string) (Job, error) {
	var j Job
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		j, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM jobs WHERE id = ?`, id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return j, marketplace.Errorf(marketplace.ENotFound, "job %s not found", id)
	} else if err != nil {
		return j, fmt.Errorf("get job: %w", err)
	}
	return j, nil
}

// Retry makes a dead job available again with a fresh set of attempts.
func Retry(ctx context.Context, db *store.DB, id string, now time.Time) error {
	err := db.Write(ctx, func(tx *store.Tx) error {
		var state string
		var dk sql.NullString
		if err := tx.QueryRow(ctx, `SELECT state, done_key FROM jobs WHERE id = ?`, id).Scan(&state, &dk); errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "job %s not found", id)
		} else if err != nil {
			return err
		}
		if state != StateDead {
			return marketplace.Errorf(marketplace.EConflict, "job %s is %s; only dead jobs can be retried", id, state)
		}
		if dk.Valid {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE unique_key = ?`, dk.String).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return marketplace.Errorf(marketplace.EConflict, "job %s has the same unique key as a pending job", id)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET state = 'available', attempt = 0, run_at = ?, updated_at = ?, finalized_at = NULL,
			unique_key = done_key, done_key = NULL WHERE id = ?`, store.Millis(now), store.Millis(now), id)
		if err != nil {
			return err
		}
		tx.NotifyAfterCommit(notifyTopic)
		return audit.Record(ctx, tx, audit.Change{Object: "job", ObjectID: id, Action: "job.retry", Summary: "retried dead job " + id})
	})
	if marketplace.ErrorCode(err) == marketplace.EInternal {
		return fmt.Errorf("retry job: %w", err)
	}
	return err
}

func validState(s string) bool {
	switch s {
	case StateAvailable, StateRunning, StateCompleted, StateDead:
		return true
	}
	return false
}
