package console

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// Roles a console user can have. Admin may do everything; revops works on
// offers; finance on artifacts and notifications; read-only sees every page
// and changes nothing (no POST but signing out).
const (
	RoleAdmin    = "admin"
	RoleRevOps   = "revops"
	RoleFinance  = "finance"
	RoleReadOnly = "read-only"
)

// Roles lists the roles, most powerful first.
var Roles = []string{RoleAdmin, RoleRevOps, RoleFinance, RoleReadOnly}

// ValidRole reports whether r is one of Roles.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// Password limits: long enough to resist guessing, short enough that hashing
// a huge body costs nothing extra.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
)

// DefaultIterations is the PBKDF2-SHA256 work factor (OWASP's 2023 advice).
// The standard library's crypto/pbkdf2 is used so the console adds no
// dependency; the iteration count is stored with each hash, so it can be
// raised later without invalidating existing passwords.
const DefaultIterations = 600_000

// User is a person who signs in to the console.
type User struct {
	ID        string
	Email     string
	Role      string
	CreatedAt time.Time
	Disabled  bool
}

// CanWrite reports whether the user may change anything (every role but read-only).
func (u User) CanWrite() bool { return u.Role != RoleReadOnly }

// Areas of change, each open to some roles (see Can).
const (
	// AreaOffers: create, edit, submit, clone, cancel, amend and associate
	// offers, send purchase instructions. Admin and revops.
	AreaOffers = "offers"
	// AreaSettings: products and listings, notification routes, API keys,
	// webhooks and console users. Admin only.
	AreaSettings = "settings"
	// AreaSandbox: play the buyer, the partner and AWS's clock in sandbox
	// mode; resend notifications; retry metering records. Every role but
	// read-only.
	AreaSandbox = "sandbox"
)

// Can reports whether the user may make changes in area. Templates call it
// to hide the buttons a role cannot use; handlers wrapped in Service.may
// refuse the request anyway.
func (u User) Can(area string) bool {
	switch area {
	case AreaOffers:
		return u.Role == RoleAdmin || u.Role == RoleRevOps
	case AreaSettings:
		return u.Role == RoleAdmin
	case AreaSandbox:
		return u.CanWrite()
	case AreaRefunds:
		return u.Role == RoleAdmin || u.Role == RoleFinance
	}
	return false
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email, Role, Password string
}

func (s *Service) iterations() int {
	if s.Iterations > 0 {
		return s.Iterations
	}
	return DefaultIterations
}

// hashPassword derives a 32-byte key with a fresh 16-byte salt and returns
// "pbkdf2-sha256$<iterations>$<salt>$<key>" (unpadded base64).
func hashPassword(password string, iterations int) (string, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return "pbkdf2-sha256$" + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

// checkPassword reports whether password matches the stored hash, in
// constant time for hashes of the same shape.
func checkPassword(stored, password string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// checkNewUser returns the problems of a new user, by field (email, role, password).
func checkNewUser(in NewUser) map[string]string {
	p := map[string]string{}
	email := normEmail(in.Email)
	if a, err := mail.ParseAddress(email); email == "" || err != nil || a.Address != email || len(email) > 254 {
		p["email"] = "Enter an email address like name@example.com."
	}
	if !ValidRole(in.Role) {
		p["role"] = "Choose a role: " + strings.Join(Roles, ", ") + "."
	}
	if n := utf8.RuneCountInString(in.Password); n < MinPasswordLength || len(in.Password) > MaxPasswordLength || !utf8.ValidString(in.Password) {
		p["password"] = fmt.Sprintf("Use a password of %d to %d characters.", MinPasswordLength, MaxPasswordLength)
	}
	return p
}

// CreateUser adds a console user. Bad input is an invalid error naming every
// problem; an email already taken is a conflict.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (User, error) {
	if p := checkNewUser(in); len(p) > 0 {
		var msgs []string
		for _, k := range []string{"email", "role", "password"} {
			if m, ok := p[k]; ok {
				msgs = append(msgs, k+": "+m)
			}
		}
		return User{}, marketplace.Errorf(marketplace.EInvalid, "%s", strings.Join(msgs, " "))
	}
	hash, err := hashPassword(in.Password, s.iterations())
	if err != nil {
		return User{}, err
	}
	now := s.wallNow()
	u := User{ID: "usr_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""), Email: normEmail(in.Email), Role: in.Role, CreatedAt: now.Truncate(time.Millisecond)}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO console_users (id, email, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.Role, hash, store.Millis(now), store.Millis(now))
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Change{Object: "user", ObjectID: u.ID, Action: "user.create", After: auditUser(u), Summary: "added " + u.Email + " as " + u.Role})
	})
	if store.IsUniqueViolation(err) {
		return User{}, marketplace.Errorf(marketplace.EConflict, "a console user with email %s exists already", u.Email)
	}
	if err != nil {
		return User{}, fmt.Errorf("create console user: %w", err)
	}
	return u, nil
}

