// Package apikey issues and checks the API keys that guard Concord's /v1 API.
// Keys are 32 random bytes shown once at creation; only their SHA-256 is stored,
// which is enough for a key of that entropy (no slow hash is needed) and keeps the
// per-request check cheap.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/background"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Prefix starts every key so they are easy to recognise in logs and secret scanners.
const Prefix = "ck_"

// Key is an API key's record; the secret itself is never stored.
type Key struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
}

func hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Create makes a new key and returns its secret, which cannot be shown again.
func Create(ctx context.Context, db *store.DB, name string, now time.Time) (secret string, k Key, err error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", k, marketplace.Errorf(marketplace.EInvalid, "name is required (1-100 characters)")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", k, fmt.Errorf("generate key: %w", err)
	}
	secret = Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	k = Key{ID: uuid.Must(uuid.NewV7()).String(), Name: name, Prefix: secret[:10], CreatedAt: now.UTC().Truncate(time.Millisecond)}
	err = db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.Prefix, hash(secret), store.Millis(k.CreatedAt))
		if err != nil {
			return err
		}
		// k holds no secret (only its first characters, shown in lists).
		return audit.Record(ctx, tx, audit.Change{Object: "api_key", ObjectID: k.ID, Action: "api_key.create", After: k, Summary: "created API key " + k.Name})
	})
	if err != nil {
		return "", k, fmt.Errorf("store key: %w", err)
	}
	return secret, k, nil
}

func wellFormed(secret string) bool {
	return strings.HasPrefix(secret, Prefix) && len(secret) <= 100 && marketplace.Storable(secret)
}

// Verify returns the key a secret belongs to, or an EUnauthorized error.
func Verify(ctx context.Context, db *store.DB, secret string) (Key, error) {
	var k Key
	if !wellFormed(secret) {
		return k, marketplace.Errorf(marketplace.EUnauthorized, "invalid API key")
	}
	var created int64
	var used, revoked sql.NullInt64
	err := db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys WHERE hash = ?`, hash(secret)).
			Scan(&k.ID, &k.Name, &k.Prefix, &created, &used, &revoked)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return k, marketplace.Errorf(marketplace.EUnauthorized, "invalid API key")
	} else if err != nil {
		return k, fmt.Errorf("verify key: %w", err)
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = store.FromMillis(created), store.FromNullMillis(used), store.FromNullMillis(revoked)
	if k.RevokedAt != nil {
		return k, marketplace.Errorf(marketplace.EUnauthorized, "API key %s… was revoked", k.Prefix)
	}
	return k, nil
}

// Touch records that a key was used, at most once a minute per key, so reads do
// not turn into a write per request.
func Touch(ctx context.Context, db *store.DB, k Key, now time.Time) error {
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < time.Minute {
		return nil
	}
	return db.WriteCommitted(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, store.Millis(now), k.ID)
		return err
	})
}

// List returns every key, newest first.
func List(ctx context.Context, db *store.DB) ([]Key, error) {
	out := []Key{}
	err := db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at DESC, id DESC`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k Key
			var created int64
			var used, revoked sql.NullInt64
			if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &created, &used, &revoked); err != nil {
				return err
			}
			k.CreatedAt, k.LastUsedAt, k.RevokedAt = store.FromMillis(created), store.FromNullMillis(used), store.FromNullMillis(revoked)
			out = append(out, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// Revoke disables a key for good.
func Revoke(ctx context.Context, db *store.DB, id string, now time.Time) error {
	return db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, store.Millis(now), id)
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return marketplace.Errorf(marketplace.ENotFound, "no active API key with id %s", id)
		}
		tx.NotifyAfterCommit(revokedTopic)
		var name string
		if err := tx.QueryRow(ctx, `SELECT name FROM api_keys WHERE id = ?`, id).Scan(&name); err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		return audit.Record(ctx, tx, audit.Change{Object: "api_key", ObjectID: id, Action: "api_key.revoke", Summary: "revoked API key " + name})
	})
}

