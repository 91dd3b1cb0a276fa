package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/cache"
	"github.com/wedgeworks/wedge/cli"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/netfilter"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/scheduler"
	"github.com/wedgeworks/wedge/store"
)

const serveUsage = `usage: wedge serve [flags]

Runs the Wedge host: the edge listeners that serve workers (--http, and
--https for HTTP/1.1, HTTP/2 and HTTP/3 over TLS), the control-plane API,
/metrics and /healthz. SIGTERM drains in-flight requests for up to 10 s;
with --https, SIGHUP reloads the certificate files.

The operator token comes from WEDGE_ADMIN_TOKEN; without it, a token is
generated on the first start, printed once, and only its hash is kept.

flags:
`

// operatorTokenKey is the store meta key of the operator token's hash.
const operatorTokenKey = "operator_token_sha256"

func serveCommand(ctx context.Context, env cli.Env, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	httpAddr := fs.String("http", "127.0.0.1:8080", "plain-HTTP edge listener (HTTP/1.1 and h2c)")
	httpsAddr := fs.String("https", "", "TLS edge listener: HTTP/1.1 and HTTP/2 over TCP, HTTP/3 over UDP on the same port (off by default; needs --tls-cert and --tls-key, or --tls-self-signed)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate chain of --https (the leaf first); reloaded on SIGHUP and when the file changes")
	tlsKey := fs.String("tls-key", "", "PEM private key of --tls-cert")
	tlsSelfSigned := fs.Bool("tls-self-signed", false, "serve --https with a self-signed certificate for *.ZONE, ZONE, localhost, 127.0.0.1 and ::1, kept in --data (development only)")
	adminAddr := fs.String("admin", "127.0.0.1:8081", "control-plane API, /metrics and /healthz")
	dataDir := fs.String("data", "./.wedge", "data directory: deployments and the compiled-code cache")
	zone := fs.String("zone", edge.DefaultZone, "worker W of tenant T answers at W.T.ZONE")
	serverTiming := fs.Bool("server-timing", false, "add Server-Timing (instantiate, exec, total) to worker responses")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	codeBudget := fs.Int64("code-budget", runtime.DefaultCodeBudget>>20, "MiB of compiled code kept in memory; the least recently used workers' code is reloaded from the disk cache when needed")
	storeURL := fs.String("store", "", "nats://HOST:PORT (or tls://…; comma-separated for a cluster): keep deployments, secrets and KV in NATS JetStream, shared by every node pointed at it (needs "+secretKeyEnv+"); empty: the embedded store in --data")
	nodeIDFlag := fs.String("node-id", "", "this node's name among the nodes sharing a --store (GET of a worker and wedge deploy --wait list nodes by it); default: the host name and four random hex digits, made on the first start and kept in --data")
	egressAllow := fs.String("egress-allow", "", "address ranges (comma-separated CIDRs or addresses) that workers' fetch may reach although they are loopback, private or link-local; denied by default")
	cacheMB := fs.Int64("cache-mb", cache.DefaultMaxBytes>>20, "MiB of memory for the edge cache shared by all tenants (one tenant may use a quarter)")
	xdp := fs.String("xdp", "", "attach the XDP packet filter to this interface (native, else generic mode; without it, or where the kernel refuses BPF, the same rules apply in userspace at the edge listener)")
	xdpPins := fs.String("xdp-pins", netfilter.DefaultPinDir, "where the XDP program's link and maps are pinned, so that a restart takes them over without a gap")
	var caps api.Limits
	fs.IntVar(&caps.CPUMillis, "max-cpu-ms", api.DefaultLimits.CPUMillis, "the most CPU time per request a worker may ask for (limits.cpu_ms); deploys asking for more are refused")
	fs.IntVar(&caps.WallMillis, "max-wall-ms", api.DefaultLimits.WallMillis, "the most wall time per request a worker may ask for (limits.wall_ms)")
	fs.IntVar(&caps.MemoryMB, "max-memory-mb", api.DefaultLimits.MemoryMB, "the most linear memory per instance a worker may ask for (limits.memory_mb)")
	fs.IntVar(&caps.Subrequests, "max-subrequests", api.DefaultLimits.Subrequests, "the most fetch calls per request a worker may ask for (limits.subrequests)")
	tenantRPS := fs.Float64("tenant-rps", 0, "requests per second one tenant may make across its workers (a token bucket; 0: no limit); beyond it, 429 rate-limited")
	tenantBurst := fs.Int("tenant-burst", 0, "the burst of --tenant-rps (0: one second's worth)")
	sourceRPS := fs.Float64("source-rps", 0, "requests per second one client address (IPv6: one /64) may make (a token bucket; 0: no limit); beyond it, 429 rate-limited")
	sourceBurst := fs.Int("source-burst", 0, "the burst of --source-rps (0: one second's worth)")
	escalateAfter := fs.Int("escalate-after", 0, "block a client address in the packet filter once it was answered rate-limited this many times within --escalate-window (0: never)")
	escalateWindow := fs.Duration("escalate-window", netfilter.DefaultEscalationWindow, "the window of --escalate-after")
	escalateTTL := fs.Duration("escalate-ttl", netfilter.DefaultEscalationTTL, "how long an escalated address stays blocked")
	maxConcurrency := fs.Int("max-concurrency", 256, "requests served at once on this host; beyond it, requests wait up to 1 s, then 503 overloaded")
	tenantConcurrency := fs.Int("tenant-concurrency", 0, "requests one tenant may have in flight at once (0: half of --max-concurrency); beyond it, 503 overloaded")
	instances := fs.String("instances", "pool", "how requests get instances: pool (reset to the image and reused), image (a new one from the image each time) or fresh (full instantiation each time; for comparisons)")
	fs.Usage = func() {
		fmt.Fprint(env.Stdout, serveUsage)
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cli.ExitOK
		}
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "error: unexpected argument %q: wedge serve takes only flags (see wedge serve --help)\n", fs.Arg(0))
		return cli.ExitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(env.Stderr, "error: --log-level %q: use debug, info, warn or error\n", *logLevel)
		return cli.ExitUsage
	}
	if *sourceRPS < 0 || *sourceBurst < 0 || *escalateAfter < 0 {
		fmt.Fprintln(env.Stderr, "error: --source-rps, --source-burst and --escalate-after must not be negative")
		return cli.ExitUsage
	}
	if caps.CPUMillis <= 0 || caps.WallMillis <= 0 || caps.MemoryMB <= 0 || caps.Subrequests < 0 || *tenantRPS < 0 || *tenantBurst < 0 || *maxConcurrency <= 0 || *tenantConcurrency < 0 {
		fmt.Fprintln(env.Stderr, "error: --max-cpu-ms, --max-wall-ms, --max-memory-mb and --max-concurrency must be positive, the other limits not negative")
		return cli.ExitUsage
	}
	secretKey, err := secretKeyFromEnv(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
		return cli.ExitUsage
	}
	allow, err := hostapi.ParsePrefixes(*egressAllow)
	if err != nil {
		fmt.Fprintf(env.Stderr, "error: --egress-allow %q: %v\n", *egressAllow, err)
		return cli.ExitUsage
	}
	if *cacheMB <= 0 {
		fmt.Fprintf(env.Stderr, "error: --cache-mb %d: give a positive number of MiB\n", *cacheMB)
		return cli.ExitUsage
	}
	if *codeBudget <= 0 {
		fmt.Fprintf(env.Stderr, "error: --code-budget %d: give a positive number of MiB\n", *codeBudget)
		return cli.ExitUsage
	}
	switch {
	case *httpsAddr == "" && (*tlsCert != "" || *tlsKey != "" || *tlsSelfSigned):
		fmt.Fprintln(env.Stderr, "error: --tls-cert, --tls-key and --tls-self-signed configure --https: give --https ADDR too")
		return cli.ExitUsage
	case *httpsAddr != "" && *tlsSelfSigned && (*tlsCert != "" || *tlsKey != ""):
		fmt.Fprintln(env.Stderr, "error: --https: give either --tls-cert and --tls-key, or --tls-self-signed, not both")
		return cli.ExitUsage
	case *httpsAddr != "" && !*tlsSelfSigned && (*tlsCert == "" || *tlsKey == ""):
		fmt.Fprintln(env.Stderr, "error: --https needs a certificate: --tls-cert FILE and --tls-key FILE, or --tls-self-signed for development")
		return cli.ExitUsage
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		fmt.Fprintf(env.Stderr, "error: data directory: %v\n", err)
		return cli.ExitFailed
	}
	nodeID, err := resolveNodeID(*dataDir, *nodeIDFlag)
	if err != nil {
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
		return cli.ExitUsage
	}

	err = serve(ctx, serveConfig{
		httpAddr: *httpAddr, adminAddr: *adminAddr, dataDir: *dataDir, zone: *zone,
		httpsAddr: *httpsAddr, tlsCert: *tlsCert, tlsKey: *tlsKey, tlsSelfSigned: *tlsSelfSigned,
		serverTiming: *serverTiming, instances: *instances, codeBudget: *codeBudget << 20, xdp: *xdp, xdpPins: *xdpPins,
		egressAllow: allow, cacheBytes: *cacheMB << 20,
		sourceRPS: *sourceRPS, sourceBurst: *sourceBurst, storeURL: *storeURL, secretKey: secretKey, nodeID: nodeID,
		escalate: netfilter.EscalatorConfig{Threshold: *escalateAfter, Window: *escalateWindow, TTL: *escalateTTL, Logger: log},
		caps:     caps, sched: scheduler.Config{
			MaxConcurrency: *maxConcurrency, TenantConcurrency: *tenantConcurrency,
			TenantRate: *tenantRPS, TenantBurst: *tenantBurst,
		},
		adminToken: env.Getenv("WEDGE_ADMIN_TOKEN"), log: log, stderr: env.Stderr,
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
		return cli.ExitFailed
	}
	return cli.ExitOK
}

