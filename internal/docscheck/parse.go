// Package docscheck keeps the README walkthrough and the examples in docs/
// true: it reads the command blocks a document marks for checking, and the
// test in this package runs them against a fresh sandbox (concord serve with
// SQLite and the built-in emulator) and compares what they print with what
// the document shows.
//
// A checked block is a fenced code block right after the line
//
//	<!-- docs-check -->
//
// Inside it, every shell command may be followed by the output it prints,
// shown as comment lines ("# " and the output line, "#" for an empty line).
// A command without shown output is run, must succeed, and its output is not
// compared. A command that fails must show its output, standard error
// included: that is an example of an error message. Blocks of one document run in order in one shell, so variables
// set by one block are there for the next.
//
// Output is compared after placeholders: ids (a lower-case prefix, "-" or
// "_", and 12 or more hex digits) become "prefix…", UUIDs "<uuid>", RFC 3339
// times "<time>", other dates "<date>", runs of spaces one double space (table columns); "…" in
// the document matches any text within a line, and a line of only "…" any
// number of lines (output whose length legitimately varies).
//
// An example that cannot run against a sandbox (it needs real AWS, a real
// SMTP server, root on a production host) says so instead, with the reason:
//
//	<!-- not checked: needs a real AWS account -->
//
// A document whose examples talk to another program (the standalone
// emulator) names the command that starts it in a comment, and the check
// starts it on a free port first; see StartPrefix.
//
// Unmarked examples cannot drift silently: Lint refuses a shell block that
// runs concord (concord, ./concord, go run ./cmd/concord) or curl against
// localhost or 127.0.0.1 unless it is checked or marked not checked.
package docscheck

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Marker is the HTML comment (invisible on GitHub) that puts the next code
// block under the check; documents choose what to check, so prose examples
// that cannot run in a sandbox are not forced to.
const Marker = "<!-- docs-check -->"

// NotCheckedPrefix starts the HTML comment that exempts the next code block
// from the check; the rest of the comment is the reason, which is required.
const NotCheckedPrefix = "<!-- not checked:"

// Step is one command of a checked block and the output the document shows
// for it.
type Step struct {
	// Line is the command's first line in the document (1-based), for errors.
	Line int
	// Command is the shell text, possibly several lines (continuations,
	// multi-line quotes, here-documents).
	Command string
	// Output is the shown output, one element a line; nil when the document
	// shows none (the output is then not compared). ShowsOutput tells an
	// empty shown output apart from none.
	Output      []string
	ShowsOutput bool

	afterCommand bool // while parsing: "#" lines that follow are output
}

// Block is one checked code block.
type Block struct {
	Line  int // the opening fence's line
	Steps []Step
}

var fenceRE = regexp.MustCompile("^(```+|~~~+)\\s*([A-Za-z0-9_-]*)\\s*$")

// Parse returns the checked blocks of a Markdown document. It is an error
// when a marker is not followed by a shell code block, or a block ends inside
// a command (an open quote or here-document), so that a typo in a document
// fails the check instead of silently skipping a block.
func Parse(doc []byte) ([]Block, error) {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("docscheck: %w", err)
	}
	var blocks []Block
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != Marker {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		m := []string(nil)
		if j < len(lines) {
			m = fenceRE.FindStringSubmatch(lines[j])
		}
		if m == nil {
			return nil, fmt.Errorf("line %d: %s is not followed by a fenced code block", i+1, Marker)
		}
		switch m[2] {
		case "sh", "bash", "shell", "console", "":
		default:
			return nil, fmt.Errorf("line %d: %s marks a %q block; only shell blocks can be checked", i+1, Marker, m[2])
		}
		end := j + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != m[1] {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("line %d: the code block is not closed", j+1)
		}
		steps, err := parseSteps(lines[j+1:end], j+2)
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, Block{Line: j + 1, Steps: steps})
		i = end
	}
	return blocks, nil
}

// parseSteps splits a block's lines (the first is line first of the
// document) into commands and their shown output.
func parseSteps(lines []string, first int) ([]Step, error) {
	var steps []Step
	var cur *Step
	var lx lexer
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if !lx.open() && cur == nil {
			trimmed := strings.TrimSpace(line)
			if strings.HasPrefix(line, "#") && len(steps) > 0 && steps[len(steps)-1].afterCommand {
				// Shown output of the previous command.
				last := &steps[len(steps)-1]
				last.ShowsOutput = true
				last.Output = append(last.Output, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
				continue
			}
			if len(steps) > 0 {
				steps[len(steps)-1].afterCommand = false
			}
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue // a blank line or a comment of its own
			}
			steps = append(steps, Step{Line: first + i})
			cur = &steps[len(steps)-1]
		}
		if cur.Command != "" {
			cur.Command += "\n"
		}
		cur.Command += line
		lx.line(line)
		if !lx.open() {
			cur.afterCommand = true
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: the command does not end inside its block (%s)", cur.Line, lx.why())
	}
	for i := range steps {
		steps[i].afterCommand = false
	}
	return steps, nil
}

