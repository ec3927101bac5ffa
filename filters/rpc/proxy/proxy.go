// Package proxy is the protocol-neutral core of the govoy-rpc network filter: it cuts downstream
// bytes into frames with a codec, answers heartbeats, routes requests to services, picks an
// endpoint, applies rate limits and circuit breakers, multiplexes requests of many downstream
// connections onto one upstream connection per endpoint by rewriting request ids, and turns
// timeouts and upstream failures into the protocol's own error responses.
//
// It knows nothing of Envoy: connections are the small Conn / Connector interfaces, so the core is
// tested with in-memory pipes and real TCP, and filters/rpc/network adapts Envoy's Go SDK to them.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/govoy/govoy/filters/log"
	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
	"github.com/govoy/govoy/xds-bridge/client"
)

// Conn is a connection the proxy writes to. Write and Close may be called from any goroutine;
// implementations post them to the connection's own thread when they must (Envoy does).
type Conn interface {
	Write(b []byte)
	Close()
}

// UpstreamHandler receives the events of one upstream connection, in order.
type UpstreamHandler interface {
	OnReady(c Conn)      // connected; c writes to the upstream
	OnFailure(err error) // the connect failed; no other event follows
	OnData(b []byte)     // bytes from the upstream; b is only valid during the call
	OnClose()            // the connection closed (either side)
}

// Connector opens upstream connections asynchronously.
type Connector interface {
	Connect(addr string, h UpstreamHandler)
}

// DefaultTimeout applies when neither the route, the config nor the request sets a timeout.
const DefaultTimeout = 5 * time.Second

// DefaultHeartbeatInterval is how long an upstream connection stays silent before a heartbeat.
const DefaultHeartbeatInterval = 30 * time.Second

// Proxy is one parsed configuration with its shared state: upstream connections, limiters,
// breakers and counters. It is safe for concurrent use by sessions on any thread.
type Proxy struct {
	sniffer    *codec.Sniffer
	routes     []*route
	static     map[string]*service
	maxFrame   int
	defTimeout time.Duration
	hbInterval time.Duration
	connector  Connector
	logger     *zap.Logger
	stats      Stats

	xds       *client.Client
	xdsCancel context.CancelFunc
	xdsMu     sync.Mutex
	xdsCache  map[string]xdsEntry

	mu        sync.Mutex
	upstreams map[upKey]*upstream
	endpoints map[string]*endpointState // by address: in-flight counts shared by every service
	closed    bool
}

type upKey struct {
	protocol string
	addr     string
}

