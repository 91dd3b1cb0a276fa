package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/wedgeworks/wedge/api"
)

// client talks to the control-plane API.
type client struct {
	base  string // without a trailing slash
	token string
	hc    *http.Client
}

func newClient(env Env) (*client, error) {
	base, err := parseAPI(env.API)
	if err != nil {
		name := "WEDGE_API="
		if env.from.api == "config file" {
			name = "the config file's API "
		}
		return nil, fmt.Errorf("%s%w", name, err)
	}
	return &client{base: base, token: env.Token, hc: http.DefaultClient}, nil
}

// apiError is an error answer from the API.
type apiError struct {
	Status  int
	Code    api.Code // empty when the body was not an api.ErrorBody
	Message string
	hint    string // what to do next, or ""
}

func (e *apiError) Error() string {
	var s string
	if e.Code != "" {
		s = fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
	} else {
		s = fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
		if e.Message != "" {
			s += ": " + e.Message
		}
	}
	if e.hint != "" {
		s += "\n" + e.hint
	}
	return s
}

// unreachableError is a request that never got an answer.
type unreachableError struct {
	api string
	err error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach the Wedge API at %s: %v — is `wedge serve` running? (WEDGE_API or `wedge login --api URL` sets another address)", e.api, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// maxBody caps the size of an API answer the CLI reads.
const maxBody = 64 << 20

// do sends a request with path under the API base and returns the body of
// a 2xx answer. A non-2xx answer is an *apiError.
func (c *client) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &unreachableError{api: c.base, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read the API's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, c.errorFrom(resp.StatusCode, data)
	}
	return data, nil
}

func (c *client) errorFrom(status int, data []byte) *apiError {
	e := &apiError{Status: status}
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	} else {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		e.Message = msg
	}
	switch {
	case status == http.StatusUnauthorized && c.token == "":
		e.hint = "No token: run `wedge login` (or set WEDGE_TOKEN) with your tenant token (from `wedge tenant create`) or the operator token."
	case status == http.StatusUnauthorized:
		e.hint = "The API does not accept the token: `wedge whoami` shows where it comes from; `wedge login` checks and keeps a new one."
	}
	return e
}

// getJSON GETs path and decodes the answer into out; it returns the raw
// answer too, for --json.
func (c *client) getJSON(ctx context.Context, path string, out any) ([]byte, error) {
	data, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, err
	}
	return data, decodeAnswer(data, out)
}

// sendJSON sends in as JSON and decodes the answer into out.
func (c *client) sendJSON(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	data, err := c.do(ctx, method, path, "application/json", body)
	if err != nil {
		return nil, err
	}
	return data, decodeAnswer(data, out)
}

func decodeAnswer(data []byte, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the API's answer is not the JSON the CLI expects (is WEDGE_API the admin listener?): %w", err)
	}
	return nil
}

// workerPath returns /v1/tenants/{t}/workers/{w} plus suffix.
func workerPath(tenant, worker, suffix string) string {
	return "/v1/tenants/" + url.PathEscape(tenant) + "/workers/" + url.PathEscape(worker) + suffix
}

// writeRaw prints an API answer as is, for --json.
func writeRaw(w io.Writer, data []byte) {
	w.Write(data)
	if len(data) == 0 || data[len(data)-1] != '\n' {
		io.WriteString(w, "\n")
	}
}
