package configcheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"

	"github.com/govoy/govoy/filters/configcheck"
	"github.com/govoy/govoy/filters/plugin"
)

// percentPlugin is a test plugin whose config is envoy.type.v3.Percent (validation: value in [0, 100]),
// so these tests do not depend on the real plugins' config fields.
type percentPlugin struct{}

func (percentPlugin) Name() string                                              { return "test_percent" }
func (percentPlugin) Order() int                                                { return plugin.OrderInner }
func (percentPlugin) ConfigProto() proto.Message                                { return &typev3.Percent{} }
func (percentPlugin) Parse(m proto.Message, _ plugin.ParseContext) (any, error) { return m, nil }
func (percentPlugin) NewFilter(any, plugin.Handle) plugin.Filter                { return plugin.PassThroughFilter{} }

func init() { plugin.Register(percentPlugin{}) }

// bootstrap returns a bootstrap whose listener "in" runs the govoy filter with filterChain and whose route
// "r1" overrides it with routeChain (YAML snippets of a govoy.plugin.v1.Chain value).
func bootstrap(filterChain, routeChain string) string {
	return strings.NewReplacer("FILTER_CHAIN", filterChain, "ROUTE_CHAIN", routeChain).Replace(`
static_resources:
  listeners:
  - name: in
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          route_config:
            virtual_hosts:
            - name: vh
              domains: ["*"]
              routes:
              - name: r0
                match: {prefix: "/plain"}
                route: {cluster: up}
              - name: r1
                match: {prefix: "/"}
                route: {cluster: up}
                typed_per_filter_config:
                  envoy.filters.http.golang:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.ConfigsPerRoute
                    plugins_config:
                      govoy:
                        config:
                          "@type": type.googleapis.com/xds.type.v3.TypedStruct
                          type_url: type.googleapis.com/govoy.plugin.v1.Chain
                          value: ROUTE_CHAIN
          http_filters:
          - name: envoy.filters.http.golang
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config
              library_id: govoy
              library_path: /etc/envoy/govoy.so
              plugin_name: govoy
              plugin_config:
                "@type": type.googleapis.com/xds.type.v3.TypedStruct
                type_url: type.googleapis.com/govoy.plugin.v1.Chain
                value: FILTER_CHAIN
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: up
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}
`)
}

const (
	good  = `{plugins: [{name: test_percent, config: {value: 50}}]}`
	route = `{plugins: [{name: test_percent, config: {value: 10}}]}`
)

const (
	filterLoc = `static_resources.listeners["in"].filter_chains[0].filters["envoy.filters.network.http_connection_manager"].typed_config.http_filters["envoy.filters.http.golang"].typed_config.plugin_config`
	routeLoc  = `static_resources.listeners["in"].filter_chains[0].filters["envoy.filters.network.http_connection_manager"].typed_config.route_config.virtual_hosts["vh"].routes["r1"].typed_per_filter_config["envoy.filters.http.golang"].plugins_config["govoy"].config`
)

func TestValid(t *testing.T) {
	if ps := configcheck.Check("ok.yaml", []byte(bootstrap(good, route))); len(ps) != 0 {
		t.Fatalf("valid bootstrap reported:\n%s", configcheck.Summary(ps))
	}
}

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		yaml  string
		loc   string   // exact location, "-" for the whole file
		inMsg []string // substrings of the message
	}{
		{"bad plugin value at filter level", bootstrap(`{plugins: [{name: test_percent, config: {value: 200}}]}`, route),
			filterLoc, []string{`"test_percent"`, "Percent.Value"}},
		{"bad plugin value per route", bootstrap(good, `{plugins: [{name: test_percent, config: {value: -1}}]}`),
			routeLoc, []string{`"test_percent"`, "Percent.Value"}},
		{"unknown plugin", bootstrap(`{plugins: [{name: no_such_plugin, config: {}}]}`, route),
			filterLoc, []string{"no_such_plugin"}},
		{"unknown plugin field", bootstrap(good, `{plugins: [{name: test_percent, config: {valu: 3}}]}`),
			routeLoc, []string{`"test_percent"`, "valu"}},
		{"bad bootstrap field", strings.Replace(bootstrap(good, route), "connect_timeout", "connect_timeot", 1),
			"static_resources.clusters[0].connect_timeot", []string{`unknown field "connect_timeot"`}},
		{"bad field inside typed_config", strings.Replace(bootstrap(good, route), "stat_prefix: in", "stat_prefix: ''", 1),
			`static_resources.listeners["in"].filter_chains[0].filters["envoy.filters.network.http_connection_manager"].typed_config`,
			[]string{"StatPrefix"}},
		{"bootstrap rule", strings.Replace(bootstrap(good, route), "library_id: govoy", "library_id: ''", 1),
			`static_resources.listeners["in"].filter_chains[0].filters["envoy.filters.network.http_connection_manager"].typed_config.http_filters["envoy.filters.http.golang"].typed_config`,
			[]string{"LibraryId"}},
		{"unknown typed_config type", strings.Replace(bootstrap(good, route), "router.v3.Router", "router.v3.Routr", 1),
			`static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[1].typed_config.@type`,
			[]string{"router.v3.Routr"}},
		{"per-route key names no golang filter", strings.Replace(bootstrap(good, route), "                  envoy.filters.http.golang:\n", "                  envoy.filters.http.golan:\n", 1),
			`static_resources.listeners["in"].filter_chains[0].filters["envoy.filters.network.http_connection_manager"].typed_config.route_config.virtual_hosts["vh"].routes["r1"].typed_per_filter_config["envoy.filters.http.golan"]`,
			[]string{`"envoy.filters.http.golan"`, "ignore"}},
		{"not yaml", "static_resources: [", "-", []string{"not YAML"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := configcheck.Check("f.yaml", []byte(tc.yaml))
			if len(ps) == 0 {
				t.Fatal("no problem reported")
			}
			p := ps[0]
			want := tc.loc
			if want == "-" {
				want = ""
			}
			if p.File != "f.yaml" || p.Location != want {
				t.Errorf("location = %q %q, want %q\n%s", p.File, p.Location, want, configcheck.Summary(ps))
			}
			for _, s := range tc.inMsg {
				if !strings.Contains(p.Message, s) {
					t.Errorf("message %q lacks %q", p.Message, s)
				}
			}
			if !strings.HasPrefix(p.String(), "f.yaml: ") {
				t.Errorf("String() = %q does not start with the file", p.String())
			}
		})
	}
}