// New validates cfg and builds a proxy; with an xds source it starts the xDS client.
func New(cfg *proxypb.Config, conn Connector) (*Proxy, error) {
	if cfg == nil {
		return nil, errors.New("rpc proxy: config is required")
	}
	if err := cfg.ValidateAll(); err != nil {
		return nil, fmt.Errorf("rpc proxy: invalid config: %w", err)
	}
	if conn == nil {
		return nil, errors.New("rpc proxy: connector is required")
	}
	sn, err := codec.NewSniffer(cfg.GetProtocols()...)
	if err != nil {
		return nil, fmt.Errorf("rpc proxy: protocols: %w", err)
	}
	for _, n := range cfg.GetProtocols() {
		c, _ := codec.Lookup(n)
		if c.IDSpace() == 0 {
			return nil, fmt.Errorf("rpc proxy: protocols: %q has no request ids; only multiplexed protocols are proxied", n)
		}
	}
	p := &Proxy{
		sniffer:    sn,
		static:     map[string]*service{},
		maxFrame:   int(cfg.GetMaxFrameBytes()),
		defTimeout: DefaultTimeout,
		hbInterval: DefaultHeartbeatInterval,
		connector:  conn,
		logger:     log.Named("rpc.proxy"),
		upstreams:  map[upKey]*upstream{},
		endpoints:  map[string]*endpointState{},
		xdsCache:   map[string]xdsEntry{},
	}
	if d := cfg.GetDefaultTimeout(); d != nil && d.AsDuration() > 0 {
		p.defTimeout = d.AsDuration()
	}
	if d := cfg.GetUpstreamHeartbeatInterval(); d != nil && d.AsDuration() > 0 {
		p.hbInterval = d.AsDuration()
	}
	for i, s := range cfg.GetServices() {
		if _, dup := p.static[s.GetName()]; dup {
			return nil, fmt.Errorf("rpc proxy: services[%d].name: duplicate service %q", i, s.GetName())
		}
		svc, err := newService(s)
		if err != nil {
			return nil, fmt.Errorf("rpc proxy: services[%d]: %w", i, err)
		}
		p.static[s.GetName()] = svc
	}
	for i, r := range cfg.GetRoutes() {
		rt, err := newRoute(r)
		if err != nil {
			return nil, fmt.Errorf("rpc proxy: routes[%d]: %w", i, err)
		}
		if _, ok := p.static[r.GetService()]; !ok && cfg.GetXds() == nil {
			return nil, fmt.Errorf("rpc proxy: routes[%d].service: unknown service %q (no xds source)", i, r.GetService())
		}
		p.routes = append(p.routes, rt)
	}
	if x := cfg.GetXds(); x != nil {
		if err := p.startXDS(x); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Close stops the xDS client and closes every upstream connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	ups := make([]*upstream, 0, len(p.upstreams))
	for _, u := range p.upstreams {
		ups = append(ups, u)
	}
	p.upstreams = map[upKey]*upstream{}
	p.mu.Unlock()
	if p.xdsCancel != nil {
		p.xdsCancel()
	}
	for _, u := range ups {
		u.close()
	}
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() *Stats { return &p.stats }

// upstreamFor returns the shared upstream connection to addr for protocol c. fresh says the caller
// must start its connect (after queueing its request, so a fast failure finds it and retries it).
func (p *Proxy) upstreamFor(c codec.Codec, addr string) (u *upstream, fresh bool, err error) {
	k := upKey{c.Name(), addr}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, false, errors.New("proxy closed")
	}
	if u = p.upstreams[k]; u != nil {
		return u, false, nil
	}
	u = newUpstream(p, c, addr)
	p.upstreams[k] = u
	return u, true, nil
}

func (p *Proxy) connect(u *upstream) {
	p.stats.UpstreamConnects.Add(1)
	p.connector.Connect(u.addr, u)
}

// forget drops u from the pool so the next request connects again.
func (p *Proxy) forget(u *upstream) {
	k := upKey{u.codec.Name(), u.addr}
	p.mu.Lock()
	if p.upstreams[k] == u {
		delete(p.upstreams, k)
	}
	p.mu.Unlock()
}

func (p *Proxy) endpointState(addr string) *endpointState {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.endpoints[addr]
	if e == nil {
		e = &endpointState{}
		p.endpoints[addr] = e
	}
	return e
}

// endpointState is what the proxy tracks per endpoint address.
type endpointState struct {
	active atomic.Int64 // requests waiting for a response
}

// Stats are the proxy's counters (read with Load).
type Stats struct {
	Connections      atomic.Uint64
	Requests         atomic.Uint64
	Oneway           atomic.Uint64
	Responses        atomic.Uint64
	Heartbeats       atomic.Uint64
	Malformed        atomic.Uint64
	NoRoute          atomic.Uint64
	NoProvider       atomic.Uint64
	RateLimited      atomic.Uint64
	CircuitOpen      atomic.Uint64
	Timeouts         atomic.Uint64
	Retries          atomic.Uint64
	UpstreamConnects atomic.Uint64
	UpstreamFailures atomic.Uint64
	UpstreamResets   atomic.Uint64 // requests failed because their upstream closed
	UpstreamPings    atomic.Uint64 // heartbeats sent to idle upstream connections
	Panics           atomic.Uint64
}

// Snapshot returns the counters by name.
func (s *Stats) Snapshot() map[string]uint64 {
	return map[string]uint64{
		"connections": s.Connections.Load(), "requests": s.Requests.Load(), "oneway": s.Oneway.Load(),
		"responses": s.Responses.Load(), "heartbeats": s.Heartbeats.Load(), "malformed": s.Malformed.Load(),
		"no_route": s.NoRoute.Load(), "no_provider": s.NoProvider.Load(), "rate_limited": s.RateLimited.Load(),
		"circuit_open": s.CircuitOpen.Load(), "timeouts": s.Timeouts.Load(), "retries": s.Retries.Load(),
		"upstream_connects": s.UpstreamConnects.Load(), "upstream_failures": s.UpstreamFailures.Load(),
		"upstream_resets": s.UpstreamResets.Load(), "upstream_pings": s.UpstreamPings.Load(), "panics": s.Panics.Load(),
	}
}
