// Package network registers the govoy-rpc proxy (filters/rpc/proxy) as Envoy's golang network
// filter "govoy-rpc" and adapts the SDK's connection callbacks to the proxy's Conn/Connector.
//
// Listener config (Envoy): envoy.filters.network.golang with plugin_name "govoy-rpc" and
// plugin_config either a govoy.rpc.proxy.v1.Config or an xds.type.v3.TypedStruct whose type_url
// names it and whose value is the config as JSON/YAML.
//
// Envoy's Go SDK builds a filter factory for every new connection from the same parsed config
// object, so the proxy (with its shared upstream connections) is cached per config object.
package network

import (
	"fmt"
	"runtime/debug"
	"sync"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	sdk "github.com/envoyproxy/envoy/contrib/golang/filters/network/source/go/pkg/network"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/log"
	// The protocols the filter speaks; each registers its codec from init.
	_ "github.com/govoy/govoy/filters/rpc/codec/bolt"
	_ "github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/filters/rpc/proxy"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
)

// Name is the plugin_name of the filter in Envoy's config.
const Name = "govoy-rpc"

var configTypeURL = "type.googleapis.com/" + string((&proxypb.Config{}).ProtoReflect().Descriptor().FullName())

func init() { sdk.RegisterNetworkFilterConfigFactory(Name, configFactory{}) }

var (
	logger = log.Named("rpc.network")
	// factories caches one filter factory per config object the SDK hands over (it keeps them
	// for the process lifetime, by config id).
	factories sync.Map // any -> *filterFactory
)

// ParseConfig reads the filter's plugin_config.
func ParseConfig(a *anypb.Any) (*proxypb.Config, error) {
	if a == nil {
		return nil, fmt.Errorf("%s: plugin_config is required", Name)
	}
	cfg := &proxypb.Config{}
	switch a.GetTypeUrl() {
	case configTypeURL:
		if err := proto.Unmarshal(a.GetValue(), cfg); err != nil {
			return nil, fmt.Errorf("%s: plugin_config: %w", Name, err)
		}
	case "type.googleapis.com/xds.type.v3.TypedStruct", "type.googleapis.com/udpa.type.v1.TypedStruct":
		ts := &xds.TypedStruct{}
		if err := proto.Unmarshal(a.GetValue(), ts); err != nil {
			return nil, fmt.Errorf("%s: plugin_config: %w", Name, err)
		}
		if ts.GetTypeUrl() != configTypeURL {
			return nil, fmt.Errorf("%s: plugin_config.type_url: got %q, want %q", Name, ts.GetTypeUrl(), configTypeURL)
		}
		js, err := protojson.Marshal(ts.GetValue())
		if err != nil {
			return nil, fmt.Errorf("%s: plugin_config.value: %w", Name, err)
		}
		if err := protojson.Unmarshal(js, cfg); err != nil {
			return nil, fmt.Errorf("%s: plugin_config.value: %w", Name, err)
		}
	default:
		return nil, fmt.Errorf("%s: plugin_config: unsupported type %q (want %s or a TypedStruct of it)", Name, a.GetTypeUrl(), configTypeURL)
	}
	return cfg, nil
}

type configFactory struct{}

func (configFactory) CreateFactoryFromConfig(c interface{}) sdk.FilterFactory {
	if f, ok := factories.Load(c); ok {
		return f.(*filterFactory)
	}
	f := &filterFactory{}
	var cfg *proxypb.Config
	var err error
	switch v := c.(type) {
	case *anypb.Any:
		cfg, err = ParseConfig(v)
	case *proxypb.Config: // a config parser registered by the embedding program already parsed it
		cfg = v
	default:
		err = fmt.Errorf("%s: plugin_config: got %T from the network config parser, want *anypb.Any", Name, c)
	}
	if err == nil {
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
	proxy *proxy.Proxy
	err   error
}

func (f *filterFactory) CreateFilter(cb api.ConnectionCallback) api.DownstreamFilter {
	d := &downstream{cb: cb}
	if f.proxy != nil {
		d.session = f.proxy.NewSession(&conn{cb: cb})
	}
	return d
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
