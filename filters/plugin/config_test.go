package plugin_test

import (
	"reflect"
	"strings"
	"testing"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/govoy/govoy/filters/plugin"
	"github.com/govoy/govoy/filters/plugin/chainpb"
)

func act(actions string) proto.Message { return &chainpb.PluginConfig{Name: actions} }

func mustAny(t testing.TB, entries ...plugin.Entry) *anypb.Any {
	t.Helper()
	a, err := plugin.ChainAny(entries...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustTypedStruct(t testing.TB, js string) *anypb.Any {
	t.Helper()
	a, err := plugin.ChainTypedStruct(js)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseChainOrdersByOrderThenName(t *testing.T) {
	c, err := plugin.ParseChain(mustAny(t,
		plugin.Entry{Name: "t_d", Config: act("pass")},
		plugin.Entry{Name: "t_c", Config: act("pass")},
		plugin.Entry{Name: "t_b", Config: act("pass")},
		plugin.Entry{Name: "t_a", Config: act("pass")},
	))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Plugins(), []string{"t_a", "t_b", "t_c", "t_d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}

func TestParseChainForms(t *testing.T) {
	js := `{"plugins":[{"name":"t_b","config":{"name":"header"}},{"name":"t_a","config":{"name":"wait,count"}}]}`
	s := &structpb.Struct{}
	if err := s.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatal(err)
	}
	udpa, err := anypb.New(&udpatypev1.TypedStruct{TypeUrl: "type.googleapis.com/govoy.plugin.v1.Chain", Value: s})
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]*anypb.Any{
		"xds TypedStruct":  mustTypedStruct(t, js),
		"udpa TypedStruct": udpa,
		"packed Chain":     mustAny(t, plugin.Entry{Name: "t_b", Config: act("header")}, plugin.Entry{Name: "t_a", Config: act("wait,count")}),
	}
	for name, a := range forms {
		t.Run(name, func(t *testing.T) {
			c, err := plugin.ParseChain(a)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.Plugins(), []string{"t_a", "t_b"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("plugins = %v, want %v", got, want)
			}
			if _, ok := c.PluginConfig("t_a"); !ok {
				t.Fatal("t_a has no parsed config")
			}
		})
	}
}

func TestTypedStructWithTypedConfig(t *testing.T) {
	c, err := plugin.ParseChain(mustTypedStruct(t,
		`{"plugins":[{"name":"t_a","typed_config":{"@type":"type.googleapis.com/govoy.plugin.v1.PluginConfig","name":"count"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ok := c.PluginConfig("t_a")
	if !ok || counterOf(cfg) == nil {
		t.Fatalf("t_a config = %#v", cfg)
	}
}

func TestParseChainEmpty(t *testing.T) {
	for name, a := range map[string]*anypb.Any{"nil": nil, "empty Any": {}, "empty chain": mustAny(t)} {
		c, err := plugin.ParseChain(a)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(c.Plugins()) != 0 {
			t.Fatalf("%s: plugins = %v", name, c.Plugins())
		}
	}
}

func TestParseChainErrors(t *testing.T) {
	wrongType, err := anypb.New(wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	badTS, err := anypb.New(&xdstypev3.TypedStruct{TypeUrl: "type.googleapis.com/some.Other", Value: &structpb.Struct{}})
	if err != nil {
		t.Fatal(err)
	}
	wrongTyped := &chainpb.Chain{Plugins: []*chainpb.PluginConfig{{
		Name:       "t_a",
		ConfigType: &chainpb.PluginConfig_TypedConfig{TypedConfig: wrongType},
	}}}
	wrongTypedAny, err := anypb.New(wrongTyped)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		a    *anypb.Any
		want []string
	}{
		{"unknown plugin", mustAny(t, plugin.Entry{Name: "nope", Config: act("pass")}),
			[]string{`plugin "nope": unknown plugin`, "t_a"}},
		{"misspelt field", mustTypedStruct(t, `{"plugins":[{"name":"t_a","config":{"nmae":"pass"}}]}`),
			[]string{`plugin "t_a": invalid config:`, `unknown field "nmae"`}},
		{"validation rule", mustTypedStruct(t, `{"plugins":[{"name":"t_b","config":{"name":""}}]}`),
			[]string{`plugin "t_b": invalid config:`, "PluginConfig.Name", "value length must be between 1 and 128"}},
		{"plugin Parse error", mustAny(t, plugin.Entry{Name: "t_c", Config: act("pass,bogus")}),
			[]string{`plugin "t_c": invalid config: name: unknown action "bogus"`}},
		{"typed_config of another type", wrongTypedAny,
			[]string{`plugin "t_a": invalid config: typed_config: type "type.googleapis.com/google.protobuf.StringValue", want "type.googleapis.com/govoy.plugin.v1.PluginConfig"`}},
		{"listed twice", mustAny(t, plugin.Entry{Name: "t_a", Config: act("pass")}, plugin.Entry{Name: "t_a", Config: act("pass")}),
			[]string{`plugins[1]: plugin "t_a" is already listed at plugins[0]`}},
		{"chain field misspelt", mustTypedStruct(t, `{"plugin":[]}`),
			[]string{"plugin_config: TypedStruct.value is not a govoy.plugin.v1.Chain", `unknown field "plugin"`}},
		{"chain validation", mustAny(t, plugin.Entry{Name: "", Config: act("pass")}),
			[]string{"invalid govoy.plugin.v1.Chain", "PluginConfig.Name"}},
		{"TypedStruct of another message", badTS,
			[]string{`plugin_config: TypedStruct.type_url is "type.googleapis.com/some.Other"`}},
		{"Any of another message", wrongType,
			[]string{`plugin_config: type "type.googleapis.com/google.protobuf.StringValue" is not govoy.plugin.v1.Chain`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugin.ParseChain(tc.a)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFilterLevelParseErrorRejects(t *testing.T) {
	// With callbacks (filter level) a bad chain is an error: Envoy rejects the config.
	_, err := plugin.ConfigParser.Parse(mustAny(t, plugin.Entry{Name: "t_a", Config: act("bogus")}), fakeCallbacks{})
	if err == nil || !strings.Contains(err.Error(), `plugin "t_a": invalid config`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRouteLevelParseErrorIsKept(t *testing.T) {
	// Without callbacks (route level) Envoy would crash on an error, so the chain comes back invalid.
	cfg, err := plugin.ConfigParser.Parse(mustAny(t, plugin.Entry{Name: "t_a", Config: act("bogus")}), nil)
	if err != nil {
		t.Fatalf("route-level Parse returned an error: %v", err)
	}
	c := cfg.(*plugin.ChainConfig)
	if c.Err() == nil || !strings.Contains(c.Err().Error(), `plugin "t_a": invalid config`) {
		t.Fatalf("Err() = %v", c.Err())
	}
}

func TestDisabledNeedsNoConfigButKnownName(t *testing.T) {
	c, err := plugin.ParseChain(mustAny(t, plugin.Entry{Name: "t_a", Disabled: true}, plugin.Entry{Name: "t_b", Config: act("pass")}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Plugins(); !reflect.DeepEqual(got, []string{"t_b"}) {
		t.Fatalf("plugins = %v", got)
	}
	if got := c.Disabled(); !reflect.DeepEqual(got, []string{"t_a"}) {
		t.Fatalf("disabled = %v", got)
	}
	if _, err := plugin.ParseChain(mustAny(t, plugin.Entry{Name: "t_zz", Disabled: true})); err == nil {
		t.Fatal("disabling an unknown plugin is not an error")
	}
}

func TestMergeRule(t *testing.T) {
	parent := parseFilterLevel(t, fakeCallbacks{}, mustAny(t,
		plugin.Entry{Name: "t_a", Config: act("pass")},
		plugin.Entry{Name: "t_b", Config: act("pass")},
		plugin.Entry{Name: "t_c", Config: act("pass")},
	))
	route := parseRouteLevel(t, mustAny(t,
		plugin.Entry{Name: "t_b", Disabled: true},
		plugin.Entry{Name: "t_c", Config: act("header")},
		plugin.Entry{Name: "t_d", Config: act("pass")},
	))
	merged := plugin.ConfigParser.Merge(parent, route).(*plugin.ChainConfig)
	if got, want := merged.Plugins(), []string{"t_a", "t_c", "t_d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("merged = %v, want %v", got, want)
	}
	pa, _ := parent.PluginConfig("t_a")
	ma, _ := merged.PluginConfig("t_a")
	if pa != ma {
		t.Error("inherited plugin t_a does not share the filter-level config")
	}
	rc, _ := route.PluginConfig("t_c")
	mc, _ := merged.PluginConfig("t_c")
	if rc != mc {
		t.Error("t_c does not use the route-level config")
	}
	// A deeper level (route after virtual host) merges onto the merged chain and may re-enable.
	deeper := parseRouteLevel(t, mustAny(t, plugin.Entry{Name: "t_b", Config: act("header")}, plugin.Entry{Name: "t_a", Disabled: true}))
	m2 := plugin.ConfigParser.Merge(merged, deeper).(*plugin.ChainConfig)
	if got, want := m2.Plugins(), []string{"t_b", "t_c", "t_d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second merge = %v, want %v", got, want)
	}
	// The inputs are left as they were: Envoy keeps using them for other routes.
	if got := parent.Plugins(); !reflect.DeepEqual(got, []string{"t_a", "t_b", "t_c"}) {
		t.Fatalf("parent changed: %v", got)
	}
}

func TestMergeInvalidRouteStaysInvalid(t *testing.T) {
	parent := parseFilterLevel(t, fakeCallbacks{}, mustAny(t, plugin.Entry{Name: "t_a", Config: act("pass")}))
	route := parseRouteLevel(t, mustAny(t, plugin.Entry{Name: "t_a", Config: act("bogus")}))
	merged := plugin.ConfigParser.Merge(parent, route).(*plugin.ChainConfig)
	if merged.Err() == nil {
		t.Fatal("merging an invalid route chain gave a valid chain")
	}
	ok := parseRouteLevel(t, mustAny(t, plugin.Entry{Name: "t_b", Config: act("pass")}))
	if plugin.ConfigParser.Merge(merged, ok).(*plugin.ChainConfig).Err() == nil {
		t.Fatal("a deeper valid level hid the invalid one")
	}
	if got := plugin.ConfigParser.Merge("junk", ok).(*plugin.ChainConfig).Err(); got == nil {
		t.Fatal("merging a foreign parent type did not fail")
	}
}

func TestRouteMetricsBindToFilterLevel(t *testing.T) {
	cb := newCountingCallbacks()
	parent := parseFilterLevel(t, cb, mustAny(t, plugin.Entry{Name: "t_a", Config: act("count")}))
	route := parseRouteLevel(t, mustAny(t, plugin.Entry{Name: "t_a", Config: act("count")}))
	if cb.defined["t_a.calls"] != 1 {
		t.Fatalf("filter-level Parse defined t_a.calls %d times", cb.defined["t_a.calls"])
	}
	rc, _ := route.PluginConfig("t_a")
	// an increment before the merge (Parse-time) is kept and handed over
	counterOf(rc).Increment(2)
	merged := plugin.ConfigParser.Merge(parent, route).(*plugin.ChainConfig)
	plugin.ConfigParser.Merge(parent, route) // Envoy merges again after a parent change: no new definition
	mc, _ := merged.PluginConfig("t_a")
	counterOf(mc).Increment(3)
	if got := cb.value("t_a.calls"); got != 5 {
		t.Fatalf("filter-level t_a.calls = %d, want 5", got)
	}
	if cb.defined["t_a.calls"] != 1 {
		t.Fatalf("t_a.calls defined %d times, want once", cb.defined["t_a.calls"])
	}
	for _, name := range []string{plugin.PanicsCounter, plugin.InvalidRouteConfigCounter, plugin.AsyncRejectedCounter} {
		if cb.defined[name] != 1 {
			t.Errorf("chain counter %s defined %d times", name, cb.defined[name])
		}
	}
}

func parseFilterLevel(t testing.TB, cb fakeCallbacksI, a *anypb.Any) *plugin.ChainConfig {
	t.Helper()
	c, err := plugin.ConfigParser.Parse(a, cb)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*plugin.ChainConfig)
}

func parseRouteLevel(t testing.TB, a *anypb.Any) *plugin.ChainConfig {
	t.Helper()
	c, err := plugin.ConfigParser.Parse(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*plugin.ChainConfig)
}
