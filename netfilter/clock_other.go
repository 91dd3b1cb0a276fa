//go:build !linux

package netfilter

import "time"

var epoch = time.Now()

// monotonic returns nanoseconds on a monotonic clock; without XDP, only the
// userspace model reads it.
func monotonic() uint64 { return uint64(time.Since(epoch)) + 1 }
