package plugin_test

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/log"
	"github.com/govoy/govoy/filters/mockhost"
	"github.com/govoy/govoy/filters/plugin"
)

// newHost returns a mock Envoy running the chain, with Govoy's logger writing to Envoy's log as in
// the .so (the mock host captures it: mockhost.GlobalLogs).
func newHost() *mockhost.Host {
	h := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	log.UseEnvoy()
	return h
}

func filterConfig(t *testing.T, h *mockhost.Host, a *anypb.Any) any {
	t.Helper()
	cfg, err := h.ParseFilterConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func routeConfig(t *testing.T, h *mockhost.Host, parent any, a *anypb.Any) any {
	t.Helper()
	child, err := h.ParseRouteConfig(a)
	if err != nil {
		t.Fatalf("route-level Parse: %v", err)
	}
	return h.Merge(parent, child)
}

func wantCalls(t *testing.T, want ...string) {
	t.Helper()
	if got := rec.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls:\n got  %q\n want %q", got, want)
	}
}

func globalLogged(substrs ...string) bool {
	for _, l := range mockhost.GlobalLogs() {
		all := true
		for _, s := range substrs {
			all = all && strings.Contains(l.Msg, s)
		}
		if all {
			return true
		}
	}
	return false
}

func TestChainRunsInOrderAndEncodesInReverse(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_d", Config: act("pass")},
		plugin.Entry{Name: "t_c", Config: act("header")},
		plugin.Entry{Name: "t_a", Config: act("header")},
		plugin.Entry{Name: "t_b", Config: act("header")},
	))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{Path: "/x"}, nil)
	if res.Status != 200 || res.Upstream == nil {
		t.Fatalf("status %d, upstream %v", res.Status, res.Upstream)
	}
	for _, n := range []string{"x-t_a", "x-t_b", "x-t_c"} {
		if res.Upstream.Headers.Get(n) != "1" || res.Headers.Get(n) != "1" {
			t.Errorf("header %s missing (request %q, response %q)", n, res.Upstream.Headers.Get(n), res.Headers.Get(n))
		}
	}
	if len(res.Running) != 0 {
		t.Errorf("a sync chain went async in %v", res.Running)
	}
	wantCalls(t,
		"t_a:DecodeHeaders", "t_b:DecodeHeaders", "t_c:DecodeHeaders", "t_d:DecodeHeaders",
		"t_d:EncodeHeaders", "t_c:EncodeHeaders", "t_b:EncodeHeaders", "t_a:EncodeHeaders",
		"t_a:OnLog", "t_b:OnLog", "t_c:OnLog", "t_d:OnLog")
}

func TestEmptyChainPassesThrough(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t))
	res := h.Do(t, cfg, mockhost.Request{Method: "POST", Body: "b", Trailers: map[string][]string{"x-trailer": {"v"}}},
		func(r *mockhost.Received) mockhost.Response { return mockhost.Response{Body: string(r.Body)} })
	if res.Status != 200 || string(res.Body) != "b" || res.Upstream.Trailers.Get("x-trailer") != "v" {
		t.Fatalf("status %d body %q trailers %v", res.Status, res.Body, res.Upstream.Trailers)
	}
}

func TestLocalReplyStopsTheChain(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("header")},
		plugin.Entry{Name: "t_b", Config: act("reply")},
		plugin.Entry{Name: "t_c", Config: act("header")},
	))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Upstream != nil {
		t.Fatal("the request reached the upstream")
	}
	if res.Status != 403 || string(res.Body) != "denied by t_b" || res.Headers.Get("x-denied-by") != "t_b" {
		t.Fatalf("reply: %d %q %v", res.Status, res.Body, res.Headers)
	}
	if res.ResponseCodeDetails != "govoy.test.denied" {
		t.Errorf("details %q", res.ResponseCodeDetails)
	}
	// t_c never decoded, so it does not encode the reply; t_b and t_a do, in reverse.
	wantCalls(t, "t_a:DecodeHeaders", "t_b:DecodeHeaders", "t_b:EncodeHeaders", "t_a:EncodeHeaders",
		"t_a:OnLog", "t_b:OnLog", "t_c:OnLog")
}

