// Package sdk carries the Go guest SDK's own source files, so that the wedge
// binary can write them into a new worker project and build it offline.
// Workers import the package github.com/wedgeworks/wedge/sdk/go/wedge, not
// this one.
package sdk

import "embed"

// Files holds go.mod and the wedge package's source (tests excluded).
//
//go:embed go.mod wedge/*.go
var Files embed.FS

// Version is the SDK's module version as written into a worker's go.mod.
const Version = "v0.1.0"
