package cluster_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/govoy/govoy/filters/cluster"
	"github.com/govoy/govoy/filters/cluster/clusterpb"
	"github.com/govoy/govoy/filters/configcheck"
	_ "github.com/govoy/govoy/filters/http/all" // the chain in the examples names traffic_tagging
)

type headers map[string]string

func (h headers) Get(k string) (string, bool) { v, ok := h[k]; return v, ok }

// readmeBlock is the README's yaml example: an HttpConnectionManager config.
func readmeBlock(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no yaml example")
	}
	block, _, _ := strings.Cut(rest, "```")
	return block
}

// TestReadmeExample checks the README's example with the offline validator (as a bootstrap around
// it) and runs its rules on the requests the README describes.
func TestReadmeExample(t *testing.T) {
	block := readmeBlock(t)
	var b strings.Builder
	b.WriteString(`static_resources:
  listeners:
  - name: ingress
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
`)
	for _, line := range strings.Split(block, "\n") {
		b.WriteString("          " + line + "\n")
	}
	if ps := configcheck.Check("README.md", []byte(b.String())); len(ps) != 0 {
		t.Fatalf("README example:\n%s", configcheck.Summary(ps))
	}

	var hcm struct {
		RouteConfig struct {
			Plugins []struct {
				Extension struct {
					TypedConfig struct {
						DefaultCluster string `json:"default_cluster"`
						Config         struct {
							Value json.RawMessage `json:"value"`
						} `json:"config"`
					} `json:"typed_config"`
				} `json:"extension"`
			} `json:"cluster_specifier_plugins"`
		} `json:"route_config"`
	}
	if err := yaml.Unmarshal([]byte(block), &hcm); err != nil {
		t.Fatal(err)
	}
	if len(hcm.RouteConfig.Plugins) != 1 {
		t.Fatalf("%d cluster specifier plugins in the README example", len(hcm.RouteConfig.Plugins))
	}
	tc := hcm.RouteConfig.Plugins[0].Extension.TypedConfig
	msg := &clusterpb.ClusterSpecifier{}
	if err := protojson.Unmarshal(tc.Config.Value, msg); err != nil {
		t.Fatal(err)
	}
	s, err := cluster.New(msg)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(h headers) string {
		if c := s.Pick(h); c != "" {
			return c
		}
		return tc.DefaultCluster
	}
	cases := []struct {
		h    headers
		want string
	}{
		{headers{":path": "/", "x-govoy-tag": "canary"}, "shop-canary"},
		{headers{":path": "/", "x-govoy-tag": "v2"}, "shop-v2"},
		{headers{":path": "/", "x-govoy-tag": "v1"}, "shop-stable"},
		{headers{":path": "/", "cookie": "version=v2"}, "shop-v2"},
		{headers{":path": "/item/1?preview=canary"}, "shop-canary"},
		{headers{":path": "/"}, "shop-stable"},
	}
	for _, c := range cases {
		if got := pick(c.h); got != c.want {
			t.Errorf("%v: got %q, want %q", c.h, got, c.want)
		}
	}
	v2 := 0
	for i := 0; i < 10000; i++ {
		h := headers{":path": "/checkout/cart", "cookie": fmt.Sprintf("uid=u%d", i)}
		c := pick(h)
		if c != pick(h) {
			t.Fatalf("user %d is not sticky", i)
		}
		if c == "shop-v2" {
			v2++
		}
	}
	if v2 < 850 || v2 > 1150 { // 10% of 10000, ± 5σ (σ = 30)
		t.Fatalf("checkout split: %d of 10000 users on shop-v2, want about 1000", v2)
	}
}

const bootstrap = "../../envoy-configs/cluster-specifier.yaml"

func TestEnvoyConfigExample(t *testing.T) {
	if ps := configcheck.CheckFile(bootstrap); len(ps) != 0 {
		t.Fatal(configcheck.Summary(ps))
	}
}

// Broken copies of the example bootstrap fail in the validator, at the specifier's config, naming the
// field; another library's config in the same place is not judged by Govoy's parser.
func TestValidatorChecksSpecifierConfig(t *testing.T) {
	orig, err := os.ReadFile(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	const at = `route_config.cluster_specifier_plugins[0].extension.typed_config.config`
	for _, tc := range []struct {
		name, old, new string
		want           []string // nil: valid
	}{
		{"no placeholder", `template: "shop-{x-govoy-tag}"`, `template: "shop-canary"`,
			[]string{at, `rules[0].template.template: "shop-canary" must hold exactly one {header-name} placeholder`}},
		{"zero weights", "weight: 10}", "weight: 0}", nil},
		{"all weights zero", "- {name: shop-v2, weight: 10}\n                          - {name: shop-stable, weight: 90}",
			"- {name: shop-v2, weight: 0}\n                          - {name: shop-stable, weight: 0}",
			[]string{at, "rules[2].weighted.clusters: the weights add up to 0"}},
		{"misspelt field", "hash_salt: checkout-2026", "hash_sault: checkout-2026", []string{at, `unknown field "hash_sault"`}},
		{"duplicate allowed value", "allowed_values: [canary, v2]", "allowed_values: [canary, canary]",
			[]string{at, "AllowedValues[1]: repeated value must contain unique items"}},
		{"govoy.so with another config type", "type_url: type.googleapis.com/govoy.cluster.v1.ClusterSpecifier",
			"type_url: type.googleapis.com/google.protobuf.Struct",
			[]string{at, `govoy.so's cluster specifier needs a govoy.cluster.v1.ClusterSpecifier (or a TypedStruct naming it), got "type.googleapis.com/xds.type.v3.TypedStruct"`}},
		{"another library's config", "library_path: /etc/envoy/govoy.so\n                  # Used when",
			"library_path: /etc/envoy/other.so\n                  # Used when", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(orig), tc.old) {
				t.Fatalf("%s no longer contains %q: update the test", bootstrap, tc.old)
			}
			p := filepath.Join(t.TempDir(), "broken.yaml")
			changed := strings.Replace(string(orig), tc.old, tc.new, 1)
			if tc.name == "another library's config" { // and a config type Govoy does not know
				changed = strings.Replace(changed, "type_url: type.googleapis.com/govoy.cluster.v1.ClusterSpecifier",
					"type_url: type.googleapis.com/google.protobuf.Struct", 1)
			}
			if err := os.WriteFile(p, []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			got := configcheck.Summary(configcheck.CheckFile(p))
			if tc.want == nil {
				if got != "" {
					t.Fatalf("want valid, got:\n%s", got)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems do not mention %q:\n%s", w, got)
				}
			}
		})
	}
}
