package plugin_test

import (
	"fmt"
	"strings"
	"sync"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"

	"github.com/govoy/govoy/filters/plugin"
	"github.com/govoy/govoy/filters/plugin/chainpb"
)

// The test plugins borrow chainpb.PluginConfig as their config message: it has a string field with a
// protoc-gen-validate rule (name: 1..128 runes). Its `name` holds the plugin's behaviour, a
// comma-separated list of actions:
//
//	header   set request header x-<plugin> in DecodeHeaders, response header in EncodeHeaders
//	wait     WaitAllData from DecodeHeaders (DecodeRequest records the body)
//	waitresp WaitAllData from EncodeHeaders
//	upper    upper-case the request body in DecodeRequest
//	reply    answer 403 from DecodeHeaders
//	replyreq answer 413 from DecodeRequest
//	panic    panic in DecodeHeaders
//	panicreq panic in DecodeRequest
//	panicenc panic in EncodeHeaders
//	count    increment the counter <plugin>.calls in DecodeHeaders
//	consumer set the consumer "c-<plugin>" / record the consumer seen
//	panicnew panic in NewFilter
//	paniclog panic in OnLog
//	handle   record the route name and client IP the handle reports (twice: cached)
//	pass     nothing
//	goasync  (t_narrow only) the parsed config asks for an async DecodeHeaders; without it, none
type testPlugin struct {
	name  string
	order int
}

type asyncTestPlugin struct {
	testPlugin
	phases plugin.Phase
}

func (p *asyncTestPlugin) AsyncPhases() plugin.Phase { return p.phases }

func (p *testPlugin) Name() string               { return p.name }
func (p *testPlugin) Order() int                 { return p.order }
func (p *testPlugin) ConfigProto() proto.Message { return &chainpb.PluginConfig{} }

var knownActions = map[string]bool{
	"header": true, "wait": true, "waitresp": true, "upper": true, "reply": true, "replyreq": true,
	"panic": true, "panicreq": true, "panicenc": true, "count": true, "consumer": true, "pass": true,
	"handle": true, "panicnew": true, "paniclog": true, "goasync": true,
}

type testConfig struct {
	actions map[string]bool
	calls   api.CounterMetric
}

func (p *testPlugin) Parse(msg proto.Message, pc plugin.ParseContext) (any, error) {
	cfg := &testConfig{actions: map[string]bool{}}
	for _, a := range strings.Split(msg.(*chainpb.PluginConfig).GetName(), ",") {
		if !knownActions[a] {
			return nil, fmt.Errorf("name: unknown action %q", a)
		}
		cfg.actions[a] = true
	}
	if cfg.actions["count"] {
		cfg.calls = pc.Counter("calls")
	}
	return cfg, nil
}

func (p *testPlugin) NewFilter(config any, h plugin.Handle) plugin.Filter {
	if config.(*testConfig).actions["panicnew"] {
		panic("boom in " + p.name + " NewFilter")
	}
	return &testFilter{name: p.name, cfg: config.(*testConfig), h: h}
}

type testFilter struct {
	name string
	cfg  *testConfig
	h    plugin.Handle
}

func (f *testFilter) has(a string) bool { return f.cfg.actions[a] }

func (f *testFilter) DecodeHeaders(h api.RequestHeaderMap, end bool) plugin.Result {
	rec.add(f.name + ":DecodeHeaders")
	if f.has("count") {
		f.cfg.calls.Increment(1)
	}
	if f.has("consumer") {
		if c := f.h.Consumer(); c != nil {
			rec.add(f.name + ":consumer=" + c.Name)
		} else {
			f.h.SetConsumer(&plugin.Consumer{Name: "c-" + f.name})
		}
	}
	if f.has("header") {
		h.Set("x-"+f.name, "1")
	}
	if f.has("handle") {
		for i := 0; i < 2; i++ {
			rec.add(f.name + ":route=" + f.h.RouteName() + ",ip=" + f.h.ClientIP())
		}
		f.h.PluginState()["seen-by"] = f.name
	}
	if f.has("panic") {
		panic("boom in " + f.name)
	}
	if f.has("reply") {
		return plugin.Reply(403, "denied by "+f.name, map[string][]string{"x-denied-by": {f.name}}, "govoy.test.denied")
	}
	if f.has("wait") {
		return plugin.WaitAllData
	}
	return plugin.Continue
}

