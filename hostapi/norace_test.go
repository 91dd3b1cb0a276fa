//go:build !race

package hostapi_test

const raceEnabled = false
