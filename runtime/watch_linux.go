//go:build linux

package runtime

import "golang.org/x/sys/unix"

// sampleThread reads the calling thread's page faults, minor and major,
// and its thread switches, voluntary or not, in one system call
// (getrusage RUSAGE_THREAD). ok is false when the kernel refused.
func sampleThread() (s threadSample, ok bool) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return threadSample{}, false
	}
	return threadSample{faults: ru.Minflt + ru.Majflt, switches: ru.Nvcsw + ru.Nivcsw}, true
}
