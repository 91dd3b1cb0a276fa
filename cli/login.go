package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/wedgeworks/wedge/api"
)

// userConfig is what `wedge login` keeps in Env.ConfigFile, as JSON. The
// token goes only to API: the file is ignored while WEDGE_API names
// another.
type userConfig struct {
	API    string `json:"api"`
	Token  string `json:"token"`
	Tenant string `json:"tenant,omitempty"`
}

// maxUserConfig caps the size of a config file the CLI reads.
const maxUserConfig = 64 << 10

// loadUserConfig reads a config file; nil and no error when there is none.
func loadUserConfig(path string) (*userConfig, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUserConfig+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var uc userConfig
	if len(data) > maxUserConfig {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a file wedge login wrote", path, maxUserConfig)
	}
	if err := json.Unmarshal(data, &uc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if _, err := parseAPI(uc.API); err != nil {
		return nil, fmt.Errorf("%s: %q is not an API URL", path, uc.API)
	}
	return &uc, nil
}

// saveUserConfig writes uc to path, readable by its owner only, in a
// directory only its owner may enter. It replaces the file at once: a
// reader sees the old file or the new one.
func saveUserConfig(path string, uc userConfig) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(uc, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".config-*.json") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing there
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// parseAPI checks an API base URL and returns it without a trailing slash.
func parseAPI(s string) (string, error) {
	base := strings.TrimRight(s, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not a URL like %s", s, DefaultAPI)
	}
	return base, nil
}

// sameAPI reports whether two API URLs name the same API.
func sameAPI(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// identity is who a token is, as the API sees it.
type identity struct {
	kind   string // "operator" or "tenant"
	tenant string // the tenant checked: the token's own for a tenant token
	// noTenant: the operator token is fine, but the tenant does not exist.
	noTenant bool
}

// identify asks the API whose the client's token is: the operator's (it
// may list the tenants) or a tenant's (it may read its tenant only). For a
// tenant token it checks that the token is tenant's, or when tenant is
// empty, the tenant the token names.
func (c *client) identify(ctx context.Context, tenant string) (identity, error) {
	_, err := c.do(ctx, http.MethodGet, "/v1/tenants", "", nil)
	var ae *apiError
	switch {
	case err == nil:
		id := identity{kind: "operator", tenant: tenant}
		if tenant == "" {
			return id, nil
		}
		if _, err := c.do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(tenant), "", nil); err != nil {
			if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
				return identity{}, err
			}
			id.noTenant = true
		}
		return id, nil
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		if tenant == "" {
			tenant = tokenTenant(c.token)
		}
		if tenant == "" {
			return identity{}, errors.New("the API accepts this token, but it is not the operator's, and names no tenant: pass --tenant with the tenant it belongs to")
		}
		if _, err := c.do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(tenant), "", nil); err != nil {
			return identity{}, err
		}
		return identity{kind: "tenant", tenant: tenant}, nil
	}
	return identity{}, err
}

// tokenTenant returns the tenant a tenant token names: the API issues them
// as wt_TENANT.SECRET. It is only a hint; the API decides.
func tokenTenant(token string) string {
	rest, ok := strings.CutPrefix(token, "wt_")
	if !ok {
		return ""
	}
	tenant, _, ok := strings.Cut(rest, ".")
	if !ok || !validTenant(tenant) {
		return ""
	}
	return tenant
}

func validTenant(s string) bool { return api.ValidName(s) }

var loginUsage = usage{
	line: "wedge login [--api URL] [--tenant T]",
	text: `
Login checks a token with the API, then keeps the API's URL, the token and
a tenant in the config file (see 'wedge help'), so that the commands after
it need no WEDGE_* variables. The token is read from stdin, never from the
command line, where other users and the shell's history would see it: typed
after a prompt, without echo, at a terminal, or piped:

  printf %s "$TOKEN" | wedge login --api http://127.0.0.1:8081 --tenant acme

A tenant's token (from 'wedge tenant create') names its tenant, so --tenant
may be left out. With the operator token ('wedge serve' prints it on its
first start), --tenant picks the tenant worker commands act on; it need not
exist yet.

Flags and the environment still come first: --tenant, WEDGE_API,
WEDGE_TOKEN and WEDGE_TENANT override the file, and while WEDGE_API names
another API the file is not used at all (its token goes only to its own
API). Nothing is kept when the API refuses the token. 'wedge logout'
removes the file; 'wedge whoami' shows what is in use.`,
}

