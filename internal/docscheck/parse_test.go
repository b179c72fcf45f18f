package docscheck

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	doc := "# Title\n\n" +
		"```sh\nnot checked\n```\n\n" +
		"<!-- docs-check -->\n```sh\n" +
		"KEY=$(./concord apikey create --name x)   # a comment with a ' quote\n" +
		"curl -s localhost:8080/a \\\n  -H 'X: y'\n" +
		"# {\"a\":1}\n" +
		"#\n" +
		"# second line\n" +
		"\n" +
		"# a comment of its own, after a blank line\n" +
		"cat > f.json <<'EOF'\n{\"x\":\n# not output\n\"y\"}\nEOF\n" +
		"curl -d '{\"records\":[\n  {\"a\":1}]}' x\n" +
		"printf 'a' |\n  wc -c\n" +
		"# 1\n" +
		"```\n"
	blocks, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 {
		t.Fatalf("%d blocks, want the one marked", len(blocks))
	}
	want := []Step{
		{Line: 9, Command: "KEY=$(./concord apikey create --name x)   # a comment with a ' quote"},
		{Line: 10, Command: "curl -s localhost:8080/a \\\n  -H 'X: y'", Output: []string{`{"a":1}`, "", "second line"}, ShowsOutput: true},
		{Line: 17, Command: "cat > f.json <<'EOF'\n{\"x\":\n# not output\n\"y\"}\nEOF"},
		{Line: 22, Command: "curl -d '{\"records\":[\n  {\"a\":1}]}' x"},
		{Line: 24, Command: "printf 'a' |\n  wc -c", Output: []string{"1"}, ShowsOutput: true},
	}
	if !reflect.DeepEqual(blocks[0].Steps, want) {
		t.Fatalf("steps:\n%#v\nwant\n%#v", blocks[0].Steps, want)
	}
}

func TestParseRefusesWhatWouldSkipABlock(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"no block":      "<!-- docs-check -->\ntext\n",
		"not a shell":   "<!-- docs-check -->\n```json\n{}\n```\n",
		"not closed":    "<!-- docs-check -->\n```sh\necho\n",
		"open quote":    "<!-- docs-check -->\n```sh\necho 'a\n```\n",
		"open heredoc":  "<!-- docs-check -->\n```sh\ncat <<EOF\na\n```\n",
		"continued end": "<!-- docs-check -->\n```sh\necho a \\\n```\n",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want []string
		got  string
		ok   bool
	}{
		{"same", []string{"a", "b"}, "a\nb\n", true},
		{"ids, uuids, times and dates are placeholders",
			[]string{"ofr_01a232aa4c147488911132e69dc3ecfd  offer-90ab2b0422b9a  2026-12-01T17:32:39Z  2026-12-31  01a251ba-7a45-7998-866f-334064addd85"},
			"ofr_0000aaaabbbbccccddddeeeeffff0000  offer-1234567890abc  2027-01-02T03:04:05.123Z  2027-01-31  11111111-2222-3333-4444-555555555555\n", true},
		{"column widths do not matter", []string{"ID   STATE", "x    published"}, "ID         STATE\nx          published   \n", true},
		{"… matches within a line", []string{`{"tenantId":"tnt_…","licenses":[…],"stale":false}`}, `{"tenantId":"tnt_7b02","licenses":[{"a":1}],"stale":false}`, true},
		{"a … line matches no line", []string{"head", "…", "tail"}, "head\ntail\n", true},
		{"a … line matches several", []string{"head", "…", "tail"}, "head\n1\n2\ntail\n", true},
		{"an indented … line too", []string{"head", "  …", "tail"}, "head\n1\ntail\n", true},
		{"a different value", []string{"accepted 250"}, "accepted 25\n", false},
		{"a short id is not a placeholder", []string{"agmt-1"}, "agmt-2\n", false},
		{"a line more", []string{"a"}, "a\nb\n", false},
		{"a line less", []string{"a", "b"}, "a\n", false},
		{"… does not span lines", []string{"a…b"}, "a\nb\n", false},
	} {
		ok, diff := Compare(tc.want, tc.got)
		if ok != tc.ok {
			t.Errorf("%s: Compare = %v, want %v\n%s", tc.name, ok, tc.ok, diff)
		}
		if !ok && !strings.Contains(diff, "+ ") && !strings.Contains(diff, "- ") {
			t.Errorf("%s: the diff shows no difference:\n%s", tc.name, diff)
		}
	}
}