func TestWaitAllDataBuffersTheBody(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("pass")},
		plugin.Entry{Name: "t_b", Config: act("wait,upper")},
		plugin.Entry{Name: "t_c", Config: act("header")},
	))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{Method: "POST", Chunks: []string{"hel", "lo"}}, nil)
	if res.Upstream == nil || string(res.Upstream.Body) != "HELLO" || res.Upstream.Headers.Get("x-t_c") != "1" {
		t.Fatalf("upstream got %+v", res.Upstream)
	}
	// t_c sees the headers only after t_b had the whole body.
	wantCalls(t, "t_a:DecodeHeaders", "t_b:DecodeHeaders", "t_b:DecodeRequest:hello", "t_c:DecodeHeaders",
		"t_c:EncodeHeaders", "t_b:EncodeHeaders", "t_a:EncodeHeaders", "t_a:OnLog", "t_b:OnLog", "t_c:OnLog")
}

func TestWaitAllDataWithoutBody(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_b", Config: act("wait")}, plugin.Entry{Name: "t_c", Config: act("wait")}))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 200 || res.Upstream == nil {
		t.Fatalf("status %d", res.Status)
	}
	wantCalls(t, "t_b:DecodeHeaders", "t_b:DecodeRequest:<nil>", "t_c:DecodeHeaders", "t_c:DecodeRequest:<nil>",
		"t_c:EncodeHeaders", "t_b:EncodeHeaders", "t_b:OnLog", "t_c:OnLog")
}

func TestWaitAllDataWithTrailers(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_b", Config: act("wait,upper")}))
	tr := map[string][]string{"x-trailer": {"v"}}

	rec.take()
	res := h.Do(t, cfg, mockhost.Request{Method: "POST", Body: "abc", Trailers: tr}, nil)
	if res.Upstream == nil || string(res.Upstream.Body) != "ABC" || res.Upstream.Trailers.Get("x-trailer") != "v" {
		t.Fatalf("upstream got %+v", res.Upstream)
	}
	// Envoy passes the buffered body on before the trailers reach Go, so the body phase runs then.
	wantCalls(t, "t_b:DecodeHeaders", "t_b:DecodeRequest:abc", "t_b:EncodeHeaders", "t_b:OnLog")

	res = h.Do(t, cfg, mockhost.Request{Method: "POST", Trailers: tr}, nil)
	if res.Upstream == nil || res.Upstream.Trailers.Get("x-trailer") != "v" {
		t.Fatalf("upstream got %+v", res.Upstream)
	}
	wantCalls(t, "t_b:DecodeHeaders", "t_b:DecodeRequest:<nil>", "t_b:trailer=v", "t_b:EncodeHeaders", "t_b:OnLog")
}

func TestWaitAllDataOnTheResponse(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("header")}, plugin.Entry{Name: "t_b", Config: act("waitresp")}))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{}, func(*mockhost.Received) mockhost.Response {
		return mockhost.Response{Chunks: []string{"wor", "ld"}}
	})
	if res.Status != 200 || string(res.Body) != "world" || res.Headers.Get("x-t_a") != "1" {
		t.Fatalf("got %d %q %v", res.Status, res.Body, res.Headers)
	}
	// t_a encodes the headers only after t_b had the whole response body.
	wantCalls(t, "t_a:DecodeHeaders", "t_b:DecodeHeaders", "t_b:EncodeHeaders", "t_b:EncodeResponse:world",
		"t_a:EncodeHeaders", "t_a:OnLog", "t_b:OnLog")
}

func TestAsyncPluginRunsOnAGoroutine(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("header")},
		plugin.Entry{Name: "t_async", Config: act("header")},
		plugin.Entry{Name: "t_c", Config: act("header")},
	))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 200 || res.Upstream == nil {
		t.Fatalf("status %d", res.Status)
	}
	for _, n := range []string{"x-t_a", "x-t_async", "x-t_c"} {
		if res.Upstream.Headers.Get(n) != "1" || res.Headers.Get(n) != "1" {
			t.Errorf("header %s missing", n)
		}
	}
	if !reflect.DeepEqual(res.Running, []string{"DecodeHeader", "EncodeHeader"}) {
		t.Errorf("async phases = %v, want DecodeHeader and EncodeHeader", res.Running)
	}
	wantCalls(t, "t_a:DecodeHeaders", "t_async:DecodeHeaders", "t_c:DecodeHeaders",
		"t_c:EncodeHeaders", "t_async:EncodeHeaders", "t_a:EncodeHeaders", "t_a:OnLog", "t_async:OnLog", "t_c:OnLog")
}

