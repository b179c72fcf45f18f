package docscheck

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// binary is the concord binary that TestDocs builds once, in binDir;
// other tests (and fuzzing workers) do not build it.
var binary, binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildConcord(t *testing.T) {
	t.Helper()
	dir, err := os.MkdirTemp("", "concord-docscheck-")
	if err != nil {
		t.Fatal(err)
	}
	binDir = dir
	binary = filepath.Join(dir, "concord")
	build := exec.Command("go", "build", "-o", binary, "github.com/concordmp/concord/cmd/concord")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build concord: %v\n%s", err, out)
	}
}

// root is the repository, where README.md and docs/ are.
var root = filepath.Join("..", "..")

// documents are the Markdown files whose marked blocks are checked.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

// TestDocs runs the marked command blocks of the README and of every file
// in docs/, each document against its own fresh sandbox, and fails where a
// command fails or prints something else than the document shows.
func TestDocs(t *testing.T) {
	t.Parallel()
	type doc struct {
		name   string
		blocks []Block
		starts []Start
	}
	var docs []doc
	for _, path := range documents(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, path)
		blocks, err := Parse(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		starts, err := Starts(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(blocks) > 0 {
			docs = append(docs, doc{name, blocks, starts})
		}
	}
	if len(docs) == 0 {
		t.Fatal("no document has a block marked " + Marker)
	}
	buildConcord(t)
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			runDocument(t, d.name, d.blocks, d.starts)
		})
	}
}

// sandbox is one concord serve on a free loopback port, in a directory of
// its own (its data in ./data, as the README's commands expect), and a shell
// in that directory that keeps its variables from one command to the next.
type sandbox struct {
	t    *testing.T
	dir  string
	addr string // 127.0.0.1:port
	log  string
	env  []string

	shell  *exec.Cmd
	stdin  io.WriteCloser
	status chan string // the shell's status lines

	// moved maps an address the document uses (localhost:8090) to the one
	// the program started for it listens on; see StartPrefix.
	moved map[string]string
}

func startSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(dir, "concord")); err != nil {
		t.Fatal(err)
	}
	// The documents' commands run where a user runs them, in a checkout:
	// files shipped under docs/examples/ are there.
	docs, err := filepath.Abs(filepath.Join(root, "docs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(docs, filepath.Join(dir, "docs")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &sandbox{t: t, dir: dir, addr: addr, log: filepath.Join(dir, "serve.log")}
	// The caller's CONCORD_* settings (a PostgreSQL URL, say) must not leak
	// into the sandbox; the address is the one picked here, and what the
	// documents call localhost:8080.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONCORD_") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "CONCORD_ADDR="+addr, "CONCORD_EMULATOR_URL=http://"+addr+"/emulator",
		"PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	f, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(binary, "serve")
	serve.Dir, serve.Env, serve.Stdout, serve.Stderr = dir, s.env, f, f
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { serve.Wait(); f.Close(); close(exited) }()
	t.Cleanup(func() {
		serve.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("concord serve exited before it was ready:\n%s", s.serveLog())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("concord serve was not ready after 90 s:\n%s", s.serveLog())
		}
	}

	s.shell = exec.Command("bash", "--noprofile", "--norc", "-o", "pipefail")
	s.shell.Dir, s.shell.Env = dir, s.env
	s.stdin, err = s.shell.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.shell.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.shell.Stderr = io.Discard
	if err := s.shell.Start(); err != nil {
		t.Fatal(err)
	}
	s.status = make(chan string)
	go func() {
		defer close(s.status)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.status <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		s.stdin.Close()
		s.shell.Process.Kill()
		s.shell.Wait()
	})
	return s
}

// start runs a program the document asks for (a Start) in the sandbox's
// directory on a free port, until the test ends, and waits until it accepts
// connections; from then on the document's commands reach it at the address
// they name.
func (s *sandbox) start(st Start) {
	t := s.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(st.Addr)
	if s.moved == nil {
		s.moved = map[string]string{}
	}
	s.moved["127.0.0.1:"+port] = addr
	s.moved["localhost:"+port] = addr
	logPath := filepath.Join(s.dir, fmt.Sprintf("start-%d.log", st.Line))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", "exec "+strings.ReplaceAll(st.Command, st.Addr, addr))
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = s.dir, s.env, f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("line %d: %s exited before it listened:\n%s", st.Line, st.Command, b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("line %d: %s did not listen on %s after 30 s", st.Line, st.Command, addr)
		}
	}
}

func (s *sandbox) serveLog() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

const statusPrefix = "__docscheck_status__ "

