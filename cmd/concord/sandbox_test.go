package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/app"
)

// TestEmulatorCommandsUseTheSandboxToken: the sandbox inside serve refuses
// control calls without its token; the emulator commands read it from the data
// directory (or --sandbox-token), and commands stamping times then use the
// sandbox's moved clock.
func TestEmulatorCommandsUseTheSandboxToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := app.Start(context.Background(), app.Config{Addr: "127.0.0.1:0", DataDir: dir, EventBridgeSecret: "s3cret"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	base := a.URL() + "/emulator"
	emu := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := run(context.Background(), append([]string{"emulator"}, args...), &out, &errw)
		return code, out.String(), errw.String()
	}
	if code, _, errw := emu("clock", "--by", "48h", "--emulator", base, "--data-dir", t.TempDir()); code == 0 || !strings.Contains(errw, "sandbox token") {
		t.Fatalf("without a token: exit %d, %s", code, errw)
	}
	if code, _, errw := emu("clock", "--by", "48h", "--emulator", base, "--sandbox-token", "wrong"); code == 0 || !strings.Contains(errw, "wrong sandbox token") {
		t.Fatalf("with a wrong token: exit %d, %s", code, errw)
	}
	if skew := a.Emulator.World.Now().Sub(time.Now()); skew > time.Minute {
		t.Fatalf("refused calls moved the clock by %s", skew)
	}
	if code, out, errw := emu("clock", "--by", "48h", "--emulator", base, "--data-dir", dir); code != 0 || !strings.Contains(out, "now") {
		t.Fatalf("with the data directory's token: exit %d, %s %s", code, out, errw)
	}
	c := &common{dataDir: dir}
	if skew := c.now()().Sub(a.Emulator.World.Now()); skew < -time.Minute || skew > time.Minute {
		t.Fatalf("the commands' clock is %s off the sandbox's after it moved 48h", skew)
	}
}