func TestMissingGovoyChain(t *testing.T) {
	y := bootstrap(good, route)
	// Drop the filter-level plugin_config (5 lines) entirely.
	i := strings.Index(y, "              plugin_config:")
	j := strings.Index(y, "          - name: envoy.filters.http.router")
	ps := configcheck.Check("f.yaml", []byte(y[:i]+y[j:]))
	if len(ps) != 1 || ps[0].Location != filterLoc || !strings.Contains(ps[0].Message, "missing") {
		t.Fatalf("got:\n%s", configcheck.Summary(ps))
	}
}

func TestOtherGolangPluginsAreOpaque(t *testing.T) {
	// plugin_config of another Go plugin belongs to that plugin: not parsed as a govoy chain.
	y := strings.Replace(bootstrap(`{whatever: 1}`, route), "plugin_name: govoy", "plugin_name: someone_else", 1)
	if ps := configcheck.Check("f.yaml", []byte(y)); len(ps) != 0 {
		t.Fatalf("got:\n%s", configcheck.Summary(ps))
	}
}

func TestRouteDisabledAndPackedChain(t *testing.T) {
	// Route level: the govoy filter switched off. Filter level: a packed Chain (what control planes send).
	y := bootstrap(good, "ROUTE_CHAIN")
	y = strings.Replace(y, `                        config:
                          "@type": type.googleapis.com/xds.type.v3.TypedStruct
                          type_url: type.googleapis.com/govoy.plugin.v1.Chain
                          value: ROUTE_CHAIN`, "                        disabled: true", 1)
	y = strings.Replace(y, `                "@type": type.googleapis.com/xds.type.v3.TypedStruct
                type_url: type.googleapis.com/govoy.plugin.v1.Chain
                value: {plugins: [{name: test_percent, config: {value: 50}}]}`,
		`                "@type": type.googleapis.com/govoy.plugin.v1.Chain
                plugins: [{name: test_percent, typed_config: {"@type": type.googleapis.com/envoy.type.v3.Percent, value: 70}}]`, 1)
	if !strings.Contains(y, "disabled: true") || !strings.Contains(y, "value: 70") {
		t.Fatal("test bootstrap edit failed")
	}
	if ps := configcheck.Check("f.yaml", []byte(y)); len(ps) != 0 {
		t.Fatalf("got:\n%s", configcheck.Summary(ps))
	}
	bad := strings.Replace(y, "value: 70", "value: 170", 1)
	ps := configcheck.Check("f.yaml", []byte(bad))
	if len(ps) == 0 || !strings.Contains(configcheck.Summary(ps), "Percent.Value") {
		t.Fatalf("packed chain with value 170 not reported:\n%s", configcheck.Summary(ps))
	}
}

func TestCheckFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.json")
	if ps := configcheck.CheckFile(p); len(ps) != 1 || !strings.Contains(ps[0].Message, "read") {
		t.Fatalf("missing file: %v", ps)
	}
	// JSON works as well as YAML.
	if err := os.WriteFile(p, []byte(`{"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if ps := configcheck.CheckFile(p); len(ps) != 0 {
		t.Fatalf("got:\n%s", configcheck.Summary(ps))
	}
}
