package proxy

import (
	"fmt"
	"time"

	"github.com/govoy/govoy/filters/http/localratelimit"
	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
)

// maxLimiterKeys bounds the per-method buckets of one route.
const maxLimiterKeys = 4096

type route struct {
	match     *proxypb.Match
	service   string
	timeout   time.Duration
	retries   int
	limiter   *localratelimit.Limiter
	perMethod bool
}

func newRoute(r *proxypb.Route) (*route, error) {
	rt := &route{match: r.GetMatch(), service: r.GetService(), retries: int(r.GetRetries())}
	if t := r.GetTimeout(); t != nil {
		rt.timeout = t.AsDuration()
	}
	if rl := r.GetRateLimit(); rl != nil {
		iv := rl.GetFillInterval().AsDuration()
		if iv <= 0 {
			return nil, fmt.Errorf("rate_limit.fill_interval: must be positive")
		}
		rt.limiter = localratelimit.NewLimiter(rl.GetMaxTokens(), iv, maxLimiterKeys, nil)
		rt.perMethod = rl.GetPerMethod()
	}
	return rt, nil
}

// matches reports whether the request matches the route. The frame's headers are asked for only
// when the rule matches on headers: codecs build the header list on demand.
func (r *route) matches(rf codec.Route, f codec.Frame) bool {
	m := r.match
	if m == nil {
		return true
	}
	if (m.GetService() != "" && m.GetService() != rf.Service) ||
		(m.GetMethod() != "" && m.GetMethod() != rf.Method) ||
		(m.GetVersion() != "" && m.GetVersion() != rf.Version) ||
		(m.GetGroup() != "" && m.GetGroup() != rf.Group) {
		return false
	}
	hm := m.GetHeaders()
	if len(hm) == 0 {
		return true
	}
	h := f.Headers()
	for k, want := range hm {
		if got, ok := h.Get(k); !ok || got != want {
			return false
		}
	}
	return true
}

// allow takes a token from the route's bucket (or the method's).
func (r *route) allow(method string) bool {
	if r.limiter == nil {
		return true
	}
	if r.perMethod {
		return r.limiter.Take(method).Allowed
	}
	return r.limiter.TakeShared().Allowed
}

func (p *Proxy) routeFor(f codec.Frame) *route {
	rf := f.Route()
	for _, r := range p.routes {
		if r.matches(rf, f) {
			return r
		}
	}
	return nil
}
