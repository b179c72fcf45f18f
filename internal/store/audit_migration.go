package store

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// auditAppendOnlyVersion is the migration that makes audit_log (00014)
// append-only. It is Go rather than SQL because a trigger is written
// differently on each dialect: PostgreSQL calls a PL/pgSQL function, SQLite
// runs RAISE(ABORT) in the trigger's body.
const auditAppendOnlyVersion = 18

func auditAppendOnly(dialect string) *goose.Migration {
	up := []string{
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
	}
	down := []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`}
	if dialect == Postgres {
		up = []string{
			`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$`,
			`CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
			`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`,
		}
		down = []string{
			`DROP TRIGGER audit_log_no_truncate ON audit_log`,
			`DROP TRIGGER audit_log_no_change ON audit_log`,
			`DROP FUNCTION audit_log_append_only()`,
		}
	}
	run := func(stmts []string) *goose.GoFunc {
		return &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, q := range stmts {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	return goose.NewGoMigration(auditAppendOnlyVersion, run(up), run(down))
}
