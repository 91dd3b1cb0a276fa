// Package control is the control plane: the HTTP API (on chi) through which
// the operator creates tenants and tenants deploy, inspect and roll back
// their workers, set their secrets and read and write their KV namespaces;
// and the deploy pipeline behind it (validate and compile the module, then
// store it and make the new version active in one transaction). Before the
// runtime decodes an upload, the pipeline checks that the module declares
// no more than it holds, so that a few bytes cannot make the host allocate
// gigabytes (the runtime checks this before it compiles).
//
// Authentication is a bearer token. The operator token may do everything; a
// tenant token only what concerns its own tenant. Tokens are random, shown
// once, stored as SHA-256 hashes and compared in constant time. Errors are
// JSON, {"error": {"code": "...", "message": "..."}}, with a fitting status;
// one function (writeError) maps every error to its response.
//
// Secrets (PUT|DELETE …/workers/{w}/secrets/{key}, GET …/secrets) take
// their value as the raw request body, at most 64 KiB without a NUL, and
// never give it back: the list has names only, and no answer, log line or
// error message quotes a value. The worker must exist. A change reaches the
// host through the store's Watch event for the worker.
//
// KV (PUT|GET|DELETE /v1/tenants/{t}/kv/{ns}/{key}, GET …/kv/{ns}) takes
// the key from the rest of the path, percent-decoded, so keys may hold '/'
// (as is, or as %2F); values are raw bodies of up to 25 MiB (larger: 413
// body-too-large) and come back as application/octet-stream. A listing is
// sorted by the keys' bytes, filtered by ?prefix=, in pages of ?limit=
// (1-1000, default 1000) with an opaque ?cursor= for the next page.
//
// A Server is safe for concurrent use.
package control
