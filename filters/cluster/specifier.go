// Package cluster is Govoy's golang cluster specifier: ordered rules over request headers, cookies,
// query parameters and the path pick the upstream cluster of a route (canary, version and unit
// routing). The core here is pure Go (Specifier.Pick over a Headers interface); Factory adapts it to
// Envoy's SDK, and filters/cluster/register registers it in a .so.
//
// Envoy calls the specifier on a worker thread whenever it resolves the route: before the first HTTP
// filter runs, and again after a filter cleared the route cache (traffic_tagging does). Workers call
// it concurrently, so a Specifier is immutable after parse.
package cluster

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Headers is the request header map Pick reads. Envoy's api.RequestHeaderMap satisfies it; Get returns
// the first value of a header. Values are only valid during the call and are never kept.
type Headers interface {
	Get(key string) (string, bool)
}

// Specifier is a parsed config: what Pick runs. Safe for concurrent use.
type Specifier struct {
	rules []rule
}

type rule struct {
	name       string
	headers    []matcher
	cookies    []matcher
	query      []matcher
	pathPrefix string
	pathSlot   int
	act        action
}

type actionKind uint8

const (
	actCluster actionKind = iota
	actTemplate
	actWeighted
)

type action struct {
	kind    actionKind
	cluster string
	// template: the header filling the placeholder, and each allowed value's full cluster name (built
	// at parse, so a request never builds a string).
	tmplKey  key
	tmplName map[string]string
	// weighted: cumulative weights over clusters; total > 0.
	clusters []string
	cum      []uint64
	total    uint64
	hashKey  *key
	salt     string
}

// Pick returns the cluster for a request, or "" when no rule picks one (Envoy then uses the plugin's
// default_cluster). It does not allocate, except to URL-decode an escaped query parameter.
func (s *Specifier) Pick(h Headers) string {
	var r request
	r.h = h
	for i := range s.rules {
		if c := s.rules[i].pick(&r); c != "" {
			return c
		}
	}
	return ""
}

func (ru *rule) pick(r *request) string {
	if ru.pathPrefix != "" {
		p, ok := r.header(ru.pathSlot, ":path")
		if !ok || !strings.HasPrefix(pathOnly(p), ru.pathPrefix) {
			return ""
		}
	}
	for i := range ru.headers {
		if !ru.headers[i].match(r) {
			return ""
		}
	}
	for i := range ru.cookies {
		if !ru.cookies[i].match(r) {
			return ""
		}
	}
	for i := range ru.query {
		if !ru.query[i].match(r) {
			return ""
		}
	}
	a := &ru.act
	switch a.kind {
	case actCluster:
		return a.cluster
	case actTemplate:
		v, ok := r.value(&a.tmplKey)
		if !ok {
			return ""
		}
		return a.tmplName[v] // "" for a value outside the allow-list: the rule does not match
	default:
		return a.clusters[a.index(a.point(r))]
	}
}

// point is the request's position in [0, total): from the hash key when the request has it, else random.
func (a *action) point(r *request) uint64 {
	if a.hashKey != nil {
		if v, ok := r.value(a.hashKey); ok {
			// Multiply-shift maps the 64-bit hash uniformly onto [0, total).
			hi, _ := bits.Mul64(hashKey(a.salt, v), a.total)
			return hi
		}
	}
	return rand.Uint64N(a.total)
}

// index is the cluster whose cumulative range holds p. Ranges are consecutive in config order, so a
// weight change moves only the users at the boundaries that shifted.
func (a *action) index(p uint64) int {
	for i, c := range a.cum {
		if p < c {
			return i
		}
	}
	return len(a.cum) - 1
}

// hashKey is FNV-1a over salt, a 0xff separator (never in a header value) and the key, then a
// splitmix64 finish so short keys spread over all 64 bits.
func hashKey(salt, v string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(salt); i++ {
		h ^= uint64(salt[i])
		h *= prime
	}
	h ^= 0xff
	h *= prime
	for i := 0; i < len(v); i++ {
		h ^= uint64(v[i])
		h *= prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// maxSlots bounds the per-call header cache (it lives on the stack); headers beyond it are read
// through every time.
const maxSlots = 16

// request is one Pick call's view of the headers: each distinct header is read from Envoy at most
// once (a read crosses into C++), however many rules look at it.
type request struct {
	h     Headers
	vals  [maxSlots]string
	state [maxSlots]uint8 // 0 not read yet, 1 present, 2 absent
}

func (r *request) header(slot int, name string) (string, bool) {
	if slot < 0 {
		return r.h.Get(name)
	}
	switch r.state[slot] {
	case 1:
		return r.vals[slot], true
	case 2:
		return "", false
	}
	v, ok := r.h.Get(name)
	if ok {
		r.vals[slot], r.state[slot] = v, 1
	} else {
		r.state[slot] = 2
	}
	return v, ok
}

// value reads a header, cookie or query parameter.
func (r *request) value(k *key) (string, bool) {
	hv, ok := r.header(k.slot, k.header)
	if !ok {
		return "", false
	}
	switch k.src {
	case fromCookie:
		return cookieValue(hv, k.name)
	case fromQuery:
		return queryValue(hv, k.name)
	}
	return hv, true
}

// slotTable assigns cache slots to header names at parse.
type slotTable struct{ names []string }

// pinned holds every header name a specifier passes to Envoy's SDK, each pinned once for the life of
// the process. The SDK hands a pointer to the key string to C (HttpGetHeader(&key)); with GODEBUG
// cgocheck on (the default) that call panics unless the string's bytes are pinned ("Go pointer to
// unpinned Go pointer"). A Pinner cannot simply live with its Specifier: one collected while pinned
// makes the runtime panic, and Envoy drops configs without telling Go. Names are few (they come from
// configs), so interning them process-wide is cheap; maxPinned bounds it anyway.
var pinned = struct {
	sync.Mutex
	names map[string]string
	pins  runtime.Pinner
}{names: map[string]string{}}

var maxPinned = 10000 // a var for tests

// pin returns the interned, pinned copy of a header name.
func pin(name string) (string, error) {
	pinned.Lock()
	defer pinned.Unlock()
	if p, ok := pinned.names[name]; ok {
		return p, nil
	}
	if len(pinned.names) >= maxPinned {
		return "", fmt.Errorf("more than %d distinct header names in cluster specifier configs since start", maxPinned)
	}
	p := strings.Clone(name)
	pinned.pins.Pin(unsafe.StringData(p))
	pinned.names[p] = p
	return p, nil
}

func (t *slotTable) slot(name string) int {
	for i, n := range t.names {
		if n == name {
			return i
		}
	}
	if len(t.names) == maxSlots {
		return -1
	}
	t.names = append(t.names, name)
	return len(t.names) - 1
}
