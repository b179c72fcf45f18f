// Command pgprobe tells the test script whether the test PostgreSQL is reachable,
// so `make test` can say plainly that it skipped PostgreSQL.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/concordmp/concord/internal/store/storetest"
)

func main() {
	url := os.Getenv("CONCORD_TEST_DATABASE_URL")
	if url == "" {
		url = storetest.DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", url)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
