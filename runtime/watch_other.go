//go:build !linux

package runtime

func threadFaults() int64 { return -1 }
