package api

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidName reports whether s can name a tenant or a worker: a DNS label of
// 1 to 63 lower-case letters, digits and hyphens that starts with a letter
// and does not end with a hyphen, so that W.T.zone is a valid hostname.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Limits on the names and values of vars, secrets and KV entries. Every
// layer checks them: the CLI before it sends, the control plane before it
// stores, the store itself.
const (
	// MaxEnvNameBytes caps the name of a var or a secret.
	MaxEnvNameBytes = 256
	// MaxSecretBytes caps a secret's value.
	MaxSecretBytes = 64 << 10
	// MaxSecretsPerWorker caps how many secrets one worker may have: they
	// are copied into the environment of every instance.
	MaxSecretsPerWorker = 128
	// MaxKVNamespaceBytes caps a KV namespace's (and binding's) name.
	MaxKVNamespaceBytes = 64
	// MaxKVKeyBytes caps a KV key, in bytes of UTF-8.
	MaxKVKeyBytes = 512
	// MaxKVValueBytes caps a KV value: 25 MiB.
	MaxKVValueBytes = 25 << 20
)

// ValidEnvName reports whether s can name an environment variable (a var or
// a secret): 1 to MaxEnvNameBytes ASCII letters, digits and underscores, not
// starting with a digit.
func ValidEnvName(s string) bool {
	return len(s) <= MaxEnvNameBytes && identifier(s)
}

// ValidKVNamespace reports whether s can name a KV namespace, and so a KV
// binding in wedge.toml (the binding's name is the namespace's): 1 to
// MaxKVNamespaceBytes ASCII letters, digits and underscores, not starting
// with a digit.
func ValidKVNamespace(s string) bool {
	return len(s) <= MaxKVNamespaceBytes && identifier(s)
}

// identifier reports whether s matches [A-Za-z_][A-Za-z0-9_]*.
func identifier(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// CheckKVKey returns nil if s can be a KV key: 1 to MaxKVKeyBytes bytes of
// valid UTF-8 without a NUL. Any other character is allowed, '/' included.
// The error says what is wrong without quoting the key.
func CheckKVKey(s string) error {
	switch {
	case s == "":
		return errors.New("the key is empty")
	case len(s) > MaxKVKeyBytes:
		return fmt.Errorf("the key is %d bytes long, more than the limit of %d", len(s), MaxKVKeyBytes)
	case !utf8.ValidString(s):
		return errors.New("the key is not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("the key contains a NUL byte")
	}
	return nil
}

// CheckSecretValue returns nil if v can be a secret's value: at most
// MaxSecretBytes bytes, without a NUL, which no environment variable can
// hold. Any other byte is allowed. The error never quotes the value.
func CheckSecretValue(v []byte) error {
	switch {
	case len(v) > MaxSecretBytes:
		return fmt.Errorf("the value is %d bytes long, more than the limit of %d (64 KiB)", len(v), MaxSecretBytes)
	case bytes.IndexByte(v, 0) >= 0:
		return errors.New("the value contains a NUL byte, which an environment variable cannot hold")
	}
	return nil
}
