package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wedgeworks/wedge/api"
)

var deployUsage = usage{
	line: "wedge deploy [DIR|FILE.wasm] [--name W] [--tenant T] [--wait [--timeout D]] [--json]",
	text: `
Deploy builds the worker project in DIR (default: the current directory)
and uploads it, with the settings in its wedge.toml, as a new version of the
worker, which becomes active once the API has validated and compiled it.
Given a .wasm file instead, it uploads that file with default settings;
--name is then required.

Needs a token (a tenant's, or the operator's) and a tenant: from
'wedge login', or WEDGE_TOKEN and WEDGE_TENANT (or --tenant); WEDGE_API
says where the API is.

--wait waits until every live node serves the new version (nodes sharing
a store, wedge serve --store nats://…; the embedded store has one node),
for up to --timeout (default 1m). If some do not by then, deploy lists
them and exits with 3: the version is deployed, and active, but not served
everywhere yet.

--json prints {"tenant", "name", "version", "sha256", "size", "host",
"url"}: the API's answer, with the worker's URL, and with --wait "nodes",
the version each node serves.`,
}

// ExitNotEverywhere is deploy --wait's exit code when the new version is
// deployed but some live nodes did not serve it within --timeout.
const ExitNotEverywhere = 3

// deployResult is deploy's --json output: the API's answer and the URL.
type deployResult struct {
	api.DeployResult
	URL   string           `json:"url,omitempty"`
	Nodes []api.NodeStatus `json:"nodes,omitempty"` // with --wait
}

func runDeploy(ctx context.Context, env Env, args []string) int {
	flags := newFlags("deploy")
	name := flags.String("name", "", "the worker's `NAME` (default: name in wedge.toml)")
	tenant := tenantFlag(flags, env)
	asJSON := flags.Bool("json", false, "print the result as JSON")
	wait := flags.Bool("wait", false, "wait until every live node serves the new version")
	timeout := flags.Duration("timeout", time.Minute, "with --wait, how long to wait (`D`, e.g. 30s)")
	pos, code, stop := parse(env, flags, deployUsage, args, 0, 1)
	if stop {
		return code
	}
	if *timeout <= 0 {
		return usageError(env, flags, deployUsage, "--timeout must be positive, e.g. --timeout 30s")
	}
	target := "."
	if len(pos) == 1 {
		target = pos[0]
	}
	if code, ok := checkTenant(env, flags, deployUsage, *tenant); !ok {
		return code
	}
	if *name != "" {
		if code, ok := checkWorker(env, flags, deployUsage, *name); !ok {
			return code
		}
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, deployUsage, "%v", err)
	}

	var (
		wasmPath string
		settings api.WorkerSettings
	)
	if fi, err := os.Stat(target); strings.HasSuffix(target, ".wasm") && (err != nil || !fi.IsDir()) {
		if *name == "" {
			return usageError(env, flags, deployUsage, "deploying a .wasm file needs --name: wedge deploy %s --name NAME", target)
		}
		if err := checkWasmFile(target); err != nil {
			return fail(env, err)
		}
		wasmPath = target
	} else {
		cfg, err := LoadConfig(target)
		if err != nil {
			return fail(env, err)
		}
		if *name == "" {
			*name = cfg.Name
		}
		// go build's own output goes to stderr, leaving stdout to the result.
		if wasmPath, err = build(ctx, target, cfg, env.Stderr, env.Stderr); err != nil {
			return fail(env, err)
		}
		settings = cfg.Settings()
	}

	module, err := os.ReadFile(wasmPath)
	if err != nil {
		return fail(env, err)
	}
	body, contentType, err := uploadBody(module, settings)
	if err != nil {
		return fail(env, err)
	}
	var res deployResult
	if _, err := c.sendRaw(ctx, http.MethodPut, workerPath(*tenant, *name, ""), contentType, body, &res.DeployResult); err != nil {
		return fail(env, deployHint(err, *tenant))
	}
	sum := sha256.Sum256(module)
	local := hex.EncodeToString(sum[:])
	if res.SHA256 != "" && !strings.EqualFold(res.SHA256, local) {
		fmt.Fprintf(env.Stderr, "warning: the API stored sha256 %s, but %s has sha256 %s\n", res.SHA256, wasmPath, local)
	}
	if res.SHA256 == "" {
		res.SHA256 = local
	}
	if res.Size == 0 {
		res.Size = int64(len(module))
	}
	if res.Tenant == "" {
		res.Tenant = *tenant
	}
	if res.Name == "" {
		res.Name = *name
	}
	if res.Host != "" {
		res.URL = "http://" + res.Host + "/"
	}
	var wr waitResult
	exit := ExitOK
	if *wait {
		wr = waitEverywhere(ctx, c, *tenant, *name, res.Version, *timeout)
		res.Nodes = wr.nodes
		if !wr.done {
			exit = ExitNotEverywhere
		}
	}
	if *asJSON {
		out, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fail(env, err)
		}
		writeRaw(env.Stdout, out)
		if *wait && !wr.done {
			wr.report(env, res.Version, *timeout)
		}
		return exit
	}
	fmt.Fprintf(env.Stdout, "deployed %s version %d\n", *name, res.Version)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  sha256\t%s\n", res.SHA256)
	fmt.Fprintf(tw, "  size\t%s (%d bytes)\n", formatSize(res.Size), res.Size)
	if res.URL != "" {
		fmt.Fprintf(tw, "  url\t%s\n", res.URL)
	}
	if *wait && wr.done {
		fmt.Fprintf(tw, "  nodes\t%d of %d serve it (%v after the deploy)\n", len(wr.nodes), len(wr.nodes), wr.took.Round(time.Millisecond))
	}
	tw.Flush()
	if *wait && !wr.done {
		wr.report(env, res.Version, *timeout)
	}
	return exit
}