func (f *testFilter) DecodeRequest(h api.RequestHeaderMap, body api.BufferInstance, trailers api.RequestTrailerMap) plugin.Result {
	b := "<nil>"
	if body != nil {
		b = body.String()
	}
	rec.add(f.name + ":DecodeRequest:" + b)
	if trailers != nil {
		v, _ := trailers.Get("x-trailer")
		rec.add(f.name + ":trailer=" + v)
	}
	if f.has("panicreq") {
		panic("boom in " + f.name + " DecodeRequest")
	}
	if f.has("upper") && body != nil {
		if err := body.SetString(strings.ToUpper(b)); err != nil {
			panic(err)
		}
	}
	if f.has("replyreq") {
		return plugin.Reply(413, "too big for "+f.name, nil, "govoy.test.too_big")
	}
	return plugin.Continue
}

func (f *testFilter) EncodeHeaders(h api.ResponseHeaderMap, end bool) plugin.Result {
	rec.add(f.name + ":EncodeHeaders")
	if f.has("header") {
		h.Set("x-"+f.name, "1")
	}
	if f.has("panicenc") {
		panic("boom in " + f.name + " EncodeHeaders")
	}
	if f.has("waitresp") {
		return plugin.WaitAllData
	}
	return plugin.Continue
}

func (f *testFilter) EncodeResponse(h api.ResponseHeaderMap, body api.BufferInstance, trailers api.ResponseTrailerMap) plugin.Result {
	b := "<nil>"
	if body != nil {
		b = body.String()
	}
	rec.add(f.name + ":EncodeResponse:" + b)
	return plugin.Continue
}

func (f *testFilter) OnLog(api.RequestHeaderMap, api.RequestTrailerMap, api.ResponseHeaderMap, api.ResponseTrailerMap) {
	rec.add(f.name + ":OnLog")
	if f.has("paniclog") {
		panic("boom in " + f.name + " OnLog")
	}
}

// recorder collects the calls of the test plugins; tests using it do not run in parallel.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

var rec = &recorder{}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// narrowingTestPlugin is an AsyncPlugin kind (all decode and encode header phases) whose parsed config
// narrows its async phases to DecodeHeaders ("goasync") or none.
type narrowingTestPlugin struct{ asyncTestPlugin }

type narrowedConfig struct {
	*testConfig
	phases plugin.Phase
}

func (c *narrowedConfig) AsyncPhases() plugin.Phase { return c.phases }

func (p *narrowingTestPlugin) Parse(msg proto.Message, pc plugin.ParseContext) (any, error) {
	cfg, err := p.testPlugin.Parse(msg, pc)
	if err != nil {
		return nil, err
	}
	nc := &narrowedConfig{testConfig: cfg.(*testConfig)}
	if nc.actions["goasync"] {
		nc.phases = plugin.PhaseDecodeHeaders
	}
	return nc, nil
}

func (p *narrowingTestPlugin) NewFilter(config any, h plugin.Handle) plugin.Filter {
	return p.testPlugin.NewFilter(config.(*narrowedConfig).testConfig, h)
}

// numberedPlugins are t_n0..t_n9, for chains of every length.
const numberedPlugins = 10

func init() {
	for i := 0; i < numberedPlugins; i++ {
		plugin.Register(&testPlugin{name: fmt.Sprintf("t_n%d", i), order: plugin.OrderInner + i})
	}
	plugin.Register(&narrowingTestPlugin{asyncTestPlugin{
		testPlugin: testPlugin{name: "t_narrow", order: plugin.OrderTraffic + 50},
		phases:     plugin.PhaseDecodeHeaders | plugin.PhaseEncodeHeaders,
	}})
	plugin.Register(&testPlugin{name: "t_a", order: plugin.OrderOuter})
	plugin.Register(&testPlugin{name: "t_b", order: plugin.OrderAuthn})
	plugin.Register(&testPlugin{name: "t_c", order: plugin.OrderTraffic})
	// same order as t_c: ties break by name
	plugin.Register(&testPlugin{name: "t_d", order: plugin.OrderTraffic})
	plugin.Register(&asyncTestPlugin{
		testPlugin: testPlugin{name: "t_async", order: plugin.OrderAuthz},
		phases:     plugin.PhaseDecodeHeaders | plugin.PhaseDecodeRequest | plugin.PhaseEncodeHeaders,
	})
}
