package backfill

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/concordmp/concord/internal/marketplace"
)

// maxAccountLine bounds one line of an accounts file.
const maxAccountLine = 64 << 10

// ParseAccounts reads an accounts file (--accounts): one 12-digit AWS account
// id per line; blank lines and everything after a # are ignored. It returns the
// distinct ids in file order, or a *BadInputError listing every bad line.
func ParseAccounts(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxAccountLine)
	bad := &BadInputError{What: "accounts file"}
	seen := map[string]bool{}
	var out []string
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if line == 1 {
			s = strings.TrimPrefix(s, "\ufeff")
		}
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case !marketplace.ValidAccountID(s):
			bad.Problems = append(bad.Problems, Problem{line, fmt.Sprintf("%q is not a 12-digit AWS account id", clip(s))})
		case !seen[s]:
			seen[s] = true
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		bad.Problems = append(bad.Problems, Problem{line + 1, fmt.Sprintf("cannot read it: %v", err)})
	}
	if len(bad.Problems) > 0 {
		return nil, bad
	}
	return out, nil
}
