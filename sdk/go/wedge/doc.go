// Package wedge is the Go guest SDK for Wedge workers.
//
// A worker is an ordinary net/http handler, registered from init and built
// with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared:
//
//	func init() {
//		wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
//			fmt.Fprintf(w, "Hello from %s\n", r.URL.Path)
//		})
//	}
//
//	func main() {}
//
// # Execution model
//
// The module is a WASI reactor: the Go runtime and every package's init run
// in the module's _initialize, which the host calls once per instance before
// any request (and, in later releases, once at deploy time, capturing the
// result as the worker's image). main is never called. Each request then
// calls the exported function wedge_handle, which builds an *http.Request
// from the host's request, runs the registered handler and streams its
// response back. Every request starts from the state right after
// initialisation: globals changed by a request are not seen by the next.
//
// So: register handlers and do expensive set-up (parsing templates, building
// tables) in init, where it is paid once; do nothing that depends on a
// request there.
//
// # Responses
//
// The ResponseWriter buffers up to 8 KiB. A response that fits is sent with
// a Content-Length; a longer one is streamed in chunks. Flush (the
// ResponseWriter implements http.Flusher) pushes what was written so far to
// the client. Like net/http, the Content-Type is sniffed from the first bytes
// when the handler did not set one.
//
// # Outbound requests and the edge cache
//
// Fetch sends an HTTP request from the worker, and Transport lets an
// http.Client do so (following redirects): both bodies are streamed. The
// host refuses addresses that are not globally routable (loopback,
// private, link-local, ...) unless its operator allows them
// (ErrEgressDenied), and limits how many outbound requests one request
// may make (ErrLimit; 50 unless wedge.toml's [limits] subrequests says
// otherwise).
//
// Cache returns the tenant's edge cache: Match, Put and Delete by request,
// following HTTP's caching rules, and Fetch, which answers from the cache
// or fetches and stores, with concurrent misses for one URL sharing one
// origin request across all of the tenant's requests on the host.
//
// Logs: anything written to os.Stdout, os.Stderr or through package log goes
// to the worker's logs. Vars and secrets are environment variables
// (os.Getenv).
//
// The ABI underneath is documented in docs/abi.md of the Wedge repository.
package wedge
