// Command netfilter is a golang network filter built with Envoy's Go SDK alone, for the ABI host's
// network mode. It proxies each downstream connection to the address in its config (a
// TypedStruct {"upstream": "127.0.0.1:PORT"}), and answers the line "state?" itself with the
// connection's addresses (envoyGoFilterDownstreamInfo).
package main

import (
	"fmt"
	"strings"
	"sync"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	// api_impl wires api.Log* to envoyGoFilterLog; the HTTP package imports it, network does not.
	_ "github.com/envoyproxy/envoy/contrib/golang/common/go/api_impl"
	"github.com/envoyproxy/envoy/contrib/golang/filters/network/source/go/pkg/network"
	"google.golang.org/protobuf/types/known/anypb"
)

const Name = "abinet"

func init() {
	network.RegisterNetworkFilterConfigFactory(Name, &configFactory{})
	network.RegisterNetworkFilterConfigParser(&parser{})
}

func main() {}

type parser struct{}

func (parser) ParseConfig(a *anypb.Any) interface{} {
	ts := &xds.TypedStruct{}
	if err := a.UnmarshalTo(ts); err != nil {
		api.LogErrorf("abinet config: %v", err)
		return ""
	}
	return ts.GetValue().GetFields()["upstream"].GetStringValue()
}

type configFactory struct{}

func (configFactory) CreateFactoryFromConfig(c interface{}) network.FilterFactory {
	return &filterFactory{upstream: c.(string)}
}

type filterFactory struct{ upstream string }

func (f *filterFactory) CreateFilter(cb api.ConnectionCallback) api.DownstreamFilter {
	return &downstream{cb: cb, upstreamAddr: f.upstream}
}

type downstream struct {
	api.EmptyDownstreamFilter
	cb           api.ConnectionCallback
	upstreamAddr string

	mu      sync.Mutex
	up      api.ConnectionCallback // set once the pool is ready
	pending [][]byte               // data read before the upstream was ready
	dialed  bool
	closed  bool
}

// The SDK's connection callbacks answer addresses through Upstream{Local,Remote}Address for
// downstream connections too (envoyGoFilterDownstreamInfo); Downstream*Address are unimplemented.
func (d *downstream) OnNewConnection() api.FilterStatus {
	peer, _ := d.cb.StreamInfo().UpstreamRemoteAddress()
	d.cb.StreamInfo().FilterState().SetString("abinet.peer", peer, api.StateTypeReadOnly, api.LifeSpanConnection, api.None)
	return api.NetworkFilterContinue
}

func (d *downstream) OnData(buf []byte, end bool) api.FilterStatus {
	if strings.TrimSpace(string(buf)) == "state?" {
		// FilterState().GetString is not used: in SDK v1.39.0 it casts the *filterState it gets to
		// *connectionCallback (network/capi.go GetFilterState), so its mutex and WaitGroup are
		// whatever memory follows; the host crashes in sync.WaitGroup.Add. SetString only uses
		// the first field and works.
		peer, _ := d.cb.StreamInfo().UpstreamRemoteAddress()
		local, _ := d.cb.StreamInfo().UpstreamLocalAddress()
		d.cb.Write([]byte(fmt.Sprintf("peer=%s local=%s\n", peer, local)), false)
		return api.NetworkFilterStopIteration
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	data := append([]byte(nil), buf...)
	if d.up != nil {
		d.up.Write(data, false)
		return api.NetworkFilterStopIteration
	}
	d.pending = append(d.pending, data)
	if !d.dialed {
		d.dialed = true
		network.CreateUpstreamConn(d.upstreamAddr, &upstream{d: d})
	}
	return api.NetworkFilterStopIteration
}

func (d *downstream) OnEvent(e api.ConnectionEvent) {
	api.LogInfof("abinet downstream event %v", e)
	if e == api.RemoteClose || e == api.LocalClose {
		d.mu.Lock()
		d.closed = true
		up := d.up
		d.mu.Unlock()
		if up != nil {
			up.Close(api.NoFlush)
		}
	}
}

func (d *downstream) OnWrite(buf []byte, end bool) api.FilterStatus {
	return api.NetworkFilterContinue
}

type upstream struct {
	api.EmptyUpstreamFilter
	d *downstream
}

func (u *upstream) OnPoolReady(cb api.ConnectionCallback) {
	u.d.mu.Lock()
	defer u.d.mu.Unlock()
	if u.d.closed {
		cb.Close(api.NoFlush)
		return
	}
	cb.EnableHalfClose(true)
	u.d.up = cb
	for _, p := range u.d.pending {
		cb.Write(p, false)
	}
	u.d.pending = nil
	addr, _ := cb.StreamInfo().UpstreamRemoteAddress()
	api.LogInfof("abinet upstream ready %s", addr)
}

func (u *upstream) OnPoolFailure(r api.PoolFailureReason, _ string) {
	api.LogInfof("abinet upstream failure %v", r)
	u.d.cb.Write([]byte(fmt.Sprintf("upstream failure %d\n", r)), true)
}

func (u *upstream) OnData(buf []byte, end bool) {
	u.d.cb.Write(append([]byte("go:"), buf...), end)
}

func (u *upstream) OnEvent(e api.ConnectionEvent) {
	api.LogInfof("abinet upstream event %v", e)
	if e == api.RemoteClose {
		u.d.cb.Close(api.FlushWrite)
	}
}
