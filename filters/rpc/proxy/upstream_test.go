package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

// gatedConnector connects like tcpConnector once open is closed: an endpoint whose connect hangs.
type gatedConnector struct{ open chan struct{} }

func (g gatedConnector) Connect(addr string, h UpstreamHandler) {
	go func() {
		<-g.open
		tcpConnector{}.Connect(addr, h)
	}()
}

// TestTimedOutRequestIsNotSentLate: a request that times out while its upstream connection is
// still connecting is answered with a timeout and never reaches the provider once the connection
// is up; a request queued beside it that has not timed out is sent.
func TestTimedOutRequestIsNotSentLate(t *testing.T) {
	srv := startDubbo(t, "s")
	gate := gatedConnector{open: make(chan struct{})}
	p := newProxyWith(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr), gate)
	cl := dial(t, serveProxy(t, p))
	cl.send(req{id: 1, method: "late", timeout: 50 * time.Millisecond})
	cl.send(req{id: 2, method: "patient", timeout: 10 * time.Second})
	if got := cl.recv(); got.id != 1 || got.status != dubbo.StatusServerTimeout {
		t.Fatalf("the short call while connecting: %+v", got)
	}
	close(gate.open)
	if got := cl.recv(); got.id != 2 || got.status != dubbo.StatusOK || got.body != "s:patient:" {
		t.Fatalf("the call that waited: %+v", got)
	}
	// The provider reads one connection in order: had the timed-out call been written, it would
	// have been counted before this one was answered.
	if got := cl.call(req{id: 3}); got.status != dubbo.StatusOK {
		t.Fatalf("after connect: %+v", got)
	}
	if n := srv.count(); n != 2 {
		t.Fatalf("the provider got %d requests; want 2 (the timed-out one must not be sent)", n)
	}
}

// readOnlyEvent is Dubbo's read-only event as a Java provider sends it when it starts closing.
var readOnlyEvent = []byte{0xda, 0xbb, 0x80 | 0x20 | dubbo.SerializationHessian2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0x01, 'R'}

// TestUpstreamGoAway: after a provider's read-only event the proxy sends new requests to the other
// endpoints, lets the request in flight there finish, still uses the provider when it is the only
// one, and trusts it again on a new connection.
func TestUpstreamGoAway(t *testing.T) {
	s1, s2 := startDubbo(t, "s1"), startDubbo(t, "s2")
	s1.delay = 300 * time.Millisecond
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[
	    {"match":{"method":"only1"},"service":"one"},
	    {"service":"pool"}],
	  "services":[{"name":"one","endpoints":[{"address":%q}]},
	    {"name":"pool","endpoints":[{"address":%q},{"address":%q}]}]}`, s1.addr, s1.addr, s2.addr))
	cl := dial(t, serveProxy(t, p))
	poolSpread := func(what string, n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for i := range n {
			got := cl.call(req{id: int64(100 + i)})
			if got.status != dubbo.StatusOK {
				t.Fatalf("%s: %+v", what, got)
			}
			seen[strings.SplitN(got.body, ":", 2)[0]]++
		}
		return seen
	}
	if seen := poolSpread("warm-up", 4); seen["s1"] == 0 || seen["s2"] == 0 {
		t.Fatalf("round robin answered %v", seen)
	}
	before := s1.count()
	cl.send(req{id: 1, method: "only1"}) // in flight on s1 (300ms) while it goes read-only
	waitFor(t, "the call at s1", func() bool { return s1.count() == before+1 })
	s1.broadcast(readOnlyEvent)
	waitFor(t, "the go-away", func() bool { return p.Stats().UpstreamGoAways.Load() == 1 })
	if seen := poolSpread("after read-only", 6); seen["s2"] != 6 {
		t.Fatalf("after s1's read-only event the pool answered %v", seen)
	}
	if got := cl.recv(); got.id != 1 || got.status != dubbo.StatusOK || got.body != "s1:only1:" {
		t.Fatalf("the call in flight on s1: %+v", got)
	}
	// s1 is all that service "one" has: a leaving endpoint beats none.
	if got := cl.call(req{id: 2, method: "only1"}); got.status != dubbo.StatusOK || got.body != "s1:only1:" {
		t.Fatalf("the only endpoint, leaving: %+v", got)
	}
	// s1 restarts: its connection closes, and the next one is trusted again.
	s1.mu.Lock()
	s1.delay = 0
	s1.mu.Unlock()
	s1.dropConns()
	waitFor(t, "s1 back", func() bool { return p.leaving.Load() == 0 })
	if seen := poolSpread("after s1 came back", 6); seen["s1"] == 0 || seen["s2"] == 0 {
		t.Fatalf("after s1 reconnected the pool answered %v", seen)
	}
	if n := p.Stats().UpstreamResets.Load(); n != 0 {
		t.Fatalf("%d requests failed", n)
	}
}

// TestDownstreamGoAwayIgnored: a client sending a read-only event is neither routed nor counted
// as a request, and its connection goes on.
func TestDownstreamGoAwayIgnored(t *testing.T) {
	srv := startDubbo(t, "s")
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr))
	cl := dial(t, serveProxy(t, p))
	cl.c.Write(readOnlyEvent)
	if got := cl.call(req{id: 4}); got.status != dubbo.StatusOK {
		t.Fatalf("after the event: %+v", got)
	}
	if s := p.Stats(); s.Requests.Load() != 1 || s.Oneway.Load() != 0 || s.NoRoute.Load() != 0 || srv.count() != 1 {
		t.Fatalf("stats %v, provider saw %d", s.Snapshot(), srv.count())
	}
}