// ListUsers returns every console user by email.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, scanUser, `SELECT id, email, role, created_at, disabled_at FROM console_users ORDER BY email`)
		return err
	})
	return out, err
}

func scanUser(r store.Scanner) (User, error) {
	var u User
	var created int64
	var disabled sql.NullInt64
	err := r.Scan(&u.ID, &u.Email, &u.Role, &created, &disabled)
	u.CreatedAt, u.Disabled = store.FromMillis(created), disabled.Valid
	return u, err
}

// errBadLogin is the one answer to a wrong email, a wrong password and a
// disabled user, so the form does not tell which emails exist.
var errBadLogin = errors.New("email or password is incorrect")

// authenticate checks an email and password.
func (s *Service) authenticate(ctx context.Context, email, password string) (User, error) {
	var u User
	var hash string
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var created int64
		var disabled sql.NullInt64
		err := tx.QueryRow(ctx, `SELECT id, email, role, created_at, disabled_at, password_hash FROM console_users WHERE email = ?`, normEmail(email)).
			Scan(&u.ID, &u.Email, &u.Role, &created, &disabled, &hash)
		u.CreatedAt, u.Disabled = store.FromMillis(created), disabled.Valid
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		checkPassword(s.dummy(), password)
		return User{}, errBadLogin
	}
	if err != nil {
		return User{}, fmt.Errorf("load console user: %w", err)
	}
	if !checkPassword(hash, password) || u.Disabled {
		return User{}, errBadLogin
	}
	return u, nil
}

// dummy is a hash checked against when no user has the email given, so
// that a wrong email costs as much time as a wrong password.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		h, _ := hashPassword("not a password anyone has", s.iterations())
		s.dummyHash = h
	})
	return s.dummyHash
}

// SessionTTL is how long a console session lasts after sign-in.
const SessionTTL = 12 * time.Hour

// session is a signed-in browser.
type session struct {
	User User
	CSRF string
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// openSession stores a new session for u and returns its cookie token.
func (s *Service) openSession(ctx context.Context, u User) (string, error) {
	token, csrf := randomToken(), randomToken()
	now := s.wallNow()
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		// Expired sessions are pruned as people sign in.
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < ?`, store.Millis(now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			tokenHash(token), u.ID, csrf, store.Millis(now), store.Millis(now.Add(SessionTTL)))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("open console session: %w", err)
	}
	return token, nil
}

// loadSession returns the live session of token; ok is false when there is
// none, it expired, or its user is disabled.
func (s *Service) loadSession(ctx context.Context, token string) (sess session, ok bool, err error) {
	if token == "" || len(token) > 100 {
		return sess, false, nil
	}
	err = s.DB.Read(ctx, func(tx *store.Tx) error {
		var created, expires int64
		var disabled sql.NullInt64
		err := tx.QueryRow(ctx, `SELECT u.id, u.email, u.role, u.created_at, u.disabled_at, s.csrf, s.expires_at
			FROM console_sessions s JOIN console_users u ON u.id = s.user_id WHERE s.token_hash = ?`, tokenHash(token)).
			Scan(&sess.User.ID, &sess.User.Email, &sess.User.Role, &created, &disabled, &sess.CSRF, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		sess.User.CreatedAt, sess.User.Disabled = store.FromMillis(created), disabled.Valid
		ok = !sess.User.Disabled && s.wallNow().Before(store.FromMillis(expires))
		return nil
	})
	if err != nil {
		return session{}, false, fmt.Errorf("load console session: %w", err)
	}
	return sess, ok, nil
}

// closeSession deletes the session of token.
func (s *Service) closeSession(ctx context.Context, token string) error {
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE token_hash = ?`, tokenHash(token))
		return err
	})
}