type serveConfig struct {
	httpAddr, adminAddr, dataDir, zone string
	httpsAddr, tlsCert, tlsKey         string // --https; its certificate files
	tlsSelfSigned                      bool
	serverTiming                       bool
	instances                          string
	codeBudget                         int64 // bytes
	xdp, xdpPins                       string
	caps                               api.Limits
	sched                              scheduler.Config
	egressAllow                        []netip.Prefix
	cacheBytes                         int64
	storeURL                           string
	secretKey                          []byte
	nodeID                             string
	sourceRPS                          float64
	sourceBurst                        int
	escalate                           netfilter.EscalatorConfig
	adminToken                         string
	log                                *slog.Logger
	stderr                             io.Writer
}

func serve(ctx context.Context, cfg serveConfig) error {
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	// The listeners first: a busy port is the likeliest mistake, and cheap to report.
	edgeLn, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("edge listener (--http): %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.adminAddr)
	if err != nil {
		edgeLn.Close()
		return fmt.Errorf("admin listener (--admin): %w", err)
	}
	https, err := listenHTTPS(cfg)
	if err != nil {
		edgeLn.Close()
		adminLn.Close()
		return err
	}
	// Close what Serve did not get to close (an error before it).
	defer https.close()

	// The packet filter: XDP on --xdp, else the same rules at the edge
	// listener. Close leaves an XDP program attached and pinned, so that
	// the host stays protected until the next start takes it over.
	filter, err := netfilter.Open(netfilter.Config{Interface: cfg.xdp, PinDir: cfg.xdpPins, Logger: cfg.log})
	if err != nil {
		edgeLn.Close()
		adminLn.Close()
		return fmt.Errorf("packet filter (--xdp %s): %w", cfg.xdp, err)
	}
	defer filter.Close()
	cfg.log.Info("packet filter", "mode", filter.Mode().String(), "interface", cfg.xdp)
	edgeLn = filter.Listener(edgeLn)
	if https.tcp != nil {
		https.tcp = filter.Listener(https.tcp)
	}

	h, err := newHost(ctx, hostConfig{
		dataDir: cfg.dataDir, zone: cfg.zone, serverTiming: cfg.serverTiming, instances: cfg.instances,
		codeBudget: cfg.codeBudget, control: true, adminToken: cfg.adminToken, stderr: cfg.stderr, log: cfg.log,
		netfilter: filter, xdp: cfg.xdp, caps: cfg.caps, sched: cfg.sched, egressAllow: cfg.egressAllow, cacheBytes: cfg.cacheBytes,
		sourceRPS: cfg.sourceRPS, sourceBurst: cfg.sourceBurst, escalate: cfg.escalate,
		storeURL: cfg.storeURL, secretKey: cfg.secretKey, nodeID: cfg.nodeID,
	})
	if err != nil {
		edgeLn.Close()
		adminLn.Close()
		return err
	}
	defer h.close(context.WithoutCancel(ctx))

	events := h.store.Watch(ctx)
	if err := h.rec.sync(ctx, store.Event{}); err != nil {
		edgeLn.Close()
		adminLn.Close()
		return fmt.Errorf("load deployments: %w", err)
	}
	go h.rec.run(ctx, events)

	ready := []any{"edge", "http://" + edgeLn.Addr().String()}
	edgeCfg := edge.ServeConfig{Handler: h.edge, HTTP: edgeLn, Drain: 10 * time.Second, Logger: cfg.log}
	if https.tcp != nil {
		ready = append(ready, "https", "https://"+https.tcp.Addr().String(), "h3", "udp/"+https.udp.LocalAddr().String())
		edgeCfg.HTTPS, edgeCfg.QUIC, edgeCfg.Certs = https.tcp, https.udp, https.certs
		// No listener to wrap for QUIC: the packet filter's userspace
		// fallback decides each HTTP/3 request instead.
		edgeCfg.QUICHandler = filter.Middleware(h.edge)
		https.tcp, https.udp = nil, nil // Serve closes them
		go reloadCerts(ctx, https.certs, https.hup, cfg.log)
	}
	cfg.log.Info("ready", append(ready, "api", "http://"+adminLn.Addr().String(),
		"zone", cfg.zone, "data", cfg.dataDir, "node", cfg.nodeID, "workers", h.rec.count())...)
	errc := make(chan error, 2)
	go func() { errc <- edge.Serve(ctx, edgeCfg) }()
	go func() { errc <- serveHTTP(ctx, adminLn, h.control, cfg.log, 10*time.Second) }()
	err = <-errc
	if ctx.Err() != nil {
		err = nil // a signal: the other server is draining too
	}
	if err2 := <-errc; err == nil && ctx.Err() == nil {
		err = err2
	}
	cfg.log.Info("stopped")
	return err
}

// operatorHash returns the operator token's hash: WEDGE_ADMIN_TOKEN's if
// set; else the one generated on the first start, kept hashed in the store.
func operatorHash(ctx context.Context, st store.Store, envToken string, stderr io.Writer) ([]byte, error) {
	if envToken != "" {
		if len(envToken) < 16 {
			return nil, errors.New("WEDGE_ADMIN_TOKEN is too short: use at least 16 random characters")
		}
		return control.HashToken(envToken), nil
	}
	hash, err := st.Meta(ctx, operatorTokenKey)
	if err == nil {
		return hash, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	token := control.NewOperatorToken()
	hash = control.HashToken(token)
	if err := st.PutMeta(ctx, operatorTokenKey, hash); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "\nwedge: generated the operator token. It is shown only this once; Wedge keeps only its hash:\n\n    export WEDGE_TOKEN=%s\n\n", token)
	return hash, nil
}