// waitResult is what waitEverywhere saw last.
type waitResult struct {
	done    bool
	nodes   []api.NodeStatus
	partial bool          // the answering node could not reach the shared store
	err     error         // the last failed poll, if the last poll failed
	took    time.Duration // until done
}

// waitEverywhere polls GET of the worker until every node it lists serves
// version (or a later one: a newer deploy overtook it), or timeout passes.
func waitEverywhere(ctx context.Context, c *client, tenant, worker string, version int, timeout time.Duration) waitResult {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var r waitResult
	delay := 20 * time.Millisecond
	for {
		var w api.Worker
		_, err := c.getJSON(ctx, workerPath(tenant, worker, ""), &w)
		if err == nil {
			r.nodes, r.partial, r.err = w.Nodes, w.NodesPartial, nil
			r.done = len(w.Nodes) > 0 && !w.NodesPartial
			for _, n := range w.Nodes {
				r.done = r.done && n.Version >= version
			}
			if r.done {
				r.took = time.Since(start)
				return r
			}
		} else if ctx.Err() == nil {
			r.err = err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return r
		case <-t.C:
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// report tells, on stderr, which nodes do not serve version.
func (r waitResult) report(env Env, version int, timeout time.Duration) {
	fmt.Fprintf(env.Stderr, "warning: version %d is deployed and active, but not served everywhere after %v:\n", version, timeout)
	switch {
	case r.partial:
		fmt.Fprintln(env.Stderr, "  the API's node cannot reach the shared store, so the other nodes are unknown")
	case r.err != nil && r.nodes == nil:
		fmt.Fprintf(env.Stderr, "  cannot read the worker's nodes: %v\n", r.err)
	case len(r.nodes) == 0:
		fmt.Fprintln(env.Stderr, "  the API lists no nodes (is it older than --wait?)")
	}
	for _, n := range r.nodes {
		if n.Version >= version {
			continue
		}
		what := fmt.Sprintf("version %d", n.Version)
		if n.Version == 0 {
			what = "no version"
		}
		fmt.Fprintf(env.Stderr, "  %s serves %s\n", n.Node, what)
	}
}

// uploadBody returns the multipart/form-data body of a worker upload: the
// settings as JSON in part "metadata", the module in part "module".
func uploadBody(module []byte, settings api.WorkerSettings) (body []byte, contentType string, err error) {
	meta, err := json.Marshal(settings)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range []struct {
		name, filename, contentType string
		data                        []byte
	}{
		{"metadata", "", "application/json", meta},
		{"module", "worker.wasm", "application/wasm", module},
	} {
		h := make(textproto.MIMEHeader)
		disp := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "" {
			disp += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", disp)
		h.Set("Content-Type", p.contentType)
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(p.data); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// sendRaw sends body as is and decodes the answer into out.
func (c *client) sendRaw(ctx context.Context, method, path, contentType string, body []byte, out any) ([]byte, error) {
	data, err := c.do(ctx, method, path, contentType, body)
	if err != nil {
		return nil, err
	}
	return data, decodeAnswer(data, out)
}

// deployHint adds what to do next to the API errors a deploy meets most.
func deployHint(err error, tenant string) error {
	if e, ok := err.(*apiError); ok && e.hint == "" {
		switch e.Code {
		case api.CodeInvalidModule, api.CodeBadRequest:
			e.hint = "The running version, if any, is unchanged. Build with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared (wedge build does)."
		case api.CodeForbidden:
			e.hint = fmt.Sprintf("The token (see `wedge whoami`) does not give access to tenant %q: use that tenant's token or the operator token.", tenant)
		}
	}
	return err
}

var versionsUsage = usage{
	line:    "wedge versions W [--tenant T] [--json]",
	missing: "missing the worker's name: wedge versions W",
	text: `
Versions lists the versions of worker W, newest first, and marks the active
one with '*'. --json prints the API's list of versions as it is.`,
}

func runVersions(ctx context.Context, env Env, args []string) int {
	flags := newFlags("versions")
	tenant := tenantFlag(flags, env)
	asJSON := flags.Bool("json", false, "print the API's answer as JSON")
	pos, code, stop := parse(env, flags, versionsUsage, args, 1, 1)
	if stop {
		return code
	}
	worker := pos[0]
	if code, ok := checkWorker(env, flags, versionsUsage, worker); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, versionsUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, versionsUsage, "%v", err)
	}
	var versions []api.Version
	raw, err := c.getJSON(ctx, workerPath(*tenant, worker, "/versions"), &versions)
	if err != nil {
		return fail(env, workerHint(err, *tenant, worker))
	}
	if *asJSON {
		writeRaw(env.Stdout, raw)
		return ExitOK
	}
	var w api.Worker
	if _, err := c.getJSON(ctx, workerPath(*tenant, worker, ""), &w); err != nil {
		return fail(env, workerHint(err, *tenant, worker))
	}
	if len(versions) == 0 {
		fmt.Fprintf(env.Stdout, "%s has no versions: deploy one with `wedge deploy`\n", worker)
		return ExitOK
	}
	printVersions(env, versions, w.ActiveVersion)
	return ExitOK
}

func printVersions(env Env, versions []api.Version, active int) {
	slices.SortFunc(versions, func(a, b api.Version) int { return b.Number - a.Number })
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VERSION\tSHA256\tSIZE\tCREATED")
	for _, v := range versions {
		mark := " "
		if v.Number == active {
			mark = "*"
		}
		created := "-"
		if !v.Created.IsZero() {
			created = v.Created.UTC().Format(time.DateTime) + " UTC"
		}
		fmt.Fprintf(tw, "%s %d\t%s\t%s\t%s\n", mark, v.Number, shortSum(v.SHA256), formatSize(v.Size), created)
	}
	tw.Flush()
}

func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	if s == "" {
		return "-"
	}
	return s
}

// workerHint adds what to do next to an API error about one worker.
func workerHint(err error, tenant, worker string) error {
	if e, ok := err.(*apiError); ok && e.hint == "" && e.Status == http.StatusNotFound {
		e.hint = fmt.Sprintf("Is tenant %q right? Deploy worker %q first with `wedge deploy`.", tenant, worker)
	}
	return err
}

var rollbackUsage = usage{
	line:    "wedge rollback W [--version N] [--tenant T] [--json]",
	missing: "missing the worker's name: wedge rollback W",
	text: `
Rollback makes an earlier version of worker W active again: version N, or
without --version the one before the active version.`,
}

func runRollback(ctx context.Context, env Env, args []string) int {
	flags := newFlags("rollback")
	version := flags.Int("version", 0, "activate version `N` (default: the one before the active version)")
	tenant := tenantFlag(flags, env)
	asJSON := flags.Bool("json", false, "print the API's answer as JSON")
	pos, code, stop := parse(env, flags, rollbackUsage, args, 1, 1)
	if stop {
		return code
	}
	worker := pos[0]
	if *version < 0 {
		return usageError(env, flags, rollbackUsage, "--version must be a version number (1 or more); `wedge versions %s` lists them", worker)
	}
	if code, ok := checkWorker(env, flags, rollbackUsage, worker); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, rollbackUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, rollbackUsage, "%v", err)
	}
	// The answer is the worker (active_version) or the version now active
	// (version); accept either, and ask when it is neither.
	var res struct {
		ActiveVersion *int `json:"active_version"`
		Version       *int `json:"version"`
	}
	raw, err := c.sendJSON(ctx, http.MethodPost, workerPath(*tenant, worker, "/rollback"), api.RollbackRequest{Version: *version}, &res)
	if err != nil {
		return fail(env, workerHint(err, *tenant, worker))
	}
	if *asJSON {
		writeRaw(env.Stdout, raw)
		return ExitOK
	}
	var active int
	switch {
	case res.ActiveVersion != nil:
		active = *res.ActiveVersion
	case res.Version != nil:
		active = *res.Version
	default:
		var w api.Worker
		if _, err := c.getJSON(ctx, workerPath(*tenant, worker, ""), &w); err != nil {
			return fail(env, err)
		}
		active = w.ActiveVersion
	}
	fmt.Fprintf(env.Stdout, "%s: version %d is active\n", worker, active)
	return ExitOK
}
