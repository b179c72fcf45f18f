// Package audit is Concord's audit trail: who (a console user, an API key, or
// a command run on the server) changed what, and when, with the settings as
// they were and became.
//
// The edges put the actor in the request's context (WithActor: the console's
// session check, the /v1 API-key check, the CLI); the code that makes a
// change calls Record with its own transaction, so the row commits with the
// change or not at all. Changes Concord makes by itself (events, jobs) carry
// no actor and leave no row: the inbox and the job table are their record.
// Rows are append-only on both databases (migration 00018 adds triggers).
package audit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/store"
)

// Kinds of actor.
const (
	KindUser   = "user"
	KindAPIKey = "api_key"
	KindSystem = "system"
)

// Actor is who made a change: a console user (ID the user's id, Name the
// e-mail), an API key (its id and name), or the system (a command run on the
// server, e.g. `concord apikey create`).
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Label is how pages show the actor: its name, else its id.
func (a Actor) Label() string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

type actorKey struct{}

// WithActor returns ctx carrying a; every Record under it names a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok && a.Kind != ""
}

// Change is one change to record. Before and After are the object's settings
// (any value encoding/json accepts; nil when there is none, e.g. before a
// creation); fields that hold secrets are redacted before they are stored.
type Change struct {
	Object   string
	ObjectID string
	Action   string
	Before   any
	After    any
	Summary  string
	// At is when the change was made; zero is now on the wall clock (the
	// trail says when a person acted, not the sandbox's marketplace time).
	At time.Time
}

// Entry is one row of the trail.
type Entry struct {
	ID       string          `json:"id"`
	At       time.Time       `json:"at"`
	Actor    Actor           `json:"actor"`
	Object   string          `json:"object"`
	ObjectID string          `json:"objectId"`
	Action   string          `json:"action"`
	Summary  string          `json:"summary,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
}

// Record writes c to the trail in tx, naming the actor ctx carries. Without
// an actor it writes nothing (Concord acting on its own). An error means the
// caller must roll back: a change the trail cannot name must not commit.
func Record(ctx context.Context, tx *store.Tx, c Change) error {
	a, ok := ActorFrom(ctx)
	if !ok {
		return nil
	}
	if c.Object == "" || c.Action == "" {
		return fmt.Errorf("audit: a change needs an object and an action")
	}
	at := c.At
	if at.IsZero() {
		at = time.Now()
	}
	before, err := encode(c.Before)
	if err != nil {
		return fmt.Errorf("audit %s: before: %w", c.Action, err)
	}
	after, err := encode(c.After)
	if err != nil {
		return fmt.Errorf("audit %s: after: %w", c.Action, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_name, object, object_id, action, summary, before_json, after_json)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		newID(at), store.Millis(at), a.Kind, a.ID, a.Name, c.Object, c.ObjectID, c.Action, c.Summary, before, after)
	if err != nil {
		return fmt.Errorf("audit %s: %w", c.Action, err)
	}
	return nil
}

// RecordNow records c in a transaction of its own, for changes made outside
// Concord's database (the sandbox's emulator), after they happened.
func RecordNow(ctx context.Context, db *store.DB, c Change) error {
	if _, ok := ActorFrom(ctx); !ok {
		return nil
	}
	return db.Write(ctx, func(tx *store.Tx) error { return Record(ctx, tx, c) })
}

// newID sorts by time: the zero-padded epoch milliseconds, then randomness.
func newID(at time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("aud-%013d-%s", max(at.UnixMilli(), 0), hex.EncodeToString(b[:]))
}

// Redacted replaces a secret's value in Before and After.
const Redacted = "[redacted]"

// secretWords mark a field whose value is a secret (API key secrets, webhook
// signing secrets, SMTP passwords, session tokens), matched case-insensitively
// in the field's JSON name.
var secretWords = []string{"secret", "password", "passwd", "token", "credential", "privatekey"}

func isSecret(field string) bool {
	f := strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(field))
	for _, w := range secretWords {
		if strings.Contains(f, w) {
			return true
		}
	}
	return false
}

func encode(v any) (sql.NullString, error) {
	if v == nil {
		return sql.NullString{}, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}, err
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return sql.NullString{}, err
	}
	if tree == nil {
		return sql.NullString{}, nil
	}
	raw, err = json.Marshal(redact(tree))
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(raw), Valid: true}, nil
}

// redact walks a decoded JSON value and blanks every secret field's value.
func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if isSecret(k) && x != nil && x != "" {
				t[k] = Redacted
				continue
			}
			t[k] = redact(x)
		}
	case []any:
		for i := range t {
			t[i] = redact(t[i])
		}
	}
	return v
}

// Filter selects rows of the trail. Empty fields select everything.
type Filter struct {
	// Actor matches an actor's id or name exactly.
	Actor    string
	Object   string
	ObjectID string
	// From and To bound the time: From <= at < To.
	From, To time.Time
	// After is the id of the last row of the previous page.
	After string
	Limit int
}

// MaxPage is the most rows one List call returns.
const MaxPage = 500

// List returns rows matching f, newest first, at most f.Limit (100 when
// zero, at most MaxPage).
func List(ctx context.Context, db *store.DB, f Filter) ([]Entry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxPage)
	var where []string
	var args []any
	if f.Actor != "" {
		where = append(where, "(actor_id = ? OR actor_name = ?)")
		args = append(args, f.Actor, f.Actor)
	}
	if f.Object != "" {
		where = append(where, "object = ?")
		args = append(args, f.Object)
	}
	if f.ObjectID != "" {
		where = append(where, "object_id = ?")
		args = append(args, f.ObjectID)
	}
	if !f.From.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, store.Millis(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, store.Millis(f.To))
	}
	if f.After != "" {
		where = append(where, "id < ?")
		args = append(args, f.After)
	}
	q := `SELECT id, at, actor_kind, actor_id, actor_name, object, object_id, action, summary, before_json, after_json FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limit)
	var out []Entry
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, scanEntry, q, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit trail: %w", err)
	}
	return out, nil
}

// Objects lists the kinds of object the trail names, for a filter's choices.
func Objects(ctx context.Context, db *store.DB) ([]string, error) {
	var out []string
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, store.ScanString, `SELECT DISTINCT object FROM audit_log ORDER BY object`)
		return err
	})
	return out, err
}

func scanEntry(r store.Scanner) (Entry, error) {
	var e Entry
	var at int64
	var before, after sql.NullString
	if err := r.Scan(&e.ID, &at, &e.Actor.Kind, &e.Actor.ID, &e.Actor.Name, &e.Object, &e.ObjectID, &e.Action, &e.Summary, &before, &after); err != nil {
		return e, err
	}
	e.At = store.FromMillis(at)
	if before.Valid {
		e.Before = json.RawMessage(before.String)
	}
	if after.Valid {
		e.After = json.RawMessage(after.String)
	}
	return e, nil
}
