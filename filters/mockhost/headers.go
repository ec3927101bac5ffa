package mockhost

import (
	"errors"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// ErrNotInGo is what the SDK panics with when a header map, buffer or callback is used while Envoy is
// not processing that phase in Go (Envoy's CAPINotInGo), e.g. after Continue.
var ErrNotInGo = errors.New("mockhost: not processing in Go (Envoy CAPINotInGo): the phase that owns this object has ended")

// Header is a header or trailer map as Envoy holds it: lower-cased keys, multiple values per key.
type Header map[string][]string

// Get returns the first value of key (any case).
func (h Header) Get(key string) string {
	if v := h[strings.ToLower(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// normalize copies in with lower-cased keys, like Envoy's codecs do.
func normalize(in map[string][]string) Header {
	out := make(Header, len(in))
	for k, vs := range in {
		k = strings.ToLower(k)
		out[k] = append(out[k], vs...)
	}
	return out
}

func cloneHeader(in Header) Header {
	if in == nil {
		return nil
	}
	out := make(Header, len(in))
	for k, vs := range in {
		out[k] = slices.Clone(vs)
	}
	return out
}

// headerStore is Envoy's (C++) side of one header or trailer map.
type headerStore struct {
	mu sync.Mutex
	m  Header
}

func newHeaderStore(h Header) *headerStore { return &headerStore{m: h} }

func (s *headerStore) snapshot() Header {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneHeader(s.m)
}

func (s *headerStore) get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[key]
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (s *headerStore) set(key, value string, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.m[key] = append(s.m[key], value)
	} else {
		s.m[key] = []string{value}
	}
}

func (s *headerStore) del(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// headerView is the Go SDK's header map object: created per phase call, it copies Envoy's map on
// first use (which must happen while the phase runs in Go) and serves reads from that copy; writes go
// through to Envoy and are only allowed while the phase runs in Go.
type headerView struct {
	store *headerStore
	inGo  func() bool
	mu    sync.Mutex
	cache Header
}

func (h *headerView) init() {
	if h.cache == nil {
		if !h.inGo() {
			panic(ErrNotInGo)
		}
		h.cache = h.store.snapshot()
	}
}

func (h *headerView) GetRaw(name string) string {
	// GetRaw reads Envoy's map directly and is case-sensitive, like the SDK.
	if !h.inGo() {
		panic(ErrNotInGo)
	}
	v, _ := h.store.get(name)
	return v
}

func (h *headerView) Get(key string) (string, bool) {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	v, ok := h.cache[key]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (h *headerView) Values(key string) []string {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	return h.cache[key]
}

func (h *headerView) Set(key, value string) {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	if !h.inGo() {
		panic(ErrNotInGo)
	}
	h.cache[key] = []string{value}
	h.store.set(key, value, false)
}

func (h *headerView) Add(key, value string) {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	if !h.inGo() {
		panic(ErrNotInGo)
	}
	h.cache[key] = append(h.cache[key], value)
	h.store.set(key, value, true)
}

func (h *headerView) Del(key string) {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	if !h.inGo() {
		panic(ErrNotInGo)
	}
	delete(h.cache, key)
	h.store.del(key)
}

// Range iterates in key order (the SDK iterates a Go map, so callers must not rely on any order;
// a fixed order keeps test failures reproducible).
func (h *headerView) Range(f func(key, value string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	rangeHeader(h.cache, f)
}

func (h *headerView) RangeWithCopy(f func(key, value string) bool) {
	h.mu.Lock()
	h.init()
	c := cloneHeader(h.cache)
	h.mu.Unlock()
	rangeHeader(c, f)
}

func rangeHeader(m Header, f func(key, value string) bool) {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range m[k] {
			if !f(k, v) {
				return
			}
		}
	}
}

func (h *headerView) GetAllHeaders() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	return cloneHeader(h.cache)
}

type requestHeaders struct{ headerView }

var _ api.RequestHeaderMap = (*requestHeaders)(nil)

func (h *requestHeaders) Scheme() string          { v, _ := h.Get(":scheme"); return v }
func (h *requestHeaders) Method() string          { v, _ := h.Get(":method"); return v }
func (h *requestHeaders) Host() string            { v, _ := h.Get(":authority"); return v }
func (h *requestHeaders) Path() string            { v, _ := h.Get(":path"); return v }
func (h *requestHeaders) SetMethod(method string) { h.Set(":method", method) }
func (h *requestHeaders) SetHost(host string)     { h.Set(":authority", host) }
func (h *requestHeaders) SetPath(path string)     { h.Set(":path", path) }

type responseHeaders struct{ headerView }

var _ api.ResponseHeaderMap = (*responseHeaders)(nil)

func (h *responseHeaders) Status() (int, bool) {
	if s, ok := h.Get(":status"); ok {
		v, _ := strconv.Atoi(s)
		return v, true
	}
	return 0, false
}

type requestTrailers struct{ headerView }
type responseTrailers struct{ headerView }

var (
	_ api.RequestTrailerMap  = (*requestTrailers)(nil)
	_ api.ResponseTrailerMap = (*responseTrailers)(nil)
)

func always() bool { return true }

// NewRequestHeaders returns a free-standing request header map (always usable, no phase rules) for
// unit tests of code that takes an api.RequestHeaderMap. Keys are lower-cased like Envoy's.
func NewRequestHeaders(h map[string][]string) api.RequestHeaderMap {
	return &requestHeaders{headerView{store: newHeaderStore(normalize(h)), inGo: always}}
}

// NewResponseHeaders is NewRequestHeaders for responses.
func NewResponseHeaders(h map[string][]string) api.ResponseHeaderMap {
	return &responseHeaders{headerView{store: newHeaderStore(normalize(h)), inGo: always}}
}

// NewRequestTrailers is NewRequestHeaders for request trailers.
func NewRequestTrailers(h map[string][]string) api.RequestTrailerMap {
	return &requestTrailers{headerView{store: newHeaderStore(normalize(h)), inGo: always}}
}

// NewResponseTrailers is NewRequestHeaders for response trailers.
func NewResponseTrailers(h map[string][]string) api.ResponseTrailerMap {
	return &responseTrailers{headerView{store: newHeaderStore(normalize(h)), inGo: always}}
}
