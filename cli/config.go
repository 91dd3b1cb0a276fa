package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/wedgeworks/wedge/api"
)

// ConfigFile is the name of a worker project's configuration file.
const ConfigFile = "wedge.toml"

// Config is a worker project's wedge.toml.
//
// Its zero value is not a valid configuration: Name is required. Every other
// field may be left empty; LoadConfig and ParseConfig fill in Main.
type Config struct {
	// Name is the worker's name: a hostname label (1–63 lowercase letters,
	// digits and '-', starting with a letter, not ending with '-').
	Name string `toml:"name"`
	// Main is the Go package to build, relative to the project directory
	// ("." by default), or a module: a path ending in ".wasm", prebuilt or
	// written by Build.Command ("build/worker.wasm" by default then).
	Main string `toml:"main"`
	// Build says how to build a worker that is not a Go package.
	Build BuildConfig `toml:"build"`
	// Vars are environment variables the worker sees through os.Getenv.
	Vars map[string]string `toml:"vars"`
	// Limits are per-request limits; a zero field means the default
	// (api.DefaultLimits).
	Limits api.Limits `toml:"limits"`
	// KVNamespaces are the KV namespaces the worker may open with wedge.KV.
	KVNamespaces []api.KVBinding `toml:"kv_namespaces"`
	// Routes are extra host and path patterns the worker answers.
	Routes []api.Route `toml:"routes"`
}

// BuildConfig is the [build] table of wedge.toml.
type BuildConfig struct {
	// Command builds the module that Main names: run by `sh -c` in the
	// project directory (`cmd /C` on Windows), with the environment of
	// wedge, after the directory of Main is created. Empty: Main is a Go
	// package, or a module built by other means.
	Command string `toml:"command"`
}

// Prebuilt reports whether Main names a .wasm module (prebuilt, or written
// by Build.Command) rather than a Go package.
func (c *Config) Prebuilt() bool { return strings.HasSuffix(c.Main, ".wasm") }

// Settings returns the worker settings that travel with an upload.
func (c *Config) Settings() api.WorkerSettings {
	return api.WorkerSettings{
		Vars:         c.Vars,
		Limits:       c.Limits,
		Routes:       c.Routes,
		KVNamespaces: c.KVNamespaces,
	}
}

// ConfigError is a problem in a wedge.toml file. Line is 0 when the problem
// has no single line (a missing key, say).
type ConfigError struct {
	File string // as given to LoadConfig, or "wedge.toml" for ParseConfig
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// maxConfigErrors caps how many problems one error reports.
const maxConfigErrors = 10

// LoadConfig reads and validates dir/wedge.toml. A missing file gives an
// error that wraps fs.ErrNotExist; problems in the file are *ConfigError
// values (several joined with errors.Join), named by the file's path.
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no %s in %s (%w): pass a worker project's directory, or create one with `wedge init DIR`", ConfigFile, dir, os.ErrNotExist)
		}
		return nil, err
	}
	return parseConfig(path, data)
}

// ParseConfig parses and validates the content of a wedge.toml file. Unknown
// keys, values of the wrong type and invalid values are errors; each names
// the line it comes from when it has one ("wedge.toml:4: unknown key …").
func ParseConfig(data []byte) (*Config, error) {
	return parseConfig(ConfigFile, data)
}

// maxConfigSize caps the size of a wedge.toml file.
const maxConfigSize = 1 << 20