func TestAsyncWaitAllDataAndReply(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_async", Config: act("wait,upper")}, plugin.Entry{Name: "t_c", Config: act("header")}))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{Method: "POST", Chunks: []string{"a", "b"}}, nil)
	if res.Upstream == nil || string(res.Upstream.Body) != "AB" || res.Upstream.Headers.Get("x-t_c") != "1" {
		t.Fatalf("upstream got %+v", res.Upstream)
	}
	if !reflect.DeepEqual(res.Running, []string{"DecodeHeader", "DecodeData", "EncodeHeader"}) {
		t.Errorf("async phases = %v", res.Running)
	}
	rec.take()

	cfg = filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_async", Config: act("reply")}))
	res = h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 403 || res.Upstream != nil || res.ResponseCodeDetails != "govoy.test.denied" {
		t.Fatalf("got %d %q, upstream %v", res.Status, res.ResponseCodeDetails, res.Upstream)
	}
	rec.take()
}

func TestPanicOnTheWorkerIs500(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("pass")},
		plugin.Entry{Name: "t_b", Config: act("panic")},
		plugin.Entry{Name: "t_c", Config: act("pass")},
	))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 500 || res.Upstream != nil || res.ResponseCodeDetails != "govoy.panic" {
		t.Fatalf("got %d %q", res.Status, res.ResponseCodeDetails)
	}
	if got := h.Counter(plugin.PanicsCounter); got != 1 {
		t.Errorf("%s = %d, want 1", plugin.PanicsCounter, got)
	}
	if len(res.Panics) != 0 {
		t.Errorf("the panic escaped the chain: %v", res.Panics)
	}
	if !globalLogged("plugin panicked", "t_b", "boom in t_b", "goroutine") {
		t.Error("no log line naming the plugin with the panic and its stack")
	}
	// t_b does not encode the reply; everyone logs.
	wantCalls(t, "t_a:DecodeHeaders", "t_b:DecodeHeaders", "t_a:EncodeHeaders", "t_a:OnLog", "t_b:OnLog", "t_c:OnLog")

	cfg = filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("wait,panicreq")}))
	res = h.Do(t, cfg, mockhost.Request{Method: "POST", Body: "x"}, nil)
	if res.Status != 500 || h.Counter(plugin.PanicsCounter) != 2 {
		t.Fatalf("panic in DecodeRequest: status %d, panics %d", res.Status, h.Counter(plugin.PanicsCounter))
	}
	rec.take()

	cfg = filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("panicenc")}))
	res = h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 500 || h.Counter(plugin.PanicsCounter) != 3 {
		t.Fatalf("panic in EncodeHeaders: status %d, panics %d", res.Status, h.Counter(plugin.PanicsCounter))
	}
	rec.take()
}

func TestPanicInTheGoroutineIs500(t *testing.T) {
	h := newHost()
	for i, actions := range []string{"panic", "wait,panicreq"} {
		cfg := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("pass")}, plugin.Entry{Name: "t_async", Config: act(actions)}))
		res := h.Do(t, cfg, mockhost.Request{Method: "POST", Body: "x"}, nil)
		if res.Status != 500 || res.Upstream != nil || len(res.Panics) != 0 {
			t.Fatalf("%s: got %d, upstream %v, escaped panics %v", actions, res.Status, res.Upstream, res.Panics)
		}
		if got := h.Counter(plugin.PanicsCounter); got != uint64(i+1) {
			t.Fatalf("%s: %s = %d", actions, plugin.PanicsCounter, got)
		}
		if !globalLogged("plugin panicked", "t_async", "boom in t_async") {
			t.Errorf("%s: no log line naming t_async", actions)
		}
	}
	rec.take()
}

