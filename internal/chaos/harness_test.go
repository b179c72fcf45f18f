package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is the concord binary TestMain builds once for every test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "concord-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "concord")
	build := exec.Command("go", "build", "-o", binary, "github.com/concordmp/concord/cmd/concord")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "chaos: build concord:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// knobs are a run's size: how many times serve is killed, over how long, and
// the seed every random choice comes from (printed, so a failure replays).
type knobs struct {
	kills    int
	duration time.Duration
	seed     uint64
}

// runKnobs reads CONCORD_CHAOS_KILLS, CONCORD_CHAOS_DURATION and
// CONCORD_CHAOS_SEED; the defaults are the short version of `make test`.
func runKnobs(t *testing.T) knobs {
	t.Helper()
	k := knobs{kills: 3, duration: 5 * time.Second, seed: uint64(time.Now().UnixNano())}
	if v := os.Getenv("CONCORD_CHAOS_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			t.Fatalf("CONCORD_CHAOS_KILLS=%q: want a number of kills, 0 to 1000", v)
		}
		k.kills = n
	}
	if v := os.Getenv("CONCORD_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Hour {
			t.Fatalf("CONCORD_CHAOS_DURATION=%q: want a duration up to 1h, e.g. 60s", v)
		}
		k.duration = d
	}
	if v := os.Getenv("CONCORD_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CONCORD_CHAOS_SEED=%q: want a number", v)
		}
		k.seed = s
	}
	t.Logf("%s: CONCORD_CHAOS_SEED=%d CONCORD_CHAOS_KILLS=%d CONCORD_CHAOS_DURATION=%s", t.Name(), k.seed, k.kills, k.duration)
	return k
}

