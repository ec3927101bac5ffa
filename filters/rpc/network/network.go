// Package network registers the govoy-rpc proxy (filters/rpc/proxy) as Envoy's golang network
// filter "govoy-rpc" and adapts the SDK's connection callbacks to the proxy's Conn/Connector.
//
// Listener config (Envoy): envoy.filters.network.golang with plugin_name "govoy-rpc" and
// plugin_config either a govoy.rpc.proxy.v1.Config or an xds.type.v3.TypedStruct whose type_url
// names it and whose value is the config as JSON/YAML.
//
// Envoy's Go SDK builds a filter factory for every new connection from the same parsed config
// object, so the proxy (with its shared upstream connections) is cached per config object.
//
// Config replacement: the SDK never tells Go that a config is gone (see proxy/lifecycle.go), so
// this package infers it. Every config object gets a sequence number when first used; connections
// tell which listener they came through (stat_prefix + local port). When a newer config serves a
// listener, the older config's proxy is retired: it drains (its connections, which Envoy closes
// after the listener's drain time, and their requests) and then closes its upstream connections,
// timers and xDS client. A connection that still arrives on a retired config gets a fresh proxy
// built from the same config, retired again once that connection ends.
//
// Metrics: the proxies' Prometheus metrics are registered in filters/internal/metricsendpoint,
// served on GOVOY_METRICS_ADDR (read when the library loads).
package network

import (
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	sdk "github.com/envoyproxy/envoy/contrib/golang/filters/network/source/go/pkg/network"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/internal/metricsendpoint"
	"github.com/govoy/govoy/filters/log"
	_ "github.com/govoy/govoy/filters/rpc/codec/all" // the protocols the filter speaks
	"github.com/govoy/govoy/filters/rpc/proxy"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
)

// Name is the plugin_name of the filter in Envoy's config.
const Name = proxy.PluginName

func init() {
	sdk.RegisterNetworkFilterConfigFactory(Name, configFactory{})
	metricsendpoint.Registry.MustRegister(proxy.Collector())
	metricsendpoint.StartFromEnv()
}

var (
	logger = log.Named("rpc.network")
	// factories caches one filter factory per config object the SDK hands over (it keeps them
	// for the process lifetime, by config id).
	factories sync.Map // any -> *filterFactory
	// factorySeq orders config objects by first use: a listener's newer config comes later.
	factorySeq atomic.Uint64

	listenersMu sync.Mutex
	listeners   = map[listenerKey]*filterFactory{} // the newest config seen on each listener
)

// listenerKey identifies a listener (filter chain) across config replacements.
type listenerKey struct {
	statPrefix string
	port       string // local port of its connections (the listener's, also behind a wildcard IP)
}

type configFactory struct{}

func (configFactory) CreateFactoryFromConfig(c interface{}) sdk.FilterFactory {
	if f, ok := factories.Load(c); ok {
		return f.(*filterFactory)
	}
	f := &filterFactory{seq: factorySeq.Add(1)}
	var cfg *proxypb.Config
	var err error
	switch v := c.(type) {
	case *anypb.Any:
		cfg, err = proxy.ParseAny(v)
	case *proxypb.Config: // a config parser registered by the embedding program already parsed it
		cfg = v
	default:
		err = fmt.Errorf("%s: plugin_config: got %T from the network config parser, want *anypb.Any", Name, c)
	}
	if err == nil {
		f.cfg = cfg
		f.proxy, err = proxy.New(cfg, connector{})
	}
	if err != nil {
		f.err = err
		logger.Error("invalid govoy-rpc config: connections will be closed", zap.Error(err))
	}
	if prev, loaded := factories.LoadOrStore(c, f); loaded {
		if f.proxy != nil {
			f.proxy.Close()
		}
		return prev.(*filterFactory)
	}
	return f
}

type filterFactory struct {
	seq uint64
	cfg *proxypb.Config
	err error // the config is invalid: connections are closed

	mu    sync.Mutex
	proxy *proxy.Proxy // nil or closed after a retire; rebuilt from cfg when needed
}

func (f *filterFactory) CreateFilter(cb api.ConnectionCallback) (df api.DownstreamFilter) {
	d := &downstream{cb: cb}
	defer recoverTo("CreateFilter", func() { df = d }) // Envoy calls in without a recover of its own
	if f.err != nil {
		return d
	}
	key := listenerKey{statPrefix: f.cfg.GetStatPrefix(), port: localPort(cb)}
	s, older, err := f.accept(&conn{cb: cb}, key)
	if older != nil {
		older.retire()
	}
	if err != nil {
		logger.Error("govoy-rpc: cannot start a proxy for the connection", zap.Error(err))
		return d
	}
	d.session = s
	return d
}

