package wedge

// KVNamespace is a key-value namespace of the worker's tenant, bound in
// wedge.toml:
//
//	[[kv_namespaces]]
//	binding = "COUNTS"
//
// Values are bytes, up to 25 MiB; keys are up to 512 bytes. Writes are
// visible to the tenant's other workers and requests at once on this host.
type KVNamespace struct {
	name string
	h    host // nil: defaultHost
}

// KV returns the namespace bound as binding. Using a namespace the worker
// does not bind fails with an error that says how to bind it.
func KV(binding string) *KVNamespace { return &KVNamespace{name: binding} }

func (n *KVNamespace) host() host {
	if n.h != nil {
		return n.h
	}
	return defaultHost
}

// Get returns the value of key, or ErrNotFound.
func (n *KVNamespace) Get(key string) ([]byte, error) {
	h := n.host()
	buf := make([]byte, 1024)
	for range 4 { // the value may change between two calls: try again
		c := h.kvGet([]byte(n.name), []byte(key), buf)
		switch {
		case c == codeNotFound:
			return nil, ErrNotFound
		case c < 0:
			return nil, hostErr(h, "kv get", c)
		case int(c) <= len(buf):
			return buf[:c:c], nil
		}
		buf = make([]byte, c)
	}
	return nil, hostErr(h, "kv get", codeIO)
}

// Put stores value under key.
func (n *KVNamespace) Put(key string, value []byte) error {
	h := n.host()
	if c := h.kvPut([]byte(n.name), []byte(key), value); c < 0 {
		return hostErr(h, "kv put", c)
	}
	return nil
}

// Delete removes key; a key that is not there is not an error.
func (n *KVNamespace) Delete(key string) error {
	h := n.host()
	if c := h.kvDelete([]byte(n.name), []byte(key)); c < 0 {
		return hostErr(h, "kv delete", c)
	}
	return nil
}

// List returns the keys that start with prefix, sorted, at most 1,000.
func (n *KVNamespace) List(prefix string) ([]string, error) {
	h := n.host()
	buf := make([]byte, 4096)
	for range 4 {
		c := h.kvList([]byte(n.name), []byte(prefix), buf)
		if c < 0 {
			return nil, hostErr(h, "kv list", c)
		}
		if int(c) <= len(buf) {
			var keys []string
			b := buf[:c]
			for len(b) > 0 {
				k, rest, ok := cutString(b)
				if !ok {
					return nil, hostErr(h, "kv list", codeIO)
				}
				keys = append(keys, k)
				b = rest
			}
			return keys, nil
		}
		buf = make([]byte, c)
	}
	return nil, hostErr(h, "kv list", codeIO)
}

// cutString reads one string in the field encoding.
func cutString(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	if uint64(n) > uint64(len(b)-4) {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}
