// Package edge is the front door: it accepts requests from end users, routes
// each one by its Host header to a worker, has the scheduler run it and
// streams the worker's response back. When Wedge itself must answer (no
// route, a trap, a limit), the response carries a Wedge-Error header with the
// code; the guest's own error text goes to the logs, never to the client.
//
// Routing is an immutable Table swapped atomically (SetWorkers): the request
// path takes no lock. Worker W of tenant T answers at W.T.<zone>; the Host
// header is matched without its port, case-insensitively.
//
// Each request's host state (hostapi.Request) carries the worker's tenant
// and subrequest limit, the Edge's one hostapi.Egress (a transport shared
// by all requests and tenants, and the egress policy of Config.Egress) and
// Config.Cache; what the guest leaves open of its outbound requests is
// closed when the request ends.
//
// Serve runs the listeners in front of an Edge: plain HTTP/1.1 and h2c;
// HTTP/1.1 and HTTP/2 over TLS 1.2+; HTTP/3 over QUIC on the TLS port's
// number, advertised by Alt-Svc. Certificates come from Certs (PEM files,
// reloaded atomically by Reload, or a self-signed one for development),
// read at every handshake. Limits: 10 s for a TLS handshake and (over TCP)
// a request head, 120 s idle, 64 KiB heads, 100 requests in flight per
// HTTP/2 or HTTP/3 connection. A request that came
// in QUIC 0-RTT data, which can be replayed, reaches the handler only if
// it is a GET or HEAD without a body, marked Early-Data: 1; any other gets
// 425 Too Early (Wedge-Error: too-early). When Serve's context ends, it
// drains: no new connections, GOAWAY, requests in flight finish within
// ServeConfig.Drain, then HTTP/3 connections close with H3_NO_ERROR.
// quic-go is imported here and nowhere else.
//
// An Edge, a Certs and a running Serve are safe for concurrent use.
package edge
