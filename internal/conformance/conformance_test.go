// Package conformance_test plays one scenario suite (conformance/scenarios.json)
// against the emulator through three official AWS SDKs: Go v2 (in this
// process), JavaScript v3 (conformance/js/run.mjs) and boto3/botocore
// (conformance/python/run.py). Each SDK must see the same answers, errors and
// shapes, equal to the reviewed transcript in testdata/transcript.json; a
// response member or error code one SDK's service model does not declare
// fails the suite.
package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/concordmp/concord/internal/emulator"
)

var update = flag.Bool("update", false, "rewrite testdata/transcript.json from the Go SDK's run")

// requireSDKs makes a missing node or boto3 a failure instead of a skip (CI
// sets it after installing them).
var requireSDKs = os.Getenv("CONCORD_TEST_REQUIRE_SDKS") == "1"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func loadSuite(t *testing.T, root string) suite {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "conformance", "scenarios.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s suite
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("scenarios.json: %v", err)
	}
	return s
}

// startEmulator starts a fresh emulator on a loopback port whose clock stands
// at the suite's time, so every run stamps the same times.
func startEmulator(t *testing.T, at time.Time) string {
	t.Helper()
	_, url := newEmulator(t, func() time.Time { return at })
	return url
}

// newEmulator starts an emulator on a loopback port (clock nil: real time).
func newEmulator(t *testing.T, clock func() time.Time) (*emulator.Emulator, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	emu := emulator.New(emulator.Options{BaseURL: func() string { return "http://" + srv.Listener.Addr().String() }, Clock: clock})
	srv.Config.Handler = emu
	srv.Start()
	t.Cleanup(func() { emu.Close(); srv.Close() })
	return emu, srv.URL
}

