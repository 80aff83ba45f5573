package handoff

import "sync"

// Registry holds a backend's open handles by id, until it is shut. The zero
// value is usable.
type Registry[K ~int64, V any] struct {
	mu    sync.Mutex
	items map[K]V
	last  K
	shut  bool
}

// Reserve returns a new id, or false once the registry is shut.
func (r *Registry[K, V]) Reserve() (K, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return 0, false
	}
	r.last++
	return r.last, true
}

// Add registers v under k, or reports false once the registry is shut.
func (r *Registry[K, V]) Add(k K, v V) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return false
	}
	if r.items == nil {
		r.items = make(map[K]V)
	}
	r.items[k] = v
	return true
}

// Get returns the value of k.
func (r *Registry[K, V]) Get(k K) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.items[k]
	return v, ok
}

// Remove unregisters k and returns its value.
func (r *Registry[K, V]) Remove(k K) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.items[k]
	delete(r.items, k)
	return v, ok
}

// Shut refuses further ids and handles, and returns the registered values,
// now unregistered, for the caller to close; nil after the first call.
func (r *Registry[K, V]) Shut() []V {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shut = true
	open := make([]V, 0, len(r.items))
	for k, v := range r.items {
		open = append(open, v)
		delete(r.items, k)
	}
	return open
}
