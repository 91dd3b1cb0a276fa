package cli

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wedgeworks/wedge/api"
)

var tenantUsage = usage{
	line: "wedge tenant create T [--json]",
	text: `
Tenant manages tenants. Subcommands:

  create T   create tenant T and print its token (shown only once).
             Needs the operator token in WEDGE_TOKEN.`,
}

func runTenant(ctx context.Context, env Env, args []string) int {
	flags := newFlags("tenant")
	asJSON := flags.Bool("json", false, "print the API's answer as JSON")
	pos, code, stop := parse(env, flags, tenantUsage, args, 0, 2)
	if stop {
		return code
	}
	switch {
	case len(pos) == 0:
		return usageError(env, flags, tenantUsage, "missing subcommand: wedge tenant create T")
	case pos[0] != "create":
		return usageError(env, flags, tenantUsage, "unknown subcommand %q: tenant has only create", pos[0])
	}
	if len(pos) < 2 {
		return usageError(env, flags, tenantUsage, "missing the tenant's name")
	}
	name := pos[1]
	if !api.ValidName(name) {
		return usageError(env, flags, tenantUsage, "%q is not a valid tenant name: use 1–63 lowercase letters, digits and '-', starting with a letter", name)
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, tenantUsage, "%v", err)
	}
	var t api.Tenant
	raw, err := c.sendJSON(ctx, http.MethodPost, "/v1/tenants", api.CreateTenantRequest{Name: name}, &t)
	if err != nil {
		if e, ok := err.(*apiError); ok && e.Status == http.StatusForbidden {
			e.hint = "Creating a tenant needs the operator token: set WEDGE_TOKEN to the token `wedge serve` printed on first start (or its WEDGE_ADMIN_TOKEN)."
		}
		return fail(env, err)
	}
	if *asJSON {
		writeRaw(env.Stdout, raw)
		return ExitOK
	}
	if t.Name == "" {
		t.Name = name
	}
	fmt.Fprintf(env.Stdout, "created tenant %s\n", t.Name)
	if t.Token == "" {
		fmt.Fprintln(env.Stdout, "The API returned no token.")
		return ExitOK
	}
	fmt.Fprintf(env.Stdout, "Its token is shown only this once; to act as this tenant:\n\n  export WEDGE_TENANT=%s\n  export WEDGE_TOKEN=%s\n", t.Name, t.Token)
	return ExitOK
}
