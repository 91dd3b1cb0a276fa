//go:build !linux && !darwin

package cli

import (
	"context"
	"errors"
	"io"
)

// terminal reports no terminal: without a standard-library way to turn
// echo off here, a secret is read from stdin as from a pipe.
func terminal(io.Reader) (int, bool) { return 0, false }

func readHidden(context.Context, int, io.Reader, int) ([]byte, error) {
	return nil, errors.New("no terminal support on this system")
}
