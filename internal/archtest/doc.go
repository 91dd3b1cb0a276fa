// Package archtest holds a test that keeps the package layering of
// DESIGN.md true: which Wedge packages each package may import, and which
// third-party modules may appear where.
package archtest
