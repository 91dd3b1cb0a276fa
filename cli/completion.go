package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

var completionUsage = usage{
	line:    "wedge completion bash|zsh",
	missing: "missing the shell: wedge completion bash or wedge completion zsh",
	text: `
Completion prints a script that completes wedge's commands, subcommands
and flags in bash or zsh. It is made from the commands' own usage, as
'wedge help' shows it, so it knows every command of this wedge binary.

bash (needs the bash-completion package for the second form):
  source <(wedge completion bash)                     # this shell only
  wedge completion bash > ~/.local/share/bash-completion/completions/wedge

zsh:
  source <(wedge completion zsh)                      # this shell only
  wedge completion zsh > "${fpath[1]}/_wedge"         # then start a new zsh`,
}

func completionCommand(cmds []Command) func(context.Context, Env, []string) int {
	return func(ctx context.Context, env Env, args []string) int {
		flags := newFlags("completion")
		pos, code, stop := parse(env, flags, completionUsage, args, 1, 1)
		if stop {
			return code
		}
		specs := describe(ctx, env, cmds)
		var buf bytes.Buffer
		switch pos[0] {
		case "bash":
			writeBash(&buf, specs)
		case "zsh":
			writeZsh(&buf, specs)
		default:
			return usageError(env, flags, completionUsage, "%q: wedge completes bash and zsh", pos[0])
		}
		if _, err := env.Stdout.Write(buf.Bytes()); err != nil {
			return fail(env, err)
		}
		return ExitOK
	}
}

// cmdSpec is what completion knows of a command: read from its -h output,
// the contract every Command keeps, so that it never drifts from help.
type cmdSpec struct {
	name, summary string
	flags         []flagSpec
	subs          []cmdSpec // subcommands, each with its own flags
}

type flagSpec struct {
	name   string // without dashes
	value  bool   // takes a value
	usage  string
	choice []string // the values it takes, when its usage lists them ("go or c")
}

// word is what completion accepts as a command, subcommand or flag name:
// nothing a shell would read as syntax.
var word = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_]*$`)

// describe runs every command with -h (and each subcommand its usage line
// lists) and reads their flags.
func describe(ctx context.Context, env Env, cmds []Command) []cmdSpec {
	help := func(c Command, args ...string) string {
		var out bytes.Buffer
		e := env
		e.Stdout, e.Stderr, e.Stdin = &out, io.Discard, strings.NewReader("")
		c.Run(ctx, e, append(args, "-h"))
		return out.String()
	}
	var specs []cmdSpec
	for _, c := range cmds {
		if !word.MatchString(c.Name) {
			continue
		}
		text := help(c)
		spec := cmdSpec{name: c.Name, summary: c.Summary, flags: parseFlags(text)}
		for _, sub := range parseSubcommands(text, c.Name) {
			spec.subs = append(spec.subs, cmdSpec{name: sub, flags: parseFlags(help(c, sub))})
		}
		specs = append(specs, spec)
	}
	return specs
}

// usageLine matches the line that opens a command's usage ("Usage: wedge
// kv put|get|delete|list NS …"; serve says "usage:").
var usageLine = regexp.MustCompile(`(?im)^usage: wedge (\S+)(?: (\S+))?`)

// parseSubcommands returns the subcommands that a usage line lists as
// "a|b|c" after the verb.
func parseSubcommands(text, verb string) []string {
	m := usageLine.FindStringSubmatch(text)
	if m == nil || m[1] != verb || !strings.Contains(m[2], "|") {
		return nil
	}
	subs := strings.Split(m[2], "|")
	for _, s := range subs {
		if !word.MatchString(s) || strings.ToUpper(s) == s {
			return nil // "A|B": placeholders, not subcommands
		}
	}
	return subs
}

// flagLine matches a flag in either of the usage formats in use: this
// package's ("  --name NAME   the worker's NAME") and the flag package's
// PrintDefaults ("  -port int" with the usage on the next line).
var flagLine = regexp.MustCompile(`^\s+--?([A-Za-z0-9][-A-Za-z0-9_]*)(?: ([A-Za-z]\S*))?(?:\s{2,}(.*))?$`)

// choices finds the values a flag's usage names: "pretty or json", "go or c".
var choices = regexp.MustCompile(`^(?:[a-z0-9-]+, )*[a-z0-9-]+ or [a-z0-9-]+\b`)

// parseFlags reads the flags listed after the "Flags:" line of a usage.
func parseFlags(text string) []flagSpec {
	var out []flagSpec
	sc := bufio.NewScanner(strings.NewReader(text))
	in := false
	for sc.Scan() {
		line := sc.Text()
		if t := strings.TrimSpace(line); strings.EqualFold(t, "flags:") {
			in = true
			continue
		}
		if !in {
			continue
		}
		if strings.HasPrefix(line, "    \t") && len(out) > 0 && out[len(out)-1].usage == "" {
			out[len(out)-1].usage = strings.TrimSpace(line) // PrintDefaults' second line
			continue
		}
		m := flagLine.FindStringSubmatch(line)
		if m == nil || slices.ContainsFunc(out, func(f flagSpec) bool { return f.name == m[1] }) {
			continue
		}
		out = append(out, flagSpec{name: m[1], value: m[2] != "", usage: strings.TrimSpace(m[3])})
	}
	for i := range out {
		if !out[i].value {
			continue
		}
		if c := choices.FindString(out[i].usage); c != "" {
			c = strings.ReplaceAll(strings.ReplaceAll(c, ",", ""), " or ", " ")
			out[i].choice = strings.Fields(c)
		}
	}
	return out
}

func writeBash(w io.Writer, specs []cmdSpec) {
	var verbs []string
	for _, s := range specs {
		verbs = append(verbs, s.name)
	}
	fmt.Fprintf(w, `# bash completion for wedge, made by 'wedge completion bash' from the same