// lexer follows just enough shell syntax to tell where a command ends:
// quotes, backslash continuations, here-documents, comments, and lines that
// end in a pipe or && / ||.
type lexer struct {
	quote    byte     // ' or " while inside a quoted string
	cont     bool     // the last line asks for another (\, |, &&, ||)
	heredocs []string // delimiters still to read, in order
	inDoc    bool     // reading here-document lines
	dash     []bool   // <<- for each delimiter: leading tabs are stripped
}

func (l *lexer) open() bool { return l.quote != 0 || l.cont || len(l.heredocs) > 0 }

func (l *lexer) why() string {
	switch {
	case l.quote != 0:
		return fmt.Sprintf("an open %c quote", l.quote)
	case len(l.heredocs) > 0:
		return fmt.Sprintf("a here-document without its %s line", l.heredocs[0])
	default:
		return "a line that continues"
	}
}

var heredocRE = regexp.MustCompile(`^<<(-?)\s*(?:'([^']+)'|"([^"]+)"|([A-Za-z_][A-Za-z0-9_]*))`)

func (l *lexer) line(s string) {
	if l.inDoc {
		d := s
		if l.dash[0] {
			d = strings.TrimLeft(d, "\t")
		}
		if d == l.heredocs[0] {
			l.heredocs, l.dash = l.heredocs[1:], l.dash[1:]
			l.inDoc = len(l.heredocs) > 0
		}
		return
	}
	l.cont = false
	wordStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch l.quote {
		case '\'':
			if c == '\'' {
				l.quote = 0
			}
			wordStart = false
			continue
		case '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				l.quote = 0
			}
			wordStart = false
			continue
		}
		switch {
		case c == '\\':
			if i == len(s)-1 {
				l.cont = true
				return
			}
			i++
		case c == '\'' || c == '"':
			l.quote = c
		case c == '#' && wordStart:
			s = s[:i] // a comment runs to the end of the line
		case c == '<' && strings.HasPrefix(s[i:], "<<") && !strings.HasPrefix(s[i:], "<<<"):
			if m := heredocRE.FindStringSubmatch(s[i:]); m != nil {
				l.heredocs = append(l.heredocs, m[2]+m[3]+m[4])
				l.dash = append(l.dash, m[1] == "-")
				i += len(m[0]) - 1
			}
		}
		wordStart = c == ' ' || c == '\t' || c == ';' || c == '|' || c == '&' || c == '(' || c == ')'
	}
	if l.quote == 0 {
		t := strings.TrimSpace(s)
		if strings.HasSuffix(t, "|") || strings.HasSuffix(t, "&&") {
			l.cont = true
		}
		l.inDoc = len(l.heredocs) > 0
	}
}

// StartPrefix starts the HTML comment by which a document asks the check to
// start a program its examples talk to, before its first block and for as
// long as they run:
//
//	<!-- docs-check: start ./concord emulator --addr 127.0.0.1:8090 --snapshot emu.json -->
//
// The command must listen on the address given with --addr. The check runs
// it in the sandbox's directory on a free port instead, waits until it
// accepts connections, and rewrites the address in the document's commands
// (and back in their output), as it does for concord serve's localhost:8080.
// The document shows the same command in a block marked not checked, since a
// program that runs until it is stopped cannot be a step.
const StartPrefix = "<!-- docs-check: start "

// Start is a program a document asks the check to start.
type Start struct {
	Line    int    // the comment's line (1-based)
	Command string // the shell command, as the document gives it
	Addr    string // the HOST:PORT of its --addr flag
}

var addrFlagRE = regexp.MustCompile(`--?addr[ =](\S+:\d+)`)

// Starts returns the programs a document asks the check to start, in order.
// A start comment without a closing --> on its line or without --addr
// HOST:PORT is an error.
func Starts(doc []byte) ([]Start, error) {
	var starts []Start
	for i, line := range strings.Split(strings.ReplaceAll(string(doc), "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, StartPrefix) {
			continue
		}
		if !strings.HasSuffix(t, "-->") {
			return nil, fmt.Errorf("line %d: %s… needs its closing --> on the same line", i+1, StartPrefix)
		}
		cmd := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(t, StartPrefix), "-->"))
		m := addrFlagRE.FindStringSubmatch(cmd)
		if m == nil {
			return nil, fmt.Errorf("line %d: the command to start has no --addr HOST:PORT to listen on: %s", i+1, cmd)
		}
		starts = append(starts, Start{Line: i + 1, Command: cmd, Addr: m[1]})
	}
	return starts, nil
}
