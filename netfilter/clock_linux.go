package netfilter

import "golang.org/x/sys/unix"

// monotonic returns CLOCK_MONOTONIC in nanoseconds: the clock of
// bpf_ktime_get_ns, against which the XDP program checks rule expiry.
func monotonic() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("netfilter: clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return uint64(ts.Nano())
}
