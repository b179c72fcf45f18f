package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/concordmp/concord/internal/apikey"
	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/store"
)

// MemoryConfig is the memory run: a database of Licenses licenses and
// UsageRows usage records, then Clients callers posting usage batches of
// Records records each for Flood.
type MemoryConfig struct {
	Licenses  int
	UsageRows int
	Records   int
	Clients   int
	Flood     time.Duration
	// Serve is the command that runs `concord serve` (the binary and "serve");
	// the server runs in a process of its own so its memory is measured alone.
	Serve    []string
	Database string // PostgreSQL URL (a schema of its own); empty: SQLite
	DataDir  string
	Logger   *slog.Logger
}

// MemoryResult is what the server's memory did.
type MemoryResult struct {
	Dialect string
	// IdleRSS is the server's resident memory once started on the full
	// database, before the flood; PeakRSS the most it reached (VmHWM).
	IdleRSS, PeakRSS int64
	Batches          int // usage batches answered 2xx
	Refused          int // answered 429 or 503 (Concord shedding load)
	Failed           int // answered otherwise
	Records          float64
	Elapsed          time.Duration
	Errors           []string
}

// Memory builds the database, starts the server on it, floods it with large
// usage batches while sampling its memory (/proc/PID/status), and stops it.
func Memory(ctx context.Context, cfg MemoryConfig) (MemoryResult, error) {
	if len(cfg.Serve) == 0 {
		return MemoryResult{}, errors.New("no serve command")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dbURL, dataDir, cleanup, err := workspace(ctx, cfg.Database, cfg.DataDir)
	if err != nil {
		return MemoryResult{}, err
	}
	defer cleanup()
	res := MemoryResult{Dialect: store.SQLite}
	if dbURL != "" {
		res.Dialect = store.Postgres
	}

	// Build the database through the store, then close it for the server.
	db, err := store.Open(ctx, store.Config{URL: dbURL, DataDir: dataDir})
	if err != nil {
		return res, err
	}
	key, err := func() (string, error) {
		defer db.Close()
		if err := db.Migrate(ctx); err != nil {
			return "", err
		}
		now := time.Now().UTC()
		if err := Seed(ctx, app.NewServices(db, time.Now, logger).Ledger, db, cfg.Licenses, now); err != nil {
			return "", err
		}
		if err := seedUsage(ctx, db, cfg.UsageRows, cfg.Licenses, now); err != nil {
			return "", err
		}
		key, _, err := apikey.Create(ctx, db, "bench", now)
		return key, err
	}()
	if err != nil {
		return res, fmt.Errorf("build the database: %w", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append(append([]string{}, cfg.Serve[1:]...), "--data-dir", dataDir, "--database", dbURL, "--addr", addr, "--marketplace", "aws",
		"--aws-endpoint", "http://127.0.0.1:1", "--eventbridge-secret", randomHex(16), "--workers", "1", "--no-metering", "--log-level", "error")
	cmd := exec.CommandContext(ctx, cfg.Serve[0], args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start serve: %w", err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	base := "http://" + addr
	if err := waitHealthy(ctx, base, 60*time.Second); err != nil {
		return res, fmt.Errorf("%w\n%s", err, stderr.String())
	}
	pid := cmd.Process.Pid
	if res.IdleRSS, err = rss(pid, "VmRSS"); err != nil {
		return res, err
	}

	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients}}
	runID := randomHex(4)
	var seq atomic.Int64
	var mu sync.Mutex
	floodCtx, stop := context.WithTimeout(ctx, cfg.Flood)
	defer stop()
	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.Clients {
		wg.Go(func() {
			for floodCtx.Err() == nil {
				body := UsageBody(runID, int(seq.Add(1)), cfg.Records, cfg.Licenses, time.Now())
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/usage", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				code := 0
				var out []byte
				if err == nil {
					out, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				switch {
				case code/100 == 2:
					res.Batches++
				case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
					res.Refused++
				default:
					res.Failed++
					if len(res.Errors) < 3 {
						res.Errors = append(res.Errors, fmt.Sprintf("%d %v %.200s", code, err, out))
					}
				}
				mu.Unlock()
				if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Records = float64(res.Batches*cfg.Records) / res.Elapsed.Seconds()
	if res.PeakRSS, err = rss(pid, "VmHWM"); err != nil {
		return res, err
	}
	return res, nil
}

// Print writes the result, with the target (200 MB).
func (r MemoryResult) Print(w io.Writer) {
	fmt.Fprintf(w, "memory on %s: idle %s, peak %s (target <= 200 MB)\n", r.Dialect, mb(r.IdleRSS), mb(r.PeakRSS))
	fmt.Fprintf(w, "flood: %d batches answered 2xx, %d refused (429/503), %d failed in %s: %.0f records/s\n",
		r.Batches, r.Refused, r.Failed, r.Elapsed.Round(time.Millisecond), r.Records)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

// rss reads a field of /proc/PID/status (VmRSS, VmHWM) in kB.
func rss(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of %d (Linux only): %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func waitHealthy(ctx context.Context, base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("serve did not become healthy at %s: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seedUsage inserts n usage records spread over the licenses and the past 48
// hours, in bulk.
func seedUsage(ctx context.Context, db *store.DB, n, licenses int, now time.Time) error {
	const perStmt, perTx = 500, 20000
	hour := now.Truncate(time.Hour)
	recv := store.Millis(now)
	for from := 0; from < n; from += perTx {
		to := min(from+perTx, n)
		err := db.Write(ctx, func(tx *store.Tx) error {
			for s := from; s < to; s += perStmt {
				e := min(s+perStmt, to)
				var sb strings.Builder
				sb.WriteString(`INSERT INTO usage_records (idempotency_key, license_id, tenant_id, dimension, quantity, ts, hour, late, received_at) VALUES `)
				args := make([]any, 0, (e-s)*9)
				for i := s; i < e; i++ {
					if i > s {
						sb.WriteString(", ")
					}
					sb.WriteString("(?, ?, '', ?, ?, ?, ?, ?, ?)")
					h := hour.Add(-time.Duration(1+i%48) * time.Hour)
					args = append(args, fmt.Sprintf("seed-%09d", i), LicenseID(i%licenses), benchDimension, int64(1+i%9),
						store.Millis(h.Add(time.Duration(i%3600)*time.Second)), store.Millis(h), false, recv)
				}
				if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed usage: %w", err)
		}
	}
	return nil
}