// errLastAdmin refuses a change that would leave no enabled admin, since
// nobody could then manage settings or users from the console.
func errLastAdmin(email string) error {
	return marketplace.Errorf(marketplace.EConflict,
		"%s is the last enabled admin: make another user an admin first, so someone can still manage settings and users", email)
}

// changeUser runs change on one user inside a write transaction, after
// checking that the result leaves at least one enabled admin.
func (s *Service) changeUser(ctx context.Context, id string, change func(tx *store.Tx, u User, now time.Time) (User, error)) (User, error) {
	var out User
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT id, email, role, created_at, disabled_at FROM console_users WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "console user %s not found", marketplace.Clip(strings.ToValidUTF8(id, "?"), 64))
		}
		if err != nil {
			return err
		}
		next, err := change(tx, u, s.wallNow())
		if err != nil {
			return err
		}
		if u.Role == RoleAdmin && !u.Disabled && (next.Role != RoleAdmin || next.Disabled) {
			var others int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM console_users WHERE role = ? AND disabled_at IS NULL AND id <> ?`, RoleAdmin, u.ID).Scan(&others); err != nil {
				return err
			}
			if others == 0 {
				return errLastAdmin(u.Email)
			}
		}
		out = next
		action := ""
		switch {
		case next.Role != u.Role:
			action = "user.role"
		case next.Disabled && !u.Disabled:
			action = "user.disable"
		case !next.Disabled && u.Disabled:
			action = "user.enable"
		default:
			return nil // nothing changed
		}
		return audit.Record(ctx, tx, audit.Change{Object: "user", ObjectID: u.ID, Action: action, Before: auditUser(u), After: auditUser(next), Summary: "user " + u.Email})
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return out, fmt.Errorf("change console user: %w", err)
	}
	return out, err
}

// SetRole gives a user another role. It takes effect on the user's next
// request (sessions read the role each time). Demoting the last enabled
// admin is a conflict.
func (s *Service) SetRole(ctx context.Context, id, role string) (User, error) {
	if !ValidRole(role) {
		return User{}, marketplace.Errorf(marketplace.EInvalid, "Choose a role: %s.", strings.Join(Roles, ", "))
	}
	return s.changeUser(ctx, id, func(tx *store.Tx, u User, now time.Time) (User, error) {
		u.Role = role
		_, err := tx.Exec(ctx, `UPDATE console_users SET role = ?, updated_at = ? WHERE id = ?`, role, store.Millis(now), u.ID)
		return u, err
	})
}

// SetDisabled disables or enables a user. Disabling also deletes the user's
// sessions, so they are signed out everywhere at once; a disabled user
// cannot sign in. Disabling the last enabled admin is a conflict.
func (s *Service) SetDisabled(ctx context.Context, id string, disabled bool) (User, error) {
	return s.changeUser(ctx, id, func(tx *store.Tx, u User, now time.Time) (User, error) {
		if u.Disabled == disabled {
			return u, nil
		}
		u.Disabled = disabled
		if !disabled {
			_, err := tx.Exec(ctx, `UPDATE console_users SET disabled_at = NULL, updated_at = ? WHERE id = ?`, store.Millis(now), u.ID)
			return u, err
		}
		if _, err := tx.Exec(ctx, `UPDATE console_users SET disabled_at = ?, updated_at = ? WHERE id = ?`, store.Millis(now), store.Millis(now), u.ID); err != nil {
			return u, err
		}
		_, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE user_id = ?`, u.ID)
		return u, err
	})
}

// auditUser is what the audit trail keeps of a user: never the password.
func auditUser(u User) map[string]any {
	return map[string]any{"email": u.Email, "role": u.Role, "disabled": u.Disabled}
}
