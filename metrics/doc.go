// Package metrics holds Wedge's Prometheus metrics in one dedicated registry
// (never the global one), created by cmd/wedge and handed to the packages
// that record into it. The admin listener serves it at /metrics.
//
// Metrics are labelled by tenant and worker; Wedge-Error codes get a counter
// of their own. All methods are safe for concurrent use.
package metrics