// freeAddr returns a loopback address nobody listens on now. A process that
// is killed and restarted keeps its address, so clients need no new URL.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one concord process that can be killed and started again with the
// same arguments; its output goes to a log file in the test's directory.
type proc struct {
	t    *testing.T
	name string
	args []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// env is what every process gets besides the parent's environment: dummy AWS
// credentials (the emulator checks none, the SDK wants some).
var env = []string{"AWS_ACCESS_KEY_ID=AKIACHAOSTEST", "AWS_SECRET_ACCESS_KEY=chaos-secret", "AWS_REGION=us-east-1"}

func newProc(t *testing.T, name string, args ...string) *proc {
	p := &proc{t: t, name: name, args: args, log: filepath.Join(t.TempDir(), name+".log")}
	t.Cleanup(p.kill)
	return p
}

// start runs the process.
func (p *proc) start() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "\n=== chaos: start %s at %s\n", p.name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(binary, p.args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

// kill sends SIGKILL and waits for the process to be gone: no shutdown code
// runs, as when a machine loses power.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail is the end of the process's log, for failure messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitHTTP waits until GET url answers 200, failing the test when the process
// ends first or a minute passes.
func (p *proc) waitHTTP(url string) {
	p.t.Helper()
	if err := p.ready(url); err != nil {
		p.t.Fatal(err)
	}
}

// ready waits until GET url answers 200; it is an error when the process
// ends first or a minute passes. Goroutines other than the test's use it.
func (p *proc) ready(url string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.tail())
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s within a minute:\n%s", p.name, url, p.tail())
}

var client = &http.Client{Timeout: 15 * time.Second}

// call sends one JSON request and returns the status and body; err is a
// transport error (the process is down).
func call(method, url string, header map[string]string, body any) (int, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// emulator is a standalone `concord emulator` process.
type emulator struct {
	*proc
	url, queueURL string
}

var queueRE = regexp.MustCompile(`queue=(\S+)`)

// startEmulator runs `concord emulator` on a loopback port; queue names the
// SQS queue that receives its events ("" for none).
func startEmulator(t *testing.T, queue string) *emulator {
	t.Helper()
	addr := freeAddr(t)
	e := &emulator{proc: newProc(t, "emulator", "emulator", "--addr", addr, "--sqs-queue", queue), url: "http://" + addr}
	if err := e.start(); err != nil {
		t.Fatal(err)
	}
	e.waitHTTP(e.url + "/control/clock")
	if queue != "" {
		m := queueRE.FindStringSubmatch(e.tail())
		if m == nil {
			t.Fatalf("the emulator did not log its queue URL:\n%s", e.tail())
		}
		e.queueURL = m[1]
	}
	return e
}

// control calls the emulator's control API and decodes the answer into out
// (when not nil), failing the test on any error.
func (e *emulator) control(method, path string, body, out any) {
	e.t.Helper()
	code, raw, err := call(method, e.url+path, nil, body)
	if err != nil || code/100 != 2 {
		e.t.Fatalf("emulator %s %s: %d %v %s", method, path, code, err, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("emulator %s %s: %v in %s", method, path, err, raw)
		}
	}
}

// startInPast sets the emulator's clock back by d, so the agreements a test
// creates next start that long ago; advancing it by d later brings it back to
// real time. Usage for past hours is then inside both the license and the
// window AWS accepts, and Concord (on the real clock) finds the hours closed.
func (e *emulator) startInPast(d time.Duration) {
	e.t.Helper()
	var st map[string]json.RawMessage
	e.control("GET", "/control/state", nil, &st)
	st["clockOffset"], _ = json.Marshal(-d)
	e.control("PUT", "/control/state", st, nil)
}

// accepted is what the emulator answers when a buyer accepts an offer.
type accepted struct {
	AgreementID string `json:"agreementId"`
	LicenseArn  string `json:"licenseArn"`
	AutoRenew   bool   `json:"autoRenew"`
}

// serve is one `concord serve` process against the standalone emulator.
type serve struct {
	*proc
	url, key, secret string
}

// serveConfig says where a serve process keeps its data.
type serveConfig struct {
	name, dataDir, database string
	emu                     *emulator
	sqs                     bool // poll the emulator's queue
	extra                   []string
}

// eventSecret is the EventBridge API destination secret every test serve takes.
const eventSecret = "chaos-eventbridge-secret"

// newServe builds (does not start) a serve process.
func newServe(t *testing.T, c serveConfig) *serve {
	t.Helper()
	addr := freeAddr(t)
	args := []string{"serve", "--marketplace", "aws", "--aws-endpoint", c.emu.url, "--data-dir", c.dataDir,
		"--addr", addr, "--eventbridge-secret", eventSecret, "--lease", "3s", "--shutdown-timeout", "2s", "--workers", "4"}
	if c.database != "" {
		args = append(args, "--database", c.database)
	}
	if c.sqs {
		args = append(args, "--sqs-queue-url", c.emu.queueURL)
	}
	args = append(args, c.extra...)
	return &serve{proc: newProc(t, c.name, args...), url: "http://" + addr, secret: eventSecret}
}

// startServes starts n serve processes as c says, each with a data directory
// of its own (named c.name-a, c.name-b, ...), sharing c.database and one API
// key, and waits until they are ready.
func startServes(t *testing.T, n int, c serveConfig) []*serve {
	t.Helper()
	var procs []*serve
	name := c.name
	for i := range n {
		c.name, c.dataDir = fmt.Sprintf("%s-%c", name, 'a'+i), t.TempDir()
		s := newServe(t, c)
		if i == 0 {
			s.key = apiKey(t, c.dataDir, c.database)
		} else {
			s.key = procs[0].key
		}
		s.up()
		procs = append(procs, s)
	}
	return procs
}

// up starts the process and waits until it is ready.
func (s *serve) up() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
	s.waitHTTP(s.url + "/readyz")
}

// cli runs a one-shot concord command and returns its standard output.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("concord %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// apiKey creates a /v1 API key with the CLI, as an operator would; on
// PostgreSQL it migrates the database first, as deployment.md says.
func apiKey(t *testing.T, dataDir, database string) string {
	t.Helper()
	where := []string{"--data-dir", dataDir}
	if database != "" {
		where = append(where, "--database", database)
		cli(t, append([]string{"migrate"}, where...)...)
	}
	return cli(t, append([]string{"apikey", "create", "--name", "chaos"}, where...)...)
}

// api calls serve's /v1 API with its key.
func (s *serve) api(method, path string, body any) (int, []byte, error) {
	return call(method, s.url+path, map[string]string{"Authorization": "Bearer " + s.key}, body)
}

// mustAPI is api that fails the test unless the answer is 2xx.
func (s *serve) mustAPI(method, path string, body, out any) {
	s.t.Helper()
	code, raw, err := s.api(method, path, body)
	if err != nil || code/100 != 2 {
		s.t.Fatalf("%s %s %s: %d %v %s", s.name, method, path, code, err, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s %s: %v in %s", s.name, method, path, err, raw)
		}
	}
}

// eventually waits for cond, checking every 200 ms for at most limit; it
// fails the test with what when the time is up.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// killer kills a serve process at seeded random moments and restarts it at
// once on the same data, recording when each kill happened.
type killer struct {
	target *serve
	rng    *rand.Rand
	gap    time.Duration // the mean time between a restart and the next kill

	mu       sync.Mutex
	times    []time.Time
	restarts []time.Duration // from each kill to ready again
}

// run kills the target n times, each after a random uptime around the mean
// gap, and returns the first restart that failed.
func (k *killer) run(n int) error {
	for range n {
		time.Sleep(time.Duration(float64(k.gap) * (0.2 + 1.6*k.rng.Float64())))
		k.mu.Lock()
		k.target.kill()
		k.times = append(k.times, time.Now())
		k.mu.Unlock()
		if err := k.target.start(); err != nil {
			return err
		}
		if err := k.target.ready(k.target.url + "/readyz"); err != nil {
			return err
		}
		k.mu.Lock()
		k.restarts = append(k.restarts, time.Since(k.times[len(k.times)-1]))
		k.mu.Unlock()
	}
	return nil
}

// slowestRestart is the longest time from a kill to ready again.
func (k *killer) slowestRestart() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	var m time.Duration
	for _, d := range k.restarts {
		m = max(m, d)
	}
	return m.Round(time.Millisecond)
}

// kills returns when each kill happened.
func (k *killer) kills() []time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]time.Time(nil), k.times...)
}

// jsonInto decodes raw into out.
func jsonInto(raw []byte, out any) error { return json.Unmarshal(raw, out) }
