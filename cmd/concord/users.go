package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/store"
)

// stdinKey names, in a context, the reader --password-stdin reads instead of
// os.Stdin (tests set it).
type stdinKey struct{}

func stdinOf(ctx context.Context) io.Reader {
	if r, ok := ctx.Value(stdinKey{}).(io.Reader); ok {
		return r
	}
	return os.Stdin
}

// userCreate adds a console user. The password comes from standard input
// (--password-stdin), never from a flag, so it stays out of shell history and
// process listings; without --password-stdin a random one is generated and
// printed once.
func userCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("user create", "Create a seller console user (the first one should be an admin). The password is read from standard input with\n--password-stdin, or generated and printed once.", stderr)
	email := fs.String("email", "", "the user's email, used to sign in (required)")
	role := fs.String("role", "", "one of "+strings.Join(console.Roles, ", ")+" (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" || *role == "" {
		return usageError{errors.New("--email and --role are required")}
	}
	if !console.ValidRole(*role) {
		return usageError{fmt.Errorf("--role must be one of %s", strings.Join(console.Roles, ", "))}
	}
	password, generated := "", false
	if *fromStdin {
		line, err := bufio.NewReader(io.LimitReader(stdinOf(ctx), console.MaxPasswordLength+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the password from standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	} else {
		password, generated = generatedPassword(), true
	}
	return c.withDB(ctx, func(db *store.DB) error {
		svc := &console.Service{DB: db, Now: c.now()}
		u, err := svc.CreateUser(ctx, console.NewUser{Email: *email, Role: *role, Password: password})
		if err != nil {
			return err
		}
		if generated {
			fmt.Fprintln(stdout, password)
			fmt.Fprintf(stderr, "created console user %s (%s) with the generated password above. Store it now: it cannot be shown again.\n", u.Email, u.Role)
		} else {
			fmt.Fprintf(stderr, "created console user %s (%s)\n", u.Email, u.Role)
		}
		return nil
	})
}

// generatedPassword is 24 random URL-safe characters.
func generatedPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func userList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("user list", "List seller console users.", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	return c.withDB(ctx, func(db *store.DB) error {
		users, err := (&console.Service{DB: db}).ListUsers(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", u.Email, u.Role, state, u.CreatedAt.Format(time.RFC3339))
		}
		return nil
	})
}
