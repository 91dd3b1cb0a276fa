// Command wedge is Wedge in one binary: the host (wedge serve), the local
// dev server (wedge dev) and the CLI that talks to the control-plane API
// (wedge deploy, versions, rollback, …).
//
// This is the only package that reads flags and environment variables; it
// wires the other packages together: the store feeds a reconciler that
// compiles active versions (runtime), wraps them as scheduler workers and
// swaps the edge's routing table; the control plane writes to the store.
package main