func runLogin(ctx context.Context, env Env, args []string) int {
	flags := newFlags("login")
	apiFlag := flags.String("api", "", "the control-plane API's `URL` (default: WEDGE_API, else the last login's, else "+DefaultAPI+")")
	tenantFlag := flags.String("tenant", "", "the `TENANT` worker commands act on (default: WEDGE_TENANT, else a tenant token's own, else the last login's)")
	if _, code, stop := parse(env, flags, loginUsage, args, 0, 0); stop {
		return code
	}
	if env.ConfigFile == "" {
		return fail(env, errors.New("there is no config directory to keep the login in (is HOME set?): set WEDGE_API, WEDGE_TOKEN and WEDGE_TENANT instead"))
	}
	apiURL := env.API
	if *apiFlag != "" {
		apiURL = *apiFlag
	}
	base, err := parseAPI(apiURL)
	if err != nil {
		return usageError(env, flags, loginUsage, "--api %v", err)
	}
	tenant := *tenantFlag
	if tenant == "" && env.from.tenant == "WEDGE_TENANT" {
		tenant = env.Tenant
	}
	if tenant != "" && !validTenant(tenant) {
		return usageError(env, flags, loginUsage, "%q is not a valid tenant name: use lowercase letters, digits and '-', starting with a letter", tenant)
	}

	token, err := readToken(ctx, env, fmt.Sprintf("Token for %s (input hidden): ", base))
	if err != nil {
		return fail(env, err)
	}
	if tenant == "" && tokenTenant(token) == "" && env.from.tenant == "config file" && sameAPI(env.API, base) {
		tenant = env.Tenant // logging in again as the operator: keep the tenant
	}
	c := &client{base: base, token: token, hc: http.DefaultClient}
	id, err := c.identify(ctx, tenant)
	if err != nil {
		return fail(env, loginHint(err, base))
	}
	if err := saveUserConfig(env.ConfigFile, userConfig{API: base, Token: token, Tenant: id.tenant}); err != nil {
		return fail(env, fmt.Errorf("keep the login: %w", err))
	}
	switch {
	case id.kind == "operator" && id.tenant == "":
		fmt.Fprintf(env.Stdout, "Logged in to %s as the operator, with no tenant (pass --tenant, or log in again with --tenant T).\n", base)
	case id.kind == "operator":
		fmt.Fprintf(env.Stdout, "Logged in to %s as the operator; worker commands act on tenant %s.\n", base, id.tenant)
		if id.noTenant {
			fmt.Fprintf(env.Stdout, "Tenant %s does not exist yet: create it with `wedge tenant create %s`.\n", id.tenant, id.tenant)
		}
	default:
		fmt.Fprintf(env.Stdout, "Logged in to %s as tenant %s.\n", base, id.tenant)
	}
	fmt.Fprintf(env.Stdout, "Kept in %s.\n", env.ConfigFile)
	for _, v := range []struct{ name, from string }{{"WEDGE_TOKEN", env.from.token}, {"WEDGE_TENANT", env.from.tenant}} {
		if v.from == v.name {
			fmt.Fprintf(env.Stderr, "warning: %s is set in the environment: it still comes before the login (unset it to use the login)\n", v.name)
		}
	}
	if env.from.api == "WEDGE_API" && !sameAPI(env.API, base) {
		fmt.Fprintf(env.Stderr, "warning: WEDGE_API=%s names another API: the login is not used while it does (unset it)\n", env.API)
	}
	return ExitOK
}

// readToken reads a token from env.Stdin: one line typed without echo at
// a terminal, or the whole of a pipe or file. Surrounding white space is
// dropped.
func readToken(ctx context.Context, env Env, prompt string) (string, error) {
	const max = 4096
	var data []byte
	if fd, ok := terminal(env.Stdin); ok {
		fmt.Fprint(env.Stderr, prompt)
		line, err := readHidden(ctx, fd, env.Stdin, max)
		fmt.Fprintln(env.Stderr)
		if err != nil {
			if ctx.Err() != nil {
				return "", errors.New("interrupted: nothing was kept")
			}
			return "", fmt.Errorf("read the token from the terminal: %w", err)
		}
		data = line
	} else {
		var err error
		if data, err = io.ReadAll(io.LimitReader(env.Stdin, max+1)); err != nil {
			return "", fmt.Errorf("read the token from stdin: %w", err)
		}
	}
	token := strings.TrimSpace(string(data))
	switch {
	case token == "":
		return "", errors.New("no token: type it at the prompt, or pipe it: printf %s \"$TOKEN\" | wedge login")
	case len(token) > max:
		return "", fmt.Errorf("the token is longer than %d bytes: is stdin the right file?", max)
	case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return "", errors.New("the token holds spaces or control characters: give the token alone")
	}
	return token, nil
}

// loginHint says what to do when the API refuses a token at login.
func loginHint(err error, base string) error {
	if e, ok := err.(*apiError); ok && e.Status == http.StatusUnauthorized {
		e.hint = fmt.Sprintf("The API at %s does not accept this token: give the operator token (`wedge serve` prints it on its first start) or a tenant's (from `wedge tenant create`). Nothing was kept.", base)
	}
	return err
}

var logoutUsage = usage{
	line: "wedge logout",
	text: `
Logout removes the config file that 'wedge login' wrote, token and all.
The WEDGE_* environment variables, if set, still apply.`,
}

func runLogout(ctx context.Context, env Env, args []string) int {
	flags := newFlags("logout")
	if _, code, stop := parse(env, flags, logoutUsage, args, 0, 0); stop {
		return code
	}
	if env.ConfigFile == "" {
		fmt.Fprintln(env.Stdout, "Not logged in: there is no config directory.")
		return ExitOK
	}
	err := os.Remove(env.ConfigFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(env.Stdout, "Not logged in (no %s).\n", env.ConfigFile)
	case err != nil:
		return fail(env, err)
	default:
		fmt.Fprintf(env.Stdout, "Logged out: removed %s.\n", env.ConfigFile)
	}
	if env.from.token == "WEDGE_TOKEN" {
		fmt.Fprintln(env.Stderr, "warning: WEDGE_TOKEN is still set in the environment")
	}
	return ExitOK
}