// accept opens a session on f's proxy (rebuilding a released one) and records f as the config of
// key's listener. It returns the factory the connection shows to be superseded, if any.
func (f *filterFactory) accept(down proxy.Conn, key listenerKey) (*proxy.Session, *filterFactory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.proxy == nil {
			p, err := proxy.New(f.cfg, connector{})
			if err != nil {
				return nil, nil, err
			}
			logger.Info("govoy-rpc: proxy rebuilt for a connection on a retired config",
				zap.String("stat_prefix", p.StatPrefix()), zap.String("port", key.port))
			f.proxy = p
		}
		s, err := f.proxy.Accept(down)
		if err == nil {
			return s, f.claim(key), nil
		}
		f.proxy = nil // closed: build a fresh one from the same config
	}
}

// claim makes f the config of key's listener unless a newer one is; the loser is returned.
func (f *filterFactory) claim(key listenerKey) *filterFactory {
	listenersMu.Lock()
	defer listenersMu.Unlock()
	cur := listeners[key]
	switch {
	case cur == f:
		return nil
	case cur == nil || cur.seq < f.seq:
		listeners[key] = f
		return cur
	default:
		return f // an older config still getting connections: drain it after them
	}
}

// retire drains f's proxy and drops it once closed (the next connection, if any, rebuilds it).
func (f *filterFactory) retire() {
	f.mu.Lock()
	p := f.proxy
	f.mu.Unlock()
	if p == nil || p.Draining() {
		return
	}
	p.Retire()
	go func() {
		<-p.Done()
		f.mu.Lock()
		if f.proxy == p {
			f.proxy = nil // free its routes and xDS table
		}
		f.mu.Unlock()
	}()
}

// localPort is the port the downstream connection was accepted on ("" if unknown).
func localPort(cb api.ConnectionCallback) (port string) {
	defer func() {
		if recover() != nil {
			port = "" // an SDK without the call: all ports count as one listener
		}
	}()
	// In v1.39.0's SDK, DownstreamLocalAddress panics ("implement me"); UpstreamLocalAddress asks
	// the connection's own info function, which for a downstream connection is DownstreamInfo
	// (shim.go), i.e. the local address of the accepted connection.
	a, _ := cb.StreamInfo().UpstreamLocalAddress()
	if _, p, err := net.SplitHostPort(a); err == nil {
		return p
	}
	return a
}

// downstream is the filter on one accepted connection; it is terminal and consumes every byte.
type downstream struct {
	api.EmptyDownstreamFilter
	cb      api.ConnectionCallback
	session *proxy.Session
}

func (d *downstream) OnNewConnection() api.FilterStatus {
	if d.session == nil {
		d.cb.Close(api.NoFlush)
	}
	return api.NetworkFilterContinue
}

func (d *downstream) OnData(b []byte, end bool) (st api.FilterStatus) {
	defer recoverTo("downstream OnData", func() { d.cb.Close(api.NoFlush) })
	if d.session != nil {
		d.session.OnData(b)
	}
	// Terminal: nothing after us reads these bytes.
	return api.NetworkFilterStopIteration
}

func (d *downstream) OnEvent(e api.ConnectionEvent) {
	defer recoverTo("downstream OnEvent", nil)
	if d.session != nil && (e == api.LocalClose || e == api.RemoteClose) {
		d.session.OnClose()
	}
}

func (d *downstream) OnWrite(b []byte, end bool) api.FilterStatus { return api.NetworkFilterContinue }

// conn writes to an Envoy connection; Envoy posts writes from other threads to the connection's
// worker.
type conn struct{ cb api.ConnectionCallback }

func (c *conn) Write(b []byte) {
	if len(b) > 0 {
		c.cb.Write(b, false)
	}
}

func (c *conn) Close() { c.cb.Close(api.FlushWrite) }

// connector opens upstream connections through Envoy (CreateUpstreamConn).
type connector struct{}

func (connector) Connect(addr string, h proxy.UpstreamHandler) {
	sdk.CreateUpstreamConn(addr, &upstream{h: h})
}

type upstream struct {
	api.EmptyUpstreamFilter
	h proxy.UpstreamHandler
}

func (u *upstream) OnPoolReady(cb api.ConnectionCallback) {
	defer recoverTo("upstream OnPoolReady", func() { cb.Close(api.NoFlush) })
	u.h.OnReady(&conn{cb: cb})
}

func (u *upstream) OnPoolFailure(r api.PoolFailureReason, transport string) {
	defer recoverTo("upstream OnPoolFailure", nil)
	u.h.OnFailure(fmt.Errorf("connect failed (reason %d) %s", r, transport))
}

func (u *upstream) OnData(b []byte, end bool) {
	defer recoverTo("upstream OnData", nil)
	u.h.OnData(b)
}

func (u *upstream) OnEvent(e api.ConnectionEvent) {
	defer recoverTo("upstream OnEvent", nil)
	if e == api.LocalClose || e == api.RemoteClose {
		u.h.OnClose()
	}
}

// recoverTo keeps a panic on the Go side of the cgo boundary.
func recoverTo(where string, then func()) {
	if r := recover(); r != nil {
		logger.Error("govoy-rpc panic", zap.String("in", where), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		if then != nil {
			then()
		}
	}
}
