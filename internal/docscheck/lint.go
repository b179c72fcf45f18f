package docscheck

import (
	"fmt"
	"regexp"
	"strings"
)

// runnableRE matches a shell line that runs concord or calls the local
// sandbox with curl: what a reader copies and expects to work.
var (
	concordRE = regexp.MustCompile(`(?:^|\$\(|[;&|(]\s*|\bexec\s+)\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(?:\./|/usr/local/bin/|go run \./cmd/)?concord\s+[a-z]`)
	curlRE    = regexp.MustCompile(`(?:^|\$\(|[;&|(]\s*)\s*curl\s.*(?:localhost|127\.0\.0\.1)`)
)

// Lint returns the problems of a document's examples: a shell block that
// runs concord or curls the local sandbox without a docs-check or a
// not-checked marker, and a not-checked marker without a reason or without
// a code block after it. The problems name the lines.
func Lint(doc []byte) []string {
	lines := strings.Split(strings.ReplaceAll(string(doc), "\r\n", "\n"), "\n")
	var problems []string
	mark := "" // the marker line before the current block, if any
	markLine := 0
	for i := 0; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		switch {
		case t == Marker:
			mark, markLine = t, i+1
			continue
		case strings.HasPrefix(t, NotCheckedPrefix):
			reason := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(t, NotCheckedPrefix), "-->"))
			if !strings.HasSuffix(t, "-->") || reason == "" {
				problems = append(problems, fmt.Sprintf("line %d: %s needs a reason and a closing -->, on one line", i+1, NotCheckedPrefix+" …"))
			}
			mark, markLine = t, i+1
			continue
		case t == "":
			continue
		}
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			if mark != "" && mark != Marker {
				problems = append(problems, fmt.Sprintf("line %d: %s is not followed by a fenced code block", markLine, NotCheckedPrefix+" …"))
			}
			mark = ""
			continue
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != m[1] {
			end++
		}
		if mark == "" {
			switch m[2] {
			case "sh", "bash", "shell", "console", "zsh":
				if l, cmd := firstRunnable(lines[i+1 : min(end, len(lines))]); l >= 0 {
					problems = append(problems, fmt.Sprintf("line %d: %q runs against a sandbox but the block is neither checked (%s) nor marked %s reason -->", i+2+l, cmd, Marker, NotCheckedPrefix))
				}
			}
		}
		mark = ""
		i = end
	}
	return problems
}

// firstRunnable returns the index and text of the first command of a shell
// block that runs concord or curls localhost, or -1.
func firstRunnable(body []string) (int, string) {
	for i := 0; i < len(body); i++ {
		if strings.HasPrefix(strings.TrimSpace(body[i]), "#") {
			continue
		}
		first, cmd := i, body[i]
		for strings.HasSuffix(strings.TrimRight(body[i], " "), "\\") && i+1 < len(body) {
			i++
			cmd += "\n" + body[i]
		}
		if concordRE.MatchString(cmd) || curlRE.MatchString(strings.ReplaceAll(cmd, "\\\n", " ")) {
			return first, strings.TrimSpace(body[first])
		}
	}
	return -1, ""
}
