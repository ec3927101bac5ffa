package proxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/xds-bridge/client"
)

// serveOwned is serveProxy without cleanup magic: stop closes the listener and waits for every
// goroutine it started, so leak checks see only what the proxy itself left behind.
func serveOwned(t *testing.T, p *Proxy) (addr string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := p.Accept(&tcpConn{c: c})
				if err != nil {
					c.Close()
					return
				}
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						s.OnData(buf[:n])
					}
					if err != nil {
						s.OnClose()
						c.Close()
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String(), func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

func waitDone(t *testing.T, p *Proxy) {
	t.Helper()
	waitFor(t, "the proxy to close", func() bool {
		select {
		case <-p.Done():
			return true
		default:
			return false
		}
	})
}

func isDone(p *Proxy) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// Retire lets open sessions and their requests finish, then closes upstreams and timers.
func TestRetireDrainsThenCloses(t *testing.T) {
	before := goleak.IgnoreCurrent()
	srv := startDubbo(t, "s")
	srv.mu.Lock()
	srv.hold = true // the first request is never answered
	srv.mu.Unlock()
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"statPrefix":%q,"upstreamHeartbeatInterval":"0.02s",
	  "routes":[{"service":"s","timeout":"60s"}],"services":[{"name":"s","endpoints":[{"address":%q}]}]}`, uniquePrefix(t), srv.addr))
	addr, stop := serveOwned(t, p)
	cl := dial(t, addr)
	cl.send(req{id: 1})
	waitFor(t, "the request at the provider", func() bool { return srv.count() == 1 })

	p.Retire()
	if !p.Draining() || isDone(p) {
		t.Fatal("retired proxy closed with a session and a request in flight")
	}
	srv.mu.Lock()
	srv.hold = false // later requests are answered; the first stays in flight
	srv.mu.Unlock()
	// The open session still works while draining (its listener is still Envoy's until it closes).
	if got := cl.call(req{id: 2}); got.status != dubbo.StatusOK {
		t.Fatalf("request while draining: %+v", got)
	}
	if isDone(p) {
		t.Fatal("closed while its session is open")
	}
	cl.c.Close()
	// The held request is still in flight (the provider never answers it): the proxy waits.
	if isDone(p) {
		t.Fatal("closed with a request in flight")
	}
	// Its provider connection dies: the request fails, nothing is left, the proxy closes.
	srv.kill()
	waitDone(t, p)
	if _, err := p.Accept(&tcpConn{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after drain: %v", err)
	}
	if g := p.gauges(); g.sessions != 0 || g.inflight != 0 || g.upstreams != 0 {
		t.Fatalf("after drain: %+v", g)
	}
	stop()
	goleak.VerifyNone(t, before)
}

// Retire on an idle proxy closes it at once; Close is idempotent.
func TestRetireIdleAndCloseTwice(t *testing.T) {
	before := goleak.IgnoreCurrent()
	p := newProxy(t, `{"protocols":["dubbo"],"routes":[{"service":"s"}],"services":[{"name":"s","endpoints":[{"address":"127.0.0.1:1"}]}]}`)
	p.Retire()
	waitDone(t, p)
	p.Close()
	p.Close()
	goleak.VerifyNone(t, before)
}

// Close releases the xDS client, the upstream connections (and their heartbeat timers) and the
// goroutines behind them.
func TestCloseReleasesXDSClientAndUpstreams(t *testing.T) {
	srv := startDubbo(t, "a")
	br := startBridge(t)
	before := goleak.IgnoreCurrent() // the provider and the bridge live on; the proxy's side must not
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"statPrefix":%q,"upstreamHeartbeatInterval":"0.02s",
	  "routes":[{"service":"providers:org.example.Demo"}],
	  "xds":{"address":%q,"nodeId":"govoy-test"}}`, uniquePrefix(t), br.XDSAddr().String()))
	br.Store.Upsert("reg", modelService(srv.addr))
	waitTable(t, p, func(tb client.Table) bool { return len(tb["providers:org.example.Demo"].GetEndpoints()) == 1 })
	addr, stop := serveOwned(t, p)
	cl := dial(t, addr)
	if got := cl.call(req{id: 1}); got.status != dubbo.StatusOK {
		t.Fatalf("call: %+v", got)
	}
	waitFor(t, "an upstream heartbeat", func() bool { return srv.heartbeats() >= 1 })
	cl.c.Close()
	stop()
	p.Close()
	pings := p.Stats().UpstreamPings.Load()
	if g := p.gauges(); g.upstreams != 0 {
		t.Fatalf("upstreams after close: %+v", g)
	}
	// The bridge may still be starting its admin server; that goroutine is the bridge's.
	goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction("github.com/govoy/govoy/xds-bridge/admin.Serve.func1"))
	// Heartbeat timers stopped with their connections: no ping after the close.
	if n := p.Stats().UpstreamPings.Load(); n != pings {
		t.Fatalf("%d heartbeats after close", n-pings)
	}
}

// Without downstream connections (a listener Envoy removed looks like this) idle upstream
// connections close after idle_upstream_timeout; the next request reconnects.
func TestIdleUpstreamsCloseWithoutSessions(t *testing.T) {
	srv := startDubbo(t, "s")
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"statPrefix":%q,"idleUpstreamTimeout":"0.05s",
	  "routes":[{"service":"s"}],"services":[{"name":"s","endpoints":[{"address":%q}]}]}`, uniquePrefix(t), srv.addr))
	addr := serveProxy(t, p)
	cl := dial(t, addr)
	if got := cl.call(req{id: 1}); got.status != dubbo.StatusOK {
		t.Fatalf("call: %+v", got)
	}
	cl.c.Close()
	waitFor(t, "idle upstreams to close", func() bool { return p.gauges().upstreams == 0 })
	if isDone(p) || p.Draining() {
		t.Fatal("an idle proxy was closed: only its upstreams should be")
	}
	cl = dial(t, addr)
	if got := cl.call(req{id: 2}); got.status != dubbo.StatusOK {
		t.Fatalf("call after the idle close: %+v", got)
	}
	if n := p.Stats().UpstreamConnects.Load(); n != 2 {
		t.Fatalf("%d upstream connects, want 2 (one after the idle close)", n)
	}
}
