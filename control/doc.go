// Package control is the control plane: the HTTP API (on chi) through which
// the operator creates tenants and tenants deploy, inspect and roll back
// their workers; and the deploy pipeline behind it (validate and compile the
// module, then store it and make the new version active in one
// transaction). Before the runtime decodes an upload, the pipeline checks
// that the module declares no more than it holds, so that a few bytes
// cannot make the host allocate gigabytes (the runtime checks this before it compiles).
//
// Authentication is a bearer token. The operator token may do everything; a
// tenant token only what concerns its own tenant. Tokens are random, shown
// once, stored as SHA-256 hashes and compared in constant time. Errors are
// JSON, {"error": {"code": "...", "message": "..."}}, with a fitting status;
// one function (writeError) maps every error to its response.
//
// A Server is safe for concurrent use.
package control
