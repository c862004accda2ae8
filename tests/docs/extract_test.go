package docs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// block is a code block of a document as its reader sees it: markdown's
// indented or fenced blocks of README.md, the .nf/.fi and .EX/.EE blocks of
// a man page (roff escapes resolved).
type block struct {
	where string // FILE:LINE of its first line
	lines []string
}

// markdownBlocks returns the code blocks of a markdown file: runs of lines
// indented by 4 or more spaces after a blank line (dedented), and fenced
// blocks.
func markdownBlocks(t *testing.T, path string) []block {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	var out []block
	prevBlank := true
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			j := i + 1
			for j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), "```") {
				j++
			}
			out = append(out, block{where: where(path, i+2), lines: dedent(lines[i+1 : min(j, len(lines))])})
			i, prevBlank = j, false
			continue
		}
		if prevBlank && indent(line) >= 4 {
			j := i
			for j < len(lines) && (indent(lines[j]) >= 4 || strings.TrimSpace(lines[j]) == "") {
				j++
			}
			for j > i && strings.TrimSpace(lines[j-1]) == "" {
				j--
			}
			out = append(out, block{where: where(path, i+1), lines: dedent(lines[i:j])})
			i, prevBlank = j-1, false
			continue
		}
		prevBlank = strings.TrimSpace(line) == ""
	}
	return out
}

func where(path string, line int) string {
	return filepath.Base(path) + ":" + strconv.Itoa(line)
}

func indent(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

func dedent(lines []string) []string {
	least := -1
	for _, l := range lines {
		if strings.TrimSpace(l) != "" && (least < 0 || indent(l) < least) {
			least = indent(l)
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) >= least && least > 0 {
			l = l[least:]
		}
		out[i] = strings.TrimRight(l, " ")
	}
	return out
}

// manBlocks returns the no-fill blocks of a man page source with their
// text unescaped, and checks that man(1) shows every line of them as
// extracted: what a reader copies is what the tests run.
func manBlocks(t *testing.T, path string) []block {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	shown := renderMan(t, path)
	var out []block
	var cur *block
	for i, line := range strings.Split(string(src), "\n") {
		switch {
		case line == ".nf" || line == ".EX":
			cur = &block{where: where(path, i+2)}
		case line == ".fi" || line == ".EE":
			if cur != nil {
				cur.lines = dedent(cur.lines)
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil && !strings.HasPrefix(line, ".") && !strings.HasPrefix(line, "'"):
			text := roffUnescape(line)
			cur.lines = append(cur.lines, text)
			if s := strings.TrimSpace(text); s != "" && !slices.Contains(shown, s) {
				t.Errorf("%s:%d: man shows no line %q", filepath.Base(path), i+1, s)
			}
		}
	}
	return out
}

// roffUnescape resolves the escapes the pages use in no-fill blocks.
func roffUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'e', '\\':
			b.WriteByte('\\')
		case '-':
			b.WriteByte('-')
		case '&', '|', '^':
		case ' ':
			b.WriteByte(' ')
		case 'f': // font change: \fB, \fI, \fP, \fR, \f(CW
			if i+1 < len(s) && s[i+1] == '(' {
				i += 3
			} else {
				i++
			}
		case '(':
			if i+2 < len(s) {
				b.WriteString(map[string]string{"dq": `"`, "aq": "'", "ga": "`", "ti": "~", "ha": "^", "rs": `\`}[s[i+1:i+3]])
				i += 2
			}
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}

// renderMan is the page as man(1) shows it, one trimmed line each, lines
// long enough that nothing is folded.
func renderMan(t *testing.T, path string) []string {
	t.Helper()
	if _, err := exec.LookPath("man"); err != nil {
		t.Fatalf("man(1) is needed to check what the pages show (make deps installs man-db): %v", err)
	}
	cmd := exec.Command("man", "-l", path)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") })
	cmd.Env = append(env, "MANWIDTH=2000", "LC_ALL=C.UTF-8", "MAN_KEEP_FORMATTING=", "MANPAGER=cat", "PAGER=cat")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man -l %s: %v\n%s", path, err, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	return lines
}

// A code block holds an xl.cfg snippet (the lines before the first
// command), commands, and after a command with a prompt ("$ xfeat ...")
// what it prints.
type command struct {
	args   []string
	prompt bool     // written "$ xfeat ...": the lines below are its output
	output []string // as shown
}

var settingLine = regexp.MustCompile(`^[a-z][._0-9a-z]*\s*\+?=`)

// parseBlock splits b into its config snippet ("" when the block holds
// none) with its file name (a first line "# NAME.cfg", else snippet.cfg),
// and its xfeat commands.
func parseBlock(t *testing.T, b block) (cfg, name string, cmds []command) {
	var cfgLines []string
	i := 0
	for ; i < len(b.lines) && !isCommand(b.lines[i]); i++ {
		cfgLines = append(cfgLines, b.lines[i])
	}
	name = "snippet.cfg"
	for _, l := range cfgLines {
		if m := regexp.MustCompile(`^# (\S+\.cfg)$`).FindStringSubmatch(l); m != nil {
			name = m[1]
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if settingLine.MatchString(l) {
			cfg = strings.TrimRight(strings.Join(cfgLines, "\n"), "\n") + "\n"
		}
		break
	}
	for ; i < len(b.lines); i++ {
		l := b.lines[i]
		if !isCommand(l) {
			if len(cmds) > 0 && cmds[len(cmds)-1].prompt {
				cmds[len(cmds)-1].output = append(cmds[len(cmds)-1].output, l)
			}
			continue
		}
		prompt := strings.HasPrefix(l, "$ ")
		words, err := shellWords(strings.TrimPrefix(l, "$ "))
		if err != nil {
			t.Errorf("%s: %q: %v", b.where, l, err)
		}
		// A pipeline or a glob is not one xfeat command; its output lines
		// (if any) are attached to nothing.
		cmds = append(cmds, command{args: words[min(1, len(words)):], prompt: prompt})
	}
	for i := range cmds {
		for len(cmds[i].output) > 0 && cmds[i].output[len(cmds[i].output)-1] == "" {
			cmds[i].output = cmds[i].output[:len(cmds[i].output)-1]
		}
	}
	return cfg, name, cmds
}

func isCommand(l string) bool {
	return strings.HasPrefix(l, "$ xfeat ") || strings.HasPrefix(l, "xfeat ")
}

// shellWords splits a command line as sh would, for the quoting the
// documents use: single and double quotes, no expansions. A line with a
// pipe, a redirection or a substitution is not one command: nil.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, inWord := byte(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in != 0 && c == in:
			in = 0
		case in != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			in, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.IndexByte("|<>;&$`()*", c) >= 0:
			return nil, nil
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if in != 0 {
		return nil, errUnterminated
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

type docError string

func (e docError) Error() string { return string(e) }

const errUnterminated = docError("unterminated quote")
