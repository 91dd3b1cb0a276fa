package cache

import "fmt"

// Audit checks the accounting against what ristretto holds: for every
// tenant, the bytes and entries of its live groups in ristretto are what
// its counters say, and no dead group is still there. Call it when no
// store is in progress.
func (c *Cache) Audit() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil
	}
	c.rc.Wait()
	bytes := make(map[*tenant]int64)
	entries := make(map[*tenant]int64)
	var err error
	c.rc.IterValues(func(g *group) bool {
		if g.dead.Load() {
			err = fmt.Errorf("tenant %q: a dead group is still stored", g.t.name)
			return true
		}
		bytes[g.t] += g.cost
		entries[g.t] += int64(len(g.variants))
		return false
	})
	if err != nil {
		return err
	}
	for name, t := range *c.tenants.Load() {
		if b, e := t.bytes.Load(), t.entries.Load(); b != bytes[t] || e != entries[t] {
			return fmt.Errorf("tenant %q counts %d bytes in %d entries; ristretto holds %d bytes in %d", name, b, e, bytes[t], entries[t])
		}
	}
	return nil
}

// Waiters returns how many Fetch calls wait for the tenant's origin
// request for rawURL, -1 if there is none.
func (c *Cache) Waiters(tenant, rawURL string) int {
	key, _ := appendKey(nil, tenant, rawURL)
	t := c.tenant(tenant)
	t.flightsMu.Lock()
	defer t.flightsMu.Unlock()
	if f := t.flights[string(key)]; f != nil {
		return int(f.waiters.Load())
	}
	return -1
}