func TestPerRouteChain(t *testing.T) {
	h := newHost()
	parent := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("header")},
		plugin.Entry{Name: "t_b", Config: act("header")},
		plugin.Entry{Name: "t_c", Config: act("pass")},
	))
	merged := routeConfig(t, h, parent, mustAny(t,
		plugin.Entry{Name: "t_b", Disabled: true},
		plugin.Entry{Name: "t_c", Config: act("reply")},
	))
	rec.take()
	res := h.Do(t, merged, mockhost.Request{}, nil)
	if res.Status != 403 || res.Headers.Get("x-t_a") != "1" {
		t.Fatalf("got %d %v", res.Status, res.Headers)
	}
	wantCalls(t, "t_a:DecodeHeaders", "t_c:DecodeHeaders", "t_c:EncodeHeaders", "t_a:EncodeHeaders", "t_a:OnLog", "t_c:OnLog")
	// the filter-level chain itself is unchanged for other routes
	res = h.Do(t, parent, mockhost.Request{}, nil)
	if res.Status != 200 || res.Upstream.Headers.Get("x-t_b") != "1" {
		t.Fatalf("filter-level chain: %d %v", res.Status, res.Upstream)
	}
	rec.take()
}

func TestRouteLevelMetricsReportToFilterLevel(t *testing.T) {
	h := newHost()
	parent := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_d", Config: act("pass")}))
	merged := routeConfig(t, h, parent, mustAny(t, plugin.Entry{Name: "t_d", Config: act("count")}))
	for i := 0; i < 3; i++ {
		h.Do(t, merged, mockhost.Request{}, nil)
	}
	if got := h.Counter("t_d.calls"); got != 3 {
		t.Fatalf("t_d.calls = %d, want 3", got)
	}
	rec.take()
}

func TestInvalidRouteChainAnswers500(t *testing.T) {
	h := newHost()
	parent := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("pass")}))
	merged := routeConfig(t, h, parent, mustAny(t, plugin.Entry{Name: "t_a", Config: act("nonsense")}))
	rec.take()
	res := h.Do(t, merged, mockhost.Request{RouteName: "broken-route"}, nil)
	if res.Status != 500 || res.Upstream != nil || res.ResponseCodeDetails != "govoy.invalid_route_config" {
		t.Fatalf("got %d %q", res.Status, res.ResponseCodeDetails)
	}
	if got := h.Counter(plugin.InvalidRouteConfigCounter); got != 1 {
		t.Errorf("%s = %d", plugin.InvalidRouteConfigCounter, got)
	}
	if !globalLogged("plugin chain is invalid", "broken-route", `unknown action \"nonsense\"`) &&
		!globalLogged("plugin chain is invalid", "broken-route", `unknown action "nonsense"`) {
		t.Error("no log line with the route and the parse error")
	}
	wantCalls(t) // no plugin ran
}

func TestHandleConsumerRouteClientIP(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("consumer,handle")},
		plugin.Entry{Name: "t_b", Config: act("consumer")},
	))
	rec.take()
	h.Do(t, cfg, mockhost.Request{RouteName: "r1", RemoteAddr: "127.0.0.9:4444"}, nil)
	wantCalls(t, "t_a:DecodeHeaders", "t_a:route=r1,ip=127.0.0.9", "t_a:route=r1,ip=127.0.0.9",
		"t_b:DecodeHeaders", "t_b:consumer=c-t_a", "t_b:EncodeHeaders", "t_a:EncodeHeaders", "t_a:OnLog", "t_b:OnLog")

	cfg = filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("handle")}))
	h.Do(t, cfg, mockhost.Request{RouteName: "r6", RemoteAddr: "[::1]:4444"}, nil)
	wantCalls(t, "t_a:DecodeHeaders", "t_a:route=r6,ip=::1", "t_a:route=r6,ip=::1", "t_a:EncodeHeaders", "t_a:OnLog")
}

func TestAsyncLimitAnswers503(t *testing.T) {
	h := newHost()
	old := plugin.MaxAsync
	plugin.MaxAsync = 0
	defer func() { plugin.MaxAsync = old }()
	cfg := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_async", Config: act("pass")}))
	res := h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 503 || res.ResponseCodeDetails != "govoy.async_overload" || h.Counter(plugin.AsyncRejectedCounter) != 1 {
		t.Fatalf("got %d %q, rejected %d", res.Status, res.ResponseCodeDetails, h.Counter(plugin.AsyncRejectedCounter))
	}
	if len(res.Running) != 0 {
		t.Fatalf("went async: %v", res.Running)
	}
	rec.take()
}