// run runs one command in the shell and returns its exit status, standard
// output and standard error.
func (s *sandbox) run(command string, timeout time.Duration) (int, string, string, error) {
	in := []string{"localhost:8080", s.addr, "127.0.0.1:8080", s.addr}
	for doc, real := range s.moved {
		in = append(in, doc, real)
	}
	command = strings.NewReplacer(in...).Replace(command)
	outFile, errFile := filepath.Join(s.dir, ".docscheck.out"), filepath.Join(s.dir, ".docscheck.err")
	script := fmt.Sprintf("{\n%s\n} >%q 2>%q </dev/null\necho %s$?\n", command, outFile, errFile, statusPrefix)
	if _, err := io.WriteString(s.stdin, script); err != nil {
		return 0, "", "", fmt.Errorf("write to the shell: %w", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-s.status:
			if !ok {
				return 0, "", "", fmt.Errorf("the shell exited")
			}
			rest, found := strings.CutPrefix(line, statusPrefix)
			if !found {
				continue
			}
			code, _ := strconv.Atoi(rest)
			stdout, _ := os.ReadFile(outFile)
			stderr, _ := os.ReadFile(errFile)
			// What the sandbox prints with its real port, the documents show
			// with the port a newcomer's concord serve listens on.
			_, port, _ := net.SplitHostPort(s.addr)
			out := []string{"127.0.0.1:" + port, "127.0.0.1:8080", "localhost:" + port, "localhost:8080"}
			for doc, real := range s.moved {
				if strings.HasPrefix(doc, "127.0.0.1:") {
					out = append(out, real, doc)
				}
			}
			fix := strings.NewReplacer(out...)
			return code, fix.Replace(string(stdout)), fix.Replace(string(stderr)), nil
		case <-timer.C:
			return 0, "", "", fmt.Errorf("no answer after %s", timeout)
		}
	}
}

// readOnlyRE matches commands that only read (a GET with curl, a list, show,
// report, records or readiness subcommand). The sandbox applies events, publishes
// offers and submits usage in the background, as AWS does, so a person
// reading the next output a few seconds later sees it done; such commands
// are retried for a while until they print what the document shows.
var readOnlyRE = regexp.MustCompile(`^(curl -s [^|>]*|\./concord( [a-z]+)* (list|show|report|records|readiness)\b[^|>]*)$`)

func readOnly(command string) bool {
	if strings.Contains(command, "\n") || regexp.MustCompile(`\s(-X|-d|--data\S*)\s`).MatchString(command+" ") {
		return false
	}
	return readOnlyRE.MatchString(strings.TrimSpace(command))
}

// eventually is how long a read-only command is retried.
const eventually = 30 * time.Second

func runDocument(t *testing.T, name string, blocks []Block, starts []Start) {
	s := startSandbox(t)
	for _, st := range starts {
		s.start(st)
	}
	for _, b := range blocks {
		for _, st := range b.Steps {
			where := fmt.Sprintf("%s:%d", name, st.Line)
			start := time.Now()
			deadline := start.Add(eventually)
			tries := 0
			for {
				tries++
				code, stdout, stderr, err := s.run(st.Command, 2*time.Minute)
				if err != nil {
					t.Fatalf("%s: %s\n  %v", where, st.Command, err)
				}
				if code != 0 && st.ShowsOutput {
					// An example of an error: the document shows what the
					// command prints, its error message included.
					stdout += stderr
				} else if code != 0 {
					t.Fatalf("%s: the command failed (exit status %d):\n%s\nstdout:\n%s\nstderr:\n%s\nconcord serve's log:\n%s", where, code, indent(st.Command), indent(stdout), indent(stderr), s.serveLog())
				}
				if !st.ShowsOutput {
					break
				}
				ok, diff := Compare(st.Output, stdout)
				if ok {
					break
				}
				if !readOnly(st.Command) || time.Now().After(deadline) {
					t.Fatalf("%s: the command prints something else than the document shows:\n%s\n--- the document, +++ the command (after placeholders):\n%s\nwhat it printed:\n%s\nstderr:\n%s\nconcord serve's log:\n%s", where, indent(st.Command), diff, indent(stdout), indent(stderr), s.serveLog())
				}
				time.Sleep(300 * time.Millisecond)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Logf("%s: %.1fs, %d tries (%s)", where, d.Seconds(), tries, strings.SplitN(st.Command, "\n", 2)[0])
			}
		}
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// TestDocsMarked: every example of the README and of docs/ that runs concord
// or curls the local sandbox is checked or says why it cannot be.
func TestDocsMarked(t *testing.T) {
	t.Parallel()
	for _, path := range documents(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, path)
		for _, p := range Lint(data) {
			t.Errorf("%s:%s", name, strings.TrimPrefix(p, "line "))
		}
	}
}
