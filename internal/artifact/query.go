package artifact

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
)

// List returns every version of an agreement's artifact, oldest first. An
// agreement the ledger does not hold is a not_found error; one with no
// artifact yet is an empty list.
func List(ctx context.Context, db *store.DB, agreementID string) ([]BookableArtifact, error) {
	var out []BookableArtifact
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = store.QueryAll(ctx, tx, scan, `SELECT content FROM artifacts WHERE agreement_id = ? ORDER BY version`, agreementID)
		if err != nil || len(out) > 0 {
			return err
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM agreements WHERE agreement_id = ?`, agreementID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "agreement %s not found", agreementID)
		}
		return err
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return nil, fmt.Errorf("list artifacts of %s: %w", agreementID, err)
	}
	return out, err
}

// Get returns one artifact version by its id (art_…).
func Get(ctx context.Context, db *store.DB, id string) (BookableArtifact, error) {
	var a BookableArtifact
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		a, err = scan(tx.QueryRow(ctx, `SELECT content FROM artifacts WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "artifact %s not found", id)
		}
		return err
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return a, fmt.Errorf("get artifact %s: %w", id, err)
	}
	return a, err
}

// Export writes, as CSV (see Columns), every artifact version created in
// [from, to), of one kind when kind is not empty, ordered by creation time,
// agreement and version. It streams: rows are written as they are read. The
// query runs before anything is written, so an error returned with nothing
// written can still be answered as an error.
func Export(ctx context.Context, db *store.DB, w io.Writer, from, to time.Time, kind string) error {
	if kind != "" && !ValidKind(kind) {
		return marketplace.Errorf(marketplace.EInvalid, "kind %q is invalid: use %s", marketplace.Clip(kind, 40), strings.Join(Kinds, ", "))
	}
	if !to.After(from) {
		return marketplace.Errorf(marketplace.EInvalid, "the end of the period must be after its start")
	}
	q := `SELECT content FROM artifacts WHERE created_at >= ? AND created_at < ?`
	args := []any{store.Millis(from), store.Millis(to)}
	if kind != "" {
		q += ` AND kind = ?`
		args = append(args, kind)
	}
	q += ` ORDER BY created_at, agreement_id, version`
	err := db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cw := newCSVWriter(w)
		if err := cw.header(); err != nil {
			return err
		}
		for rows.Next() {
			a, err := scan(rows)
			if err != nil {
				return err
			}
			if err := cw.artifact(a); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return cw.flush()
	})
	if err != nil && marketplace.ErrorCode(err) == marketplace.EInternal {
		return fmt.Errorf("export artifacts: %w", err)
	}
	return err
}

// ExportParams is a validated export request: the period [From, To) in UTC
// and an optional kind.
type ExportParams struct {
	From time.Time
	To   time.Time
	Kind string
}

// MaxExportYears bounds an export's period: to may be at most the same day
// one year after from (a fiscal year, leap day included). Longer periods are
// exported in several calls.
const MaxExportYears = 1

// ParseExportParams reads an export request as the API and CLI take it:
// from and to are dates (YYYY-MM-DD, UTC days; to is exclusive, so
// from=2026-11-01&to=2026-12-01 is November), kind is empty or one of
// Kinds. Anything else is an invalid error that says what to send.
func ParseExportParams(from, to, kind string) (ExportParams, error) {
	var p ExportParams
	var err error
	if p.From, err = parseDay("from", from); err != nil {
		return p, err
	}
	if p.To, err = parseDay("to", to); err != nil {
		return p, err
	}
	if !p.To.After(p.From) {
		return p, marketplace.Errorf(marketplace.EInvalid, "to (%s) must be after from (%s): to is exclusive, so from=2026-11-01&to=2026-12-01 is November",
			p.To.Format(time.DateOnly), p.From.Format(time.DateOnly))
	}
	if p.To.After(p.From.AddDate(MaxExportYears, 0, 0)) {
		return p, marketplace.Errorf(marketplace.EInvalid, "the period from %s to %s is longer than a year: export at most one year at a time",
			p.From.Format(time.DateOnly), p.To.Format(time.DateOnly))
	}
	kind = strings.TrimSpace(kind)
	if kind != "" && !ValidKind(kind) {
		return p, marketplace.Errorf(marketplace.EInvalid, "kind %q is invalid: use %s, or leave it out for every kind",
			marketplace.Clip(kind, 40), strings.Join(Kinds, ", "))
	}
	p.Kind = kind
	return p, nil
}

func parseDay(name, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, marketplace.Errorf(marketplace.EInvalid, "%s is required: a date, YYYY-MM-DD (UTC)", name)
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Year() < 2000 || d.Year() > 9998 {
		return time.Time{}, marketplace.Errorf(marketplace.EInvalid, "%s %q is not a date: use YYYY-MM-DD (UTC), e.g. 2026-11-01", name, marketplace.Clip(s, 40))
	}
	return d, nil
}
