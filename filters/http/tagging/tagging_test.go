package tagging_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/govoy/govoy/filters/http/tagging"
	"github.com/govoy/govoy/filters/mockhost"
	"github.com/govoy/govoy/filters/plugin"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// testConsumer is a stand-in authn plugin: x-consumer names the consumer, x-consumer-tier labels it.
type testConsumer struct{}

func (testConsumer) Name() string               { return "test_tag_consumer" }
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
		tier, _ := h.Get("x-consumer-tier")
		f.h.SetConsumer(&plugin.Consumer{Name: name, Labels: map[string]string{"tier": tier}})
	}
	return plugin.Continue
}

func init() { plugin.Register(testConsumer{}) }

// setup parses a chain of the test consumer plugin and traffic_tagging with the given JSON config.
func setup(t testing.TB, cfgJSON string) (*mockhost.Host, any) {
	t.Helper()
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	a, err := plugin.ChainTypedStruct(`{"plugins":[{"name":"test_tag_consumer"},{"name":"traffic_tagging","config":` + cfgJSON + `}]}`)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := host.ParseFilterConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	return host, cfg
}

// routeByTag plays Envoy's route table: routes match the tag header.
func routeByTag(h mockhost.Header) string {
	switch h.Get(tagging.DefaultHeader) {
	case "canary":
		return "canary"
	case "beta":
		return "beta"
	case "":
		return "default"
	}
	return "tag-" + h.Get(tagging.DefaultHeader)
}

func ok(*mockhost.Received) mockhost.Response { return mockhost.Response{Status: 200} }

func do(t *testing.T, host *mockhost.Host, cfg any, headers map[string][]string) *mockhost.Result {
	t.Helper()
	res := host.Do(t, cfg, mockhost.Request{Headers: headers, Route: routeByTag}, ok)
	if res.Upstream == nil {
		t.Fatalf("request %v did not reach the upstream: %d", headers, res.Status)
	}
	return res
}

const rulesJSON = `{
  "metadata_namespace": "govoy.tagging",
  "rules": [
    {"tag": "canary", "headers": [{"name": "X-User-Group", "exact": "beta-testers"}],
     "set_headers": {"x-canary": "true"}},
    {"tag": "v2", "cookies": [{"name": "version", "exact": "v2"}]},
    {"tag": "beta", "consumers": ["acme"], "consumer_labels": {"tier": "gold"}},
    {"tag": "beta", "headers": [{"name": "user-agent", "regex": ".*Beta.*"}]}
  ]
}`

func TestRulesTagAndReroute(t *testing.T) {
	host, cfg := setup(t, rulesJSON)
	cases := []struct {
		name    string
		headers map[string][]string
		tag     string
		route   string
	}{
		{"header", map[string][]string{"x-user-group": {"beta-testers"}}, "canary", "canary"},
		{"cookie", map[string][]string{"cookie": {`a=1; version="v2"; b=2`}}, "v2", "tag-v2"},
		{"consumer with label", map[string][]string{"x-consumer": {"acme"}, "x-consumer-tier": {"gold"}}, "beta", "beta"},
		{"consumer without label", map[string][]string{"x-consumer": {"acme"}, "x-consumer-tier": {"free"}}, "", "default"},
		{"regex", map[string][]string{"user-agent": {"App/1.0 Beta"}}, "beta", "beta"},
		{"first match wins", map[string][]string{"x-user-group": {"beta-testers"}, "cookie": {"version=v2"}}, "canary", "canary"},
		{"no match", map[string][]string{"x-user-group": {"others"}}, "", "default"},
	}
	for _, c := range cases {
		res := do(t, host, cfg, c.headers)
		if got := res.Upstream.Headers.Get(tagging.DefaultHeader); got != c.tag {
			t.Errorf("%s: tag %q, want %q", c.name, got, c.tag)
		}
		if res.Upstream.RouteName != c.route {
			t.Errorf("%s: routed to %q, want %q", c.name, res.Upstream.RouteName, c.route)
		}
		if c.tag != "" {
			if res.RouteCacheClears != 1 {
				t.Errorf("%s: route cache cleared %d times", c.name, res.RouteCacheClears)
			}
			if got := res.DynamicMetadata["govoy.tagging"]["tag"]; got != c.tag {
				t.Errorf("%s: metadata tag %v", c.name, got)
			}
		} else if res.RouteCacheClears != 0 {
			t.Errorf("%s: route cache cleared without a tag", c.name)
		}
	}
	if res := do(t, host, cfg, map[string][]string{"x-user-group": {"beta-testers"}}); res.Upstream.Headers.Get("x-canary") != "true" {
		t.Errorf("set_headers not applied: %v", res.Upstream.Headers)
	}
	want := map[string]uint64{
		"traffic_tagging.tag.canary": 3, "traffic_tagging.tag.v2": 1, "traffic_tagging.tag.beta": 2, "traffic_tagging.untagged": 2,
	}
	for name, n := range want {
		if got := host.Counter(name); got != n {
			t.Errorf("%s = %d, want %d", name, got, n)
		}
	}
}

