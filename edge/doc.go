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
// An Edge is safe for concurrent use.
package edge