// external runs one of the other SDKs' runners and decodes its transcript.
func external(t *testing.T, name string, cmd *exec.Cmd) []result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s runner: %v\n%s", name, err, stderr.String())
	}
	var out struct {
		SDK   string   `json:"sdk"`
		Steps []result `json:"steps"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%s runner printed no transcript: %v\n%s\n%s", name, err, stdout.String(), stderr.String())
	}
	t.Logf("%s: %s", name, out.SDK)
	return out.Steps
}

// missing reports why an SDK cannot run here ("" when it can).
func missing(check *exec.Cmd, fix string) string {
	if out, err := check.CombinedOutput(); err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return fmt.Sprintf("%s: %v %s (%s)", strings.Join(check.Args, " "), err, first, fix)
	}
	return ""
}

// goRunnerEnv makes the test binary the Go SDK's runner (see TestMain): the
// Go SDK runs in its own process like the other two, so the randomness it
// draws (invocation ids) does not shift the emulator's.
const goRunnerEnv = "CONCORD_CONFORMANCE_GO_RUNNER"

func TestMain(m *testing.M) {
	if os.Getenv(goRunnerEnv) == "1" {
		flag.Parse()
		b, err := os.ReadFile(flag.Arg(0))
		var s suite
		if err == nil {
			err = json.Unmarshal(b, &s)
		}
		var steps []result
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			steps, err = runGo(ctx, s, os.Getenv("CONCORD_EMULATOR_URL"))
			cancel()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(map[string]any{"sdk": "aws-sdk-go-v2 (" + runtime.Version() + ")", "steps": steps})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestThreeSDKsSeeTheSameEmulator is not parallel: each SDK's emulator runs
// with the same deterministic randomness (cryptotest.SetGlobalRandom, which
// is process-wide), so every id, token and order is the same in each run and
// the transcripts compare exactly.
func TestThreeSDKsSeeTheSameEmulator(t *testing.T) {
	root := repoRoot(t)
	s := loadSuite(t, root)
	scenarios := filepath.Join(root, "conformance", "scenarios.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	jsDir := filepath.Join(root, "conformance", "js")
	check := exec.Command("node", "-e", "require.resolve('@aws-sdk/client-marketplace-metering')")
	check.Dir = jsDir
	python := "/usr/bin/python3"
	runners := []struct {
		name, missing string
		cmd           func() *exec.Cmd
	}{
		{"go", "", func() *exec.Cmd {
			cmd := exec.CommandContext(ctx, os.Args[0], scenarios)
			cmd.Env = append(os.Environ(), goRunnerEnv+"=1")
			return cmd
		}},
		{"javascript", missing(check, "run `npm ci` in conformance/js"), func() *exec.Cmd {
			cmd := exec.CommandContext(ctx, "node", filepath.Join(jsDir, "run.mjs"), scenarios)
			cmd.Dir = jsDir
			return cmd
		}},
		{"python", missing(exec.Command(python, "-c", "import boto3"), "apt-get install python3-boto3"), func() *exec.Cmd {
			return exec.CommandContext(ctx, python, filepath.Join(root, "conformance", "python", "run.py"), scenarios)
		}},
	}
	transcripts := map[string][]result{}
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			if r.missing != "" {
				if requireSDKs {
					t.Fatalf("required (CONCORD_TEST_REQUIRE_SDKS=1) but cannot run: %s", r.missing)
				}
				t.Skipf("SKIPPED: %s", r.missing)
			}
			cryptotest.SetGlobalRandom(t, 20)
			cmd := r.cmd()
			cmd.Env = append(cmd.Environ(), "CONCORD_EMULATOR_URL="+startEmulator(t, s.Clock))
			transcripts[r.name] = external(t, r.name, cmd)
		})
	}
	if _, ok := transcripts["go"]; !ok {
		t.Fatal("the Go SDK's run failed")
	}

	golden := filepath.Join("testdata", "transcript.json")
	if *update {
		b, _ := json.MarshalIndent(transcripts["go"], "", "  ")
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it, then review it)", err)
	}
	var want []result
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	want = roundTrip(t, want)

	for _, name := range slices.Sorted(maps.Keys(transcripts)) {
		raw := roundTrip(t, transcripts[name])
		against, wantName := want, "testdata/transcript.json"
		for i, r := range raw {
			if len(r.Unknown) > 0 {
				t.Errorf("%s, step %s: members or values its service model does not declare: %s", name, r.Name, strings.Join(r.Unknown, "; "))
			}
			if r.Error != nil && !r.Error.Modelled && (i >= len(s.Steps) || s.Steps[i].ProtocolError != r.Error.Code) {
				t.Errorf("%s, step %s: error %s is not one its service model declares", name, r.Name, r.Error.Code)
			}
			if len(r.Newer) > 0 && name != "go" {
				// An SDK whose model predates some members: compare it with the
				// transcript less those members.
				wantName = "testdata/transcript.json without the members its model lacks"
			}
		}
		if len(raw) == len(want) {
			against = roundTrip(t, want)
			for i := range against {
				for _, p := range raw[i].Newer {
					drop(against[i].Output, strings.TrimPrefix(p, "output."))
				}
			}
		}
		got := raw
		if len(got) != len(against) {
			t.Errorf("%s: %d steps, %s has %d", name, len(got), wantName, len(against))
			continue
		}
		for i := range against {
			w, g := stripUnknown(against[i]), stripUnknown(got[i])
			var diffs []string
			diff(&diffs, against[i].Name, w, g)
			for _, d := range diffs {
				t.Errorf("%s differs from %s at %s", name, wantName, d)
			}
		}
	}
}

// stripUnknown leaves out what only some runners report, so the comparison
// is of answers and errors.
func stripUnknown(r result) map[string]any {
	m := map[string]any{"name": r.Name, "output": r.Output}
	if r.Error != nil {
		m["error"] = map[string]any{"code": r.Error.Code, "message": r.Error.Message, "status": float64(r.Error.Status)}
	}
	return m
}

// drop deletes a member that an SDK's model is too old to know from the
// expected answer; path is the raw body's ("output.A.0.B"), keys as on the wire.
func drop(v any, path string) {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		p = lowerFirst(p)
		last := i == len(parts)-1
		switch x := v.(type) {
		case map[string]any:
			if last {
				delete(x, p)
				return
			}
			v = x[p]
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n >= len(x) || last {
				return
			}
			v = x[n]
		default:
			return
		}
	}
}

// roundTrip re-decodes a transcript so numbers are float64 in every one.
func roundTrip(t *testing.T, r []result) []result {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out []result
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// diff appends a line per difference between want and got.
func diff(out *[]string, path string, want, got any) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: want %s, got %s", path, short(want), short(got)))
			return
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		}) {
			wv, wok := w[k]
			gv, gok := g[k]
			switch {
			case !gok && wv != nil:
				*out = append(*out, fmt.Sprintf("%s.%s: missing (want %s)", path, k, short(wv)))
			case !wok && gv != nil:
				*out = append(*out, fmt.Sprintf("%s.%s: unexpected %s", path, k, short(gv)))
			default:
				diff(out, path+"."+k, wv, gv)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			*out = append(*out, fmt.Sprintf("%s: want %s, got %s", path, short(want), short(got)))
			return
		}
		for i := range w {
			diff(out, fmt.Sprintf("%s.%d", path, i), w[i], g[i])
		}
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			*out = append(*out, fmt.Sprintf("%s: want %s, got %s", path, short(want), short(got)))
		}
	}
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
