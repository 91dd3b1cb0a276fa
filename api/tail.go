package api

import "time"

// TailEvent is one request served by a worker, as `wedge tail` and the
// tail endpoint (Server-Sent Events, one JSON object per event) show it.
type TailEvent struct {
	Time    time.Time `json:"time"`
	Tenant  string    `json:"tenant"`
	Worker  string    `json:"worker"`
	Version int       `json:"version"`
	Method  string    `json:"method"`
	URL     string    `json:"url"`
	Status  int       `json:"status"`
	// Code is the Wedge-Error code when Wedge, not the worker, answered.
	Code string `json:"code,omitempty"`
	// Error is the guest's own message (a panic's text) when it failed.
	Error       string `json:"error,omitempty"`
	WallMicros  int64  `json:"wall_us"`
	CPUMicros   int64  `json:"cpu_us"`
	PeakMemory  uint64 `json:"peak_memory"`
	Subrequests int    `json:"subrequests"`
	// Logs are the lines the guest wrote to stdout and stderr.
	Logs []string `json:"logs,omitempty"`
}