func TestCompareDiffNamesTheLines(t *testing.T) {
	t.Parallel()
	_, diff := Compare([]string{"ID  STATE", "x  published"}, "ID  STATE\nx  draft\n")
	want := "  ID  STATE\n+ x  draft\n- x  published\n"
	if diff != want {
		t.Fatalf("diff:\n%s\nwant\n%s", diff, want)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	for cmd, want := range map[string]bool{
		`curl -s localhost:8080/v1/buyers/1 -H "Authorization: Bearer $KEY"`: true,
		`./concord offer list`:                                                      true,
		`./concord readiness --product prod-acme`:                                   true,
		`./concord metering report --from $NOW`:                                     true,
		`./concord notifications list --limit 3    # the newest three`:              true,
		`curl -s -X POST localhost:8080/v1/usage -d '{}'`:                           false,
		`curl -s localhost:8080/v1/x --data-binary @f`:                              false,
		`./concord emulator accept --buyer 1 --offer $OFFER > a1.json`:              false,
		`./concord offer submit --id $ID`:                                           false,
		"curl -s localhost:8080/a \\\n -H 'X: y'":                                   false,
		`./concord artifacts export --from $(date -u +%Y-%m-01) > this-month.csv`:   false,
		`TOKEN=$(./concord emulator token --agreement $AG | python3 -c 'print(1)')`: false,
	} {
		if got := readOnly(cmd); got != want {
			t.Errorf("readOnly(%q) = %v, want %v", cmd, got, want)
		}
	}
}

// FuzzParse: no document makes Parse or Lint panic, and every step it returns has a
// command that is complete shell text.
func FuzzParse(f *testing.F) {
	f.Add([]byte("<!-- docs-check -->\n```sh\necho a\n# a\n```\n"))
	f.Add([]byte("<!-- docs-check -->\n```sh\ncat <<-'E'\n\tx\n\tE\ncurl -d 'a\nb' \\\n c\n# x\n```\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		Lint(doc) // never panics
		blocks, err := Parse(doc)
		if err != nil {
			return
		}
		for _, b := range blocks {
			for _, s := range b.Steps {
				var lx lexer
				for _, l := range strings.Split(s.Command, "\n") {
					lx.line(l)
				}
				if lx.open() || strings.TrimSpace(s.Command) == "" {
					t.Fatalf("step %q is not a complete command", s.Command)
				}
				if s.Output != nil && !s.ShowsOutput {
					t.Fatalf("step %q has output but does not show it", s.Command)
				}
			}
		}
	})
}

func TestLint(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		doc  string
		want int // problems
	}{
		"checked":                     {"<!-- docs-check -->\n```sh\n./concord offer list\n```\n", 0},
		"not checked":                 {"<!-- not checked: needs real AWS -->\n\n```sh\nconcord serve --marketplace aws\n```\n", 0},
		"unmarked concord":            {"text\n\n```sh\n./concord offer list\n```\n", 1},
		"unmarked go run":             {"```sh\nprintf x | go run ./cmd/concord user create --email a@b.c\n```\n", 1},
		"unmarked in $()":             {"```bash\nKEY=$(concord apikey create --name x)\n```\n", 1},
		"unmarked curl":               {"```sh\ncurl -s -X POST \\\n  localhost:8080/v1/usage\n```\n", 1},
		"curl elsewhere":              {"```sh\ncurl -s https://concord.example.com/v1/agreements\n```\n", 0},
		"a comment":                   {"```sh\n# ./concord offer list\n```\n", 0},
		"not a shell block":           {"```json\n{\"cmd\": \"concord serve\"}\n```\n", 0},
		"a concord host":              {"```sh\naws sns subscribe --notification-endpoint https://concord.example.com/events/sns\n```\n", 0},
		"no reason":                   {"<!-- not checked: -->\n```sh\nconcord serve\n```\n", 1},
		"no block":                    {"<!-- not checked: needs AWS -->\ntext\n```sh\nconcord serve\n```\n", 2},
		"marker applies to one block": {"<!-- not checked: needs AWS -->\n```sh\nconcord serve\n```\n```sh\nconcord serve\n```\n", 1},
	} {
		if got := Lint([]byte(tc.doc)); len(got) != tc.want {
			t.Errorf("%s: %d problems, want %d: %q", name, len(got), tc.want, got)
		}
	}
}

func TestStarts(t *testing.T) {
	doc := []byte("text\n<!-- docs-check: start ./concord emulator --addr 127.0.0.1:8090 --snapshot emu.json -->\nmore\n")
	got, err := Starts(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Line != 2 || got[0].Addr != "127.0.0.1:8090" ||
		got[0].Command != "./concord emulator --addr 127.0.0.1:8090 --snapshot emu.json" {
		t.Fatalf("Starts = %+v", got)
	}
	for _, bad := range []string{
		"<!-- docs-check: start ./concord emulator --snapshot emu.json -->\n", // no --addr
		"<!-- docs-check: start ./concord emulator --addr 127.0.0.1:8090\n",   // not closed
	} {
		if _, err := Starts([]byte(bad)); err == nil {
			t.Errorf("Starts(%q): no error", bad)
		}
	}
}
