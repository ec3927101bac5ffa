package proxy

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
)

func TestRoutingByInterfaceVersionGroupHeader(t *testing.T) {
	a, b, c := startDubbo(t, "a"), startDubbo(t, "b"), startDubbo(t, "c")
	p := newProxy(t, fmt.Sprintf(`{
	  "protocols": ["dubbo"],
	  "routes": [
	    {"match": {"service": "org.example.Demo", "version": "2.0.0"}, "service": "v2"},
	    {"match": {"service": "org.example.Demo", "group": "gray"}, "service": "gray"},
	    {"match": {"headers": {"x-tag": "canary"}}, "service": "gray"},
	    {"match": {"service": "org.example.Demo"}, "service": "v1"}
	  ],
	  "services": [
	    {"name": "v1", "endpoints": [{"address": %q}]},
	    {"name": "v2", "endpoints": [{"address": %q}]},
	    {"name": "gray", "endpoints": [{"address": %q}]}
	  ]}`, a.addr, b.addr, c.addr))
	cl := dial(t, serveProxy(t, p))
	cases := []struct {
		r    req
		want string
	}{
		{req{id: 1, version: "1.0.0"}, "a:hello:"},
		{req{id: 2, version: "2.0.0", method: "bye"}, "b:bye:"},
		{req{id: 3, group: "gray"}, "c:hello:"},
		{req{id: 4, attachments: map[string]string{"x-tag": "canary"}}, "c:hello:canary"},
	}
	for _, tc := range cases {
		got := cl.call(tc.r)
		if got.status != dubbo.StatusOK || got.body != tc.want {
			t.Errorf("%+v: got status %d body %q, want %q", tc.r, got.status, got.body, tc.want)
		}
	}
	got := cl.call(req{id: 5, svc: "org.example.Other"})
	if got.status != dubbo.StatusServiceNotFound || !strings.Contains(got.body, "no route") {
		t.Errorf("unrouted: status %d body %q", got.status, got.body)
	}
	if p.Stats().NoRoute.Load() != 1 || p.Stats().Responses.Load() != 4 {
		t.Errorf("stats %v", p.Stats().Snapshot())
	}
}

// Many clients share one upstream connection: ids are remapped and answers go to their sender.
func TestMultiplexedConcurrentClients(t *testing.T) {
	srv := startDubbo(t, "s")
	srv.delay = time.Millisecond
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr))
	addr := serveProxy(t, p)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := dial(t, addr)
			for j := 0; j < 20; j++ {
				// every client uses the same ids: the proxy must keep them apart
				cl.send(req{id: int64(j), attachments: map[string]string{"x-tag": fmt.Sprint(i, "-", j)}})
			}
			for j := 0; j < 20; j++ {
				got := cl.recv()
				if want := fmt.Sprintf("s:hello:%d-%d", i, got.id); got.body != want {
					t.Errorf("client %d: id %d got %q want %q", i, got.id, got.body, want)
				}
			}
		}()
	}
	wg.Wait()
	srv.mu.Lock()
	conns := len(srv.conns)
	srv.mu.Unlock()
	if conns != 1 {
		t.Errorf("provider saw %d connections, want 1 shared", conns)
	}
}

func endpoints(addrs ...string) string {
	var b []string
	for i, a := range addrs {
		b = append(b, fmt.Sprintf(`{"address":%q,"weight":%d}`, a, i+1))
	}
	return strings.Join(b, ",")
}

