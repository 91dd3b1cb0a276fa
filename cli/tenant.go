package cli

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wedgeworks/wedge/api"
)

var tenantUsage = usage{
	line: "wedge tenant create|list [T] [--json]",
	text: `
Tenant manages tenants; both subcommands need the operator token.

  create T   create tenant T and print its token (shown only this once)
  list       list the tenants

Run 'wedge tenant create -h' (list) for a subcommand's details.`,
}

func runTenant(ctx context.Context, env Env, args []string) int {
	return dispatch(ctx, env, args, "tenant", tenantUsage, []subcommand{
		{"create", runTenantCreate},
		{"list", runTenantList},
	})
}

var tenantCreateUsage = usage{
	line:    "wedge tenant create T [--json]",
	missing: "missing the tenant's name: wedge tenant create T",
	text: `
Create creates tenant T and prints its token, which the API shows only
this once. Needs the operator token (WEDGE_TOKEN, or the operator's
'wedge login'). To act as the new tenant, give its token to
'wedge login', or export WEDGE_TENANT and WEDGE_TOKEN as printed.
--json prints the API's answer: {"name", "token", "created"}.`,
}

func runTenantCreate(ctx context.Context, env Env, args []string) int {
	flags := newFlags("tenant create")
	asJSON := flags.Bool("json", false, "print the API's answer as JSON")
	pos, code, stop := parse(env, flags, tenantCreateUsage, args, 1, 1)
	if stop {
		return code
	}
	name := pos[0]
	if !api.ValidName(name) {
		return usageError(env, flags, tenantCreateUsage, "%q is not a valid tenant name: use 1–63 lowercase letters, digits and '-', starting with a letter", name)
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, tenantCreateUsage, "%v", err)
	}
	var t api.Tenant
	raw, err := c.sendJSON(ctx, http.MethodPost, "/v1/tenants", api.CreateTenantRequest{Name: name}, &t)
	if err != nil {
		return fail(env, operatorHint(err, "Creating a tenant"))
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
	fmt.Fprintf(env.Stdout, "Its token is shown only this once; to act as this tenant, either\n\n  wedge login --tenant %s     # and paste the token\n\nor\n\n  export WEDGE_TENANT=%s\n  export WEDGE_TOKEN=%s\n", t.Name, t.Name, t.Token)
	return ExitOK
}

// operatorHint adds what to do next to a 403 from an operator-only call.
func operatorHint(err error, what string) error {
	if e, ok := err.(*apiError); ok && e.Status == http.StatusForbidden {
		e.hint = what + " needs the operator token: the one `wedge serve` printed on its first start (or its WEDGE_ADMIN_TOKEN), in WEDGE_TOKEN or through `wedge login`."
	}
	return err
}

var tenantListUsage = usage{
	line: "wedge tenant list [--json]",
	text: `
List prints the tenants, sorted, with their creation times. Needs the
operator token. --json prints the API's answer: [{"name", "created"}].`,
}

func runTenantList(ctx context.Context, env Env, args []string) int {
	flags := newFlags("tenant list")
	asJSON := flags.Bool("json", false, "print the API's answer as JSON")
	if _, code, stop := parse(env, flags, tenantListUsage, args, 0, 0); stop {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, tenantListUsage, "%v", err)
	}
	var ts []api.Tenant
	raw, err := c.getJSON(ctx, "/v1/tenants", &ts)
	if err != nil {
		return fail(env, operatorHint(err, "Listing the tenants"))
	}
	if *asJSON {
		writeRaw(env.Stdout, raw)
		return ExitOK
	}
	if len(ts) == 0 {
		fmt.Fprintln(env.Stderr, "no tenants: create one with `wedge tenant create T`")
		return ExitOK
	}
	slices.SortFunc(ts, func(a, b api.Tenant) int { return strings.Compare(a.Name, b.Name) })
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tCREATED")
	for _, t := range ts {
		created := "-"
		if !t.Created.IsZero() {
			created = t.Created.UTC().Format(time.DateTime) + " UTC"
		}
		fmt.Fprintf(tw, "%s\t%s\n", t.Name, created)
	}
	tw.Flush()
	return ExitOK
}
