package proxy

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
)

type endpoint struct {
	addr     string
	weight   uint32
	metadata map[string]string
}

// service is one target: its endpoints and governance. Immutable after build except counters.
type service struct {
	name         string
	endpoints    []endpoint
	policy       proxypb.LbPolicy
	hashKey      string
	maxPending   int64
	maxPerEP     int64
	pending      atomic.Int64
	rr           atomic.Uint64
	totalWeights uint64
	rules        []subsetRule
}

// subsetRule sends requests for method (any when "") whose headers hold match to the endpoints
// whose metadata holds subset (govoy-xds RpcService rules).
type subsetRule struct {
	method        string
	match, subset map[string]string
}

// subsetFor returns the subset of the first rule f matches, nil when none does.
func (s *service) subsetFor(f codec.Frame) map[string]string {
	for _, r := range s.rules {
		if r.method != "" && r.method != f.Route().Method {
			continue
		}
		ok := true
		for k, v := range r.match {
			if got, found := f.Headers().Get(k); !found || got != v {
				ok = false
				break
			}
		}
		if ok {
			return r.subset
		}
	}
	return nil
}

func inSubset(md, subset map[string]string) bool {
	for k, v := range subset {
		if md[k] != v {
			return false
		}
	}
	return true
}

func newService(s *proxypb.Service) (*service, error) {
	svc := &service{name: s.GetName(), policy: s.GetLbPolicy(), hashKey: s.GetHashKey()}
	if cb := s.GetCircuitBreaker(); cb != nil {
		svc.maxPending = int64(cb.GetMaxPending())
		svc.maxPerEP = int64(cb.GetMaxRequestsPerEndpoint())
	}
	for i, e := range s.GetEndpoints() {
		if _, _, err := net.SplitHostPort(e.GetAddress()); err != nil {
			return nil, fmt.Errorf("endpoints[%d].address: %q is not host:port: %w", i, e.GetAddress(), err)
		}
		svc.add(e.GetAddress(), e.GetWeight(), e.GetMetadata())
	}
	if svc.policy == proxypb.LbPolicy_CONSISTENT_HASH && svc.hashKey == "" {
		return nil, fmt.Errorf("hash_key: required with lb_policy CONSISTENT_HASH")
	}
	return svc, nil
}

func (s *service) add(addr string, w uint32, md map[string]string) {
	if w == 0 {
		w = 1
	}
	s.endpoints = append(s.endpoints, endpoint{addr: addr, weight: w, metadata: md})
	s.totalWeights += uint64(w)
}

// pick chooses an endpoint not in tried; nil when none is left.
func (s *service) pick(p *Proxy, f codec.Frame, tried []string) *endpoint {
	subset := s.subsetFor(f)
	cands, total := s.candidates(p, tried, subset)
	if len(cands) == 0 && subset != nil {
		// Like Dubbo's non-forced tag routing: an empty subset falls back to every endpoint.
		cands, total = s.candidates(p, tried, nil)
	}
	if len(cands) == 0 {
		return nil
	}
	switch s.policy {
	case proxypb.LbPolicy_WEIGHTED:
		n := rand.Uint64N(total)
		for _, e := range cands {
			if n < uint64(e.weight) {
				return e
			}
			n -= uint64(e.weight)
		}
		return cands[len(cands)-1]
	case proxypb.LbPolicy_LEAST_REQUEST:
		// Full scan from a rotating start: ties spread round robin.
		start := int(s.rr.Add(1) % uint64(len(cands)))
		var best *endpoint
		var bestActive int64
		for i := range cands {
			e := cands[(start+i)%len(cands)]
			a := p.endpointState(e.addr).active.Load()
			if best == nil || a < bestActive {
				best, bestActive = e, a
			}
		}
		return best
	case proxypb.LbPolicy_CONSISTENT_HASH:
		// Rendezvous hashing: the same key keeps its endpoint while it exists, and a retry falls
		// to the key's next choice.
		key := hashValue(s.hashKey, f)
		var best *endpoint
		var bestScore uint64
		for _, e := range cands {
			h := fnv.New64a()
			h.Write([]byte(key))
			h.Write([]byte{0})
			h.Write([]byte(e.addr))
			if sc := h.Sum64(); best == nil || sc > bestScore {
				best, bestScore = e, sc
			}
		}
		return best
	default:
		return cands[s.rr.Add(1)%uint64(len(cands))]
	}
}

// candidates are the endpoints not tried yet (and in subset when set), with their total weight.
// Endpoints that announced their shutdown are left out unless no other is left: like Dubbo's
// available check, which prefers available invokers but does not fail while some invoker exists.
func (s *service) candidates(p *Proxy, tried []string, subset map[string]string) ([]*endpoint, uint64) {
	cands := make([]*endpoint, 0, len(s.endpoints))
	var total uint64
	checkLeaving := p.leaving.Load() > 0 // the usual case skips the per-endpoint lookups
	var leaving []*endpoint
	for i := range s.endpoints {
		e := &s.endpoints[i]
		if subset != nil && !inSubset(e.metadata, subset) {
			continue
		}
		skip := false
		for _, t := range tried {
			if t == e.addr {
				skip = true
				break
			}
		}
		if skip {
			continue
		}
		if checkLeaving && p.endpointState(e.addr).leaving.Load() > 0 {
			leaving = append(leaving, e)
			continue
		}
		cands = append(cands, e)
		total += uint64(e.weight)
	}
	if len(cands) == 0 {
		for _, e := range leaving {
			total += uint64(e.weight)
		}
		return leaving, total
	}
	return cands, total
}

func hashValue(key string, f codec.Frame) string {
	r := f.Route()
	switch key {
	case "service":
		return r.Service
	case "method":
		return r.Method
	case "version":
		return r.Version
	case "group":
		return r.Group
	}
	if name, ok := strings.CutPrefix(key, "header:"); ok {
		v, _ := f.Headers().Get(name)
		return v
	}
	return ""
}
