package jetstream

import (
	"fmt"
	"strings"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// Keys. A NATS KV key is tokens separated by '.', each of the bytes
// [-/_=a-zA-Z0-9]; names and KV keys may hold any byte, so every name is
// escaped into one token (escape) and the tokens are joined:
//
//	wedge_state    tenant.T            → JSON store.Tenant
//	               worker.T.W          → JSON record (store.Worker + secret names)
//	               meta.K              → value
//	               heartbeat           → the last node's heartbeat
//	               store.format        → format
//	               store.keycheck      → keyCheckText, encrypted
//	wedge_secrets  T.W.NAME.ID         → sealed value (AES-256-GCM)
//	wedge_kv       T.NS.KEY            → 0x00 value | 0x01 object name
//	wedge_modules  SHA256              → JSON moduleRef
//
// and the object stores wedge_modules (SHA256.ID → module bytes;
// code/SHA256/PLATFORM.ID → the module's compiled code, see code.go) and
// wedge_kv (ID → a large KV value).

// escape turns any string into one token of a KV key: the bytes
// [-/_a-zA-Z0-9] stay as they are, every other byte becomes '=' and two
// upper-case hex digits, and the empty string becomes "=" alone (which no
// other string escapes to). It is one-to-one, so keys of different names
// never collide; unescape inverts it.
func escape(s string) string {
	if s == "" {
		return "="
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	const digits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

func keep(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '/'
}

// unescape inverts escape.
func unescape(tok string) (string, error) {
	if tok == "=" {
		return "", nil
	}
	if !strings.Contains(tok, "=") {
		return tok, nil
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '=' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("bad key token %q", tok)
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("bad key token %q", tok)
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func tenantKey(tenant string) string { return "tenant." + escape(tenant) }
func workerKey(tenant, worker string) string {
	return "worker." + escape(tenant) + "." + escape(worker)
}
func metaKey(key string) string { return "meta." + escape(key) }

// secretPrefix is the filter for a worker's secret entries.
func secretPrefix(tenant, worker string) string { return escape(tenant) + "." + escape(worker) + "." }

func secretKey(tenant, worker, name, id string) string {
	return secretPrefix(tenant, worker) + escape(name) + "." + id
}

func kvKey(tenant, ns, key string) string {
	return escape(tenant) + "." + escape(ns) + "." + escape(key)
}

// eventOf returns the event for a change to a key of the state bucket, or
// false for keys whose changes nothing reloads.
func eventOf(key string) (store.Event, bool) {
	kind, rest, _ := strings.Cut(key, ".")
	switch kind {
	case "tenant":
		t, err := unescape(rest)
		if err != nil {
			return store.Event{}, true
		}
		return store.Event{Tenant: t}, true
	case "worker":
		a, b, _ := strings.Cut(rest, ".")
		t, err1 := unescape(a)
		w, err2 := unescape(b)
		if err1 != nil || err2 != nil {
			return store.Event{}, true
		}
		return store.Event{Tenant: t, Worker: w}, true
	case "heartbeat", "store":
		return store.Event{}, false
	default: // meta, and keys a later version may add
		return store.Event{}, true
	}
}

// invalidError is a store.ErrInvalid with a message of its own.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == store.ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// The checks below are the bbolt backend's, so both refuse the same
// names, keys and values with the same words.

func checkName(kind, name string) error {
	if name == "" {
		return invalid("empty %s name", kind)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return invalid("%s name %q contains NUL", kind, name)
	}
	return nil
}

func checkSecretName(key string) error {
	if !api.ValidEnvName(key) {
		return invalid("invalid secret name %q: use 1-%d letters, digits and _, not starting with a digit", key, api.MaxEnvNameBytes)
	}
	return nil
}

func checkKV(ns, key string) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	if err := api.CheckKVKey(key); err != nil {
		return invalid("invalid KV key: %v", err)
	}
	return nil
}

func checkNamespace(ns string) error {
	if !api.ValidKVNamespace(ns) {
		return invalid("invalid KV namespace %q: use 1-%d letters, digits and _, not starting with a digit", ns, api.MaxKVNamespaceBytes)
	}
	return nil
}
