package tagging_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/govoy/govoy/filters/http/tagging"
	"github.com/govoy/govoy/filters/mockhost"
	"github.com/govoy/govoy/filters/plugin"
	"sigs.k8s.io/yaml"
)

// TestReadmeExample parses the README's example and checks that its routes pick the clusters the
// README promises, with the route table played by a matcher over the example's header routes.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no yaml example")
	}
	block, _, _ := strings.Cut(rest, "```")
	var hcm struct {
		RouteConfig struct {
			VirtualHosts []struct {
				Routes []struct {
					Name  string `json:"name"`
					Match struct {
						Headers []struct {
							Name        string `json:"name"`
							StringMatch struct {
								Exact string `json:"exact"`
							} `json:"string_match"`
						} `json:"headers"`
					} `json:"match"`
				} `json:"routes"`
			} `json:"virtual_hosts"`
		} `json:"route_config"`
		HTTPFilters []struct {
			TypedConfig struct {
				PluginConfig struct {
					Value json.RawMessage `json:"value"`
				} `json:"plugin_config"`
			} `json:"typed_config"`
		} `json:"http_filters"`
	}
	if err := yaml.Unmarshal([]byte(block), &hcm); err != nil {
		t.Fatalf("README yaml: %v", err)
	}
	a, err := plugin.ChainTypedStruct(string(hcm.HTTPFilters[0].TypedConfig.PluginConfig.Value))
	if err != nil {
		t.Fatal(err)
	}
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	cfg, err := host.ParseFilterConfig(a)
	if err != nil {
		t.Fatalf("README example rejected: %v", err)
	}
	routes := hcm.RouteConfig.VirtualHosts[0].Routes
	table := func(h mockhost.Header) string {
		for _, r := range routes {
			matched := true
			for _, m := range r.Match.Headers {
				if h.Get(m.Name) != m.StringMatch.Exact {
					matched = false
				}
			}
			if matched {
				return r.Name
			}
		}
		return ""
	}
	cases := []struct {
		headers map[string][]string
		route   string
	}{
		{map[string][]string{"x-employee": {"1"}}, "shop-canary"},
		{map[string][]string{"cookie": {"version=v2"}}, "shop-v2"},
		{map[string][]string{tagging.DefaultHeader: {"v2"}}, "shop-stable"}, // spoofed tag removed
		{nil, "shop-stable"},
	}
	for _, c := range cases {
		res := host.Do(t, cfg, mockhost.Request{Headers: c.headers, Route: table}, nil)
		if res.Upstream == nil || res.Upstream.RouteName != c.route {
			t.Errorf("%v: routed to %+v, want %s", c.headers, res.Upstream, c.route)
		}
	}
}
