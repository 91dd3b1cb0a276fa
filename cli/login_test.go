package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loginEnv is an Env with nothing from the environment and a config file
// in a temporary directory that does not exist yet.
func loginEnv(t *testing.T) Env {
	return Env{ConfigFile: filepath.Join(t.TempDir(), "config", "wedge", "config.json")}
}

func whoami(t *testing.T, env Env, args ...string) (int, whoamiResult, string) {
	t.Helper()
	code, out, errOut := run(t, env, append([]string{"whoami", "--json"}, args...))
	var res whoamiResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("whoami --json printed %q (%v); stderr %q", out, err, errOut)
	}
	return code, res, out
}

func TestLoginTenantToken(t *testing.T) {
	live := newLiveAPI(t)
	env := loginEnv(t)
	tenantToken := live.env.Token

	// A tenant token names its tenant: no --tenant needed.
	code, out, errOut := runIn(t, env, tenantToken+"\n", "login", "--api", live.env.API)
	if code != ExitOK || !strings.Contains(out, "Logged in to "+live.env.API+" as tenant acme.") || errOut != "" {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Contains(out, tenantToken) {
		t.Error("login printed the token")
	}
	fi, err := os.Stat(env.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(filepath.Dir(env.ConfigFile)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("config directory: %v %v, want mode 0700", di.Mode().Perm(), err)
	}
	uc, err := loadUserConfig(env.ConfigFile)
	if err != nil || uc == nil || *uc != (userConfig{API: live.env.API, Token: tenantToken, Tenant: "acme"}) {
		t.Fatalf("config file holds %+v, %v", uc, err)
	}

	// The next commands need nothing else.
	if code, _, errOut := run(t, env, []string{"secret", "list", "hello"}); code != ExitOK {
		t.Errorf("secret list after login: exit %d, %s", code, errOut)
	}
	code, res, raw := whoami(t, env)
	want := whoamiResult{API: live.env.API, APIFrom: "config file", Tenant: "acme", TenantFrom: "config file",
		Token: "tenant", TokenFrom: "config file", Valid: true, TenantExists: true, ConfigFile: env.ConfigFile}
	if code != ExitOK || res != want {
		t.Errorf("whoami: exit %d\n got %+v\nwant %+v", code, res, want)
	}
	if strings.Contains(raw, tenantToken) {
		t.Error("whoami printed the token")
	}
	code, out, _ = run(t, env, []string{"whoami"})
	if code != ExitOK || !strings.Contains(out, "tenant token, accepted by the API  (config file)") || strings.Contains(out, tenantToken) {
		t.Errorf("whoami: exit %d:\n%s", code, out)
	}

	// Flags and the environment come first.
	envTenant := env
	envTenant.Tenant = "beta"
	if _, res, _ := whoami(t, envTenant); res.Tenant != "beta" || res.TenantFrom != "WEDGE_TENANT" || res.Valid {
		t.Errorf("WEDGE_TENANT=beta: %+v; want beta from WEDGE_TENANT, not valid for acme's token", res)
	}
	if _, res, _ := whoami(t, env, "--tenant", "beta"); res.Tenant != "beta" || res.TenantFrom != "--tenant" || res.Valid || !strings.Contains(res.Error, "belongs to tenant acme") {
		t.Errorf("--tenant beta: %+v", res)
	}
	// Another API: the file is not used at all, its token not sent.
	other := env
	other.API = "http://127.0.0.1:1"
	code, res, _ = whoami(t, other)
	if code != ExitFailed || res.TokenFrom != "" || res.Tenant != "" || !strings.Contains(res.ConfigIgnored, "WEDGE_API says http://127.0.0.1:1") {
		t.Errorf("WEDGE_API elsewhere: exit %d, %+v", code, res)
	}

	// Logout removes the file.
	code, out, _ = run(t, env, []string{"logout"})
	if code != ExitOK || !strings.Contains(out, "Logged out: removed "+env.ConfigFile) {
		t.Errorf("logout: exit %d, %q", code, out)
	}
	if _, err := os.Stat(env.ConfigFile); !os.IsNotExist(err) {
		t.Errorf("the config file is still there: %v", err)
	}
	if code, out, _ = run(t, env, []string{"logout"}); code != ExitOK || !strings.Contains(out, "Not logged in") {
		t.Errorf("second logout: exit %d, %q", code, out)
	}
	if code, res, _ := whoami(t, env); code != ExitFailed || res.Valid || !strings.Contains(res.Error, "no token: run `wedge login`") {
		t.Errorf("whoami after logout: exit %d, %+v", code, res)
	}
}

func TestLoginOperator(t *testing.T) {
	live := newLiveAPI(t)
	env := loginEnv(t)
	env.API = live.env.API // WEDGE_API

	code, out, errOut := runIn(t, env, live.opToken, "login", "--tenant", "newco")
	if code != ExitOK || !strings.Contains(out, "as the operator; worker commands act on tenant newco") ||
		!strings.Contains(out, "Tenant newco does not exist yet: create it with `wedge tenant create newco`") {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, res, _ := whoami(t, Env{ConfigFile: env.ConfigFile})
	if code != ExitOK || res.Token != "operator" || res.Tenant != "newco" || res.TenantExists {
		t.Errorf("whoami: exit %d, %+v", code, res)
	}
	// The operator creates the tenant; worker commands then act on it.
	if code, _, errOut := run(t, Env{ConfigFile: env.ConfigFile}, []string{"tenant", "create", "newco"}); code != ExitOK {
		t.Fatalf("tenant create: %s", errOut)
	}
	if code, out, _ := run(t, Env{ConfigFile: env.ConfigFile}, []string{"tenant", "list"}); code != ExitOK || !strings.Contains(out, "newco") || !strings.Contains(out, "acme") {
		t.Errorf("tenant list: exit %d\n%s", code, out)
	}
	if code, res, _ := whoami(t, Env{ConfigFile: env.ConfigFile}); code != ExitOK || !res.TenantExists {
		t.Errorf("whoami after tenant create: %+v", res)
	}
	// Logging in again as the operator keeps the tenant.
	if code, _, errOut := runIn(t, Env{ConfigFile: env.ConfigFile}, live.opToken, "login"); code != ExitOK {
		t.Fatalf("login again: %s", errOut)
	}
	if uc, _ := loadUserConfig(env.ConfigFile); uc == nil || uc.Tenant != "newco" {
		t.Errorf("login again kept %+v", uc)
	}
}

func TestLoginRefused(t *testing.T) {
	live := newLiveAPI(t)
	env := loginEnv(t)
	for _, tt := range []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"bad token", "wo_not-the-token", nil, ExitFailed, "does not accept this token"},
		{"forged tenant token", "wt_acme.forged", nil, ExitFailed, "does not accept this token"},
		{"another tenant", live.env.Token, []string{"--tenant", "beta"}, ExitFailed, "belongs to tenant acme"},
		{"empty stdin", "", nil, ExitFailed, "no token: type it at the prompt, or pipe it"},
		{"spaces", "two words", nil, ExitFailed, "spaces or control characters"},
		{"argument", live.env.Token, []string{live.env.Token}, ExitUsage, "too many arguments"},
		{"bad api", live.env.Token, []string{"--api", "localhost:8081"}, ExitUsage, "is not a URL"},
		{"unreachable", live.env.Token, []string{"--api", "http://127.0.0.1:1"}, ExitFailed, "cannot reach the Wedge API"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"login", "--api", live.env.API}, tt.args...)
			code, out, errOut := runIn(t, env, tt.stdin, args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tt.code, tt.want)
			}
			if _, err := os.Stat(env.ConfigFile); !os.IsNotExist(err) {
				t.Errorf("a refused login left a config file: %v", err)
			}
		})
	}
	code, _, errOut := runIn(t, Env{API: live.env.API}, live.env.Token, "login")
	if code != ExitFailed || !strings.Contains(errOut, "no config directory") {
		t.Errorf("login without a config file: exit %d, %q", code, errOut)
	}
}

func TestUserConfigCorrupt(t *testing.T) {
	env := loginEnv(t)
	os.MkdirAll(filepath.Dir(env.ConfigFile), 0o700)
	os.WriteFile(env.ConfigFile, []byte("{not json"), 0o600)
	code, _, errOut := run(t, env, []string{"versions", "hello", "--tenant", "acme"})
	if code != ExitFailed || !strings.Contains(errOut, "warning: ignoring "+env.ConfigFile) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := run(t, env, []string{"logout"}); code != ExitOK {
		t.Errorf("logout of a corrupt file: exit %d", code)
	}
}
