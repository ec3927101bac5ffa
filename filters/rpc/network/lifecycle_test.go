package network

import (
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/rpc/proxy"
)

type fakeInfo struct {
	api.StreamInfo // only UpstreamLocalAddress is used (the SDK's way to the downstream's local address)
	local          string
}

func (f fakeInfo) UpstreamLocalAddress() (string, bool) { return f.local, true }

// fakeCB is a downstream connection as the SDK hands it to CreateFilter.
type fakeCB struct {
	local  string
	mu     sync.Mutex
	closed bool
}

func (c *fakeCB) StreamInfo() api.StreamInfo { return fakeInfo{local: c.local} }
func (c *fakeCB) Write([]byte, bool)         {}
func (c *fakeCB) EnableHalfClose(bool)       {}
func (c *fakeCB) Close(api.ConnectionCloseType) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

func rpcConfig(t *testing.T, prefix string) *anypb.Any {
	return typed(t, configTypeURL, map[string]any{"protocols": []any{"dubbo"}, "statPrefix": prefix,
		"routes":   []any{map[string]any{"service": "s"}},
		"services": []any{map[string]any{"name": "s", "endpoints": []any{map[string]any{"address": "127.0.0.1:1"}}}}})
}

// connect runs what the SDK does for a new connection on config c.
func connect(t *testing.T, c any, local string) (*filterFactory, *downstream) {
	t.Helper()
	f := configFactory{}.CreateFactoryFromConfig(c).(*filterFactory)
	d := f.CreateFilter(&fakeCB{local: local}).(*downstream)
	if d.session == nil || d.OnNewConnection() != api.NetworkFilterContinue {
		t.Fatal("connection got no session")
	}
	return f, d
}

func current(f *filterFactory) *proxy.Proxy {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.proxy
}

func waitClosed(t *testing.T, p *proxy.Proxy) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second): // bounds a hung test only
		t.Fatal("superseded proxy never closed")
	}
}

func isClosed(p *proxy.Proxy) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// An LDS update gives the listener a new config object: the old config's proxy drains and closes
// once its connections are gone; another listener sharing the stat_prefix is left alone.
func TestNewerConfigOnTheListenerRetiresTheOld(t *testing.T) {
	oldCfg, newCfg, otherCfg := rpcConfig(t, "lds"), rpcConfig(t, "lds"), rpcConfig(t, "lds")
	fOld, dOld := connect(t, oldCfg, "127.0.0.1:10000")
	pOld := current(fOld)
	fOther, dOther := connect(t, otherCfg, "127.0.0.1:10001") // another port: another listener
	fNew, dNew := connect(t, newCfg, "0.0.0.0:10000")         // same listener (wildcard IP)
	pNew, pOther := current(fNew), current(fOther)
	t.Cleanup(func() { pNew.Close(); pOther.Close() })

	if !pOld.Draining() || isClosed(pOld) {
		t.Fatalf("old proxy: draining %v closed %v; want draining with its connection open", pOld.Draining(), isClosed(pOld))
	}
	if pNew.Draining() || pOther.Draining() {
		t.Fatal("a current proxy was retired")
	}
	dOld.OnEvent(api.RemoteClose)
	waitClosed(t, pOld)

	// A late connection on the old config gets a fresh proxy, which drains after it.
	_, dLate := connect(t, oldCfg, "127.0.0.1:10000")
	pLate := current(fOld)
	if pLate == nil || pLate == pOld || !pLate.Draining() {
		t.Fatalf("late connection: proxy %p (old %p), draining %v", pLate, pOld, pLate != nil && pLate.Draining())
	}
	dLate.OnEvent(api.LocalClose)
	waitClosed(t, pLate)
	if pNew.Draining() || isClosed(pNew) {
		t.Fatal("the late connection retired the current config")
	}
	dNew.OnEvent(api.RemoteClose)
	dOther.OnEvent(api.RemoteClose)
	if isClosed(pNew) || isClosed(pOther) {
		t.Fatal("a current proxy closed when its connections ended")
	}
}