func TestLoadBalancing(t *testing.T) {
	a, b, c := startDubbo(t, "a"), startDubbo(t, "b"), startDubbo(t, "c")
	eps := endpoints(a.addr, b.addr, c.addr)
	tally := func(t *testing.T, policy, extra string, n int, mk func(i int) req) map[string]int {
		p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s"}],
		  "services":[{"name":"s","lbPolicy":%q%s,"endpoints":[%s]}]}`, policy, extra, eps))
		cl := dial(t, serveProxy(t, p))
		out := map[string]int{}
		for i := 0; i < n; i++ {
			r := mk(i)
			r.id = int64(i)
			got := cl.call(r)
			out[strings.SplitN(got.body, ":", 2)[0]]++
		}
		return out
	}
	plain := func(int) req { return req{} }
	if got := tally(t, "ROUND_ROBIN", "", 30, plain); got["a"] != 10 || got["b"] != 10 || got["c"] != 10 {
		t.Errorf("round robin: %v", got)
	}
	// weights 1:2:3 over 600 draws: each share within a wide band around its expectation
	got := tally(t, "WEIGHTED", "", 600, plain)
	if got["a"] < 50 || got["a"] > 150 || got["c"] < 230 || got["c"] > 370 || got["a"]+got["b"]+got["c"] != 600 {
		t.Errorf("weighted: %v", got)
	}
	got = tally(t, "CONSISTENT_HASH", `,"hashKey":"header:user"`, 30, func(i int) req {
		return req{attachments: map[string]string{"user": fmt.Sprint("u", i%3)}}
	})
	for k, v := range got {
		if v%10 != 0 {
			t.Errorf("consistent hash split a key: %s got %d of %v", k, v, got)
		}
	}
	// least request, sequential: nothing in flight, so ties rotate over all endpoints
	if got := tally(t, "LEAST_REQUEST", "", 30, plain); len(got) != 3 {
		t.Errorf("least request: %v", got)
	}
}

func TestLeastRequestAvoidsBusyEndpoint(t *testing.T) {
	busy, idle := startDubbo(t, "busy"), startDubbo(t, "idle")
	busy.hold = true
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s","timeout":"30s"}],
	  "services":[{"name":"s","lbPolicy":"LEAST_REQUEST","endpoints":[%s]}]}`, endpoints(busy.addr, idle.addr)))
	addr := serveProxy(t, p)
	held := dial(t, addr)
	// load the busy one: alternate until it holds 3 requests
	for i := 0; busy.count() < 3 && i < 100; i++ {
		held.send(req{id: int64(i)})
		waitFor(t, "the request to arrive", func() bool { return busy.count()+idle.count() >= i+1 })
	}
	cl := dial(t, addr)
	for i := 0; i < 10; i++ {
		if got := cl.call(req{id: int64(i)}); !strings.HasPrefix(got.body, "idle:") {
			t.Fatalf("request %d went to %q with busy holding %d", i, got.body, busy.count())
		}
	}
}