# command table as 'wedge help'. Load it:
#   source <(wedge completion bash)
#   wedge completion bash > ~/.local/share/bash-completion/completions/wedge

_wedge() {
	local cur prev verb key subs="" flags="" valued=""
	cur="${COMP_WORDS[COMP_CWORD]}"
	prev="${COMP_WORDS[COMP_CWORD-1]}"
	COMPREPLY=()
	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "help %[1]s" -- "$cur"))
		return 0
	fi
	verb="${COMP_WORDS[1]}"
	case "$verb" in
	help)
		if [[ $COMP_CWORD -eq 2 ]]; then
			COMPREPLY=($(compgen -W "%[1]s" -- "$cur"))
		fi
		return 0
		;;
`, strings.Join(verbs, " "))
	for _, s := range specs {
		if len(s.subs) > 0 {
			var names []string
			for _, sub := range s.subs {
				names = append(names, sub.name)
			}
			fmt.Fprintf(w, "\t%s) subs=\"%s\" ;;\n", s.name, strings.Join(names, " "))
		}
	}
	fmt.Fprint(w, `	esac
	key="$verb"
	if [[ -n $subs ]]; then
		if [[ $COMP_CWORD -eq 2 ]]; then
			COMPREPLY=($(compgen -W "$subs" -- "$cur"))
			return 0
		fi
		key="$verb ${COMP_WORDS[2]}"
	fi
	case "$key" in
`)
	var choiceCases []string
	emit := func(key string, flags []flagSpec) {
		var all, valued []string
		for _, f := range flags {
			all = append(all, "--"+f.name)
			if f.value {
				valued = append(valued, "--"+f.name)
			}
			if len(f.choice) > 0 {
				choiceCases = append(choiceCases, fmt.Sprintf("\t\"%s --%s\") COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return 0 ;;\n", key, f.name, strings.Join(f.choice, " ")))
			}
		}
		if len(all) > 0 {
			fmt.Fprintf(w, "\t\"%s\") flags=\"%s\"; valued=\"%s\" ;;\n", key, strings.Join(all, " "), strings.Join(valued, " "))
		}
	}
	for _, s := range specs {
		emit(s.name, s.flags)
		for _, sub := range s.subs {
			emit(s.name+" "+sub.name, sub.flags)
		}
	}
	fmt.Fprint(w, `	esac
	case "$key $prev" in
