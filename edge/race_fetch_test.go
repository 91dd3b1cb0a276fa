//go:build race

package edge_test

// raceDetector: the race detector makes compiling a Go guest take most of
// a minute.
const raceDetector = true
