package proxy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	_ "github.com/govoy/govoy/filters/rpc/codec/all" // rpc.yaml names dubbo and bolt
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
)

// shippedConfig is the govoy-rpc config of envoy-configs/rpc.yaml's "rpc" listener, with its
// provider addresses replaced by addrs (old → new).
func shippedConfig(t *testing.T, addrs map[string]string) *proxypb.Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "envoy-configs", "rpc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var bs struct {
		StaticResources struct {
			Listeners []struct {
				Name         string `json:"name"`
				FilterChains []struct {
					Filters []struct {
						TypedConfig struct {
							PluginName   string `json:"plugin_name"`
							PluginConfig struct {
								Value json.RawMessage `json:"value"`
							} `json:"plugin_config"`
						} `json:"typed_config"`
					} `json:"filters"`
				} `json:"filter_chains"`
			} `json:"listeners"`
		} `json:"static_resources"`
	}
	if err := yaml.Unmarshal(b, &bs); err != nil {
		t.Fatal(err)
	}
	for _, l := range bs.StaticResources.Listeners {
		if l.Name != "rpc" {
			continue
		}
		f := l.FilterChains[0].Filters[0].TypedConfig
		if f.PluginName != PluginName {
			t.Fatalf("the rpc listener runs %q", f.PluginName)
		}
		js := string(f.PluginConfig.Value)
		for old, new := range addrs {
			if !strings.Contains(js, old) {
				t.Fatalf("rpc.yaml no longer has %s: update the test", old)
			}
			js = strings.ReplaceAll(js, old, new)
		}
		cfg := &proxypb.Config{}
		if err := protojson.Unmarshal([]byte(js), cfg); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	t.Fatal(`rpc.yaml has no listener "rpc"`)
	return nil
}

// TestShippedRPCConfig runs the govoy-rpc config users copy from envoy-configs/rpc.yaml against
// Dubbo providers on loopback and checks that its routes do what its comments say.
func TestShippedRPCConfig(t *testing.T) {
	o1, o2, gray := startDubbo(t, "o1"), startDubbo(t, "o2"), startDubbo(t, "gray")
	cfg := shippedConfig(t, map[string]string{
		"127.0.0.2:20880": o1.addr, "127.0.0.3:20880": o2.addr, "127.0.0.4:20880": gray.addr,
		"127.0.0.5:12200": "127.0.0.1:1", // the SOFARPC provider: not called here
	})
	p, err := New(cfg, tcpConnector{})
	if err != nil {
		t.Fatal(err)
	}
	cl := dial(t, serveProxy(t, p))
	const svc = "org.example.OrderService"
	id := int64(0)
	call := func(r req) resp {
		t.Helper()
		id++
		r.id = id
		if r.svc == "" {
			r.svc = svc
		}
		return cl.call(r)
	}
	if got := call(req{method: "get", group: "gray"}); got.body != "gray:get:" {
		t.Fatalf("gray group: %+v", got)
	}
	if got := call(req{method: "get", attachments: map[string]string{"x-tag": "canary", "x-user": "u1"}}); got.body != "o2:get:canary" {
		t.Fatalf("canary tag: %+v", got)
	}
	seen := map[string]bool{}
	for range 6 {
		got := call(req{method: "get"})
		if got.status != dubbo.StatusOK {
			t.Fatalf("plain call: %+v", got)
		}
		seen[strings.SplitN(got.body, ":", 2)[0]] = true
	}
	if !seen["o1"] || !seen["o2"] || seen["gray"] {
		t.Fatalf("the orders service answered from %v", seen)
	}
	// export has a bucket of 20 calls, refilled one a second: 20 pass, then the calls right after
	// them are refused (all of them unless a second went by).
	for i := range 20 {
		if got := call(req{method: "export"}); got.status != dubbo.StatusOK {
			t.Fatalf("export call %d of the first 20: %+v", i, got)
		}
	}
	limited := 0
	for range 5 {
		if got := call(req{method: "export"}); got.status == dubbo.StatusThreadpoolExhausted {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no export call past the first 20 was rate limited")
	}
	if got := call(req{svc: "org.example.Unknown"}); got.status != dubbo.StatusServiceNotFound {
		t.Fatalf("a service without a route: %+v", got)
	}
}
