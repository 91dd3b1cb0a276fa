//go:build !linux

package netfilter

import (
	"fmt"
	"log/slog"
)

// kernel is never created outside Linux.
type kernel struct {
	mode Mode
	tab  tables
}

func openKernel(cfg Config, _ *slog.Logger) (*kernel, error) {
	return nil, fmt.Errorf("%w: XDP needs Linux", ErrRefused)
}

func refused(err error) bool { return true }

func (k *kernel) close() error  { return nil }
func (k *kernel) detach() error { return nil }
