package faultinjection_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/govoy/govoy/filters/http/faultinjection"
	"github.com/govoy/govoy/filters/http/faultinjection/faultpb"
	"github.com/govoy/govoy/filters/mockhost"
	"github.com/govoy/govoy/filters/plugin"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// testConsumer is a stand-in authn plugin: the x-consumer header names the consumer.
type testConsumer struct{}

func (testConsumer) Name() string               { return "test_fault_consumer" }
func (testConsumer) Order() int                 { return plugin.OrderAuthn }
func (testConsumer) ConfigProto() proto.Message { return &emptypb.Empty{} }
func (testConsumer) Parse(proto.Message, plugin.ParseContext) (any, error) {
	return nil, nil
}
func (testConsumer) NewFilter(_ any, h plugin.Handle) plugin.Filter { return consumerFilter{h: h} }

type consumerFilter struct {
	plugin.PassThroughFilter
	h plugin.Handle
}

func (f consumerFilter) DecodeHeaders(h api.RequestHeaderMap, _ bool) plugin.Result {
	if name, ok := h.Get("x-consumer"); ok {
		f.h.SetConsumer(&plugin.Consumer{Name: name})
	}
	return plugin.Continue
}

// testGate holds a request in its response phase until released, so a test can overlap requests
// deterministically.
type testGate struct{}

var (
	gateEntered = make(chan struct{}, 1)
	gateRelease = make(chan struct{})
)

func (testGate) Name() string               { return "test_fault_gate" }
func (testGate) Order() int                 { return plugin.OrderOuter } // runs before fault_injection
func (testGate) ConfigProto() proto.Message { return &emptypb.Empty{} }
func (testGate) Parse(proto.Message, plugin.ParseContext) (any, error) {
	return nil, nil
}
func (testGate) NewFilter(_ any, h plugin.Handle) plugin.Filter { return &gateFilter{} }

type gateFilter struct {
	plugin.PassThroughFilter
	gated bool
}

func (g *gateFilter) DecodeHeaders(h api.RequestHeaderMap, _ bool) plugin.Result {
	_, g.gated = h.Get("x-gate")
	return plugin.Continue
}

func (g *gateFilter) EncodeHeaders(api.ResponseHeaderMap, bool) plugin.Result {
	if g.gated {
		gateEntered <- struct{}{}
		<-gateRelease
	}
	return plugin.Continue
}

func init() {
	plugin.Register(testConsumer{})
	plugin.Register(testGate{})
}

func pct(p float64) *faultpb.Percentage {
	return &faultpb.Percentage{Value: &faultpb.Percentage_Percent{Percent: p}}
}

func abortCfg(status uint32, p float64) *faultpb.Abort {
	return &faultpb.Abort{ErrorType: &faultpb.Abort_HttpStatus{HttpStatus: status}, Percentage: pct(p)}
}

