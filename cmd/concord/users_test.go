package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// runWithStdin runs the CLI with stdin as its standard input.
func runWithStdin(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errw bytes.Buffer
	ctx := context.WithValue(context.Background(), stdinKey{}, strings.NewReader(stdin))
	code = run(ctx, args, &out, &errw)
	return code, out.String(), errw.String()
}

// TestUserCommands creates the first admin from a password on standard input,
// a read-only user with a generated password, and refuses bad input.
func TestUserCommands(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			url, dir := storetest.URL(t, d), t.TempDir()
			flags := []string{"--data-dir", dir, "--database", url}
			if d == store.Postgres {
				if code, out, errs := runCLI(append([]string{"migrate"}, flags...)...); code != 0 {
					t.Fatalf("migrate: %d %s %s", code, out, errs)
				}
			}
			const pw = "a long enough password"
			code, out, errs := runWithStdin(pw+"\n", append([]string{"user", "create", "--email", "Ada@Seller.example", "--role", "admin", "--password-stdin"}, flags...)...)
			if code != 0 || out != "" || !strings.Contains(errs, "created console user ada@seller.example (admin)") {
				t.Fatalf("create admin: %d %q %q", code, out, errs)
			}
			code, out, errs = runWithStdin("", append([]string{"user", "create", "--email", "viewer@seller.example", "--role", "read-only"}, flags...)...)
			if code != 0 || len(strings.TrimSpace(out)) != 24 || !strings.Contains(errs, "cannot be shown again") {
				t.Fatalf("create with a generated password: %d %q %q", code, out, errs)
			}
			generated := strings.TrimSpace(out)

			db, err := store.Open(context.Background(), store.Config{URL: url, DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var hashes []string
			err = db.Read(context.Background(), func(tx *store.Tx) error {
				hashes, err = store.QueryAll(context.Background(), tx, store.ScanString, `SELECT password_hash FROM console_users ORDER BY email`)
				return err
			})
			if err != nil || len(hashes) != 2 {
				t.Fatalf("hashes %q %v", hashes, err)
			}
			for _, h := range hashes {
				if !strings.HasPrefix(h, "pbkdf2-sha256$600000$") || strings.Contains(h, pw) || strings.Contains(h, generated) {
					t.Fatalf("stored password %q", h)
				}
			}

			code, out, _ = runCLI(append([]string{"user", "list"}, flags...)...)
			if code != 0 || !strings.Contains(out, "ada@seller.example\tadmin\tactive") || !strings.Contains(out, "viewer@seller.example\tread-only\tactive") {
				t.Fatalf("list: %d\n%s", code, out)
			}
			for _, c := range []struct {
				stdin string
				args  []string
				code  int
				want  string
			}{
				{pw, []string{"--email", "ada@seller.example", "--role", "finance", "--password-stdin"}, 1, "exists already"},
				{"short\n", []string{"--email", "bob@seller.example", "--role", "finance", "--password-stdin"}, 1, "password"},
				{pw, []string{"--email", "bob@seller.example", "--role", "owner", "--password-stdin"}, 2, "--role must be one of admin, revops, finance, read-only"},
				{pw, []string{"--role", "admin", "--password-stdin"}, 2, "--email and --role are required"},
				{pw, []string{"--email", "not an email", "--role", "admin", "--password-stdin"}, 1, "email"},
			} {
				code, _, errs := runWithStdin(c.stdin, append(append([]string{"user", "create"}, c.args...), flags...)...)
				if code != c.code || !strings.Contains(errs, c.want) {
					t.Errorf("%v: exit %d %q, want %d %q", c.args, code, errs, c.code, c.want)
				}
			}
			if code, _, _ := runCLI(append([]string{"user"}, flags...)...); code != 2 {
				t.Fatalf("no subcommand: %d", code)
			}
		})
	}
}