func parseConfig(file string, data []byte) (*Config, error) {
	if len(data) > maxConfigSize {
		return nil, &ConfigError{File: file, Msg: fmt.Sprintf("%d bytes is too large for a wedge.toml (at most %d): is this the right file?", len(data), maxConfigSize)}
	}
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ConfigError{File: file, Line: errorLine(data, pe.Position), Msg: pe.Message}
		}
		// A value of the wrong type: toml stops at the first and says it in
		// its own words; our schema check finds them all, with lines.
	}
	p := &problems{file: file, keys: locateKeys(data, md.Keys()), badType: map[string]bool{}}
	p.checkTypes(&md)
	if err != nil && len(p.errs) == 0 {
		p.add(0, "%s", strings.TrimPrefix(err.Error(), "toml: "))
	}
	p.checkUnknown(md.Undecoded())
	if err := p.err(); err != nil {
		return nil, err
	}
	c.validate(p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// errorLine returns the line of a syntax error. toml counts a newline as
// the start of the next line ("[limits⏎" is reported on the line after);
// the byte offset says where the problem is.
func errorLine(data []byte, pos toml.Position) int {
	if pos.Start > 0 && pos.Start <= len(data) {
		return 1 + bytes.Count(data[:pos.Start], []byte("\n"))
	}
	return pos.Line
}

// problems collects the errors found in one file.
type problems struct {
	file    string
	keys    []keyLine
	errs    []error
	badType map[string]bool // keys reported with a value of the wrong type
}

func (p *problems) add(line int, format string, args ...any) {
	if len(p.errs) == maxConfigErrors {
		p.errs = append(p.errs, &ConfigError{File: p.file, Msg: "too many errors"})
	}
	if len(p.errs) > maxConfigErrors {
		return
	}
	p.errs = append(p.errs, &ConfigError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems found as one error: a *ConfigError, or several
// joined with errors.Join; nil when there are none.
func (p *problems) err() error {
	switch len(p.errs) {
	case 0:
		return nil
	case 1:
		return p.errs[0]
	}
	return errors.Join(p.errs...)
}

// line returns the line of the n-th (from 0) occurrence of key, or 0.
func (p *problems) line(key string, n int) int {
	for _, k := range p.keys {
		if k.key == key {
			if n == 0 {
				return k.line
			}
			n--
		}
	}
	return 0
}

// elemLine returns the line of field in the i-th of n elements of the array
// of tables array, or the line of the array itself, or 0.
func (p *problems) elemLine(array, field string, i, n int) int {
	if field != "" && p.count(array+"."+field) == n {
		return p.line(array+"."+field, i)
	}
	if p.count(array) == n { // [[array]] headers, one per element
		return p.line(array, i)
	}
	return p.line(array, 0)
}

func (p *problems) count(key string) int {
	c := 0
	for _, k := range p.keys {
		if k.key == key {
			c++
		}
	}
	return c
}

// schema maps every key wedge.toml may hold to its TOML type, as
// toml.MetaData.Type names them; "*" stands for any one key of a table.
var schema = map[string]string{
	"name":                  "String",
	"main":                  "String",
	"build":                 "Hash",
	"build.command":         "String",
	"vars":                  "Hash",
	"vars.*":                "String",
	"limits":                "Hash",
	"limits.cpu_ms":         "Integer",
	"limits.wall_ms":        "Integer",
	"limits.memory_mb":      "Integer",
	"limits.subrequests":    "Integer",
	"kv_namespaces":         "ArrayHash",
	"kv_namespaces.binding": "String",
	"routes":                "ArrayHash",
	"routes.pattern":        "String",
}

// schemaKey returns the schema entry for k, and whether there is one.
func schemaKey(k toml.Key) (string, bool) {
	s := strings.Join(k, ".")
	if _, ok := schema[s]; ok {
		return s, true
	}
	if len(k) == 2 && k[0] == "vars" {
		return "vars.*", true
	}
	return "", false
}

// typeNames turns toml's type names into words for error messages.
var typeNames = map[string]string{
	"String":         "a string",
	"Integer":        "an integer",
	"Float":          "a number with a fraction",
	"Bool":           "a boolean",
	"Hash":           "a table",
	"Array":          "an array",
	"ArrayHash":      "an array of tables",
	"Datetime":       "a date-time",
	"DatetimeLocal":  "a local date-time",
	"DateLocal":      "a local date",
	"TimeLocal":      "a local time",
	"Duration":       "a duration",
	"Datetime(Zone)": "a date-time",
}

func typeName(t string) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return strings.ToLower(t)
}

// checkTypes reports every known key whose value has the wrong type.
func (p *problems) checkTypes(md *toml.MetaData) {
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		s, ok := schemaKey(k)
		full := k.String()
		if !ok || seen[full] {
			continue
		}
		seen[full] = true
		want, got := schema[s], md.Type(k...)
		// An inline array of inline tables is an "Array" to toml; it decodes
		// into a slice of structs all the same.
		if got == want || (want == "ArrayHash" && got == "Array") {
			continue
		}
		hint := ""
		if want == "String" && s == "vars.*" {
			hint = fmt.Sprintf(" (quote it: %s = \"…\")", k[len(k)-1])
		}
		p.badType[full] = true
		p.add(p.line(full, 0), "%s must be %s, not %s%s", full, typeName(want), typeName(got), hint)
	}
}

// checkUnknown reports the keys that do not belong in wedge.toml: the
// outermost one of each unknown table, with a suggestion when a known key
// is spelled nearly the same.
func (p *problems) checkUnknown(undecoded []toml.Key) {
	// When decoding stopped at a value of the wrong type, the keys after it
	// are undecoded too: only those outside the schema are unknown.
	unknown := map[string]bool{}
	for _, k := range undecoded {
		if _, known := schemaKey(k); !known {
			unknown[k.String()] = true
		}
	}
	reported := map[string]int{}
	for _, kl := range p.keys {
		if !unknown[kl.key] {
			continue
		}
		if parentIn(kl.path, unknown) || parentIn(kl.path, p.badType) {
			continue
		}
		n := reported[kl.key]
		reported[kl.key]++
		if n > 0 && kl.line == 0 {
			continue
		}
		msg := "unknown key " + displayKey(kl.key)
		if s := suggest(kl.path); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(kl.line, "%s", msg)
	}
}

// displayKey quotes a key for a message, unless toml's own quotes already
// delimit it (`"quoted key"`).
func displayKey(k string) string {
	if strings.ContainsAny(k, `"'`) {
		return k
	}
	return `"` + k + `"`
}

// parentIn reports whether a table that holds path is in set.
func parentIn(path []string, set map[string]bool) bool {
	for i := 1; i < len(path); i++ {
		if set[toml.Key(path[:i]).String()] {
			return true
		}
	}
	return false
}

// suggest returns the known key nearest to path, if one is close.
func suggest(path []string) string {
	parent := strings.Join(path[:len(path)-1], ".")
	last := path[len(path)-1]
	best, bestD := "", 3
	for s := range schema {
		i := strings.LastIndexByte(s, '.')
		sp, sl := "", s
		if i >= 0 {
			sp, sl = s[:i], s[i+1:]
		}
		if sp != parent || sl == "*" {
			continue
		}
		if d := editDistance(last, sl); d < bestD || (d == bestD && s < best) {
			best, bestD = s, d
		}
		if strings.HasPrefix(sl, last) && len(last) >= 3 && bestD > 1 {
			best, bestD = s, 1
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// maxMemoryMB is the most linear memory a wasm32 module can address.
const maxMemoryMB = 4096

// validate checks the values; the types are already right.
func (c *Config) validate(p *problems) {
	switch {
	case c.Name == "":
		p.add(0, `name is missing: add name = "my-worker" (lowercase letters, digits and '-')`)
	case !api.ValidName(c.Name):
		p.add(p.line("name", 0), "name %q is not a valid worker name: use 1–63 lowercase letters, digits and '-', starting with a letter and not ending with '-'", c.Name)
	}

	c.Main = strings.TrimSpace(c.Main)
	c.Build.Command = strings.TrimSpace(c.Build.Command)
	if c.Build.Command != "" && c.Main == "" {
		c.Main = BuildOutput
	}
	switch {
	case p.count("build.command") > 0 && c.Build.Command == "":
		p.add(p.line("build.command", 0), `build.command is empty: give the command that writes the module, or remove [build]`)
	case c.Build.Command != "" && !c.Prebuilt():
		p.add(p.line("main", 0), "main %q must name the .wasm file that build.command writes, like main = %q", c.Main, BuildOutput)
	}
	switch {
	case c.Main == "":
		c.Main = "."
	case c.Prebuilt():
		c.Main = filepath.Clean(c.Main)
	case filepath.IsAbs(c.Main):
		p.add(p.line("main", 0), "main %q must be a Go package inside the project (like \".\" or \"./cmd/worker\") or a .wasm file", c.Main)
	default:
		// "cmd/worker" would be an import path to the go command; we mean
		// the directory.
		m := filepath.ToSlash(filepath.Clean(c.Main))
		if m != "." && !strings.HasPrefix(m, "./") && !strings.HasPrefix(m, "../") {
			m = "./" + m
		}
		c.Main = m
	}

	vars := make([]string, 0, len(c.Vars))
	for k := range c.Vars {
		vars = append(vars, k)
	}
	sort.Strings(vars)
	for _, k := range vars {
		switch {
		case len(k) > api.MaxEnvNameBytes:
			p.add(p.line(toml.Key{"vars", k}.String(), 0), "vars: a name of %d bytes is too long for an environment variable (at most %d)", len(k), api.MaxEnvNameBytes)
		case !api.ValidEnvName(k):
			p.add(p.line(toml.Key{"vars", k}.String(), 0), "vars: %q is not a valid environment variable name: use letters, digits and '_', not starting with a digit", k)
		}
	}

	for _, l := range []struct {
		key string
		v   int
		max int
	}{
		{"cpu_ms", c.Limits.CPUMillis, 0},
		{"wall_ms", c.Limits.WallMillis, 0},
		{"memory_mb", c.Limits.MemoryMB, maxMemoryMB},
		{"subrequests", c.Limits.Subrequests, 0},
	} {
		switch {
		case l.v < 0:
			p.add(p.line("limits."+l.key, 0), "limits.%s must not be negative (leave it out for the default, %d)", l.key, defaultLimit(l.key))
		case l.max > 0 && l.v > l.max:
			p.add(p.line("limits."+l.key, 0), "limits.%s = %d is more than %d, the most a WebAssembly module can address", l.key, l.v, l.max)
		}
	}

	seen := map[string]bool{}
	n := len(c.KVNamespaces)
	for i, b := range c.KVNamespaces {
		switch {
		case b.Binding == "":
			p.add(p.elemLine("kv_namespaces", "binding", i, n), `kv_namespaces: binding is missing: add binding = "NAME" (the name you pass to wedge.KV)`)
		case len(b.Binding) > api.MaxKVNamespaceBytes:
			p.add(p.elemLine("kv_namespaces", "binding", i, n), "kv_namespaces: binding %q is too long (at most %d bytes)", b.Binding, api.MaxKVNamespaceBytes)
		case !api.ValidKVNamespace(b.Binding):
			p.add(p.elemLine("kv_namespaces", "binding", i, n), "kv_namespaces: binding %q is not valid: use letters, digits and '_', not starting with a digit", b.Binding)
		case seen[b.Binding]:
			p.add(p.elemLine("kv_namespaces", "binding", i, n), "kv_namespaces: binding %q appears twice", b.Binding)
		}
		seen[b.Binding] = true
	}

	n = len(c.Routes)
	for i, r := range c.Routes {
		line := p.elemLine("routes", "pattern", i, n)
		switch {
		case r.Pattern == "":
			p.add(line, `routes: pattern is missing: add pattern = "example.com/path/*"`)
		case strings.Contains(r.Pattern, "://"):
			p.add(line, "routes: pattern %q must not have a scheme: write it as %q", r.Pattern, r.Pattern[strings.Index(r.Pattern, "://")+3:])
		case strings.ContainsFunc(r.Pattern, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			p.add(line, "routes: pattern %q must not contain spaces or control characters", r.Pattern)
		case strings.HasPrefix(r.Pattern, "/"):
			p.add(line, "routes: pattern %q needs a host: write it as \"example.com%s\"", r.Pattern, r.Pattern)
		}
	}
}

func defaultLimit(key string) int {
	d := api.DefaultLimits
	switch key {
	case "cpu_ms":
		return d.CPUMillis
	case "wall_ms":
		return d.WallMillis
	case "memory_mb":
		return d.MemoryMB
	}
	return d.Subrequests
}

// keyLine is one occurrence of a key in the file, in document order.
type keyLine struct {
	key  string // toml.Key.String()
	path []string
	line int // 0 when not found
}

// keyToken is a word of the file written where a key may stand.
type keyToken struct {
	start, end int
}

// locateKeys finds the line of every key that toml reported, in document
// order. toml keeps key positions to itself, so this scans the text once
// for words in key positions — bare or quoted, outside values' strings and
// comments, at the start of a line or after '[', '.', '{' or ',', and
// followed by '=', '.' or ']' — and gives each key the first such word,
// after the previous key's, that is its last part. It is best effort: a
// key it cannot place gets line 0.
func locateKeys(data []byte, keys []toml.Key) []keyLine {
	src := string(data)
	words := keyTokens(src)
	// Line numbers of the words' starts, computed in one pass.
	lines := make([]int, len(words))
	line, at := 1, 0
	for i, w := range words {
		line += strings.Count(src[at:w.start], "\n")
		at = w.start
		lines[i] = line
	}
	byName := map[string][]int{}
	for i, w := range words {
		name := src[w.start:w.end]
		if name[0] == '"' || name[0] == '\'' {
			name = name[1 : len(name)-1]
		}
		byName[name] = append(byName[name], i)
	}

	out := make([]keyLine, 0, len(keys))
	next := 0 // index of the first word not used yet
	for _, k := range keys {
		kl := keyLine{key: k.String(), path: k}
		if len(k) > 0 {
			idx := byName[k[len(k)-1]]
			j, _ := slices.BinarySearch(idx, next)
			if j < len(idx) {
				kl.line = lines[idx[j]]
				next = idx[j] + 1
			}
		}
		out = append(out, kl)
	}
	return out
}

// keyTokens returns the words of src that stand in key positions.
func keyTokens(src string) []keyToken {
	var words []keyToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], `"""`), strings.HasPrefix(src[i:], `'''`):
			// A multi-line string is always a value.
			delim := src[i : i+3]
			var end int
			if delim == `"""` {
				end = indexUnescaped(src[i+3:], delim)
			} else {
				end = strings.Index(src[i+3:], delim)
			}
			if end < 0 {
				return words
			}
			i += 3 + end + 3
			for i < len(src) && src[i] == delim[0] { // up to two quotes more belong to the string
				i++
			}
		case c == '"' || c == '\'':
			start := i
			i++
			for i < len(src) && src[i] != c && src[i] != '\n' {
				if c == '"' && src[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(src) || src[i] != c {
				continue // unterminated: toml has reported it
			}
			i++
			if keyBefore(src, start) && keyAfter(src, i) {
				words = append(words, keyToken{start, i})
			}
		case isBareKeyByte(c):
			start := i
			for i < len(src) && isBareKeyByte(src[i]) {
				i++
			}
			if keyBefore(src, start) && keyAfter(src, i) {
				words = append(words, keyToken{start, i})
			}
		default:
			i++
		}
	}
	return words
}

func keyBefore(src string, at int) bool {
	for i := at - 1; i >= 0; i-- {
		switch src[i] {
		case ' ', '\t':
			continue
		case '\n', '[', '.', '{', ',':
			return true
		}
		return false
	}
	return true
}

func keyAfter(src string, at int) bool {
	for i := at; i < len(src); i++ {
		switch src[i] {
		case ' ', '\t':
			continue
		case '=', '.', ']':
			return true
		}
		return false
	}
	return false
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// indexUnescaped is strings.Index for a basic string's closing delimiter,
// skipping backslash escapes.
func indexUnescaped(s, delim string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if strings.HasPrefix(s[i:], delim) {
			return i
		}
	}
	return -1
}