// setup parses a filter-level chain of the given entries.
func setup(t testing.TB, entries ...plugin.Entry) (*mockhost.Host, any) {
	t.Helper()
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	a, err := plugin.ChainAny(entries...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := host.ParseFilterConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	return host, cfg
}

func fault(c *faultpb.FaultInjection) plugin.Entry {
	return plugin.Entry{Name: faultinjection.Name, Config: c}
}

func ok200(*mockhost.Received) mockhost.Response { return mockhost.Response{Status: 200, Body: "up"} }

func TestAbortAlways(t *testing.T) {
	host, cfg := setup(t, fault(&faultpb.FaultInjection{Abort: &faultpb.Abort{
		ErrorType: &faultpb.Abort_HttpStatus{HttpStatus: 503}, Body: "injected", Percentage: pct(100),
	}}))
	res := host.Do(t, cfg, mockhost.Request{Path: "/x"}, ok200)
	if res.Status != 503 || string(res.Body) != "injected" || res.Upstream != nil {
		t.Fatalf("got %d %q upstream %v", res.Status, res.Body, res.Upstream)
	}
	if res.ResponseCodeDetails != faultinjection.AbortDetails {
		t.Errorf("details %q", res.ResponseCodeDetails)
	}
	if got := host.Counter("fault_injection.aborts_injected"); got != 1 {
		t.Errorf("aborts_injected = %d", got)
	}
	// The slot is released at the end of the request.
	if got := host.Gauge("fault_injection.active_faults"); got != 0 {
		t.Errorf("active_faults = %d after the request ended", got)
	}
}

func TestAbortNeverAndDefaultBody(t *testing.T) {
	host, cfg := setup(t, fault(&faultpb.FaultInjection{Abort: abortCfg(500, 0)}))
	if res := host.Do(t, cfg, mockhost.Request{}, ok200); res.Status != 200 || res.Upstream == nil {
		t.Errorf("0%% abort: %d", res.Status)
	}
	host, cfg = setup(t, fault(&faultpb.FaultInjection{Abort: &faultpb.Abort{
		ErrorType:  &faultpb.Abort_HttpStatus{HttpStatus: 500},
		Percentage: &faultpb.Percentage{Value: &faultpb.Percentage_Fraction{Fraction: &faultpb.FractionalPercent{Numerator: 1_000_000, Denominator: faultpb.FractionalPercent_MILLION}}},
	}}))
	if res := host.Do(t, cfg, mockhost.Request{}, ok200); res.Status != 500 || string(res.Body) != "fault filter abort" {
		t.Errorf("1000000/MILLION abort: %d %q", res.Status, res.Body)
	}
}

func TestAbortByPercentage(t *testing.T) {
	host, cfg := setup(t, fault(&faultpb.FaultInjection{Abort: abortCfg(503, 50), MaxActiveFaults: 100000}))
	const n = 1000
	var aborted atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 4 {
				if res := host.Do(t, cfg, mockhost.Request{}, ok200); res.Status == 503 {
					aborted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Binomial(1000, 0.5): outside [350, 650] has probability below 1e-20.
	if a := aborted.Load(); a < 350 || a > 650 {
		t.Errorf("aborted %d of %d at 50%%", a, n)
	}
	if got := host.Counter("fault_injection.aborts_injected"); got != uint64(aborted.Load()) {
		t.Errorf("aborts_injected = %d, aborted = %d", got, aborted.Load())
	}
}

func TestHeaderAndConsumerMatch(t *testing.T) {
	host, cfg := setup(t, plugin.Entry{Name: "test_fault_consumer"}, fault(&faultpb.FaultInjection{
		Abort:     abortCfg(418, 100),
		Headers:   []*faultpb.HeaderMatcher{{Name: "X-Fault", Match: &faultpb.HeaderMatcher_Exact{Exact: "on"}}},
		Consumers: []string{"tester"},
	}))
	cases := []struct {
		headers map[string][]string
		want    int
	}{
		{map[string][]string{"x-fault": {"on"}, "x-consumer": {"tester"}}, 418},
		{map[string][]string{"x-fault": {"off"}, "x-consumer": {"tester"}}, 200},
		{map[string][]string{"x-fault": {"on"}, "x-consumer": {"someone"}}, 200},
		{map[string][]string{"x-fault": {"on"}}, 200},
	}
	for _, c := range cases {
		if res := host.Do(t, cfg, mockhost.Request{Headers: c.headers}, ok200); res.Status != c.want {
			t.Errorf("%v: status %d, want %d", c.headers, res.Status, c.want)
		}
	}
}

func TestHeaderControlledFaults(t *testing.T) {
	host, cfg := setup(t, fault(&faultpb.FaultInjection{
		Abort: &faultpb.Abort{ErrorType: &faultpb.Abort_HeaderAbort{HeaderAbort: &faultpb.HeaderAbort{}}, Percentage: pct(100)},
		Delay: &faultpb.Delay{DelayType: &faultpb.Delay_HeaderDelay{HeaderDelay: &faultpb.HeaderDelay{MaxDelay: durationpb.New(30 * time.Millisecond)}}, Percentage: pct(100)},
	}))
	cases := []struct {
		headers map[string][]string
		want    int
	}{
		{nil, 200},
		{map[string][]string{faultinjection.HeaderAbort: {"429"}}, 429},
		{map[string][]string{faultinjection.HeaderAbort: {"429"}, faultinjection.HeaderAbortPercentage: {"0"}}, 200},
		{map[string][]string{faultinjection.HeaderAbort: {"999"}}, 200},
		{map[string][]string{faultinjection.HeaderAbort: {"junk"}}, 200},
	}
	for _, c := range cases {
		if res := host.Do(t, cfg, mockhost.Request{Headers: c.headers}, ok200); res.Status != c.want {
			t.Errorf("%v: status %d, want %d", c.headers, res.Status, c.want)
		}
	}
	if host.Counter("fault_injection.delays_injected") != 0 {
		t.Error("delay injected without the delay header")
	}
	// A header delay far above max_delay is capped (the request still completes).
	start := time.Now()
	res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{faultinjection.HeaderDelay: {"600000"}}}, ok200)
	if res.Status != 200 || host.Counter("fault_injection.delays_injected") != 1 {
		t.Errorf("status %d delays %d", res.Status, host.Counter("fault_injection.delays_injected"))
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Errorf("request finished before the capped delay")
	}
}

func TestFixedDelayRunsAsync(t *testing.T) {
	host, cfg := setup(t, fault(&faultpb.FaultInjection{Delay: &faultpb.Delay{
		DelayType:  &faultpb.Delay_FixedDelay{FixedDelay: durationpb.New(20 * time.Millisecond)},
		Percentage: pct(100),
	}}))
	start := time.Now()
	res := host.Do(t, cfg, mockhost.Request{}, ok200)
	if res.Status != 200 || res.Upstream == nil {
		t.Fatalf("status %d", res.Status)
	}
	// Lower bound only: a timer never fires early.
	if time.Since(start) < 20*time.Millisecond {
		t.Error("request finished before the delay")
	}
	// The delay waited on a goroutine, not on the Envoy worker.
	if len(res.Running) == 0 || res.Running[0] != "DecodeHeader" {
		t.Errorf("running phases %q", res.Running)
	}
	if host.Counter("fault_injection.delays_injected") != 1 {
		t.Errorf("delays_injected = %d", host.Counter("fault_injection.delays_injected"))
	}
}

// TestOnlyDelayingConfigsGoAsync: the chain takes the goroutine hop only for configs that can delay.
func TestOnlyDelayingConfigsGoAsync(t *testing.T) {
	headerDelay := &faultpb.Delay{DelayType: &faultpb.Delay_HeaderDelay{HeaderDelay: &faultpb.HeaderDelay{}}, Percentage: pct(100)}
	fixedDelay := func(p float64) *faultpb.Delay {
		return &faultpb.Delay{DelayType: &faultpb.Delay_FixedDelay{FixedDelay: durationpb.New(time.Millisecond)}, Percentage: pct(p)}
	}
	for _, c := range []struct {
		name   string
		cfg    *faultpb.FaultInjection
		status int
		async  bool
	}{
		{"abort always", &faultpb.FaultInjection{Abort: abortCfg(503, 100)}, 503, false},
		{"abort never", &faultpb.FaultInjection{Abort: abortCfg(503, 0)}, 200, false},
		{"abort from header", &faultpb.FaultInjection{Abort: &faultpb.Abort{ErrorType: &faultpb.Abort_HeaderAbort{HeaderAbort: &faultpb.HeaderAbort{}}, Percentage: pct(100)}}, 200, false},
		{"fixed delay 0%", &faultpb.FaultInjection{Delay: fixedDelay(0), Abort: abortCfg(503, 100)}, 503, false},
		{"fixed delay", &faultpb.FaultInjection{Delay: fixedDelay(100)}, 200, true},
		// No delay header on the request, but one could come: the phase must be async.
		{"header delay", &faultpb.FaultInjection{Delay: headerDelay}, 200, true},
	} {
		host, cfg := setup(t, fault(c.cfg))
		before := plugin.AsyncRuns()
		res := host.Do(t, cfg, mockhost.Request{}, ok200)
		if res.Status != c.status {
			t.Errorf("%s: status %d, want %d", c.name, res.Status, c.status)
		}
		went := len(res.Running) > 0
		if went != c.async || (plugin.AsyncRuns() != before) != c.async {
			t.Errorf("%s: running %q, goroutines %d; want async %v", c.name, res.Running, plugin.AsyncRuns()-before, c.async)
		}
	}
}

func TestMaxActiveFaults(t *testing.T) {
	host, cfg := setup(t,
		fault(&faultpb.FaultInjection{Abort: abortCfg(503, 100), MaxActiveFaults: 1}),
		plugin.Entry{Name: "test_fault_gate"},
	)
	done := make(chan *mockhost.Result)
	go func() {
		done <- host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-gate": {"1"}}}, ok200)
	}()
	select { // request A holds the only fault slot
	case <-gateEntered:
	case a := <-done:
		t.Fatalf("request A finished without reaching the gate: %d", a.Status)
	case <-time.After(30 * time.Second):
		t.Fatal("request A never reached the gate")
	}
	if got := host.Gauge("fault_injection.active_faults"); got != 1 {
		t.Errorf("active_faults = %d while A runs", got)
	}
	res := host.Do(t, cfg, mockhost.Request{}, ok200)
	if res.Status != 200 || host.Counter("fault_injection.faults_overflow") != 1 {
		t.Errorf("B: status %d overflow %d", res.Status, host.Counter("fault_injection.faults_overflow"))
	}
	gateRelease <- struct{}{}
	if a := <-done; a.Status != 503 {
		t.Errorf("A: status %d", a.Status)
	}
	if res := host.Do(t, cfg, mockhost.Request{}, ok200); res.Status != 503 {
		t.Errorf("C after A ended: status %d", res.Status)
	}
}

func TestBadConfig(t *testing.T) {
	cases := []struct {
		name string
		json string
		want string
	}{
		{"empty", `{}`, "delay, abort"},
		{"status range", `{"abort":{"http_status":700,"percentage":{"percent":100}}}`, "HttpStatus"},
		{"percent range", `{"abort":{"http_status":503,"percentage":{"percent":150}}}`, "Percent"},
		{"percentage required", `{"abort":{"http_status":503}}`, "Percentage"},
		{"fraction", `{"abort":{"http_status":503,"percentage":{"fraction":{"numerator":200,"denominator":"HUNDRED"}}}}`, "abort.percentage.fraction.numerator"},
		{"zero delay", `{"delay":{"fixed_delay":"0s","percentage":{"percent":1}}}`, "FixedDelay"},
		{"long delay", `{"delay":{"fixed_delay":"3600s","percentage":{"percent":1}}}`, "FixedDelay"},
		{"regex", `{"abort":{"http_status":503,"percentage":{"percent":1}},"headers":[{"name":"x","regex":"("}]}`, "headers[0].regex"},
		{"header name", `{"abort":{"http_status":503,"percentage":{"percent":1}},"headers":[{"name":"bad name","exact":"1"}]}`, "Name"},
		{"typo", `{"abortt":{}}`, "abortt"},
		{"max active", `{"abort":{"http_status":503,"percentage":{"percent":1}},"max_active_faults":1000000}`, "MaxActiveFaults"},
	}
	for _, c := range cases {
		a, err := plugin.ChainTypedStruct(`{"plugins":[{"name":"fault_injection","config":` + c.json + `}]}`)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = plugin.ParseChain(a)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "fault_injection") {
			t.Errorf("%s: error %v, want it to name %q", c.name, err, c.want)
		}
	}
}

func TestRouteLevelDisable(t *testing.T) {
	host, cfg := setup(t, fault(&faultpb.FaultInjection{Abort: abortCfg(503, 100)}))
	ra, err := plugin.ChainAny(plugin.Entry{Name: faultinjection.Name, Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	rcfg, err := host.ParseRouteConfig(ra)
	if err != nil {
		t.Fatal(err)
	}
	merged := host.Merge(cfg, rcfg)
	if res := host.Do(t, merged, mockhost.Request{}, ok200); res.Status != 200 {
		t.Errorf("route with fault_injection disabled: %d", res.Status)
	}
	if res := host.Do(t, cfg, mockhost.Request{}, ok200); res.Status != 503 {
		t.Errorf("other routes: %d", res.Status)
	}
}
