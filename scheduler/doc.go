// Package scheduler decides whether and when a request runs, and with which
// limits: it admits requests under a host-wide concurrency limit (waiting a
// bounded time for a slot, then shedding with overloaded rather than
// queueing without bound) and a per-tenant one, so that one tenant's burst
// cannot take every slot; then it runs the worker's module with the
// worker's wall-time and memory limits.
//
// A Worker is what the routing table points at: one version of one worker,
// its compiled module and settings. It holds a reference to its module
// until Close.
//
// A Scheduler is safe for concurrent use. The zero Config is valid.
package scheduler
