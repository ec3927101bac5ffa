// Package publish turns a source's latest full view into the calls model.Sink expects: Replace on a
// full (re)sync, Upsert/Delete for what changed since, and Error without touching the last state.
// Sources compute "the whole world now" (simple and correct); this package makes that cheap
// downstream by sending only the difference.
package publish

import (
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/govoy/govoy/xds-bridge/model"
)

// Publisher remembers what one source last told its sink. It serializes sink calls, as model.Sink
// requires, so a source may call it from more than one goroutine.
type Publisher struct {
	source string
	sink   model.Sink

	mu     sync.Mutex
	synced bool
	sent   map[string]model.Service
}

// New returns a Publisher for the named source.
func New(source string, sink model.Sink) *Publisher {
	return &Publisher{source: source, sink: sink, sent: map[string]model.Service{}}
}

// Replace states the whole world (first sync or resync after a lost session).
func (p *Publisher) Replace(svcs []model.Service) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]model.Service, 0, len(svcs))
	sent := make(map[string]model.Service, len(svcs))
	for _, s := range svcs {
		s = Canonical(s)
		sent[s.Name] = s
	}
	for _, name := range slices.Sorted(maps.Keys(sent)) {
		out = append(out, sent[name])
	}
	p.sink.Replace(p.source, out)
	p.sent, p.synced = sent, true
}

// Update sends the difference between svcs and the last state: Upsert for new or changed services,
// Delete for services that are gone. Before the first Replace it behaves as Replace.
// It returns the number of sink calls made.
func (p *Publisher) Update(svcs []model.Service) int {
	p.mu.Lock()
	if !p.synced {
		p.mu.Unlock()
		p.Replace(svcs)
		return 1
	}
	defer p.mu.Unlock()
	next := make(map[string]model.Service, len(svcs))
	for _, s := range svcs {
		s = Canonical(s)
		next[s.Name] = s
	}
	calls := 0
	for _, name := range slices.Sorted(maps.Keys(p.sent)) {
		if _, ok := next[name]; !ok {
			p.sink.Delete(p.source, name)
			calls++
		}
	}
	for _, name := range slices.Sorted(maps.Keys(next)) {
		if old, ok := p.sent[name]; ok && Equal(old, next[name]) {
			continue
		}
		p.sink.Upsert(p.source, next[name])
		calls++
	}
	p.sent = next
	return calls
}

// Synced reports whether a first full view was published.
func (p *Publisher) Synced() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.synced
}

// Error reports a failure; the last published state stands.
func (p *Publisher) Error(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sink.Error(p.source, err)
}

// Canonical sorts a service's lists so equal views compare equal whatever order a registry
// listed them in. Nil and empty collections are normalized to nil.
func Canonical(s model.Service) model.Service {
	s.Interfaces = sortedUnique(s.Interfaces)
	s.Methods = sortedUnique(s.Methods)
	if len(s.Metadata) == 0 {
		s.Metadata = nil
	}
	if len(s.Endpoints) == 0 {
		s.Endpoints = nil
		return s
	}
	// Sources usually hand over sorted lists; then nothing is copied.
	clean := true
	for i, e := range s.Endpoints {
		if (e.Metadata != nil && len(e.Metadata) == 0) || (i > 0 && endpointLess(e, s.Endpoints[i-1])) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	eps := make([]model.Endpoint, 0, len(s.Endpoints))
	for _, e := range s.Endpoints {
		if len(e.Metadata) == 0 {
			e.Metadata = nil
		}
		eps = append(eps, e)
	}
	sort.SliceStable(eps, func(i, j int) bool { return endpointLess(eps[i], eps[j]) })
	s.Endpoints = eps
	return s
}

func endpointLess(a, b model.Endpoint) bool {
	if a.Address != b.Address {
		return a.Address < b.Address
	}
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	// Same address: one provider exporting several versions/groups; order by metadata.
	return metaKey(a.Metadata) < metaKey(b.Metadata)
}

func metaKey(m map[string]string) string {
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, m[k]...)
		b = append(b, 0)
	}
	return string(b)
}

func strictlySorted(in []string) bool {
	for i := 1; i < len(in); i++ {
		if in[i] <= in[i-1] {
			return false
		}
	}
	return true
}

// SortedUnique returns in sorted without duplicates (in itself when it already is).
func SortedUnique(in []string) []string { return sortedUnique(in) }

// SortEndpoints sorts endpoints in the canonical order, in place.
func SortEndpoints(eps []model.Endpoint) {
	sort.SliceStable(eps, func(i, j int) bool { return endpointLess(eps[i], eps[j]) })
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	if strictlySorted(in) {
		return in
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// Equal compares two canonical services.
func Equal(a, b model.Service) bool {
	if a.Name != b.Name || a.Protocol != b.Protocol || !slices.Equal(a.Interfaces, b.Interfaces) ||
		!slices.Equal(a.Methods, b.Methods) || !maps.Equal(a.Metadata, b.Metadata) ||
		len(a.Endpoints) != len(b.Endpoints) {
		return false
	}
	for i := range a.Endpoints {
		x, y := a.Endpoints[i], b.Endpoints[i]
		if x.Address != y.Address || x.Port != y.Port || x.Weight != y.Weight || x.Healthy != y.Healthy ||
			x.Locality != y.Locality || !maps.Equal(x.Metadata, y.Metadata) {
			return false
		}
	}
	return true
}