func TestHandleReadsEnvoyOncePerRequest(t *testing.T) {
	cfg := parseFilterLevel(t, fakeCallbacks{}, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("handle")}, plugin.Entry{Name: "t_b", Config: act("handle")}))
	info := &countingStreamInfo{}
	f := plugin.FilterFactory(cfg, infoCallbacks{info: info})
	rec.take()
	if st := f.DecodeHeaders(nil, true); st != api.Continue {
		t.Fatalf("DecodeHeaders = %v", st)
	}
	if info.routeReads != 1 || info.ipReads != 1 {
		t.Fatalf("route read %d times, client address %d times; want once each", info.routeReads, info.ipReads)
	}
	wantCalls(t, "t_a:DecodeHeaders", "t_a:route=r1,ip=127.0.0.3", "t_a:route=r1,ip=127.0.0.3",
		"t_b:DecodeHeaders", "t_b:route=r1,ip=127.0.0.3", "t_b:route=r1,ip=127.0.0.3")
}

func TestPanicInNewFilterAndOnLog(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("pass")}, plugin.Entry{Name: "t_b", Config: act("panicnew")}))
	rec.take()
	res := h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 500 || res.Upstream != nil || len(res.Panics) != 0 || h.Counter(plugin.PanicsCounter) != 1 {
		t.Fatalf("NewFilter panic: status %d, upstream %v, escaped %v, counter %d", res.Status, res.Upstream, res.Panics, h.Counter(plugin.PanicsCounter))
	}
	wantCalls(t) // no plugin runs when one of them cannot be created

	cfg = filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("paniclog")}, plugin.Entry{Name: "t_b", Config: act("pass")}))
	res = h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 200 || len(res.Panics) != 0 || h.Counter(plugin.PanicsCounter) != 2 {
		t.Fatalf("OnLog panic: status %d, escaped %v, counter %d", res.Status, res.Panics, h.Counter(plugin.PanicsCounter))
	}
	// t_b still logs after t_a's OnLog panicked
	wantCalls(t, "t_a:DecodeHeaders", "t_b:DecodeHeaders", "t_b:EncodeHeaders", "t_a:EncodeHeaders", "t_a:OnLog", "t_b:OnLog")
}

func TestConcurrentRequests(t *testing.T) {
	h := newHost()
	cfg := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("header,count")},
		plugin.Entry{Name: "t_async", Config: act("wait,upper,consumer")},
		plugin.Entry{Name: "t_c", Config: act("consumer,handle")},
	))
	const workers, perWorker = 16, 25
	errs := make(chan string, workers*perWorker)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				res := h.Do(t, cfg, mockhost.Request{Method: "POST", Chunks: []string{"ab", "c"}}, nil)
				if res.Status != 200 || res.Upstream == nil || string(res.Upstream.Body) != "ABC" {
					errs <- fmt.Sprintf("status %d upstream %+v", res.Status, res.Upstream)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := h.Counter("t_a.calls"); got != workers*perWorker {
		t.Errorf("t_a.calls = %d, want %d", got, workers*perWorker)
	}
	rec.take()
}

func TestRouterPluginDisabledTurnsTheChainOff(t *testing.T) {
	h := newHost()
	parent := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_a", Config: act("reply")}))
	// RouterPlugin{disabled: true} reaches Go as an empty config.
	child, err := h.ParseRouteConfig(&anypb.Any{})
	if err != nil {
		t.Fatal(err)
	}
	merged := h.Merge(parent, child)
	if got := merged.(*plugin.ChainConfig).Plugins(); len(got) != 0 {
		t.Fatalf("plugins = %v", got)
	}
	rec.take()
	res := h.Do(t, merged, mockhost.Request{}, nil)
	if res.Status != 200 || res.Upstream == nil {
		t.Fatalf("status %d", res.Status)
	}
	wantCalls(t)
	// a deeper level adds a plugin back
	deeper := routeConfig(t, h, merged, mustAny(t, plugin.Entry{Name: "t_b", Config: act("pass")}))
	if got := deeper.(*plugin.ChainConfig).Plugins(); !reflect.DeepEqual(got, []string{"t_b"}) {
		t.Fatalf("plugins = %v", got)
	}
}

