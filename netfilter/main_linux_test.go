package netfilter

import (
	"fmt"
	"os"
	"testing"
)

// TestMain fails the package when the tests leave BPF objects open: every
// map, program and link a Filter or a test opens must be closed.
func TestMain(m *testing.M) {
	before := bpfFDs()
	code := m.Run()
	if code == 0 {
		for fd, what := range bpfFDs() {
			if before[fd] != what {
				fmt.Fprintf(os.Stderr, "leaked file descriptor %s: %s\n", fd, what)
				code = 1
			}
		}
	}
	os.Exit(code)
}
