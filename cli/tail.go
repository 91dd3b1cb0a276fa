package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wedgeworks/wedge/api"
)

var tailUsage = usage{
	line:    "wedge tail W [--tenant T] [--format pretty|json]",
	missing: "missing the worker's name: wedge tail W",
	text: `
Tail shows worker W's requests live, as they are served: method, path,
status, wall and CPU time, and the lines the worker logged. It runs until
interrupted (Ctrl-C). --format json prints one JSON object per request, for
scripts.`,
}

func runTail(ctx context.Context, env Env, args []string) int {
	flags := newFlags("tail")
	tenant := tenantFlag(flags, env)
	format := flags.String("format", "pretty", "pretty or json")
	pos, code, stop := parse(env, flags, tailUsage, args, 1, 1)
	if stop {
		return code
	}
	worker := pos[0]
	if code, ok := checkWorker(env, flags, tailUsage, worker); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, tailUsage, *tenant); !ok {
		return code
	}
	if *format != "pretty" && *format != "json" {
		return usageError(env, flags, tailUsage, "--format %q: use pretty or json", *format)
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, tailUsage, "%v", err)
	}
	err = c.tail(ctx, workerPath(*tenant, worker, "/tail"), func(ev api.TailEvent, raw []byte) {
		if *format == "json" {
			env.Stdout.Write(append(raw, '\n'))
			return
		}
		printTailEvent(env.Stdout, ev)
	}, func(dropped string) {
		fmt.Fprintf(env.Stderr, "wedge tail: %s events lost (the stream fell behind)\n", dropped)
	}, func() {
		fmt.Fprintf(env.Stderr, "tailing %s/%s — Ctrl-C to stop\n", *tenant, worker)
	})
	switch {
	case err == nil, errors.Is(err, context.Canceled), ctx.Err() != nil:
		return ExitOK
	}
	return fail(env, workerHint(err, *tenant, worker))
}

// tail reads a Server-Sent Events stream until it ends or ctx is done.
func (c *client) tail(ctx context.Context, path string, event func(api.TailEvent, []byte), dropped func(string), ready func()) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &unreachableError{api: c.base, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return c.errorFrom(resp.StatusCode, data)
	}
	ready()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var kind string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			kind = ""
		case strings.HasPrefix(line, "event: "):
			kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			if kind == "dropped" {
				dropped(data)
				continue
			}
			var ev api.TailEvent
			if json.Unmarshal([]byte(data), &ev) == nil {
				event(ev, []byte(data))
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return sc.Err()
}

// printTailEvent writes one request as a line, its logs indented below.
func printTailEvent(w io.Writer, ev api.TailEvent) {
	status := fmt.Sprint(ev.Status)
	if ev.Code != "" {
		status += " " + ev.Code
	}
	fmt.Fprintf(w, "%s %s %s %s %v cpu %v", ev.Time.Local().Format("15:04:05.000"), ev.Method, ev.URL, status,
		time.Duration(ev.WallMicros)*time.Microsecond, time.Duration(ev.CPUMicros)*time.Microsecond)
	if ev.Subrequests > 0 {
		fmt.Fprintf(w, " fetches %d", ev.Subrequests)
	}
	fmt.Fprintln(w)
	for _, l := range ev.Logs {
		fmt.Fprintf(w, "  | %s\n", l)
	}
	if ev.Error != "" && ev.Code != "" {
		fmt.Fprintf(w, "  ! %s\n", ev.Error)
	}
}
