package plugin

import (
	"fmt"
	"sort"
	"sync"
)

var (
	registryMu sync.RWMutex
	registry   = map[string]Plugin{}
)

// Register adds p to the registry (see api.go).
func Register(p Plugin) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[p.Name()]; dup {
		panic(fmt.Sprintf("govoy: plugin %q registered twice", p.Name()))
	}
	registry[p.Name()] = p
}

// Lookup returns the registered plugin called name.
func Lookup(name string) (Plugin, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	p, ok := registry[name]
	return p, ok
}

// Registered lists the registered plugins in chain order.
func Registered() []Plugin {
	registryMu.RLock()
	out := make([]Plugin, 0, len(registry))
	for _, p := range registry {
		out = append(out, p)
	}
	registryMu.RUnlock()
	SortByOrder(out)
	return out
}

// SortByOrder sorts plugins by Order, ties by Name, so chains are deterministic.
func SortByOrder(ps []Plugin) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Order() != ps[j].Order() {
			return ps[i].Order() < ps[j].Order()
		}
		return ps[i].Name() < ps[j].Name()
	})
}