// revokedTopic is announced on the database when a key is revoked, so the
// Caches of this process forget their verified keys at once.
const revokedTopic = "apikey.revoked"

// Cache verifies keys from memory so the per-request check of the /v1 API does
// not read the database each time, nor write last_used_at more than once a
// minute per key.
//
// A verified key is trusted for TTL (10 s by default) without reading the
// database again. A key revoked with Revoke through the same store.DB is
// forgotten as soon as the revocation commits; a key revoked by another replica
// (or in the database directly) keeps working on this one for up to TTL.
// Unknown or revoked keys are never cached: every such request reads the
// database.
type Cache struct {
	DB     *store.DB
	Now    func() time.Time
	Logger *slog.Logger
	// TTL is how long a verified key is trusted without a database read.
	TTL time.Duration

	once sync.Once
	mu   sync.RWMutex
	keys map[[sha256.Size]byte]*cachedKey
	gen  uint64 // bumped by Purge, under mu: a verification that spans one is not cached
}

type cachedKey struct {
	key   Key
	until time.Time
	// touched is when last_used_at was last written (UnixMilli); touching
	// is set while a write is under way.
	touched  atomic.Int64
	touching atomic.Bool
}

// DefaultCacheTTL is how long a Cache trusts a verified key.
const DefaultCacheTTL = 10 * time.Second

func (c *Cache) init() {
	c.once.Do(func() {
		c.keys = map[[sha256.Size]byte]*cachedKey{}
		c.DB.Subscribe(revokedTopic, c.Purge)
	})
}

func (c *Cache) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Purge forgets every verified key.
func (c *Cache) Purge() {
	c.init()
	c.mu.Lock()
	clear(c.keys)
	c.gen++
	c.mu.Unlock()
}

// Verify is the package's Verify answered from memory when it can. It also
// records the key's use (Touch) in the background, at most once a minute per key.
func (c *Cache) Verify(ctx context.Context, secret string) (Key, error) {
	c.init()
	if !wellFormed(secret) {
		return Key{}, marketplace.Errorf(marketplace.EUnauthorized, "invalid API key")
	}
	h := sha256.Sum256([]byte(secret))
	now := c.now()
	c.mu.RLock()
	ck, gen := c.keys[h], c.gen
	c.mu.RUnlock()
	if ck == nil || !now.Before(ck.until) {
		k, err := Verify(ctx, c.DB, secret)
		if err != nil {
			if ck != nil {
				c.mu.Lock()
				if c.keys[h] == ck {
					delete(c.keys, h)
				}
				c.mu.Unlock()
			}
			return k, err
		}
		ttl := c.TTL
		if ttl <= 0 {
			ttl = DefaultCacheTTL
		}
		next := &cachedKey{key: k, until: now.Add(ttl)}
		switch {
		case ck != nil:
			next.touched.Store(max(ck.touched.Load(), lastUsed(k)))
		default:
			next.touched.Store(lastUsed(k))
		}
		c.mu.Lock()
		if len(c.keys) > 10000 {
			for x, e := range c.keys {
				if !now.Before(e.until) {
					delete(c.keys, x)
				}
			}
		}
		if c.gen == gen { // no revocation committed while the database was read
			c.keys[h] = next
		}
		c.mu.Unlock()
		ck = next
	}
	if now.UnixMilli()-ck.touched.Load() >= time.Minute.Milliseconds() && ck.touching.CompareAndSwap(false, true) {
		background.Go(c.Logger, "api key touch", func() { c.touch(ck, now) })
	}
	return ck.key, nil
}

func lastUsed(k Key) int64 {
	if k.LastUsedAt == nil {
		return 0
	}
	return k.LastUsedAt.UnixMilli()
}

func (c *Cache) touch(ck *cachedKey, now time.Time) {
	defer ck.touching.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.DB.WriteCommitted(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, store.Millis(now), ck.key.ID)
		return err
	})
	if err != nil {
		if c.Logger != nil {
			c.Logger.Warn("api key touch", "key", ck.key.Prefix, "err", err)
		}
		return
	}
	ck.touched.Store(now.UnixMilli())
}
