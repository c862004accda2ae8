package xenbus

import (
	"slices"
	"sync"
	"testing"
)

func TestRegistry(t *testing.T) {
	var r Registry[uint32, *string] // the zero value is ready
	if got := r.Get(1); got != nil {
		t.Fatalf("Get on an empty registry = %v, want nil", got)
	}
	r.Delete(1) // absent: no-op
	a, b, c := "a", "b", "c"
	r.Put(1, &a)
	r.Put(2, &b)
	r.Put(1, &c) // replaces
	if got := r.Get(1); got != &c {
		t.Errorf("Get(1) after replacing = %v, want %q", got, c)
	}
	all := r.All()
	names := []string{*all[0], *all[1]}
	slices.Sort(names)
	if len(all) != 2 || !slices.Equal(names, []string{"b", "c"}) {
		t.Errorf("All = %v, want b and c", names)
	}
	all[0] = nil // a copy: the registry is unchanged
	r.Delete(2)
	if got := r.Get(2); got != nil {
		t.Errorf("Get(2) after Delete = %v, want nil", got)
	}
	if got := r.All(); len(got) != 1 || got[0] != &c {
		t.Errorf("All after Delete = %v, want only c", got)
	}
}

// TestRegistryConcurrent is for -race: drivers Put and Delete from device
// goroutines while the host lists.
func TestRegistryConcurrent(t *testing.T) {
	var r Registry[int, int]
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := g*1000 + i
				r.Put(k, k)
				if r.Get(k) != k {
					t.Errorf("Get(%d) != %d", k, k)
				}
				_ = r.All()
				if i%2 == 0 {
					r.Delete(k)
				}
			}
		})
	}
	wg.Wait()
	if n := len(r.All()); n != 4*100 {
		t.Errorf("%d devices left, want %d", n, 4*100)
	}
}