func TestIncomingTagHeader(t *testing.T) {
	host, cfg := setup(t, rulesJSON)
	// A client cannot pick the canary itself.
	res := do(t, host, cfg, map[string][]string{tagging.DefaultHeader: {"canary"}})
	if res.Upstream.Headers.Get(tagging.DefaultHeader) != "" || res.Upstream.RouteName != "default" || res.RouteCacheClears != 1 {
		t.Errorf("spoofed tag: upstream %v route %q clears %d", res.Upstream.Headers, res.Upstream.RouteName, res.RouteCacheClears)
	}
	// Unless the config trusts it (e.g. an edge proxy tagged it already).
	host, cfg = setup(t, `{"trust_incoming": true, "header": "X-Version", "rules": [{"tag": "v3"}]}`)
	res = host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-version": {"v1"}}}, ok)
	if res.Upstream.Headers.Get("x-version") != "v1" || host.Counter("traffic_tagging.passthrough") != 1 {
		t.Errorf("trusted tag: %v", res.Upstream.Headers)
	}
	res = host.Do(t, cfg, mockhost.Request{}, ok)
	if res.Upstream.Headers.Get("x-version") != "v3" {
		t.Errorf("default rule: %v", res.Upstream.Headers)
	}
}

func TestStablePercentageBuckets(t *testing.T) {
	host, cfg := setup(t, `{
	  "hash_key": {"header": "x-user-id"},
	  "hash_salt": "exp-42",
	  "rules": [
	    {"tag": "canary", "percentage": 10},
	    {"tag": "beta", "percentage": 20},
	    {"tag": "stable"}
	  ]
	}`)
	const users = 2000
	count := map[string]int{}
	first := map[int]string{}
	for round := range 2 {
		for u := range users {
			res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-user-id": {fmt.Sprintf("user-%d", u)}}}, ok)
			tag := res.Upstream.Headers.Get(tagging.DefaultHeader)
			if round == 0 {
				first[u] = tag
				count[tag]++
			} else if first[u] != tag {
				t.Fatalf("user-%d moved from %q to %q", u, first[u], tag)
			}
		}
	}
	// FNV over 2000 ids: each share within a few points of its target.
	if c := count["canary"]; c < users*6/100 || c > users*14/100 {
		t.Errorf("canary got %d of %d", c, users)
	}
	if c := count["beta"]; c < users*15/100 || c > users*25/100 {
		t.Errorf("beta got %d of %d", c, users)
	}
	if count["canary"]+count["beta"]+count["stable"] != users {
		t.Errorf("counts %v", count)
	}
	// Without the hash key, percentage rules cannot match.
	res := host.Do(t, cfg, mockhost.Request{}, ok)
	if got := res.Upstream.Headers.Get(tagging.DefaultHeader); got != "stable" {
		t.Errorf("no key: tag %q", got)
	}
}

func TestCookieAndConsumerHashKeys(t *testing.T) {
	for _, key := range []string{`{"cookie": "uid"}`, `{"consumer": true}`, `{"client_ip": true}`} {
		host, cfg := setup(t, `{"hash_key": `+key+`, "rules": [{"tag": "all", "percentage": 100}]}`)
		res := host.Do(t, cfg, mockhost.Request{
			Headers: map[string][]string{"cookie": {"uid=42"}, "x-consumer": {"acme"}},
		}, ok)
		if got := res.Upstream.Headers.Get(tagging.DefaultHeader); got != "all" {
			t.Errorf("hash key %s: tag %q", key, got)
		}
	}
}

func TestBadConfig(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"no rules", `{"rules": []}`, "Rules"},
		{"empty tag", `{"rules": [{"tag": ""}]}`, "Tag"},
		{"sum over 100", `{"hash_key": {"header": "x-u"}, "rules": [{"tag": "a", "percentage": 60}, {"tag": "b", "percentage": 50}]}`, "rules[1].percentage"},
		{"percentage without key", `{"rules": [{"tag": "a", "percentage": 5}]}`, "hash_key"},
		{"percentage range", `{"hash_key": {"header": "x-u"}, "rules": [{"tag": "a", "percentage": 150}]}`, "Percentage"},
		{"regex", `{"rules": [{"tag": "a", "headers": [{"name": "x", "regex": "("}]}]}`, "rules[0].headers[0].regex"},
		{"matcher without match", `{"rules": [{"tag": "a", "cookies": [{"name": "x"}]}]}`, "Match"},
		{"bad header name", `{"header": "bad name", "rules": [{"tag": "a"}]}`, "Header"},
		{"pseudo header", `{"header": ":path", "rules": [{"tag": "a"}]}`, "header"},
		{"set_headers value", `{"rules": [{"tag": "a", "set_headers": {"x-a": "1\r\n2"}}]}`, "rules[0].set_headers"},
		{"set_headers key", `{"rules": [{"tag": "a", "set_headers": {"bad key": "1"}}]}`, "SetHeaders"},
		{"typo", `{"rulez": []}`, "rulez"},
	}
	for _, c := range cases {
		a, err := plugin.ChainTypedStruct(`{"plugins":[{"name":"traffic_tagging","config":` + c.json + `}]}`)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = plugin.ParseChain(a)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "traffic_tagging") {
			t.Errorf("%s: error %v, want it to name %q", c.name, err, c.want)
		}
	}
}