func TestTimeoutAnswersWithProtocolError(t *testing.T) {
	srv := startDubbo(t, "slow")
	srv.delay = 3 * time.Second
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[
	    {"match":{"method":"routeTimeout"},"service":"s","timeout":"0.05s"},
	    {"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr))
	cl := dial(t, serveProxy(t, p))
	got := cl.call(req{id: 7, method: "routeTimeout"})
	if got.status != dubbo.StatusServerTimeout || !strings.Contains(got.body, "no response within 50ms") {
		t.Fatalf("route timeout: %+v", got)
	}
	// the caller's own timeout (Dubbo "timeout" attachment) when the route has none
	got = cl.call(req{id: 8, timeout: 80 * time.Millisecond})
	if got.status != dubbo.StatusServerTimeout || !strings.Contains(got.body, "80ms") {
		t.Fatalf("request timeout: %+v", got)
	}
	if n := p.Stats().Timeouts.Load(); n != 2 {
		t.Fatalf("timeouts counter %d", n)
	}
}

func TestRetryOnConnectFailure(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	live := startDubbo(t, "live")
	cfg := func(retries int) string {
		return fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s","retries":%d}],
		  "services":[{"name":"s","lbPolicy":"CONSISTENT_HASH","hashKey":"method","endpoints":[%s]}]}`,
			retries, endpoints(deadAddr, live.addr))
	}
	// pick a method the hash sends to the dead endpoint first
	method := ""
	probe := newProxy(t, cfg(0))
	svc := probe.static["s"]
	for i := 0; method == ""; i++ {
		m := fmt.Sprint("m", i)
		f := decodeReq(t, req{id: 1, method: m})
		if svc.pick(probe, f, nil).addr == deadAddr {
			method = m
		}
	}
	cl := dial(t, serveProxy(t, newProxy(t, cfg(1))))
	if got := cl.call(req{id: 1, method: method}); got.status != dubbo.StatusOK || got.body != "live:"+method+":" {
		t.Fatalf("with a retry: %+v", got)
	}
	p0 := newProxy(t, cfg(0))
	cl0 := dial(t, serveProxy(t, p0))
	got := cl0.call(req{id: 2, method: method})
	if got.status != dubbo.StatusServiceNotFound || !strings.Contains(got.body, deadAddr) {
		t.Fatalf("without retries: %+v", got)
	}
	if p0.Stats().UpstreamFailures.Load() != 1 {
		t.Fatalf("stats %v", p0.Stats().Snapshot())
	}
}

func decodeReq(t *testing.T, r req) codec.Frame {
	t.Helper()
	pr, pw := net.Pipe()
	defer pr.Close()
	c := &consumer{t: t, c: pw}
	go func() { c.send(r); pw.Close() }()
	st := codec.NewStream(dubbo.Codec{}, codec.FromDownstream, 0)
	buf := make([]byte, 4096)
	for {
		n, err := pr.Read(buf)
		st.Write(buf[:n])
		if f, _ := st.Next(); f != nil {
			return f
		}
		if err != nil {
			t.Fatalf("no frame: %v", err)
		}
	}
}

func TestUpstreamKilledMidStream(t *testing.T) {
	srv := startDubbo(t, "doomed")
	srv.hold = true
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s","timeout":"60s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr))
	cl := dial(t, serveProxy(t, p))
	for i := 1; i <= 3; i++ {
		cl.send(req{id: int64(i)})
	}
	waitFor(t, "three requests at the provider", func() bool { return srv.count() >= 3 })
	srv.kill()
	seen := map[int64]bool{}
	for i := 0; i < 3; i++ {
		got := cl.recv()
		if got.status != dubbo.StatusServerError || !strings.Contains(got.body, "closed") {
			t.Fatalf("pending request after kill: %+v", got)
		}
		seen[got.id] = true
	}
	if len(seen) != 3 || p.Stats().UpstreamResets.Load() != 3 {
		t.Fatalf("answered %v, stats %v", seen, p.Stats().Snapshot())
	}
	// the next request connects again, finds nobody and says so
	got := cl.call(req{id: 9})
	if got.status != dubbo.StatusServiceNotFound {
		t.Fatalf("after kill: %+v", got)
	}
}

func TestCircuitBreaker(t *testing.T) {
	srv := startDubbo(t, "held")
	srv.hold = true
	for _, tc := range []struct{ name, cb string }{
		{"max_pending", `{"maxPending":2}`},
		{"per_endpoint", `{"maxRequestsPerEndpoint":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s","timeout":"60s"}],
			  "services":[{"name":"s","circuitBreaker":%s,"endpoints":[{"address":%q}]}]}`, tc.cb, srv.addr))
			cl := dial(t, serveProxy(t, p))
			cl.send(req{id: 1})
			cl.send(req{id: 2})
			got := cl.call(req{id: 3})
			if got.status != dubbo.StatusThreadpoolExhausted || p.Stats().CircuitOpen.Load() != 1 {
				t.Fatalf("third request: %+v stats %v", got, p.Stats().Snapshot())
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	srv := startDubbo(t, "s")
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],
	  "routes":[{"service":"s","rateLimit":{"maxTokens":2,"fillInterval":"3600s","perMethod":true}}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr))
	cl := dial(t, serveProxy(t, p))
	for i, m := range []string{"a", "a", "b"} {
		if got := cl.call(req{id: int64(i), method: m}); got.status != dubbo.StatusOK {
			t.Fatalf("request %d: %+v", i, got)
		}
	}
	got := cl.call(req{id: 9, method: "a"})
	if got.status != dubbo.StatusThreadpoolExhausted || !strings.Contains(got.body, "rate limited") {
		t.Fatalf("over the limit: %+v", got)
	}
	if got := cl.call(req{id: 10, method: "b"}); got.status != dubbo.StatusOK {
		t.Fatalf("method b has its own bucket: %+v", got)
	}
}

func TestHeartbeatAnsweredLocally(t *testing.T) {
	p := newProxy(t, `{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":"127.0.0.1:1"}]}]}`)
	cl := dial(t, serveProxy(t, p))
	hb, _ := dubbo.Codec{}.Heartbeat(42).AppendWire(nil)
	cl.c.Write(hb)
	got := cl.recv()
	if !got.hb || got.id != 42 || p.Stats().Heartbeats.Load() != 1 || p.Stats().UpstreamConnects.Load() != 0 {
		t.Fatalf("heartbeat reply %+v stats %v", got, p.Stats().Snapshot())
	}
}

func TestMalformedFrameClosesConnection(t *testing.T) {
	p := newProxy(t, `{"protocols":["dubbo"],"maxFrameBytes":1024,"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":"127.0.0.1:1"}]}]}`)
	addr := serveProxy(t, p)
	for name, b := range map[string][]byte{
		"not dubbo": []byte("GET / HTTP/1.1\r\n\r\n"),
		"too large": {0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0},
	} {
		cl := dial(t, addr)
		cl.c.Write(b)
		cl.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if n, err := cl.c.Read(make([]byte, 64)); err == nil {
			t.Errorf("%s: connection still open, read %d bytes", name, n)
		}
	}
	if n := p.Stats().Malformed.Load(); n != 2 {
		t.Fatalf("malformed counter %d", n)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ js, want string }{
		{`{"routes":[{"service":"s"}]}`, "Protocols"},
		{`{"protocols":["nope"],"routes":[{"service":"s"}]}`, `unknown protocol "nope"`},
		{`{"protocols":["dubbo"],"routes":[{"service":"x"}]}`, `routes[0].service: unknown service "x"`},
		{`{"protocols":["dubbo"],"routes":[{"service":"s"}],"services":[{"name":"s","endpoints":[{"address":"nohost"}]}]}`, "services[0]: endpoints[0].address"},
		{`{"protocols":["dubbo"],"routes":[{"service":"s"}],"services":[{"name":"s","lbPolicy":"CONSISTENT_HASH"}]}`, "hash_key"},
		{`{"protocols":["dubbo"],"routes":[{"service":"s","rateLimit":{"maxTokens":1}}],"services":[{"name":"s"}]}`, "FillInterval"},
	} {
		var cfg proxypb.Config
		if err := protojsonUnmarshal(tc.js, &cfg); err != nil {
			t.Fatal(err)
		}
		_, err := New(&cfg, tcpConnector{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to mention %q", tc.js, err, tc.want)
		}
	}
}

func TestIdleUpstreamGetsHeartbeats(t *testing.T) {
	srv := startDubbo(t, "s")
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"upstreamHeartbeatInterval":"0.02s","routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr))
	cl := dial(t, serveProxy(t, p))
	if got := cl.call(req{id: 1}); got.status != dubbo.StatusOK {
		t.Fatalf("first call: %+v", got)
	}
	// The provider answers each heartbeat; wait (bounded) for three of them.
	waitFor(t, "three heartbeats", func() bool { return srv.heartbeats() >= 3 })
	// Heartbeat answers were not taken for responses: the connection still serves calls.
	if got := cl.call(req{id: 2}); got.status != dubbo.StatusOK || p.Stats().UpstreamPings.Load() < 3 {
		t.Fatalf("after heartbeats: %+v stats %v", got, p.Stats().Snapshot())
	}
}

func TestOnewayAndUnreadableRequests(t *testing.T) {
	srv := startDubbo(t, "s")
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr))
	cl := dial(t, serveProxy(t, p))
	// A oneway request is forwarded and nobody answers it.
	f := decodeReq(t, req{id: 5})
	b, _ := f.AppendWire(nil)
	b[2] &^= 0x40 // clear two-way
	cl.c.Write(b)
	waitFor(t, "the oneway request at the provider", func() bool { return srv.count() == 1 })
	// A frame with a sound header and an unreadable body gets Dubbo's bad request status.
	bad := []byte{0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 3, 0xff, 0xfe, 0xfd}
	cl.c.Write(bad)
	if got := cl.recv(); got.id != 6 || got.status != dubbo.StatusBadRequest {
		t.Fatalf("unreadable request: %+v", got)
	}
	// The connection goes on; the first answer on it is the next call's (none for the oneway).
	if got := cl.call(req{id: 7}); got.status != dubbo.StatusOK {
		t.Fatalf("after: %+v", got)
	}
	if s := p.Stats(); s.Oneway.Load() != 1 || s.Requests.Load() != 2 || s.Malformed.Load() != 0 {
		t.Fatalf("stats %v", s.Snapshot())
	}
}
