//go:build linux

package runtime

import "golang.org/x/sys/unix"

// threadFaults returns the calling thread's page fault count, minor and
// major, or -1.
func threadFaults() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return -1
	}
	return ru.Minflt + ru.Majflt
}
