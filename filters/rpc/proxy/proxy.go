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
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/internal/typedconfig"
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

// PluginName is the plugin_name of Envoy's golang network filter that runs the proxy.
const PluginName = "govoy-rpc"

// DefaultTimeout applies when neither the route, the config nor the request sets a timeout.
const DefaultTimeout = 5 * time.Second

// DefaultHeartbeatInterval is how long an upstream connection stays silent before a heartbeat.
const DefaultHeartbeatInterval = 30 * time.Second

// DefaultIdleUpstreamTimeout is how long a proxy without downstream connections keeps idle
// upstream connections.
const DefaultIdleUpstreamTimeout = 5 * time.Minute

// Proxy is one parsed configuration with its shared state: upstream connections, limiters,
// breakers and counters. It is safe for concurrent use by sessions on any thread.
type Proxy struct {
	sniffer    *codec.Sniffer
	routes     []*route
	static     map[string]*service
	maxFrame   int
	defTimeout time.Duration
	hbInterval time.Duration
	idleUp     time.Duration
	connector  Connector
	logger     *zap.Logger
	stats      Stats
	prefix     *prefixState

	xds       *client.Client
	xdsCancel context.CancelFunc
	xdsDone   chan struct{} // closed when the xDS client's goroutine returns
	xdsMu     sync.Mutex
	xdsCache  map[string]xdsEntry

	mu        sync.Mutex
	upstreams map[upKey]*upstream
	endpoints map[string]*endpointState // by address: in-flight counts shared by every service
	closed    bool                      // no new sessions or upstreams; set once
	draining  bool                      // superseded: close when sessions and inflight reach 0
	leaving   atomic.Int32              // upstream connections that announced a shutdown (endpointState.leaving summed)
	sessions  atomic.Int64              // accepted sessions not yet ended
	inflight  atomic.Int64              // two-way requests not yet completed
	done      chan struct{}             // closed when Close has finished
	idle      *time.Timer               // armed while no session is open
	idleGen   uint64                    // which arming idle belongs to
}

type upKey struct {
	protocol string
	addr     string
}

// ParseAny reads the filter's plugin_config: a packed govoy.rpc.proxy.v1.Config (control planes)
// or a TypedStruct naming it (YAML). It only decodes; New and Check validate.
func ParseAny(a *anypb.Any) (*proxypb.Config, error) {
	if a == nil || a.GetTypeUrl() == "" {
		return nil, errors.New("rpc proxy: plugin_config is required")
	}
	cfg := &proxypb.Config{}
	if err := typedconfig.Unpack(a, cfg); err != nil {
		return nil, fmt.Errorf("rpc proxy: plugin_config: %w", err)
	}
	return cfg, nil
}

// Check reports what New would refuse in cfg, without starting anything (no xDS client, no
// metrics): offline validators run it.
func Check(cfg *proxypb.Config) error {
	_, err := build(cfg)
	return err
}

// New validates cfg and builds a proxy; with an xds source it starts the xDS client.
func New(cfg *proxypb.Config, conn Connector) (*Proxy, error) {
	if conn == nil {
		return nil, errors.New("rpc proxy: connector is required")
	}
	p, err := build(cfg)
	if err != nil {
		return nil, err
	}
	p.connector = conn
	if x := cfg.GetXds(); x != nil {
		if err := p.startXDS(x); err != nil {
			return nil, err
		}
	}
	prefix := cfg.GetStatPrefix()
	if prefix == "" {
		prefix = DefaultStatPrefix
	}
	p.prefix = metrics.attach(p, prefix, int(cfg.GetMaxMethodSeries()))
	return p, nil
}

// build validates cfg and makes the proxy's inert parts: codecs, services, routes.
func build(cfg *proxypb.Config) (*Proxy, error) {
	if cfg == nil {
		return nil, errors.New("rpc proxy: config is required")
	}
	if err := cfg.ValidateAll(); err != nil {
		return nil, fmt.Errorf("rpc proxy: invalid config: %w", err)
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
		idleUp:     DefaultIdleUpstreamTimeout,
		logger:     log.Named("rpc.proxy"),
		upstreams:  map[upKey]*upstream{},
		endpoints:  map[string]*endpointState{},
		xdsCache:   map[string]xdsEntry{},
		done:       make(chan struct{}),
	}
	if d := cfg.GetDefaultTimeout(); d != nil && d.AsDuration() > 0 {
		p.defTimeout = d.AsDuration()
	}
	if d := cfg.GetUpstreamHeartbeatInterval(); d != nil && d.AsDuration() > 0 {
		p.hbInterval = d.AsDuration()
	}
	if d := cfg.GetIdleUpstreamTimeout(); d != nil && d.AsDuration() > 0 {
		p.idleUp = d.AsDuration()
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
	return p, nil
}

// StatPrefix is the stat_prefix label of p's metrics.
func (p *Proxy) StatPrefix() string { return p.prefix.name }

// Close stops the xDS client and closes every upstream connection now; requests still waiting
// fail. It returns when all of that is done; Retire is the graceful way.
func (p *Proxy) Close() {
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	if first {
		p.finish()
	}
	<-p.done
}

// finish releases what p holds; it runs once, after closed was set.
func (p *Proxy) finish() {
	defer close(p.done)
	p.mu.Lock()
	if p.idle != nil {
		p.idle.Stop()
	}
	ups := make([]*upstream, 0, len(p.upstreams))
	for _, u := range p.upstreams {
		ups = append(ups, u)
	}
	p.upstreams = map[upKey]*upstream{}
	p.mu.Unlock()
	if p.xdsCancel != nil {
		p.xdsCancel()
		<-p.xdsDone
	}
	for _, u := range ups {
		u.close()
	}
	metrics.detach(p)
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
	// leaving counts this endpoint's upstream connections that announced a shutdown (Dubbo's
	// read-only event); while it is above 0, picks avoid the endpoint if another one is left.
	leaving atomic.Int32
}

// endpointLeaving records that an upstream connection to addr announced its shutdown.
func (p *Proxy) endpointLeaving(addr string) {
	p.endpointState(addr).leaving.Add(1)
	p.leaving.Add(1)
	p.stats.UpstreamGoAways.Add(1)
	p.logger.Info("upstream is shutting down: no new requests while other endpoints can take them", zap.String("addr", addr))
}

// endpointBack undoes endpointLeaving when that connection ends: a new one is trusted again.
func (p *Proxy) endpointBack(addr string) {
	p.endpointState(addr).leaving.Add(-1)
	p.leaving.Add(-1)
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
	UpstreamGoAways  atomic.Uint64 // upstream connections that announced a shutdown (Dubbo read-only event)
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
		"upstream_resets": s.UpstreamResets.Load(), "upstream_pings": s.UpstreamPings.Load(), "upstream_goaways": s.UpstreamGoAways.Load(), "panics": s.Panics.Load(),
	}
}