`)
	for _, c := range choiceCases {
		fmt.Fprint(w, c)
	}
	fmt.Fprint(w, `	esac
	# A flag's value, or an argument: leave it to the shell's own completion
	# (files), which -o default turns on.
	if [[ " $valued " == *" $prev "* ]]; then
		return 0
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	fi
	return 0
}
complete -o default -F _wedge wedge
`)
}

func writeZsh(w io.Writer, specs []cmdSpec) {
	fmt.Fprint(w, `#compdef wedge
# zsh completion for wedge, made by 'wedge completion zsh' from the same
# command table as 'wedge help'. Load it:
#   source <(wedge completion zsh)
#   wedge completion zsh > "${fpath[1]}/_wedge"

_wedge() {
	local -a verbs subs flags
	local verb key
	verbs=(
`)
	for _, s := range specs {
		fmt.Fprintf(w, "\t\t%s\n", zshQuote(s.name+":"+s.summary))
	}
	fmt.Fprint(w, `	)
	if (( CURRENT == 2 )); then
		_describe -t commands 'wedge command' verbs
		return
	fi
	verb=${words[2]}
	case $verb in
	help)
		if (( CURRENT == 3 )); then
			_describe -t commands 'wedge command' verbs
		fi
		return
		;;
`)
	for _, s := range specs {
		if len(s.subs) == 0 {
			continue
		}
		var names []string
		for _, sub := range s.subs {
			names = append(names, zshQuote(sub.name))
		}
		fmt.Fprintf(w, "\t%s) subs=(%s) ;;\n", s.name, strings.Join(names, " "))
	}
	fmt.Fprint(w, `	esac
	key=$verb
	if (( ${#subs} )); then
		if (( CURRENT == 3 )); then
			_describe -t commands "wedge $verb subcommand" subs
			return
		fi
		key="$verb ${words[3]}"
	fi
	case $key in
`)
	emit := func(key string, fs []flagSpec) {
		if len(fs) == 0 {
			return
		}
		var specs []string
		for _, f := range fs {
			desc := zshDesc(f.usage)
			switch {
			case len(f.choice) > 0:
				specs = append(specs, zshQuote(fmt.Sprintf("--%s=[%s]:%s:(%s)", f.name, desc, f.name, strings.Join(f.choice, " "))))
			case f.value:
				specs = append(specs, zshQuote(fmt.Sprintf("--%s=[%s]:%s:_default", f.name, desc, f.name)))
			default:
				specs = append(specs, zshQuote(fmt.Sprintf("--%s[%s]", f.name, desc)))
			}
		}
		fmt.Fprintf(w, "\t%s) flags=(%s) ;;\n", zshQuote(key), strings.Join(specs, " "))
	}
	for _, s := range specs {
		emit(s.name, s.flags)
		for _, sub := range s.subs {
			emit(s.name+" "+sub.name, sub.flags)
		}
	}
	fmt.Fprint(w, `	esac
	_arguments -s -S : $flags '*:argument:_default'
}

if [ "$funcstack[1]" = "_wedge" ]; then
	_wedge "$@"
else
	compdef _wedge wedge
fi
`)
}

// zshQuote single-quotes s for the shell.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// zshDesc makes a flag's usage safe inside _arguments' brackets.
func zshDesc(s string) string {
	s = strings.NewReplacer("[", "(", "]", ")", ":", " -", "\\", "/", "`", "").Replace(s)
	if len(s) > 70 {
		if i := strings.LastIndexByte(s[:70], ' '); i > 0 {
			s = s[:i] + "…"
		}
	}
	return s
}
