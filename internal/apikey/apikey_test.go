package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
)

func TestCache(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
		secret, k, err := apikey.Create(ctx, db, "app", now)
		if err != nil {
			t.Fatal(err)
		}
		c := &apikey.Cache{DB: db, Now: func() time.Time { return now }}
		for range 3 {
			got, err := c.Verify(ctx, secret)
			if err != nil || got.ID != k.ID {
				t.Fatalf("verify: %+v %v", got, err)
			}
		}
		if _, err := c.Verify(ctx, secret+"x"); marketplace.ErrorCode(err) != marketplace.EUnauthorized {
			t.Fatalf("wrong key: %v", err)
		}
		// A revocation committed through the same database is heard at once.
		if err := apikey.Revoke(ctx, db, k.ID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Verify(ctx, secret); marketplace.ErrorCode(err) != marketplace.EUnauthorized {
			t.Fatalf("revoked key still verifies: %v", err)
		}
	})
}