func TestConfigNarrowsAsyncPhases(t *testing.T) {
	h := newHost()
	// The kind declares DecodeHeaders and EncodeHeaders async; this config declares none.
	cfg := filterConfig(t, h, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("header")},
		plugin.Entry{Name: "t_narrow", Config: act("header")},
	))
	rec.take()
	before := plugin.AsyncRuns()
	res := h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 200 || res.Upstream == nil || res.Upstream.Headers.Get("x-t_narrow") != "1" || res.Headers.Get("x-t_narrow") != "1" {
		t.Fatalf("status %d, upstream %+v, response %v", res.Status, res.Upstream, res.Headers)
	}
	if len(res.Running) != 0 || plugin.AsyncRuns() != before {
		t.Errorf("a config without async phases went async: running %v, goroutines %d", res.Running, plugin.AsyncRuns()-before)
	}
	wantCalls(t, "t_a:DecodeHeaders", "t_narrow:DecodeHeaders", "t_narrow:EncodeHeaders", "t_a:EncodeHeaders", "t_a:OnLog", "t_narrow:OnLog")

	// This config asks for DecodeHeaders only: one goroutine, the encode side stays on the worker.
	cfg = filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_narrow", Config: act("header,goasync")}))
	before = plugin.AsyncRuns()
	res = h.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 200 || res.Headers.Get("x-t_narrow") != "1" {
		t.Fatalf("status %d, response %v", res.Status, res.Headers)
	}
	if !reflect.DeepEqual(res.Running, []string{"DecodeHeader"}) || plugin.AsyncRuns() != before+1 {
		t.Errorf("running %v, goroutines %d; want DecodeHeader only, 1", res.Running, plugin.AsyncRuns()-before)
	}
	rec.take()

	// Per route: the route's config of the plugin brings its own async phases.
	parent := filterConfig(t, h, mustAny(t, plugin.Entry{Name: "t_narrow", Config: act("pass")}))
	merged := routeConfig(t, h, parent, mustAny(t, plugin.Entry{Name: "t_narrow", Config: act("pass,goasync")}))
	if res := h.Do(t, merged, mockhost.Request{}, nil); !reflect.DeepEqual(res.Running, []string{"DecodeHeader"}) {
		t.Errorf("route-level async config: running %v", res.Running)
	}
	if res := h.Do(t, parent, mockhost.Request{}, nil); len(res.Running) != 0 {
		t.Errorf("filter-level sync config: running %v", res.Running)
	}
	rec.take()
}

// TestChainLengths covers every way the runner lays out its plugin filters (embedded slots of 1, 2,
// 4 and 8, a separate slice beyond).
func TestChainLengths(t *testing.T) {
	h := newHost()
	for n := 1; n <= numberedPlugins; n++ {
		var entries []plugin.Entry
		var want []string
		for i := 0; i < n; i++ {
			entries = append(entries, plugin.Entry{Name: fmt.Sprintf("t_n%d", i), Config: act("header")})
			want = append(want, fmt.Sprintf("t_n%d:DecodeHeaders", i))
		}
		for i := n - 1; i >= 0; i-- {
			want = append(want, fmt.Sprintf("t_n%d:EncodeHeaders", i))
		}
		for i := 0; i < n; i++ {
			want = append(want, fmt.Sprintf("t_n%d:OnLog", i))
		}
		cfg := filterConfig(t, h, mustAny(t, entries...))
		rec.take()
		res := h.Do(t, cfg, mockhost.Request{}, nil)
		if res.Status != 200 || res.Upstream == nil {
			t.Fatalf("%d plugins: status %d", n, res.Status)
		}
		for i := 0; i < n; i++ {
			if name := fmt.Sprintf("x-t_n%d", i); res.Upstream.Headers.Get(name) != "1" || res.Headers.Get(name) != "1" {
				t.Errorf("%d plugins: header %s missing", n, name)
			}
		}
		if got := rec.take(); !reflect.DeepEqual(got, want) {
			t.Errorf("%d plugins: calls\n got  %q\n want %q", n, got, want)
		}
	}
}
