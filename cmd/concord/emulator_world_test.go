package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a stderr the emulator's logger writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEmulatorWorldFlag: `concord emulator --world FILE` starts with the
// file's products and agreements; a bad file stops it with an error naming
// the entry, before it serves anything.
func TestEmulatorWorldFlag(t *testing.T) {
	t.Parallel()
	t.Run("starts from the file", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		var stderr lockedBuffer
		done := make(chan int)
		go func() {
			done <- run(ctx, []string{"emulator", "--addr", "127.0.0.1:0", "--world", "../../examples/world.json"}, io.Discard, &stderr)
		}()
		defer func() { cancel(); <-done }()
		urlRe := regexp.MustCompile(`url=(http://[0-9.:]+)`)
		var base string
		for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if m := urlRe.FindStringSubmatch(stderr.String()); m != nil {
				base = m[1]
			}
		}
		if base == "" {
			t.Fatalf("the emulator did not start: %s", stderr.String())
		}
		resp, err := http.Get(base + "/control/agreements")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ags []struct{ AgreementID, AcceptorAccountID string }
		if err := json.NewDecoder(resp.Body).Decode(&ags); err != nil {
			t.Fatal(err)
		}
		if len(ags) != 2 || ags[0].AcceptorAccountID != "444455556666" {
			t.Fatalf("agreements %+v, want the world file's two", ags)
		}
	})
	t.Run("a bad file is an error naming the entry", func(t *testing.T) {
		t.Parallel()
		good, err := os.ReadFile("../../examples/world.json")
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "world.json")
		if err := os.WriteFile(bad, []byte(strings.Replace(string(good), `"offer": "partner-offer"`, `"offer": "missing"`, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr lockedBuffer
		code := run(context.Background(), []string{"emulator", "--addr", "127.0.0.1:0", "--world", bad}, io.Discard, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), `world file agreements[1]: offer "missing"`) {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	})
}
