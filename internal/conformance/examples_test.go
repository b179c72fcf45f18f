package conformance_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExamples runs the examples of docs/emulator.md (examples/go,
// examples/python, examples/js) against an emulator started from
// examples/world.json, as a reader would with AWS_ENDPOINT_URL, and checks
// what each printed: the buyer's accepted private offer resolves to its
// account and license, usage is metered (Success, nothing unprocessed) and
// the 20 seats are an entitlement.
func TestExamples(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	world, err := os.ReadFile(filepath.Join(root, "examples", "world.json"))
	if err != nil {
		t.Fatal(err)
	}
	jsDir := filepath.Join(root, "examples", "js")
	check := exec.Command("node", "-e", "require.resolve('@aws-sdk/client-marketplace-metering')")
	check.Dir = jsDir
	for _, ex := range []struct {
		name, missing string
		cmd           []string
	}{
		{"go", "", []string{"go", "run", "./examples/go"}},
		{"python", missing(exec.Command("/usr/bin/python3", "-c", "import boto3"), "apt-get install python3-boto3"),
			[]string{"/usr/bin/python3", "examples/python/quickstart.py"}},
		{"javascript", missing(check, "run `npm ci` in examples/js"), []string{"node", "examples/js/quickstart.mjs"}},
	} {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			if ex.missing != "" {
				if requireSDKs {
					t.Fatalf("required (CONCORD_TEST_REQUIRE_SDKS=1) but cannot run: %s", ex.missing)
				}
				t.Skipf("SKIPPED: %s", ex.missing)
			}
			emu, url := newEmulator(t, nil)
			if err := emu.LoadWorld(world); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, ex.cmd[0], ex.cmd[1:]...)
			cmd.Dir = root
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "AWS_") { // the reader's own AWS settings stay out
					env = append(env, kv)
				}
			}
			cmd.Env = append(env, "AWS_ENDPOINT_URL="+url, "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
				"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
				// Debian's botocore predates LicenseArn: the models the suite uses.
				"AWS_DATA_PATH="+filepath.Join(root, "conformance", "python", "models"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got := strings.ToLower(string(out))
			for _, want := range []string{"accepted: agmt-", "resolved: 777788889999 examplecode true", "metered: success 42", "unprocessed: 0", "entitled: seats 20"} {
				if !strings.Contains(got, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
