package xenbus

import "sync"

// Registry is a set of live devices keyed by K, safe for concurrent use;
// drivers keep one to answer "which devices are connected" from other
// goroutines. The zero value is empty and ready to use; it must not be
// copied after first use.
type Registry[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

// Put records v under k, replacing what was there.
func (r *Registry[K, V]) Put(k K, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[K]V{}
	}
	r.m[k] = v
}

// Delete forgets k; it is a no-op if k is absent.
func (r *Registry[K, V]) Delete(k K) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, k)
}

// Get returns the value under k, or V's zero value if there is none.
func (r *Registry[K, V]) Get(k K) V {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[k]
}

// All returns the values, in no particular order, in a new slice.
func (r *Registry[K, V]) All() []V {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]V, 0, len(r.m))
	for _, v := range r.m {
		out = append(out, v)
	}
	return out
}
