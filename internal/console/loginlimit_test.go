package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/console"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

// signIn posts the login form from a fresh client and returns the answer.
func (e *env) signIn(email, pass string) page {
	e.t.Helper()
	c := e.client()
	return c.post("/console/login", url.Values{"email": {email}, "password": {pass}, "csrf": {csrfOf(e.t, c.get("/console/login"))}})
}

// TestRepeatedFailedSignInsAreRefused: after five wrong passwords for one
// email from one address, even the right password is refused with 429 and a
// time to wait, until the window ends; other people can still sign in; a
// success before the limit forgets the failures; one address guessing many
// emails is stopped too.
func TestRepeatedFailedSignInsAreRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := clocktest.New(now)
		e := setup(t, db, func(c *console.Service) { c.Clock = clk.Now })

		for i := range console.LoginFailuresPerEmailAndAddress {
			if p := e.signIn("admin@seller.example", "wrong password "+string(rune('a'+i))); p.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, p.status)
			}
		}
		p := e.signIn("Admin@Seller.example", password)
		if p.status != http.StatusTooManyRequests || strings.Contains(strings.Join(p.header.Values("Set-Cookie"), "; "), "concord_console=") {
			t.Fatalf("right password after %d failures: %d %v", console.LoginFailuresPerEmailAndAddress, p.status, p.header)
		}
		wantIn(t, p, "Too many failed sign-ins. Try again in 15 minutes")
		if ra := p.header.Get("Retry-After"); ra != "901" {
			t.Errorf("Retry-After %q", ra)
		}
		// Someone else is not affected.
		if p := e.signIn("viewer@seller.example", password); p.status != http.StatusSeeOther {
			t.Fatalf("another user: %d", p.status)
		}
		clk.Advance(10 * time.Minute)
		wantIn(t, e.signIn("admin@seller.example", password), "Try again in 5 minutes")
		clk.Advance(5 * time.Minute)
		if p := e.signIn("admin@seller.example", password); p.status != http.StatusSeeOther {
			t.Fatalf("after the window: %d", p.status)
		}

		// A success forgets earlier failures.
		for range console.LoginFailuresPerEmailAndAddress - 1 {
			e.signIn("viewer@seller.example", "not the password")
		}
		if p := e.signIn("viewer@seller.example", password); p.status != http.StatusSeeOther {
			t.Fatalf("viewer: %d", p.status)
		}
		for range console.LoginFailuresPerEmailAndAddress - 1 {
			e.signIn("viewer@seller.example", "not the password")
		}
		if p := e.signIn("viewer@seller.example", password); p.status != http.StatusSeeOther {
			t.Fatalf("viewer after a success and 4 more failures: %d", p.status)
		}

		// Password spraying from one address: many emails, one failure each.
		clk.Advance(time.Hour)
		if _, err := e.console.CreateUser(context.Background(), console.NewUser{Email: "fin@seller.example", Role: console.RoleFinance, Password: password}); err != nil {
			t.Fatal(err)
		}
		for i := range console.LoginFailuresPerAddress {
			if p := e.signIn("nobody"+strings.Repeat("x", i)+"@seller.example", "guess"); p.status != http.StatusUnauthorized {
				t.Fatalf("spray %d: %d", i, p.status)
			}
		}
		if p := e.signIn("fin@seller.example", password); p.status != http.StatusTooManyRequests {
			t.Fatalf("after %d failures from one address: %d", console.LoginFailuresPerAddress, p.status)
		}
	})
}
