package netfilter

import "errors"

// Errors returned by Filter's rule methods.
var (
	// ErrNotFound: Unblock or RemoveAllow of a prefix that is not in the
	// list.
	ErrNotFound = errors.New("netfilter: no such rule")
	// ErrInvalidPrefix: a prefix that is not valid, or an IPv4-mapped IPv6
	// prefix shorter than /96.
	ErrInvalidPrefix = errors.New("netfilter: invalid prefix")
	// ErrInvalidRate: a rate over 1e9 packets per second, or a burst
	// without a rate.
	ErrInvalidRate = errors.New("netfilter: invalid rate")
	// ErrInvalidProto: a port ceiling for a protocol other than TCP or UDP.
	ErrInvalidProto = errors.New("netfilter: invalid protocol")
	// ErrInvalidTTL: a negative TTL.
	ErrInvalidTTL = errors.New("netfilter: invalid TTL")
	// ErrFull: the list has no room for another prefix.
	ErrFull = errors.New("netfilter: rule table is full")
	// ErrClosed: a method called after Close or Detach.
	ErrClosed = errors.New("netfilter: filter is closed")
)

// Errors returned by Open.
var (
	// ErrIncompatiblePins: the pin directory holds maps of another layout,
	// left by another version of Wedge. Detach that filter (or remove the
	// directory) first; its rules are lost.
	ErrIncompatiblePins = errors.New("netfilter: pinned maps have another layout")
	// ErrRefused: the kernel refused BPF (no privilege, no support) and the
	// configuration asked for an XDP mode, not ModeAuto. It wraps the
	// kernel's error.
	ErrRefused = errors.New("netfilter: the kernel refused the XDP program")
)