var whoamiUsage = usage{
	line: "wedge whoami [--tenant T] [--json]",
	text: `
Whoami shows the API the commands talk to, the tenant they act on and the
kind of token they send (the operator's or a tenant's; never the token
itself), where each comes from (a flag, the environment, the config file),
and checks the token with the API. It exits with status 0 only when the
API accepts the token for the tenant.

--json prints an object for scripts:
  {"api", "api_from", "tenant", "tenant_from", "token": "operator"|"tenant"|"",
   "token_from", "valid", "error", "config_file", "config_ignored"}`,
}

// whoamiResult is whoami's --json output.
type whoamiResult struct {
	API        string `json:"api"`
	APIFrom    string `json:"api_from"`
	Tenant     string `json:"tenant"`
	TenantFrom string `json:"tenant_from"`
	// Token is the kind of token: "operator", "tenant", or "" when there is
	// none or the API did not accept it.
	Token     string `json:"token"`
	TokenFrom string `json:"token_from"`
	// Valid is whether the API accepts the token (for the tenant).
	Valid bool `json:"valid"`
	// TenantExists is false when the operator's tenant does not exist yet.
	TenantExists  bool   `json:"tenant_exists"`
	Error         string `json:"error,omitempty"`
	ConfigFile    string `json:"config_file"`
	ConfigIgnored string `json:"config_ignored,omitempty"`
}

func runWhoami(ctx context.Context, env Env, args []string) int {
	flags := newFlags("whoami")
	tenant := tenantFlag(flags, env)
	asJSON := flags.Bool("json", false, "print the result as JSON")
	if _, code, stop := parse(env, flags, whoamiUsage, args, 0, 0); stop {
		return code
	}
	res := whoamiResult{
		API: env.API, APIFrom: env.from.api, Tenant: *tenant, TenantFrom: env.from.tenant,
		TokenFrom: env.from.token, ConfigFile: env.ConfigFile, ConfigIgnored: env.from.ignored,
	}
	flags.Visit(func(f *flag.Flag) {
		if f.Name == "tenant" {
			res.TenantFrom = "--tenant"
		}
	})
	if res.Tenant == "" {
		res.TenantFrom = ""
	}
	if *tenant != "" && !validTenant(*tenant) {
		return usageError(env, flags, whoamiUsage, "%q is not a valid tenant name", *tenant)
	}
	check := func() error {
		if env.Token == "" {
			return errors.New("no token: run `wedge login`, or set WEDGE_TOKEN")
		}
		c, err := newClient(env)
		if err != nil {
			return err
		}
		id, err := c.identify(ctx, *tenant)
		if err != nil {
			return err
		}
		res.Token, res.Valid, res.TenantExists = id.kind, true, !id.noTenant
		if res.Tenant == "" && id.tenant != "" {
			res.Tenant, res.TenantFrom = id.tenant, "the token"
		}
		return nil
	}
	if err := check(); err != nil {
		res.Error = err.Error()
	}
	if *asJSON {
		data, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fail(env, err)
		}
		writeRaw(env.Stdout, data)
	} else {
		printWhoami(env.Stdout, res)
	}
	if !res.Valid {
		if !*asJSON {
			fmt.Fprintf(env.Stderr, "error: %s\n", res.Error)
		}
		return ExitFailed
	}
	return ExitOK
}

func printWhoami(w io.Writer, r whoamiResult) {
	from := func(s string) string {
		if s == "" {
			return ""
		}
		return "  (" + s + ")"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "API\t%s%s\n", r.API, from(r.APIFrom))
	switch {
	case r.Tenant == "":
		fmt.Fprintf(tw, "Tenant\tnone: pass --tenant, set WEDGE_TENANT or run `wedge login --tenant T`\n")
	case r.Valid && !r.TenantExists:
		fmt.Fprintf(tw, "Tenant\t%s%s — does not exist yet: `wedge tenant create %s`\n", r.Tenant, from(r.TenantFrom), r.Tenant)
	default:
		fmt.Fprintf(tw, "Tenant\t%s%s\n", r.Tenant, from(r.TenantFrom))
	}
	switch {
	case r.TokenFrom == "":
		fmt.Fprintf(tw, "Token\tnone\n")
	case r.Valid:
		fmt.Fprintf(tw, "Token\t%s token, accepted by the API%s\n", r.Token, from(r.TokenFrom))
	default:
		fmt.Fprintf(tw, "Token\tnot accepted%s\n", from(r.TokenFrom))
	}
	cf := r.ConfigFile
	if cf == "" {
		cf = "none"
	}
	if r.ConfigIgnored != "" {
		cf += " — not used: " + r.ConfigIgnored
	}
	fmt.Fprintf(tw, "Config file\t%s\n", cf)
	tw.Flush()
}
